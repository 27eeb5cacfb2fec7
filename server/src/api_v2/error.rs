//! Errors of the /v2 API in the RFC 6749 §5.2 shape: `{"error", "error_description"}`, with
//! `WWW-Authenticate` on 401 and `Cache-Control: no-store` everywhere.

use app::backend::api_access::OAuthError;
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
pub struct ApiError(pub OAuthError);

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let OAuthError { status, code, description, retry_after } = self.0;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
        let response = ApiError(OAuthError::invalid_token("bad \"token\" \\ é\n")).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap().to_string();
        assert_eq!(challenge, "Bearer realm=\"guise\", error=\"invalid_token\", error_description=\"bad token  \"");
        let response = ApiError(OAuthError::invalid_client("x")).into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"guise\"");
        let response = ApiError(OAuthError::invalid_request("x")).into_response();
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
