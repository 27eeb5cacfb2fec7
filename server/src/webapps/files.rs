//! A code webapp's frontend files, from the folder the operator registered: never outside it,
//! never a hidden file, and every HTML page given the script that tells it where its backend is.

use app::backend::rules::webapps::frontend_path_allowed;
use app::error::AppError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};

/// Where the page script is served, under the webapp's address.
pub const SCRIPT_PATH: &str = "__guise/webapp.js";
/// Largest frontend file served; HTML pages up to this size get the script.
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// The script every page gets: `getWebAppBackendUrl(path)`, also as `dataiku.getWebAppBackendUrl`
/// so pages written for that API work unchanged.
pub fn script(prefix: &str) -> Response {
    let prefix = serde_json::to_string(prefix).unwrap_or_else(|_| "\"\"".into());
    let body = format!(
        "(function () {{\n  var prefix = {prefix};\n  function getWebAppBackendUrl(path) {{\n    return prefix + \"/\" + String(path).replace(/^\\/+/, \"\");\n  }}\n  \
         window.getWebAppBackendUrl = getWebAppBackendUrl;\n  window.dataiku = window.dataiku || {{}};\n  window.dataiku.getWebAppBackendUrl = getWebAppBackendUrl;\n}})();\n"
    );
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `page` with the script tag right after its `<head>` (or first, without one).
pub fn with_script(page: &str, prefix: &str) -> String {
    let webapp = prefix.strip_suffix("/backend").unwrap_or(prefix);
    let tag = format!("<script src=\"{webapp}/{SCRIPT_PATH}\"></script>");
    let lower = page.to_ascii_lowercase();
    let head = lower.match_indices("<head").find(|(at, _)| matches!(lower.as_bytes().get(at + 5), Some(b'>' | b' ' | b'\t' | b'\n' | b'\r')));
    match head.and_then(|(at, _)| lower[at..].find('>').map(|end| at + end + 1)) {
        Some(after) => format!("{}{tag}{}", &page[..after], &page[after..]),
        None => format!("{tag}{page}"),
    }
}

/// The file at `path` under `folder` (`index.html` for a folder).
pub async fn serve(folder: &str, path: &str, prefix: &str) -> Response {
    let not_found = || AppError::NotFound(format!("the webapp has no file {path:?}")).into_response();
    if frontend_path_allowed(path).is_err() {
        return not_found();
    }
    let root = PathBuf::from(folder);
    let mut file = root.join(path);
    if path.is_empty() || path.ends_with('/') || file.is_dir() {
        file = file.join("index.html");
    }
    // Symbolic links may not lead out of the folder.
    let Ok(file) = tokio::fs::canonicalize(&file).await else { return not_found() };
    if !file.starts_with(&root) {
        return not_found();
    }
    match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_FILE_BYTES => {}
        Ok(meta) if meta.is_file() => return (StatusCode::PAYLOAD_TOO_LARGE, "the file is too large to serve").into_response(),
        _ => return not_found(),
    }
    let Ok(bytes) = tokio::fs::read(&file).await else { return not_found() };
    let kind = content_type(&file);
    let body = if kind.starts_with("text/html") {
        with_script(&String::from_utf8_lossy(&bytes), prefix).into_bytes()
    } else {
        bytes
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_get_the_script_in_their_head() {
        let prefix = "/projects/TSHIRTS/webapps/flask-demo/backend";
        let tag = "<script src=\"/projects/TSHIRTS/webapps/flask-demo/__guise/webapp.js\"></script>";
        assert_eq!(with_script("<html><HEAD lang=en><title>x</title>", prefix), format!("<html><HEAD lang=en>{tag}<title>x</title>"));
        assert_eq!(with_script("<header>no head</header>", prefix), format!("{tag}<header>no head</header>"));
        assert_eq!(with_script("<p>bare</p>", prefix), format!("{tag}<p>bare</p>"));
    }
}
