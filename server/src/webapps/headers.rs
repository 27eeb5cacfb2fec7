//! Which headers pass the proxy between browsers and code webapps' backends, each way. Pure,
//! so each rule is unit-tested: the backend never sees the browser's credentials or anything
//! claiming to come from Guise, and the browser never gets cookies or a framing policy from
//! the backend.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Most headers, and header bytes, a proxied request may carry.
pub const MAX_HEADERS: usize = 64;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Headers of one hop only (RFC 9110 §7.6.1), never forwarded either way.
const HOP_BY_HOP: [&str; 8] = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate"];

/// The browser's credentials and what only this proxy may say.
const NEVER_TO_BACKEND: [&str; 8] = ["cookie", "authorization", "proxy-authorization", "host", "content-length", "expect", "forwarded", "x-real-ip"];

/// What a backend may not tell the browser: cookies on Guise's origin, a service worker's reach
/// over it, a login prompt on it, and policies that are Guise's to set.
const NEVER_TO_BROWSER: [&str; 9] = [
    "set-cookie",
    "clear-site-data",
    "service-worker-allowed",
    "www-authenticate",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "content-length",
];

/// Whether a request to a backend came from another site (or a sibling one): such a request,
/// even a plain link followed, never gets a ticket to act as the user.
pub fn from_another_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site"))
}

/// Why a request is refused before it reaches the backend.
pub fn check_request(headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let bytes: usize = headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 4).sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Err((StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "the request's headers are too many or too large for a webapp's backend"));
    }
    // Framing the two ends could read differently is how requests are smuggled (RFC 9112 §6.3:
    // such a message ought to be refused).
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    if lengths > 1 || (lengths == 1 && headers.contains_key(header::TRANSFER_ENCODING)) {
        return Err((StatusCode::BAD_REQUEST, "the request's length is given twice (Content-Length with Transfer-Encoding, or two Content-Lengths)"));
    }
    if headers.contains_key(header::UPGRADE) {
        return Err((StatusCode::NOT_IMPLEMENTED, "webapp backends cannot be reached over WebSocket or another upgraded protocol"));
    }
    Ok(())
}

/// The header names a `Connection` header lists: hop-by-hop too.
fn named_by_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

fn hop_by_hop(name: &str, connection: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || connection.iter().any(|c| c == name)
}

