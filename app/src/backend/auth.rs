//! Password login: account lookup, argon2 verification off the async workers, and the
//! axum-login backend that loads the signed-in user on each request.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::memory;
use super::shared_throttles;
use super::rules::permissions;
use super::state::AppState;
use super::store::cache::{Cached, ReadCache};
use super::store::{self, users::User, Db};
use super::throttle::{ClientAddress, NotNow};
use crate::error::AppError;
use crate::model::Via;
use axum_login::{AuthUser, AuthnBackend, UserId};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

pub type AuthSession = axum_login::AuthSession<Accounts>;

impl AuthUser for User {
    type Id = i64;

    fn id(&self) -> i64 {
        self.id
    }

    // Sessions end when the password changes.
    fn session_auth_hash(&self) -> &[u8] {
        self.password_hash.as_deref().unwrap_or("").as_bytes()
    }
}

#[derive(Clone)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("password check: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("password check: hashing pool closed")]
    Closed,
}

#[derive(Clone)]
pub struct Accounts {
    db: Db,
    /// The signed-in user is loaded on every request, after the session (which refreshes it).
    cache: Arc<ReadCache>,
    /// Bounds concurrent argon2 work so a login burst cannot starve the server.
    hashing: Arc<Semaphore>,
}

impl Accounts {
    pub fn new(db: Db, cache: Arc<ReadCache>, hashing: Arc<Semaphore>) -> Self {
        Accounts { db, cache, hashing }
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, AuthError> {
        let _permit = self.hashing.acquire().await.map_err(|_| AuthError::Closed)?;
        let ok = tokio::task::spawn_blocking(move || {
            memory::released_after(|| password_auth::verify_password(password, &hash).is_ok())
        })
        .await?;
        Ok(ok)
    }
}

/// A hash to verify against when the email is unknown, so both failures take as long.
fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| password_auth::generate_hash("decoy password")).clone()
}

/// Hashes a password with argon2 on the blocking pool.
pub async fn hash_password(password: String) -> Result<String, tokio::task::JoinError> {
    tokio::task::spawn_blocking(move || memory::released_after(|| password_auth::generate_hash(password))).await
}

/// Session key of the time (ms) its user logged in.
pub const SIGNED_IN_AT: &str = "guise.signed_in_at";
/// However active, a browser session ends this long after its login (besides ending after
/// eight idle hours).
pub const SESSION_LIFETIME_MS: i64 = 24 * 3_600_000;

/// Whether a session whose user logged in at `signed_in_at` may still be used at `now`.
pub fn within_session_lifetime(signed_in_at: i64, now: i64) -> bool {
    now >= signed_in_at && now < signed_in_at + SESSION_LIFETIME_MS
}

/// A password login for `email` from `address`. A wait imposed by earlier failures is
/// answered 429 before the password is even checked, as is a try that, with those being
/// checked at the same time, could go past the free ones; a wrong password for an existing account
/// is audited on it, with the address and any wait it now imposes. Unknown emails are
/// throttled alike, so the answers do not tell which accounts exist.
pub async fn log_in(state: &AppState, session: &mut AuthSession, email: &str, password: String, address: ClientAddress) -> Result<User, AppError> {
    let now = store::now_ms() / 1000;
    shared_throttles::before_login(state, email, address.0).await?;
    let attempt = state.login_throttle.begin(email, address.0, now).map_err(|not_now| match not_now {
        NotNow::Wait(wait) => AppError::TooManyRequests {
            message: format!("too many failed logins; try again in {wait} s"),
            retry_after: wait,
        },
        NotNow::Busy => AppError::TooManyRequests {
            message: "other logins for this account or address are being checked; try again in 1 s".into(),
            retry_after: 1,
        },
    })?;
    let user = session
        .authenticate(Credentials { email: email.to_string(), password })
        .await
        .map_err(AppError::internal)?;
    if let Some(user) = user {
        shared_throttles::login_succeeded(state, &attempt).await?;
        return Ok(user);
    }
    let wait = shared_throttles::login_failed(state, &attempt, now).await?;
    drop(attempt);
    match store::users::by_email(&state.db, email.trim()).await? {
        Some(account) => {
            let why = match permissions::may_log_in(&account) {
                Err(refusal) => format!("refused: {}", refusal.reason()),
                Ok(()) => "wrong password".to_string(),
            };
            let waits = if wait > 0 { format!("; that address now waits {wait} s") } else { String::new() };
            let entry = AuditEntry {
                tenant_id: account.tenant_id,
                actor_user_id: account.id,
                subject_user_id: None,
                impersonation_id: None,
                action: AuditAction::Login.as_str().into(),
                target: format!("user {}", account.email),
                outcome: Outcome::Denied,
                reason: format!("{why} (from {}){waits}", address.0),
                via: Via::Ui.label(),
            };
            store::audit::append_alone(&state.writer, &entry).await?;
        }
        None => tracing::warn!("login for unknown email {:?} from {}", email.trim(), address.0),
    }
    Err(AppError::Unauthorized("wrong email or password".into()))
}

impl AuthnBackend for Accounts {
    type User = User;
    type Credentials = Credentials;
    type Error = AuthError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<User>, AuthError> {
        let user = store::users::by_email(&self.db, creds.email.trim()).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(decoy_hash);
        let password_ok = self.verify(creds.password, hash).await?;
        Ok(user.filter(|u| password_ok && permissions::may_log_in(u).is_ok()))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<User>, AuthError> {
        let user = Cached { db: &self.db, cache: &self.cache }.user(*id).await?;
        Ok(user.filter(|u| permissions::may_log_in(u).is_ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_a_day_from_its_login_however_active() {
        let login = 1_000_000;
        assert!(within_session_lifetime(login, login));
        assert!(within_session_lifetime(login, login + SESSION_LIFETIME_MS - 1));
        assert!(!within_session_lifetime(login, login + SESSION_LIFETIME_MS));
        assert!(!within_session_lifetime(login, login - 1), "a login stamped in the future is not trusted");
    }
}
