//! Starting, keeping and ending impersonations: the session holds the id of an ongoing
//! impersonation, the `impersonations` table holds its facts, and every step is decided by
//! `impersonation` (the rules) and written with its audit row.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::auth::{self, AuthSession};
use super::rules::impersonation::{self, AutomaticEnd, ImpersonationDenial};
use super::rules::modes::{self, ModeRefusal};
use super::principal::Principal;
use super::state::AppState;
use super::store::{self, impersonations::{ImpersonationRow, NewImpersonation}, now_ms, users::User};
use crate::error::AppError;
use crate::model::{ImpersonationMode, Via};

/// Session key of the ongoing impersonation's id.
pub const SESSION_KEY: &str = "guise.impersonation_id";


fn session_error(e: impl std::fmt::Display) -> AppError {
    AppError::internal(format!("session: {e}"))
}

fn target(user: &User) -> String {
    format!("user {} ({})", user.id, user.email)
}

/// Builds the request's principal from its session, ending an impersonation that may not go
/// on (time limit, lost right, switched off) on the spot.
pub async fn resolve(session: &AuthSession, state: &AppState) -> Result<Principal, AppError> {
    let ongoing: Option<i64> = session.session.get(SESSION_KEY).await.map_err(session_error)?;
    let Some(actor) = session.user.clone() else {
        if let Some(id) = ongoing {
            // The actor can no longer sign in (disabled or removed): the impersonation ends too.
            end_unattended(state, id, "ended automatically: the impersonator can no longer sign in").await?;
            session.session.remove::<i64>(SESSION_KEY).await.map_err(session_error)?;
        }
        return Err(AppError::not_logged_in());
    };
    let now = now_ms();
    let signed_in_at = match session.session.get::<i64>(auth::SIGNED_IN_AT).await.map_err(session_error)? {
        Some(at) => at,
        // A session from before logins were stamped: its lifetime starts now.
        None => {
            session.session.insert(auth::SIGNED_IN_AT, now).await.map_err(session_error)?;
            now
        }
    };
    if !auth::within_session_lifetime(signed_in_at, now) {
        if let Some(id) = ongoing {
            end_unattended(state, id, "ended automatically: the impersonator's session reached its time limit").await?;
        }
        session.session.flush().await.map_err(session_error)?;
        return Err(AppError::Unauthorized(format!(
            "your session is over after {} hours; log in again",
            auth::SESSION_LIFETIME_MS / 3_600_000
        )));
    }
    let Some(id) = ongoing else { return Ok(Principal::signed_in(actor)) };
    let row = store::impersonations::by_id(&state.db, id).await?;
    let Some(row) = row.filter(|r| r.ended_at.is_none() && r.actor_user_id == actor.id) else {
        session.session.remove::<i64>(SESSION_KEY).await.map_err(session_error)?;
        return Ok(Principal::signed_in(actor));
    };
    let subject = state.cached().user_in(row.tenant_id, row.subject_user_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("impersonation {id} names a missing user")))?;
    let granted = state.cached().grant_modes(actor.tenant_id, actor.id, subject.id).await?;
    let enabled = state.cached().impersonation_enabled().await?;
    let ending = match impersonation::may_continue(&actor, &subject, !granted.is_empty(), enabled, row.expires_at, now) {
        Err(AutomaticEnd::Expired) => Some((AuditAction::ImpersonationExpired, "the time limit was reached".to_string())),
        Err(AutomaticEnd::RightLost(d)) => Some((AuditAction::ImpersonationEnded, format!("ended automatically: {}", d.message()))),
        Ok(()) if !modes::mode_still_allowed(row.mode, actor.is_admin, &granted) => Some((
            AuditAction::ImpersonationEnded,
            format!("ended automatically: {} ({})", ModeRefusal::NotGranted.message(), row.mode.label()),
        )),
        Ok(()) => None,
    };
    match ending {
        None => Ok(Principal::impersonating(actor, subject, &row)),
        Some((action, why)) => {
            let entry = ended_entry(&row, action, &subject, why.clone());
            store::impersonations::end(&state.writer, row.id, &why, &entry).await?;
            session.session.remove::<i64>(SESSION_KEY).await.map_err(session_error)?;
            Ok(Principal::signed_in(actor))
        }
    }
}

fn ended_entry(row: &ImpersonationRow, action: AuditAction, subject: &User, why: String) -> AuditEntry {
    AuditEntry {
        tenant_id: row.tenant_id,
        actor_user_id: row.actor_user_id,
        subject_user_id: Some(row.subject_user_id),
        impersonation_id: Some(row.id),
        action: action.as_str().into(),
        target: target(subject),
        outcome: Outcome::Allowed,
        reason: why,
        via: Via::Ui.label(),
    }
}

