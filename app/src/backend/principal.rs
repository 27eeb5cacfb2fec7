//! Who a request acts for. Built once per request from the session, never from client input.

use super::auth::AuthSession;
use super::store::users::UserRow;
use crate::error::AppError;
use crate::model::{UserView, Via};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

#[derive(Clone, Debug)]
pub struct Principal {
    /// The user the request acts as.
    pub subject: UserRow,
    /// The user really acting, when it is not the subject (impersonation).
    pub actor: Option<UserRow>,
    pub via: Via,
    pub read_only: bool,
    pub expires_at: Option<i64>,
}

impl Principal {
    /// A user acting as themselves through the UI.
    pub fn signed_in(user: UserRow) -> Self {
        Principal { subject: user, actor: None, via: Via::Ui, read_only: false, expires_at: None }
    }

    pub fn tenant_id(&self) -> i64 {
        self.subject.tenant_id
    }

    pub fn subject_view(&self) -> UserView {
        self.subject.view()
    }
}

fn from_auth_session(session: AuthSession) -> Result<Principal, AppError> {
    session.user.map(Principal::signed_in).ok_or_else(AppError::not_logged_in)
}

/// The principal of the current server-function request.
pub async fn current() -> Result<Principal, AppError> {
    let session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    from_auth_session(session)
}

/// The same principal for plain axum handlers.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = AuthSession::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::internal(format!("auth session unavailable: {msg}")))?;
        from_auth_session(session)
    }
}
