//! The principal of the current request, built once from its session — never from client
//! input — by `impersonating::resolve`, which re-checks any impersonation every time.

use super::auth::AuthSession;
use super::impersonating;
use super::rules::{modes, permissions};
use super::principal::Principal;
use super::state::AppState;
use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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

/// The state and principal of a request by an admin of their own tenant; 403 otherwise.
pub async fn current_admin() -> Result<(AppState, Principal), AppError> {
    let principal = current().await?;
    may_administer(&principal).map_err(|why| AppError::Forbidden(format!("you may not open Administration: {why}")))?;
    Ok((AppState::current()?, principal))
}

/// Whether the principal may administer their tenant (and its webapps' settings): an admin,
/// acting as themselves.
pub fn may_administer(principal: &Principal) -> Result<(), String> {
    modes::may_administer_while(principal.is_impersonating())?;
    permissions::may_administer(principal.permissions_user(), principal.tenant_id()).map_err(|r| r.reason().to_string())
}
