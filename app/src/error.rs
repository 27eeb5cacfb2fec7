//! The one error type of Guise, shared by server functions and pages.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    /// The request itself is wrong; the message says how.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Too many failed tries: the next one is refused unchecked until `retry_after` seconds pass.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: i64 },
    /// The server is overloaded and turned the request away untouched: try again shortly.
    #[error("{0}")]
    Unavailable(String),
    /// The server or the network could not be reached from the browser.
    #[error("could not reach the server: {0}")]
    Network(String),
    /// Something broke on the server; the detail is in the server log, never in the response.
    #[error("something went wrong on the server; it has been logged")]
    Internal,
}

impl AppError {
    pub fn not_logged_in() -> Self {
        AppError::Unauthorized("you are not logged in".into())
    }

    /// The HTTP status the error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::TooManyRequests { .. } => 429,
            AppError::Unavailable(_) | AppError::Network(_) => 503,
            AppError::Internal => 500,
        }
    }

    /// The seconds to send in `Retry-After`, for the errors that ask to come back later.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            AppError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            AppError::Unavailable(_) => Some(RETRY_AFTER_SECONDS),
            _ => None,
        }
    }

    /// The answer when the writer's queue is full.
    pub fn busy() -> Self {
        AppError::Unavailable("the server is busy; nothing was changed, try again in a moment".into())
    }

    /// The answer while the database cannot be reached (restarting, say).
    pub fn database_unreachable() -> Self {
        AppError::Unavailable("the database cannot be reached; try again in a moment".into())
    }

    /// Logs the detail of an unexpected failure and returns the generic error users see.
    #[cfg(feature = "ssr")]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {detail}");
        AppError::Internal
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) => AppError::BadRequest(format!("malformed input: {msg}")),
            ServerFnErrorErr::MissingArg(name) => {
                AppError::BadRequest(format!("missing field: {name}"))
            }
            ServerFnErrorErr::Request(msg) => AppError::Network(msg),
            ServerFnErrorErr::UnsupportedRequestMethod(msg) => AppError::BadRequest(msg),
            // On the server this is a request body that could not be read (not UTF-8): the
            // client's fault. (In the browser it would be an answer the server garbled.)
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(msg) => AppError::BadRequest(format!("malformed input: {msg}")),
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!("server function failure: {other}");
                #[cfg(not(feature = "ssr"))]
                let _ = other;
                AppError::Internal
            }
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The writer's queue is full, or no reader came free in time: overload, not a fault.
            sqlx::Error::PoolTimedOut => AppError::busy(),
            // The database server went away: it comes back by itself, or an operator is needed.
            e if crate::backend::store::is_connection_lost(&e) => {
                warn_unreachable(&e);
                AppError::database_unreachable()
            }
            e => AppError::internal(format!("database: {e}")),
        }
    }
}

/// While the database is away every request fails the same way: one warning a second at most
/// says so, with the number of requests refused since the last one, instead of a line each.
#[cfg(feature = "ssr")]
fn warn_unreachable(e: &sqlx::Error) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    REFUSED.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if now != last && LAST_SECOND.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        let refused = REFUSED.swap(0, Ordering::Relaxed);
        tracing::warn!("database: {e} ({refused} request(s) answered 503 since the last warning)");
    }
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECONDS: i64 = 1;

#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after();
        let mut response = (status, axum::Json(self)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        assert_eq!(AppError::not_logged_in().status(), 401);
        assert_eq!(AppError::not_logged_in().to_string(), "you are not logged in");
        assert_eq!(AppError::Internal.status(), 500);
        assert_eq!(AppError::busy().status(), 503);
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args("bad".into()));
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("bad"));
    }
}
