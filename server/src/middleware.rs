//! Request guards and response fixes shared by every route.

use app::backend::store::sessions;
use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Whether a state-changing request comes from another site. Browsers send `Sec-Fetch-Site`
/// and `Origin` on such requests; clients that send neither are not browsers carrying our
/// cookies on someone else's behalf.
pub fn is_cross_site(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    origin_host != Some(host) || host.is_empty()
}

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if is_cross_site(request.method(), request.headers()) {
        return AppError::Forbidden("cross-site request refused".into()).into_response();
    }
    next.run(request).await
}

/// Refuses request bodies over `MAX_BODY_BYTES` with 413, whether or not they announce their
/// length, so no handler ever reads an unbounded body.
pub async fn limit_body(request: Request, next: Next) -> Response {
    let too_large = || AppError::PayloadTooLarge(format!("the request body is over {MAX_BODY_BYTES} bytes")).into_response();
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => too_large(),
    }
}

/// Headers every answer carries: no framing by other sites (clickjacking on the impersonation
/// buttons), no content-type sniffing, and no full URLs leaked to other sites as referrers.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.entry(name).or_insert(axum::http::HeaderValue::from_static(value));
    }
    response
}

/// A session that could not be saved because the writer's queue was full is answered like any
/// other write refused under overload: 503 with `Retry-After`, nothing changed.
pub async fn session_back_pressure(request: Request, next: Next) -> Response {
    let (response, queue_full) = sessions::noting_full_queue(next.run(request)).await;
    if queue_full && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return AppError::busy().into_response();
    }
    response
}

/// Server functions send every error as 500; give each the status its `AppError` names.
pub async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key("serverfnerror") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if parts.status == StatusCode::SERVICE_UNAVAILABLE {
            parts.headers.insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static(app::error::RETRY_AFTER_SECONDS));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        assert!(!is_cross_site(&Method::POST, &headers(&[("host", "127.0.0.1:3000")])));
        assert!(!is_cross_site(
            &Method::POST,
            &headers(&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000"), ("sec-fetch-site", "same-origin")])
        ));
        assert!(!is_cross_site(&Method::GET, &headers(&[("host", "a"), ("origin", "http://evil.example")])));
    }

    #[test]
    fn cross_site_posts_are_refused() {
        assert!(is_cross_site(&Method::POST, &headers(&[("host", "127.0.0.1:3000"), ("origin", "http://evil.example")])));
        assert!(is_cross_site(&Method::POST, &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&Method::POST, &headers(&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "same-site")])));
        assert!(is_cross_site(&Method::POST, &headers(&[("host", "127.0.0.1:3000"), ("origin", "null")])));
    }
}
