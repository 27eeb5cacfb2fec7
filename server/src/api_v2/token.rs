//! `POST /v2/auth/token` (RFC 6749 client credentials, RFC 8693 token exchange) and the
//! public signing keys at `/.well-known/jwks.json`.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::{bearer_token, private_json, read_body};
use app::backend::api_access::{self, ApiFailure};
use app::backend::audit::AuditAction;
use app::backend::audit::Outcome;
use app::backend::state::AppState;
use app::backend::throttle::ClientAddress;
use app::backend::store;
use app::backend::tokens::{clip, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_WEBAPP_TICKET};
use app::backend::webapp_access;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The form of a token request (`application/x-www-form-urlencoded`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    /// `client_credentials` or `urn:ietf:params:oauth:grant-type:token-exchange`.
    grant_type: String,
    /// Client credentials (or HTTP Basic).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Token exchange: a JWT signed by the client with HS256 and its secret, header `kid` =
    /// client id, claim `sub` = the email of the user to impersonate, optional `tenant`; or,
    /// from a code webapp's backend, the ticket its request carried (`X-Guise-Ticket`).
    subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:jwt` (or `…:access_token` for a Guise token, whose
    /// delegation chain is kept, or `urn:guise:params:oauth:token-type:webapp-ticket`).
    subject_token_type: Option<String>,
    /// Token exchange: the client's access token (also sent as `Authorization: Bearer`).
    actor_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    actor_token_type: Option<String>,
    /// Optional; only `urn:ietf:params:oauth:token-type:access_token`.
    requested_token_type: Option<String>,
    /// Webapp tickets only: the scopes wanted (space-separated), at most the webapp's; all of
    /// the webapp's when absent.
    scope: Option<String>,
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: i64,
    /// Token exchange only: `urn:ietf:params:oauth:token-type:access_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    /// Webapp tickets only: the scopes the token has (space-separated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The parameters of a form body; a repeated parameter is an error (RFC 6749 §3.2).
fn parse_form(bytes: &[u8]) -> Result<HashMap<String, String>, ApiFailure> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        if params.insert(name.to_string(), value.to_string()).is_some() {
            return Err(ApiFailure::bad_request(format!("parameter {name} is repeated")));
        }
    }
    Ok(params)
}

fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiFailure> {
    match params.get(name).map(|v| v.trim()) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ApiFailure::bad_request(format!("missing parameter: {name}"))),
    }
}

/// Client id and secret from `Authorization: Basic` (each form-encoded, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some((scheme, encoded)) = value.split_once(' ') else { return Ok(None) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || ApiFailure::client_refused("the Basic credentials are malformed");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let decode = |part: &str| form_urlencoded::parse(format!("x={part}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Ok(Some((decode(id).unwrap_or_default(), decode(secret).unwrap_or_default())))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Obtain an access token.
#[utoipa::path(
    post,
    path = "/v2/auth/token",
    tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    )
)]
pub async fn token(State(state): State<AppState>, request: Request) -> Response {
    match answer(&state, request).await {
        Ok(response) => private_json(StatusCode::OK, &response),
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &AppState, request: Request) -> ApiResult<TokenResponse> {
    let headers = request.headers().clone();
    let (parts, bytes) = match read_body(request).await {
        Ok(read) => read,
        Err(too_large) => return Err(audit_oversized(state, &headers, too_large).await),
    };
    let headers = &parts.headers;
    if !is_form(headers) {
        return Err(ApiFailure::bad_request("the body must be application/x-www-form-urlencoded").into());
    }
    let params = parse_form(&bytes)?;
    match required(&params, "grant_type")? {
        CLIENT_CREDENTIALS => {
            let address = parts.extensions.get::<ClientAddress>().copied().unwrap_or_default();
            client_credentials(state, headers, &params, address).await
        }
        TOKEN_EXCHANGE => token_exchange(state, headers, &params).await,
        other => Err(ApiFailure::unsupported_grant(format!(
            "grant_type {:?} is not supported: use {CLIENT_CREDENTIALS} or {TOKEN_EXCHANGE}",
            clip(other, 64)
        ))
        .into()),
    }
}

async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    address: ClientAddress,
) -> ApiResult<TokenResponse> {
    let in_body = params.contains_key("client_id") || params.contains_key("client_secret");
    let (client_id, secret) = match basic_credentials(headers)? {
        Some(_) if in_body => {
            return Err(ApiFailure::bad_request("send the client credentials once: in the body or with HTTP Basic").into())
        }
        Some(credentials) => credentials,
        None => (required(params, "client_id")?.to_string(), required(params, "client_secret")?.to_string()),
    };
    let issued = api_access::client_credentials(state, &client_id, &secret, address).await?;
    Ok(TokenResponse { access_token: issued.access_token, token_type: "bearer", expires_in: issued.expires_in, issued_token_type: None, scope: None })
}

