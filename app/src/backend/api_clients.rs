//! Creating, rotating and revoking API clients. The secret is generated here, shown once to
//! whoever created or rotated it, and stored only sealed with the server key.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::rules::permissions;
use super::principal::Principal;
use super::secrets::{self, ServerKey};
use super::state::AppState;
use super::store::{self, api_clients::{secret_context, NewApiClient}, users::User};
use super::tokens::SubjectPolicy;
use crate::error::AppError;
use crate::model::ClientSecret;

pub const MAX_NAME: usize = 100;
pub const MAX_CLIENT_ID: usize = 64;

/// A client name: trimmed, 1 to 100 characters, no control characters.
pub fn check_name(name: &str) -> Result<&str, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::BadRequest("the client name is empty".into()));
    }
    if name.chars().count() > MAX_NAME {
        return Err(AppError::BadRequest(format!("the client name is too long (at most {MAX_NAME} characters)")));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::BadRequest("the client name may not contain control characters".into()));
    }
    Ok(name)
}

pub fn parse_policy(word: &str) -> Result<SubjectPolicy, AppError> {
    SubjectPolicy::from_db(word.trim()).ok_or_else(|| {
        AppError::BadRequest(format!("unknown subject-token policy {word:?}: choose strict or compatible"))
    })
}

/// A client id sent by a caller: bounded, and of the characters ids are made of.
pub fn check_client_id(client_id: &str) -> Result<&str, AppError> {
    let id = client_id.trim();
    if id.is_empty() || id.len() > MAX_CLIENT_ID || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(AppError::BadRequest(format!("{client_id:?} is not a client id")));
    }
    Ok(id)
}

/// A readable, unique id: the name as a slug, then random hex.
fn new_client_id(name: &str) -> String {
    let mut slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug = slug.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-");
    slug.truncate(40);
    let suffix: String = secrets::random_bytes::<4>().iter().map(|b| format!("{b:02x}")).collect();
    if slug.is_empty() {
        format!("client-{suffix}")
    } else {
        format!("{}-{suffix}", slug.trim_end_matches('-'))
    }
}

/// A new client's id, its secret (shown once) and the secret sealed for storage.
pub struct Credentials {
    pub client_id: String,
    pub secret: String,
    pub sealed: String,
}

/// Credentials for a client named `name`: the id from the name and a random secret, unless
/// given (the demo seed fixes both).
pub fn new_credentials(server_key: &ServerKey, name: &str, client_id: Option<&str>, secret: Option<&str>) -> Credentials {
    let client_id = client_id.map(str::to_string).unwrap_or_else(|| new_client_id(name));
    let secret = secret.map(str::to_string).unwrap_or_else(secrets::new_secret);
    let sealed = server_key.seal(secret.as_bytes(), &secret_context(&client_id));
    Credentials { client_id, secret, sealed }
}

/// Creates a client owned (and created) by `owner`, with its audit row naming how it came
/// in (`via`: the UI, the command line).
pub async fn create(state: &AppState, owner: &User, name: &str, policy: SubjectPolicy, via: &str) -> Result<ClientSecret, AppError> {
    let name = check_name(name)?;
    if let Err(refusal) = permissions::may_own_client(owner) {
        return Err(AppError::BadRequest(format!("{} cannot own an API client: {}", owner.email, refusal.reason())));
    }
    let Credentials { client_id, secret, sealed } = new_credentials(&state.keys.server, name, None, None);
    let new = NewApiClient {
        tenant_id: owner.tenant_id,
        client_id: client_id.clone(),
        name: name.to_string(),
        owner_user_id: owner.id,
        subject_policy: policy,
        secret_sealed: sealed,
        created_by_user_id: owner.id,
        webapp_id: None,
    };
    let entry = AuditEntry {
        tenant_id: owner.tenant_id,
        actor_user_id: owner.id,
        subject_user_id: None,
        impersonation_id: None,
        action: AuditAction::ApiClientCreate.as_str().into(),
        target: format!("client {client_id} ({name}), policy {}", policy.as_db()),
        outcome: Outcome::Allowed,
        reason: String::new(),
        via: via.into(),
    };
    store::api_clients::insert(&state.writer, new, entry).await.map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => AppError::Conflict(format!("a client with id {client_id} already exists")),
        other => other.into(),
    })?;
    Ok(ClientSecret { client_id, name: name.to_string(), secret })
}

/// Gives a client a new secret: the old one and every token issued under it stop working.
/// Only its owner gets it; anyone else's attempt is refused and audited.
pub async fn rotate(state: &AppState, principal: &Principal, client_id: &str) -> Result<ClientSecret, AppError> {
    let client_id = check_client_id(client_id)?;
    let client = store::api_clients::by_client_id(&state.db, principal.tenant_id(), client_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no API client {client_id}")))?;
    if let Err(refusal) = permissions::may_obtain_client_secret(principal.acting_user(), client.owner_user_id) {
        let entry = principal.audit(AuditAction::ApiClientRotate, format!("client {client_id}"), Outcome::Denied, refusal.reason().into());
        store::audit::append_alone(&state.writer, &entry).await?;
        return Err(AppError::Forbidden(refusal.reason().into()));
    }
    let secret = secrets::new_secret();
    let sealed = state.keys.server.seal(secret.as_bytes(), &secret_context(client_id));
    let entry = principal.audit(AuditAction::ApiClientRotate, format!("client {client_id}"), Outcome::Allowed, "tokens issued before are retired".into());
    if !store::api_clients::rotate(&state.writer, principal.tenant_id(), client_id, &sealed, &entry).await? {
        return Err(AppError::Conflict(format!("API client {client_id} is revoked; create a new one")));
    }
    Ok(ClientSecret { client_id: client_id.to_string(), name: client.name, secret })
}

/// Revokes a client for good: its tokens stop working at once.
pub async fn revoke(state: &AppState, principal: &Principal, client_id: &str) -> Result<(), AppError> {
    let client_id = check_client_id(client_id)?;
    let entry = principal.audit(AuditAction::ApiClientRevoke, format!("client {client_id}"), Outcome::Allowed, String::new());
    if store::api_clients::revoke(&state.writer, principal.tenant_id(), client_id, &entry).await? {
        Ok(())
    } else {
        Err(AppError::NotFound(format!("no active API client {client_id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_policies_and_ids_are_checked() {
        assert_eq!(check_name("  Reporting bot ").unwrap(), "Reporting bot");
        assert!(check_name(" ").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME + 1)).is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert_eq!(parse_policy("strict").unwrap(), SubjectPolicy::Strict);
        assert_eq!(parse_policy("compatible").unwrap(), SubjectPolicy::Compatible);
        assert_eq!(parse_policy("lenient").unwrap_err().status(), 400);
        assert!(check_client_id("tshirts-api-demo").is_ok());
        assert!(check_client_id("a b").is_err());
        assert!(check_client_id(&"a".repeat(MAX_CLIENT_ID + 1)).is_err());
    }

    #[test]
    fn client_ids_are_readable_and_unique() {
        let a = new_client_id("Nightly Reports!");
        assert!(a.starts_with("nightly-reports-"), "{a}");
        assert_ne!(a, new_client_id("Nightly Reports!"));
        assert!(new_client_id("✓✓").starts_with("client-"));
        assert!(check_client_id(&new_client_id(&"long name ".repeat(20))).is_ok());
    }
}
