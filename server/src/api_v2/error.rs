//! Errors of the /v2 API in the RFC 6749 §5.2 shape: `{"error", "error_description"}`, with
//! `WWW-Authenticate` on 401 and `Cache-Control: no-store` everywhere.

use app::backend::api_access::ApiFailure;
use app::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every /v2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// An RFC 6749 / RFC 6750 error code (`invalid_request`, `invalid_client`, `invalid_token`,
    /// `unsupported_grant_type`, `insufficient_scope` …).
    pub error: String,
    /// What exactly was wrong, for the developer reading it.
    pub error_description: String,
}

#[derive(Debug)]
pub struct ApiError(pub ApiFailure);

impl From<ApiFailure> for ApiError {
    fn from(e: ApiFailure) -> Self {
        ApiError(e)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError(e.into())
    }
}

/// Text safe inside a quoted-string of a header.
fn quoted(text: &str) -> String {
    text.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\').collect()
}

/// The HTTP status and error code of a failure: RFC 6749 §5.2 for the token endpoint, RFC 6750
/// §3.1 for bearer tokens, and this API's own words for what those do not cover.
fn status_and_code(failure: &ApiFailure) -> (StatusCode, &'static str) {
    match failure {
        ApiFailure::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        ApiFailure::ClientRefused(_) => (StatusCode::UNAUTHORIZED, "invalid_client"),
        ApiFailure::UnsupportedGrant(_) => (StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        ApiFailure::TokenRefused(_) => (StatusCode::UNAUTHORIZED, "invalid_token"),
        ApiFailure::NotAllowed(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
        ApiFailure::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
        ApiFailure::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request"),
        ApiFailure::SlowDown { .. } => (StatusCode::TOO_MANY_REQUESTS, "slow_down"),
        ApiFailure::App(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = match e {
                AppError::BadRequest(_) | AppError::PayloadTooLarge(_) => "invalid_request",
                AppError::Unauthorized(_) => "invalid_token",
                AppError::Forbidden(_) => "access_denied",
                AppError::NotFound(_) => "not_found",
                AppError::Conflict(_) => "conflict",
                AppError::TooManyRequests { .. } => "slow_down",
                AppError::Unavailable(_) => "temporarily_unavailable",
                AppError::Network(_) | AppError::Internal => "server_error",
            };
            (status, code)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_and_code(&self.0);
        let (description, retry_after) = (self.0.description(), self.0.retry_after());
        let body = ErrorBody { error: code.to_string(), error_description: description.clone() };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, seconds.into());
        }
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if code == "invalid_client" {
                "Basic realm=\"guise\"".to_string()
            } else {
                format!("Bearer realm=\"guise\", error=\"{code}\", error_description=\"{}\"", quoted(&description))
            };
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_stay_valid_header_values() {
        let response = ApiError(ApiFailure::token_refused("bad \"token\" \\ é\n")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_string();
        assert_eq!(challenge, "Bearer realm=\"guise\", error=\"invalid_token\", error_description=\"bad token  \"");
        let response = ApiError(ApiFailure::client_refused("x")).into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"guise\"");
        let response = ApiError(ApiFailure::bad_request("x")).into_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