/// The browser's headers a backend gets.
pub fn to_backend(incoming: &HeaderMap) -> HeaderMap {
    let connection = named_by_connection(incoming);
    let mut out = HeaderMap::new();
    for (name, value) in incoming {
        let n = name.as_str();
        let refused = hop_by_hop(n, &connection)
            || NEVER_TO_BACKEND.contains(&n)
            || n.starts_with("x-guise-")
            || n.starts_with("x-forwarded-");
        if !refused {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// What Guise tells the backend about the request: who the browser user is, the ticket to act
/// as them, and where the request came in.
pub struct Forwarded<'a> {
    pub user_email: &'a str,
    pub ticket: &'a str,
    pub webapp_slug: &'a str,
    pub host: Option<&'a HeaderValue>,
    pub https: bool,
    pub prefix: &'a str,
    pub client_ip: Option<std::net::IpAddr>,
}

pub fn add_forwarded(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-guise-user-email", f.user_email);
    set("x-guise-ticket", f.ticket);
    set("x-guise-webapp", f.webapp_slug);
    set("x-forwarded-proto", if f.https { "https" } else { "http" });
    set("x-forwarded-prefix", f.prefix);
    if let Some(ip) = f.client_ip.filter(|ip| !ip.is_unspecified()) {
        set("x-forwarded-for", &ip.to_string());
    }
    if let Some(host) = f.host.and_then(|h| h.to_str().ok()) {
        set("x-forwarded-host", host);
    }
}

/// The backend's headers the browser gets.
pub fn to_browser(upstream: &HeaderMap) -> HeaderMap {
    let connection = named_by_connection(upstream);
    let mut out = HeaderMap::new();
    for (name, value) in upstream {
        let n = name.as_str();
        if !(hop_by_hop(n, &connection) || NEVER_TO_BROWSER.contains(&n) || n.starts_with("access-control-")) {
            out.append(name.clone(), value.clone());
        }
    }
    // Beside any policy of the backend's: Guise's pages are never framed.
    out.append(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_backend_never_gets_credentials_hop_headers_or_forged_guise_headers() {
        let incoming = headers(&[
            ("cookie", "guise_session=abc"),
            ("authorization", "Bearer x"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("x-guise-user-email", "alice@tshirts.example"),
            ("x-forwarded-for", "10.0.0.1"),
            ("content-length", "5"),
            ("accept", "application/json"),
            ("x-custom", "kept"),
        ]);
        let out = to_backend(&incoming);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["accept", "x-custom"]);
    }

    #[test]
    fn guise_says_who_the_user_is() {
        let mut out = to_backend(&headers(&[("x-guise-ticket", "forged")]));
        let host = HeaderValue::from_static("guise.example");
        let forwarded = Forwarded {
            user_email: "u1@tshirts.example",
            ticket: "t",
            webapp_slug: "flask-demo",
            host: Some(&host),
            https: false,
            prefix: "/projects/TSHIRTS/webapps/flask-demo/backend",
            client_ip: Some([10, 1, 2, 3].into()),
        };
        add_forwarded(&mut out, &forwarded);
        assert_eq!(out["x-guise-ticket"], "t");
        assert_eq!(out.get_all("x-guise-ticket").iter().count(), 1);
        assert_eq!(out["x-guise-user-email"], "u1@tshirts.example");
        assert_eq!(out["x-forwarded-for"], "10.1.2.3");
        assert_eq!(out["x-forwarded-host"], "guise.example");
    }

    #[test]
    fn the_browser_never_gets_cookies_or_framing_from_the_backend() {
        let upstream = headers(&[
            ("set-cookie", "stolen=1"),
            ("service-worker-allowed", "/"),
            ("referrer-policy", "unsafe-url"),
            ("x-frame-options", "ALLOWALL"),
            ("access-control-allow-origin", "*"),
            ("connection", "x-secret-hop"),
            ("x-secret-hop", "1"),
            ("content-type", "text/html"),
        ]);
        let out = to_browser(&upstream);
        assert!(out.get("set-cookie").is_none() && out.get("x-frame-options").is_none() && out.get("x-secret-hop").is_none());
        assert!(out.get("access-control-allow-origin").is_none());
        assert!(out.get("service-worker-allowed").is_none() && out.get("referrer-policy").is_none());
        assert_eq!(out["content-type"], "text/html");
        assert_eq!(out["content-security-policy"], "frame-ancestors 'none'");
    }

    #[test]
    fn requests_from_other_sites_are_told_apart() {
        assert!(from_another_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(from_another_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!from_another_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!from_another_site(&headers(&[("sec-fetch-site", "none")])), "typed or bookmarked");
        assert!(!from_another_site(&HeaderMap::new()));
    }

    #[test]
    fn too_many_headers_or_an_upgrade_are_refused() {
        assert_eq!(check_request(&headers(&[("accept", "*/*")])), Ok(()));
        let many: Vec<(String, String)> = (0..65).map(|i| (format!("x-h{i}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(check_request(&headers(&many)).unwrap_err().0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let big = "v".repeat(MAX_HEADER_BYTES);
        assert_eq!(check_request(&headers(&[("x-big", &big)])).unwrap_err().0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(check_request(&headers(&[("upgrade", "websocket")])).unwrap_err().0, StatusCode::NOT_IMPLEMENTED);
        let smuggling = headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]);
        assert_eq!(check_request(&smuggling).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(check_request(&headers(&[("content-length", "5"), ("content-length", "6")])).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(check_request(&headers(&[("transfer-encoding", "chunked")])), Ok(()));
    }
}
