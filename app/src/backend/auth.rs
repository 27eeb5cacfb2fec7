//! Password login: account lookup, argon2 verification off the async workers, and the
//! axum-login backend that loads the signed-in user on each request.

use super::permissions;
use super::store::cache::{Cached, ReadCache};
use super::store::{self, users::UserRow, Db};
use axum_login::{AuthUser, AuthnBackend, UserId};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

pub type AuthSession = axum_login::AuthSession<Accounts>;

impl AuthUser for UserRow {
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
            password_auth::verify_password(password, &hash).is_ok()
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
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password)).await
}

impl AuthnBackend for Accounts {
    type User = UserRow;
    type Credentials = Credentials;
    type Error = AuthError;

    async fn authenticate(&self, creds: Credentials) -> Result<Option<UserRow>, AuthError> {
        let user = store::users::by_email(&self.db, creds.email.trim()).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(decoy_hash);
        let password_ok = self.verify(creds.password, hash).await?;
        Ok(user.filter(|u| password_ok && permissions::may_log_in(u).is_ok()))
    }

    async fn get_user(&self, id: &UserId<Self>) -> Result<Option<UserRow>, AuthError> {
        let user = Cached { db: &self.db, cache: &self.cache }.user(*id).await?;
        Ok(user.filter(|u| permissions::may_log_in(u).is_ok()))
    }
}