async fn end_unattended(state: &AppState, id: i64, why: &str) -> Result<(), AppError> {
    if let Some(row) = store::impersonations::by_id(&state.db, id).await?.filter(|r| r.ended_at.is_none()) {
        if let Some(subject) = state.cached().user_in(row.tenant_id, row.subject_user_id).await? {
            let entry = ended_entry(&row, AuditAction::ImpersonationEnded, &subject, why.to_string());
            store::impersonations::end(&state.writer, row.id, why, &entry).await?;
        }
    }
    Ok(())
}

/// A start's audit reason: the reason given, then the mode and whether it is read-only.
fn started_reason(reason: &str, mode: ImpersonationMode, read_only: bool) -> String {
    let read_only = if read_only { ", read-only" } else { "" };
    format!("{reason} (mode: {}{read_only})", mode.label())
}

/// Audits a refused attempt in its own unit, then answers `error`.
async fn refuse_attempt(state: &AppState, attempt: AuditEntry, reason: String, error: AppError) -> AppError {
    let entry = AuditEntry { outcome: Outcome::Denied, reason, ..attempt };
    match store::audit::append_alone(&state.writer, &entry).await {
        Ok(()) => error,
        Err(e) => AppError::internal(format!("cannot audit a denied impersonation: {e}")),
    }
}

/// Refuses with the rule's message.
async fn refuse(state: &AppState, attempt: AuditEntry, denial: ImpersonationDenial) -> AppError {
    let reason = format!("{} (reason given: {:?})", denial.message(), attempt.reason);
    let error = if denial.is_bad_input() {
        AppError::BadRequest(denial.message().to_string())
    } else {
        AppError::Forbidden(format!("you may not impersonate this user: {}", denial.message()))
    };
    refuse_attempt(state, attempt, reason, error).await
}

/// Refuses a mode the form could not name or the actor's grants do not allow.
async fn refuse_mode(state: &AppState, attempt: AuditEntry, refusal: ModeRefusal, asked: &str) -> AppError {
    let reason = format!("{} (asked for {asked}; reason given: {:?})", refusal.message(), attempt.reason);
    let error = if refusal.is_bad_input() {
        AppError::BadRequest(refusal.message().into())
    } else {
        AppError::Forbidden(format!("you may not impersonate this user in this mode: {}", refusal.message()))
    };
    refuse_attempt(state, attempt, reason, error).await
}

/// Starts impersonating `user_id` as the signed-in actor. The actor always comes from the
/// session; nothing in the request can name another.
pub async fn start(
    state: &AppState,
    session: &AuthSession,
    user_id: i64,
    reason: &str,
    read_only: bool,
    asked_mode: Result<Option<ImpersonationMode>, ModeRefusal>,
) -> Result<User, AppError> {
    let principal = resolve(session, state).await?;
    let actor = principal.acting_user().clone();
    let attempt = AuditEntry {
        tenant_id: actor.tenant_id,
        actor_user_id: actor.id,
        subject_user_id: None,
        impersonation_id: principal.impersonation_id(),
        action: AuditAction::ImpersonationStart.as_str().into(),
        target: format!("user {user_id}"),
        outcome: Outcome::Allowed,
        reason: reason.chars().take(impersonation::MAX_REASON).collect(),
        via: Via::Ui.label(),
    };
    // Users of other tenants are as unknown as users who do not exist.
    let subject = state.cached().user_in(actor.tenant_id, user_id).await?;
    let Some(subject) = subject else {
        let mut entry = attempt;
        entry.outcome = Outcome::Denied;
        entry.reason = "no such user".to_string();
        store::audit::append_alone(&state.writer, &entry).await?;
        return Err(AppError::NotFound(format!("no user with id {user_id}")));
    };
    let attempt = AuditEntry { subject_user_id: Some(subject.id), target: target(&subject), ..attempt };
    let granted = state.cached().grant_modes(actor.tenant_id, actor.id, subject.id).await?;
    let enabled = state.cached().impersonation_enabled().await?;
    if let Err(denial) =
        impersonation::may_start(&actor, &subject, !granted.is_empty(), enabled, principal.actor().is_some(), reason)
    {
        return Err(refuse(state, attempt, denial).await);
    }
    let asked_label = match &asked_mode {
        Ok(Some(mode)) => mode.label(),
        Ok(None) => "the default mode",
        Err(_) => "a mode the form could not name",
    };
    let mode = match asked_mode.and_then(|asked| modes::choose_mode(asked, actor.is_admin, &granted)) {
        Ok(mode) => mode,
        Err(refusal) => return Err(refuse_mode(state, attempt, refusal, asked_label).await),
    };
    let reason = impersonation::check_reason(reason).map_err(|d| AppError::BadRequest(d.message().into()))?;
    let now = now_ms();
    let new = NewImpersonation {
        tenant_id: actor.tenant_id,
        actor_user_id: actor.id,
        subject_user_id: subject.id,
        reason: reason.to_string(),
        read_only,
        mode,
        started_at: now,
        expires_at: impersonation::expires_at(now, state.settings.impersonation_minutes),
        via: Via::Ui,
    };
    let entry = AuditEntry { reason: started_reason(reason, mode, read_only), ..attempt };
    let id = store::impersonations::start(&state.writer, new, entry).await?;
    // A new session id for the new identity.
    session.session.cycle_id().await.map_err(session_error)?;
    session.session.insert(SESSION_KEY, id).await.map_err(session_error)?;
    Ok(subject)
}

