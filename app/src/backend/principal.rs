//! Who a request acts for. Built once per request from the session — never from client
//! input — and re-checked against the impersonation rules every time.

use super::audit::{AuditEntry, Outcome};
use super::auth::AuthSession;
use super::impersonating;
use super::state::AppState;
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
    pub impersonation_id: Option<i64>,
}

impl Principal {
    /// A user acting as themselves through the UI.
    pub fn signed_in(user: UserRow) -> Self {
        Principal { subject: user, actor: None, via: Via::Ui, read_only: false, expires_at: None, impersonation_id: None }
    }

    pub fn tenant_id(&self) -> i64 {
        self.subject.tenant_id
    }

    pub fn subject_view(&self) -> UserView {
        self.subject.view()
    }

    /// The person really acting: the impersonator when there is one.
    pub fn acting_user(&self) -> &UserRow {
        self.actor.as_ref().unwrap_or(&self.subject)
    }

    /// An audit entry for something this principal did, naming both people when impersonating.
    pub fn audit(&self, action: &str, target: String, outcome: Outcome, reason: String) -> AuditEntry {
        AuditEntry {
            tenant_id: self.tenant_id(),
            actor_user_id: self.acting_user().id,
            subject_user_id: self.actor.as_ref().map(|_| self.subject.id),
            impersonation_id: self.impersonation_id,
            action: action.to_string(),
            target,
            outcome,
            reason,
            via: self.via.label(),
        }
    }
}

/// The principal of the current server-function request.
pub async fn current() -> Result<Principal, AppError> {
    let session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    let state = AppState::current()?;
    impersonating::resolve(&session, &state).await
}

/// The same principal for plain axum handlers.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = AuthSession::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::internal(format!("auth session unavailable: {msg}")))?;
        let app_state = parts
            .extensions
            .get::<AppState>()
            .cloned()
            .ok_or_else(|| AppError::internal("AppState extension missing"))?;
        impersonating::resolve(&session, &app_state).await
    }
}
