use crate::error::AppError;
use crate::model::SessionView;
use leptos::prelude::*;

pub const MAX_EMAIL: usize = 254;
pub const MAX_PASSWORD: usize = 1024;

/// Where to go after logging in: only paths of this site, never another origin, and only
/// characters a `Location` header can carry.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 2048
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p
        }
        _ => "/",
    }
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use crate::backend::auth::{self, AuthSession};
    use crate::backend::impersonating::{self, SessionChange};
    use crate::backend::state::AppState;
    use crate::backend::throttle::ClientAddress;
    if email.trim().is_empty() || password.is_empty() {
        return Err(AppError::BadRequest("enter your email and password".into()));
    }
    if email.len() > MAX_EMAIL || password.len() > MAX_PASSWORD {
        return Err(AppError::BadRequest("email or password is too long".into()));
    }
    let mut session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    let address = leptos_axum::extract::<axum::Extension<ClientAddress>>().await.map(|a| a.0).unwrap_or_default();
    let state = AppState::current()?;
    let user = auth::log_in(&state, &mut session, &email, password, address).await?;
    // Logging in always gives the session a new id (no session fixation), also when someone
    // was already signed in on it (axum-login only cycles it for anonymous sessions); and ends
    // that someone's impersonation, which would otherwise stay open with no one to stop it.
    if session.user.is_some() {
        impersonating::end_with_session(&state, &session, SessionChange::LogIn).await?;
        session.session.cycle_id().await.map_err(AppError::internal)?;
    }
    session.login(&user).await.map_err(AppError::internal)?;
    session.session.insert(auth::SIGNED_IN_AT, crate::backend::store::now_ms()).await.map_err(AppError::internal)?;
    leptos_axum::redirect(safe_next(next.as_deref()));
    Ok(())
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::backend::impersonating::{self, SessionChange};
    use crate::backend::{auth::AuthSession, state::AppState};
    let mut session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    // Logging out while impersonating ends both.
    impersonating::end_with_session(&AppState::current()?, &session, SessionChange::LogOut).await?;
    session.logout().await.map_err(AppError::internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Who is signed in, or nothing.
#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<SessionView>, AppError> {
    use crate::backend::{identity, impersonating, state::AppState, store};
    use crate::model::ImpersonationView;
    let principal = match identity::current().await {
        Ok(p) => p,
        Err(AppError::Unauthorized(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let state = AppState::current()?;
    let tenant_name = state.cached().tenant_name(principal.tenant_id()).await?;
    let impersonation = match (principal.actor(), principal.impersonation_id()) {
        (Some(actor), Some(id)) => {
            let row = store::impersonations::by_id(&state.db, id)
                .await?
                .ok_or_else(|| AppError::internal(format!("impersonation {id} vanished")))?;
            Some(ImpersonationView {
                actor: actor.view(),
                subject: principal.subject_view(),
                mode: row.mode,
                reason: row.reason,
                read_only: row.read_only,
                started_at: row.started_at,
                expires_at: row.expires_at,
            })
        }
        _ => None,
    };
    let candidates = impersonating::candidates(&state, &principal).await?;
    Ok(Some(SessionView {
        user: principal.subject_view(),
        is_admin: identity::may_administer(&principal).is_ok(),
        tenant_name,
        impersonation,
        impersonation_candidates: candidates.iter().map(|u| u.view()).collect(),
        server_now: store::now_ms(),
    }))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/jobs")), "/jobs");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        assert_eq!(safe_next(Some("/jobs\r\nSet-Cookie: x=y")), "/");
        assert_eq!(safe_next(Some("/é")), "/");
    }
}
