//! Code webapps (M23) as browsers reach them, at `/projects/{key}/webapps/{slug}/`: their
//! frontend files (with a script giving `getWebAppBackendUrl`), and `…/backend/…` proxied to
//! the backend this server runs, with a ticket naming the browser user instead of the
//! browser's cookies. Only people who may open the webapp reach either.

mod files;
mod headers;

use app::backend::audit::{AuditAction, Outcome};
use app::backend::principal::Principal;
use app::backend::rules::webapps::may_send_to_backend;
use app::backend::state::AppState;
use app::backend::store;
use app::backend::throttle::ClientAddress;
use app::backend::webapp_access;
use app::backend::webapp_backend::Webapp;
use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::time::Duration;

/// How long a backend has to connect, and to start answering.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// The address under which a webapp's backend is reached.
fn backend_prefix(key: &str, slug: &str) -> String {
    format!("/projects/{key}/webapps/{slug}/backend")
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], message.to_string()).into_response()
}

/// `/projects/{key}/webapps/{slug}/` and everything under it. Every request through a webapp
/// while impersonating is audited with both people, and a read-only impersonation sends it
/// nothing but reads.
pub async fn serve(
    Path(params): Path<HashMap<String, String>>,
    principal: Result<Principal, AppError>,
    Extension(state): Extension<AppState>,
    request: Request,
) -> Response {
    let (key, slug) = (params.get("key").cloned().unwrap_or_default(), params.get("slug").cloned().unwrap_or_default());
    let path = params.get("path").map(String::as_str).unwrap_or("");
    let to_backend = path == "backend" || path.starts_with("backend/");
    let principal = match principal {
        Ok(principal) => principal,
        Err(AppError::Unauthorized(_)) if !to_backend => return Redirect::to("/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let loaded = match Webapp::load(&state, &principal, &key, &slug).await {
        Ok(loaded) => loaded,
        Err(e) => return e.into_response(),
    };
    if !loaded.webapp.is_code() {
        // The built-in webapp lives at the address without the slash.
        return match path {
            "" => Redirect::permanent(&format!("/projects/{}/webapps/{}", loaded.project.key, loaded.webapp.slug)).into_response(),
            _ => AppError::NotFound(format!("webapp {slug} has no file {path}")).into_response(),
        };
    }
    if loaded.webapp.disabled_at.is_some() {
        return AppError::NotFound(format!("webapp {slug} is disabled")).into_response();
    }
    let prefix = backend_prefix(&loaded.project.key, &loaded.webapp.slug);
    if to_backend {
        return proxy(&state, &principal, &loaded, &prefix, request).await;
    }
    if path == files::SCRIPT_PATH {
        return files::script(&prefix);
    }
    let Some(code) = &loaded.webapp.code else { return AppError::internal("a code webapp without its folders").into_response() };
    files::serve(&code.frontend_dir, path, &prefix).await
}

/// The path under `…/backend` as the browser sent it, still percent-encoded (the route's own
/// parameters are decoded): the backend gets exactly what was asked for.
fn backend_path(raw: &str) -> String {
    // "", "projects", key, "webapps", slug, "backend", rest…
    let rest: Vec<&str> = raw.split('/').skip(6).collect();
    format!("/{}", rest.join("/"))
}

/// Audits a request made through a webapp while impersonating, naming both people; what
/// cannot be audited is not answered.
async fn audit_impersonated(state: &AppState, principal: &Principal, loaded: &Webapp, what: String, status: StatusCode, why: &str) -> Result<(), Response> {
    let outcome = match status.as_u16() {
        200..=399 => Outcome::Allowed,
        400..=499 => Outcome::Denied,
        _ => Outcome::Failed,
    };
    let reason = format!("webapp {}; HTTP {}{why}", loaded.webapp.name, status.as_u16());
    let Some(entry) = principal.audit_if_acting_for_another(AuditAction::WebappRequest, what, outcome, reason) else { return Ok(()) };
    store::audit::append_alone(&state.writer, &entry).await.map_err(|e| AppError::from(e).into_response())
}

/// Hands the request to the webapp's backend and its answer back.
async fn proxy(state: &AppState, principal: &Principal, loaded: &Webapp, prefix: &str, request: Request) -> Response {
    let rest = backend_path(request.uri().path());
    let what = format!("{} {prefix}{rest}", request.method());
    if headers::from_another_site(request.headers()) {
        return refusal(StatusCode::FORBIDDEN, "a webapp's backend is reached from its own pages only");
    }
    if let Err(why) = may_send_to_backend(principal.read_only(), request.method().as_str()) {
        if let Err(response) = audit_impersonated(state, principal, loaded, what, StatusCode::FORBIDDEN, &format!("; refused: {why}")).await {
            return response;
        }
        return refusal(StatusCode::FORBIDDEN, why);
    }
    let Some(port) = state.backends.ready_port(loaded.webapp.id) else {
        let mut response = refusal(StatusCode::SERVICE_UNAVAILABLE, "the webapp's backend is starting; try again in a moment");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return response;
    };
    if let Err((status, why)) = headers::check_request(request.headers()) {
        return refusal(status, why);
    }
    let ticket = match webapp_access::issue_ticket(state, principal, &loaded.webapp).await {
        Ok(ticket) => ticket,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    // The body was read whole, within the limit, by `limit_body`.
    let Ok(body) = to_bytes(body, crate::middleware::MAX_BODY_BYTES).await else {
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large");
    };
    let mut outgoing = headers::to_backend(&parts.headers);
    headers::add_forwarded(
        &mut outgoing,
        &headers::Forwarded {
            user_email: &principal.subject().email,
            ticket: &ticket,
            webapp_slug: &loaded.webapp.slug,
            host: parts.headers.get(header::HOST),
            https: state.settings.serves_https(),
            prefix,
            client_ip: parts.extensions.get::<ClientAddress>().map(|a| a.0),
        },
    );
    let target = format!("{rest}{}", parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default());
    let mut upstream = hyper::Request::builder().method(parts.method.clone()).uri(target);
    if let Some(headers) = upstream.headers_mut() {
        *headers = outgoing;
        if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
            headers.insert(header::HOST, host);
        }
    }
    let Ok(upstream) = upstream.body(http_body_util::Full::new(body)) else {
        return refusal(StatusCode::BAD_REQUEST, "the request cannot be passed to the webapp's backend");
    };
    match send(port, upstream).await {
        Ok(answer) => {
            if let Err(response) = audit_impersonated(state, principal, loaded, what, answer.status(), "").await {
                return response;
            }
            let (parts, body) = answer.into_parts();
            let mut response = Response::new(Body::new(body));
            *response.status_mut() = parts.status;
            *response.headers_mut() = headers::to_browser(&parts.headers);
            response
        }
        Err(why) => {
            tracing::warn!(target: "guise::webapp", webapp = %loaded.webapp.slug, "proxy: {why}");
            refusal(StatusCode::BAD_GATEWAY, "the webapp's backend is not answering")
        }
    }
}

/// One request on a connection of its own to the backend on loopback.
async fn send(port: u16, request: hyper::Request<http_body_util::Full<axum::body::Bytes>>) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let stream = tokio::time::timeout(CONNECT_WITHIN, tokio::net::TcpStream::connect(("127.0.0.1", port)))
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(target: "guise::webapp", "backend connection: {e}");
        }
    });
    tokio::time::timeout(ANSWER_WITHIN, sender.send_request(request))
        .await
        .map_err(|_| format!("no answer within {} s", ANSWER_WITHIN.as_secs()))?
        .map_err(|e| format!("request failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backend_gets_the_path_as_sent() {
        assert_eq!(backend_path("/projects/TSHIRTS/webapps/flask-demo/backend"), "/");
        assert_eq!(backend_path("/projects/TSHIRTS/webapps/flask-demo/backend/"), "/");
        assert_eq!(backend_path("/projects/TSHIRTS/webapps/flask-demo/backend/a%3Fb/c%2Fd"), "/a%3Fb/c%2Fd");
    }
}