/// Stops the ongoing impersonation and returns whom it was of.
pub async fn stop(state: &AppState, session: &AuthSession) -> Result<User, AppError> {
    let principal = resolve(session, state).await?;
    let Some(id) = principal.impersonation_id() else {
        return Err(AppError::Conflict(
            "you are not impersonating anyone (it may have ended at its time limit)".into(),
        ));
    };
    let entry = principal.audit(AuditAction::ImpersonationStop, target(principal.subject()), Outcome::Allowed, "stopped by the impersonator".into());
    store::impersonations::end(&state.writer, id, "stopped", &entry).await?;
    session.session.cycle_id().await.map_err(session_error)?;
    session.session.remove::<i64>(SESSION_KEY).await.map_err(session_error)?;
    Ok(principal.subject().clone())
}

/// What happens to a browser session that ends its impersonation with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionChange {
    /// The impersonator logs out.
    LogOut,
    /// Someone logs in on the impersonator's browser session.
    LogIn,
}

impl SessionChange {
    /// (the impersonation's end reason, the audit row's reason)
    fn reasons(self) -> (&'static str, &'static str) {
        match self {
            SessionChange::LogOut => ("logged out", "the impersonator logged out"),
            SessionChange::LogIn => ("another login", "someone logged in on the impersonator's browser session"),
        }
    }
}

/// Ends the session's ongoing impersonation, if any, because the session's identity changes.
pub async fn end_with_session(state: &AppState, session: &AuthSession, change: SessionChange) -> Result<(), AppError> {
    let principal = match resolve(session, state).await {
        Ok(p) => p,
        Err(AppError::Unauthorized(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    if let Some(id) = principal.impersonation_id() {
        let (ended, why) = change.reasons();
        let entry = principal.audit(AuditAction::ImpersonationStop, target(principal.subject()), Outcome::Allowed, why.into());
        store::impersonations::end(&state.writer, id, ended, &entry).await?;
        session.session.remove::<i64>(SESSION_KEY).await.map_err(session_error)?;
    }
    Ok(())
}

/// The users the principal may impersonate now (the picker): none while impersonating.
pub async fn candidates(state: &AppState, principal: &Principal) -> Result<Vec<User>, AppError> {
    let actor = principal.acting_user();
    let nested = principal.actor().is_some();
    let enabled = state.cached().impersonation_enabled().await?;
    Ok(state.cached().enabled_users_granted_to(actor.tenant_id, actor.id)
        .await?
        .into_iter()
        .filter(|(u, granted)| impersonation::may_offer(actor, u, *granted, enabled, nested).is_ok())
        .map(|(u, _)| u)
        .collect())
}

/// Whether the principal may impersonate `subject` now (buttons, profiles, the start form).
pub struct Offer {
    /// Why not, when they may not.
    pub refusal: Option<String>,
    /// The modes they may choose, least powerful first, and the one a start gets by default
    /// (empty and none when they may not).
    pub modes: Vec<ImpersonationMode>,
    pub default_mode: Option<ImpersonationMode>,
}

pub async fn offer(state: &AppState, principal: &Principal, subject: &User) -> Result<Offer, AppError> {
    let actor = principal.acting_user();
    let granted = state.cached().grant_modes(actor.tenant_id, actor.id, subject.id).await?;
    let enabled = state.cached().impersonation_enabled().await?;
    let nested = principal.actor().is_some();
    Ok(match impersonation::may_offer(actor, subject, !granted.is_empty(), enabled, nested) {
        Err(denial) => Offer { refusal: Some(denial.message().to_string()), modes: Vec::new(), default_mode: None },
        Ok(()) => Offer {
            refusal: None,
            modes: modes::allowed_modes(actor.is_admin, &granted),
            default_mode: modes::default_mode(actor.is_admin, &granted),
        },
    })
}
