//! Request guards and response fixes shared by every route.

use app::backend::store::sessions;
use app::backend::throttle::ClientAddress;
use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The address a request came from: its peer; or, when the peer is one of the `trusted`
/// proxies, the nearest address in `X-Forwarded-For` that is not (the proxies append the
/// address they saw, so entries further left are whatever the client chose to send).
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[IpAddr]) -> Option<IpAddr> {
    // An IPv4 client reaching an IPv6 socket shows as ::ffff:a.b.c.d: compare it as IPv4.
    let peer = peer?.to_canonical();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for.iter().flat_map(|h| h.split(',')).map(str::trim).collect::<Vec<_>>();
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if trusted.contains(&ip) => nearest = ip,
            Ok(ip) => return Some(ip),
            // A garbled entry: nothing to its left can be trusted either.
            Err(_) => break,
        }
    }
    Some(nearest)
}

/// Hands every request on with its `ClientAddress` (unspecified when the server was not
/// given the peer's address, as in tests).
pub async fn client_address(State(trusted): State<Arc<Vec<IpAddr>>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded: Vec<&str> = request.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    let address = client_ip(peer, &forwarded, &trusted).map(ClientAddress).unwrap_or_default();
    request.extensions_mut().insert(address);
    next.run(request).await
}

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
/// Over HTTPS, browsers are also told to reach the site by nothing else for two years.
pub async fn security_headers(State(https): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, axum::http::HeaderValue::from_static("max-age=63072000"));
    }
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

/// A session that could not be read or saved because the writer's queue was full or the
/// database could not be reached is answered like any other request refused for now: 503 with
/// `Retry-After`. A request whose old session could not be deleted fails: that session may
/// still be valid.
pub async fn session_back_pressure(request: Request, next: Next) -> Response {
    let (response, writes) = sessions::tracking_session_writes(next.run(request)).await;
    if let Some(e) = writes.failed {
        tracing::error!("an old session could not be deleted: {e}");
        return AppError::from(e).into_response();
    }
    if let Some(refused) = writes.unavailable.filter(|_| response.status() == StatusCode::INTERNAL_SERVER_ERROR) {
        return refused.into_response();
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
        if let Some(seconds) = error.retry_after() {
            parts.headers.insert(header::RETRY_AFTER, seconds.into());
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_address_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxy = [ip("10.0.0.1")];
        assert_eq!(client_ip(Some(ip("192.0.2.7")), &["203.0.113.9"], &proxy), Some(ip("192.0.2.7")), "an untrusted peer's header is ignored");
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &["203.0.113.9"], &proxy), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &["198.51.100.1, 203.0.113.9"], &proxy), Some(ip("203.0.113.9")), "the client cannot choose by prepending");
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &["203.0.113.9", "10.0.0.1"], &proxy), Some(ip("203.0.113.9")), "proxies in the chain are skipped");
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &["203.0.113.9, garbage"], &proxy), Some(ip("10.0.0.1")));
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &[], &proxy), Some(ip("10.0.0.1")));
        assert_eq!(client_ip(None, &["203.0.113.9"], &proxy), None);
        assert_eq!(client_ip(Some(ip("::ffff:10.0.0.1")), &["203.0.113.9"], &proxy), Some(ip("203.0.113.9")), "an IPv4 proxy over IPv6");
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