async fn token_exchange(state: &AppState, headers: &HeaderMap, params: &HashMap<String, String>) -> ApiResult<TokenResponse> {
    if basic_credentials(headers)?.is_some() {
        return Err(ApiFailure::bad_request(
            "a token exchange is authenticated by the client's access token (actor_token / Authorization: Bearer), not HTTP Basic",
        )
        .into());
    }
    let bearer = bearer_token(headers).ok().flatten();
    let param = params.get("actor_token").map(|t| t.trim()).filter(|t| !t.is_empty());
    let Some(actor_token) = param.or(bearer) else {
        return Err(ApiFailure::bad_request("missing parameter: actor_token (the client's access token)").into());
    };
    let session = api_access::authenticate_actor(state, actor_token).await?;
    // From here the client is known: every refusal is audited for it.
    let (subject_token, subject_token_type) = match exchange_parameters(params, param, bearer) {
        Ok(found) => found,
        Err(error) => return Err(api_access::refuse_exchange(state, &session, error).await.into()),
    };
    let scope = params.get("scope").map(String::as_str);
    let (issued, scope) = if subject_token_type == TOKEN_TYPE_WEBAPP_TICKET {
        let (issued, granted) = webapp_access::exchange_ticket(state, &session, subject_token, scope).await?;
        (issued, Some(granted.as_text()))
    } else if scope.is_some() {
        let error = ApiFailure::invalid_scope("scope applies only to the exchange of a webapp ticket");
        return Err(api_access::refuse_exchange(state, &session, error).await.into());
    } else {
        (api_access::exchange(state, &session, subject_token, subject_token_type).await?, None)
    };
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "bearer",
        expires_in: issued.expires_in,
        issued_token_type: Some(TOKEN_TYPE_ACCESS_TOKEN),
        scope,
    })
}

/// The subject token and its type, once the other exchange parameters are consistent.
fn exchange_parameters<'a>(
    params: &'a HashMap<String, String>,
    actor_param: Option<&str>,
    bearer: Option<&str>,
) -> Result<(&'a str, &'a str), ApiFailure> {
    if let (Some(param), Some(header)) = (actor_param, bearer) {
        if param != header {
            return Err(ApiFailure::bad_request("actor_token and the Authorization bearer token differ"));
        }
    }
    if actor_param.is_some() && required(params, "actor_token_type")? != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(ApiFailure::bad_request(format!("actor_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}")));
    }
    if let Some(requested) = params.get("requested_token_type").filter(|r| r.as_str() != TOKEN_TYPE_ACCESS_TOKEN) {
        return Err(ApiFailure::bad_request(format!(
            "requested_token_type {:?} is not supported: only {TOKEN_TYPE_ACCESS_TOKEN}",
            clip(requested, 64)
        )));
    }
    Ok((required(params, "subject_token")?, required(params, "subject_token_type")?))
}

/// A body over the limit is refused before it is read; when the request names its client by
/// bearer token, the refusal is audited for that client.
async fn audit_oversized(state: &AppState, headers: &HeaderMap, error: ApiFailure) -> ApiError {
    if let Ok(Some(token)) = bearer_token(headers) {
        if let Ok(session) = api_access::verify_client_token(state, token).await {
            let entry = session.entry(
                AuditAction::ApiTokenExchange,
                None,
                format!("client {}", session.client.client_id),
                Outcome::Denied,
                error.description(),
            );
            if let Err(e) = store::audit::append_alone(&state.writer, &entry).await {
                return ApiError::from(e);
            }
        }
    }
    ApiError(error)
}

/// The public keys that verify Guise access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "A JSON Web Key Set (RFC 7517)")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = axum::Json(state.keys.tokens.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=300"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_refuse_repeated_parameters() {
        let params = parse_form(b"grant_type=client_credentials&client_id=a%2Bb").unwrap();
        assert_eq!(params["client_id"], "a+b");
        assert_eq!(parse_form(b"a=1&a=2").unwrap_err().description(), "parameter a is repeated");
        assert_eq!(required(&params, "client_secret").unwrap_err().description(), "missing parameter: client_secret");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("my%20client:s%3Acret")).parse().unwrap());
        assert_eq!(basic_credentials(&headers).unwrap(), Some(("my client".into(), "s:cret".into())));
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(matches!(basic_credentials(&headers).unwrap_err(), ApiFailure::ClientRefused(_)));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_credentials(&headers).unwrap(), None);
    }
}

/// An introspection answer (RFC 7662): `active` false for any ticket that is not live, unused
/// and for the caller's webapp, with nothing else said.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The webapp's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webapp: Option<String>,
}

/// Who the browser user of a webapp ticket is, for the webapp's backend (its own token as
/// bearer; form `token=<ticket>`). The ticket stays unused.
#[utoipa::path(
    post,
    path = "/v2/auth/introspect",
    tag = "auth",
    security(("bearer" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "token=<webapp ticket>"),
    responses(
        (status = 200, body = Introspection),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The bearer is not a webapp backend's own token", body = ErrorBody),
    )
)]
pub async fn introspect(State(state): State<AppState>, request: Request) -> Response {
    match introspection(&state, request).await {
        Ok(answer) => private_json(StatusCode::OK, &answer),
        Err(e) => e.into_response(),
    }
}

async fn introspection(state: &AppState, request: Request) -> ApiResult<Introspection> {
    let (parts, bytes) = read_body(request).await?;
    let Some(bearer) = bearer_token(&parts.headers).map_err(|e| ApiFailure::token_refused(e.description()))? else {
        return Err(ApiFailure::token_refused("an access token is required: send Authorization: Bearer <token>").into());
    };
    let session = api_access::verify_client_token(state, bearer).await?;
    if !is_form(&parts.headers) {
        return Err(ApiFailure::bad_request("the body must be application/x-www-form-urlencoded").into());
    }
    let params = parse_form(&bytes)?;
    let ticket = required(&params, "token")?;
    let inactive = Introspection { active: false, sub: None, email: None, name: None, tenant: None, exp: None, webapp: None };
    Ok(match webapp_access::introspect(state, &session, ticket).await? {
        None => inactive,
        Some(info) => Introspection {
            active: true,
            sub: Some(info.user.email.clone()),
            email: Some(info.user.email),
            name: Some(info.user.display_name),
            tenant: Some(info.tenant),
            exp: Some(info.expires_at),
            webapp: Some(info.webapp),
        },
    })
}
