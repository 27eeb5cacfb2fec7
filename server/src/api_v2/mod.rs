//! The /v2 REST API, as plain axum handlers: the OAuth 2.0 token endpoint (client credentials
//! and RFC 8693 token exchange), the signing keys, and resources that answer as the token's
//! subject. Requests carry bearer tokens, never cookies, so the session and cross-site guards
//! of the pages do not apply here.

pub mod admin;
pub mod error;
pub mod openapi;
pub mod resources;
pub mod token;

use app::backend::api_access::{self, ApiFailure};
use app::backend::audit::{AuditAction, Outcome};
use app::backend::rules::webapps::{self, Endpoint};
use app::backend::webapp_access;
use app::backend::state::AppState;
use axum::body::{to_bytes, Body, Bytes};
use axum::http::request::Parts;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use error::ApiError;

/// Largest request body the API reads (form posts to the token endpoint included).
pub const MAX_API_BODY_BYTES: usize = 16 * 1024;

pub fn router(state: AppState) -> Router {
    let resources = Router::new()
        .route("/v2/whoami", get(resources::whoami))
        .route("/v2/files", get(resources::files))
        .route("/v2/datasets/{name}/build", post(resources::build))
        .route("/v2/datasets/{name}/rows", get(resources::rows))
        .route("/v2/jobs", get(resources::jobs))
        .route("/v2/jobs/{id}", get(resources::job))
        .route("/v2/admin/clients", get(admin::clients))
        .route("/v2/admin/clients/{client_id}/revoke", post(admin::revoke_client))
        .route("/v2/admin/grants", get(admin::grants))
        .route("/v2/admin/audit", get(admin::audit))
        .layer(from_fn_with_state(state.clone(), authenticate))
        .layer(from_fn(limit_body));
    Router::new()
        .route("/v2/auth/token", post(token::token))
        .route("/v2/auth/introspect", post(token::introspect))
        .route("/.well-known/jwks.json", get(token::jwks))
        .route("/v2/openapi.json", get(openapi::document))
        .merge(resources)
        .route("/v2/{*rest}", any(unknown_endpoint))
        .with_state(state)
}

async fn unknown_endpoint(request: Request) -> ApiError {
    ApiError(ApiFailure::from(app::error::AppError::NotFound(format!(
        "no API endpoint {} {}; see /v2/openapi.json",
        request.method(),
        request.uri().path()
    ))))
}

/// The bearer token of a request: `None` without an Authorization header, an error when the
/// header is there but is not `Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().map_err(|_| ApiFailure::bad_request("the Authorization header is not text"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(Some(token.trim())),
        _ => Err(ApiFailure::bad_request("the Authorization header must be `Bearer <access token>`")),
    }
}

/// Marks a response whose action already wrote its own audit row.
#[derive(Clone, Copy, Debug)]
pub struct SelfAudited;

/// Authenticates the bearer token, hands the caller to the handler, and audits every request
/// made with an impersonation token, naming both people.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = match bearer_token(request.headers()) {
        Ok(Some(token)) => token.to_string(),
        Ok(None) => {
            return ApiError(ApiFailure::token_refused("an access token is required: send Authorization: Bearer <token>"))
                .into_response()
        }
        Err(e) => return ApiError(ApiFailure::token_refused(e.description())).into_response(),
    };
    let caller = match webapp_access::authenticate_request(&state, &token).await {
        Ok(caller) => caller,
        Err(e) => return ApiError(e).into_response(),
    };
    let described = format!("{} {}", request.method(), request.uri().path());
    if let Some(webapp) = caller.principal.webapp() {
        let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
        let endpoint = webapp_endpoint(&route).unwrap_or(Endpoint::Other);
        if let Err(why) = webapps::webapp_token_may_call(webapp.token(), endpoint) {
            let entry = caller.principal.audit(AuditAction::ApiRequest, described, Outcome::Denied, why.clone());
            return match app::backend::store::audit::append_alone(&state.writer, &entry).await {
                Ok(()) => ApiError(ApiFailure::not_allowed(why)).into_response(),
                Err(e) => ApiError(e.into()).into_response(),
            };
        }
    }
    request.extensions_mut().insert(caller.clone());
    let response = next.run(request).await;
    if response.extensions().get::<SelfAudited>().is_some() {
        return response;
    }
    match api_access::audit_request(&state, &caller, &described, response.status().as_u16()).await {
        Ok(()) => response,
        // What cannot be audited is not answered.
        Err(e) => ApiError(e.into()).into_response(),
    }
}

/// What each resource route is, as far as a code webapp's tokens are concerned.
fn webapp_endpoint(route: &str) -> Option<Endpoint> {
    Some(match route {
        "/v2/whoami" => Endpoint::WhoAmI,
        "/v2/files" => Endpoint::Files,
        "/v2/datasets/{name}/rows" => Endpoint::Rows,
        "/v2/datasets/{name}/build" => Endpoint::Build,
        "/v2/jobs" => Endpoint::Jobs,
        "/v2/jobs/{id}" => Endpoint::Job,
        admin if admin.starts_with("/v2/admin/") => Endpoint::Admin,
        _ => return None,
    })
}

/// Refuses bodies over `MAX_API_BODY_BYTES` with 413 in the API's error shape.
async fn limit_body(request: Request, next: Next) -> Response {
    match read_body(request).await {
        Ok((parts, bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// The request's head and its body read into memory, if the body is within the limit.
pub async fn read_body(request: Request) -> Result<(Parts, Bytes), ApiFailure> {
    let too_large = || ApiFailure::too_large(format!("the request body is over {MAX_API_BODY_BYTES} bytes"));
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_API_BODY_BYTES) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_API_BODY_BYTES).await.map_err(|_| too_large())?;
    Ok((parts, bytes))
}

/// A JSON answer with `Cache-Control: no-store` (it names people and tokens).
pub fn private_json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    let mut response = (status, axum::Json(value)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_resource_route_is_classified_for_webapp_tokens() {
        let open_to_all = ["/v2/auth/token", "/v2/auth/introspect", "/.well-known/jwks.json"];
        for path in openapi::ApiDoc::openapi().paths.paths.keys() {
            if !open_to_all.contains(&path.as_str()) {
                assert!(webapp_endpoint(path).is_some(), "{path} is not classified for webapp tokens");
            }
        }
        assert_eq!(webapp_endpoint("/v2/admin/audit"), Some(Endpoint::Admin));
        assert_eq!(webapp_endpoint("/v2/somewhere"), None);
    }
}
