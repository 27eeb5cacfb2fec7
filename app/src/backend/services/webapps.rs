//! Code webapps (M23) as the operator registers and disables them on the server's command
//! line: a folder of frontend files and a program Guise runs as the webapp's backend. Nothing
//! else may name a folder or a command, since registering one means trusting its code.

use crate::backend::api_clients::{check_name, new_credentials, Credentials};
use crate::backend::audit::{AuditAction, AuditEntry, Outcome};
use crate::backend::rules::{permissions, webapps::{self, Scopes}};
use crate::backend::services::projects::validate_key;
use crate::backend::state::AppState;
use crate::backend::store::{self, api_clients::NewApiClient, users::User, webapps::{CodeSpec, NewCodeWebapp, Registered, RunnableWebapp}};
use crate::backend::tokens::SubjectPolicy;
use crate::error::AppError;
use std::path::{Path, PathBuf};

/// A registration as the operator typed it.
#[derive(Clone, Debug)]
pub struct Registration {
    pub project_key: String,
    pub slug: String,
    pub name: String,
    pub run_as: String,
    /// Empty: a new webapp gets none, one registered before keeps its own.
    pub scopes: Vec<String>,
    pub frontend_dir: PathBuf,
    pub workdir: PathBuf,
    pub command: Vec<String>,
}

/// How the command line names itself in audit rows.
pub const VIA_COMMAND_LINE: &str = "command line";

fn folder(what: &str, path: &Path) -> Result<String, AppError> {
    let canonical = path
        .canonicalize()
        .map_err(|e| AppError::BadRequest(format!("the {what} {} cannot be used: {e}", path.display())))?;
    if !canonical.is_dir() {
        return Err(AppError::BadRequest(format!("the {what} {} is not a folder", path.display())));
    }
    canonical.to_str().map(str::to_string).ok_or_else(|| AppError::BadRequest(format!("the {what} {} is not UTF-8", path.display())))
}

/// A slug that is safe in a URL path segment.
fn check_slug(slug: &str) -> Result<&str, AppError> {
    let slug = validate_key("the webapp slug", slug)?;
    if !slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || slug.starts_with('-') {
        return Err(AppError::BadRequest(format!("{slug:?} is not a slug: use lower-case letters, digits and '-'")));
    }
    Ok(slug)
}

/// The audit row of an operator's change on the command line, where nobody is signed in: it
/// names the account the webapp's backend runs as.
fn command_line_entry(run_as: &User, action: AuditAction, target: String, reason: String) -> AuditEntry {
    AuditEntry {
        tenant_id: run_as.tenant_id,
        actor_user_id: run_as.id,
        subject_user_id: None,
        impersonation_id: None,
        action: action.as_str().into(),
        target,
        outcome: Outcome::Allowed,
        reason,
        via: VIA_COMMAND_LINE.into(),
    }
}

fn scopes_word(scopes: &Scopes) -> String {
    match scopes.as_text() {
        text if text.is_empty() => "unchanged (none for a new webapp)".into(),
        text => text,
    }
}

/// New credentials for the backend of the webapp `name`, acting as `run_as`: they go to the
/// backend only (in its environment), never to a person.
pub fn backend_client(state: &AppState, name: &str, run_as: &User) -> NewApiClient {
    let client_name = format!("Backend of {name}");
    let Credentials { client_id, sealed, .. } = new_credentials(&state.keys.server, &client_name, None, None);
    NewApiClient {
        tenant_id: run_as.tenant_id,
        client_id,
        name: client_name,
        owner_user_id: run_as.id,
        subject_policy: SubjectPolicy::Strict,
        secret_sealed: sealed,
        created_by_user_id: run_as.id,
        webapp_id: None,
    }
}

/// Registers a code webapp, or updates the one registered under that slug. The same
/// registration again writes nothing.
pub async fn register(state: &AppState, r: &Registration) -> Result<(i64, Registered), AppError> {
    let slug = check_slug(&r.slug)?;
    let name = check_name(&r.name)?;
    let scopes = Scopes::parse(&r.scopes.join(" ")).map_err(AppError::BadRequest)?;
    webapps::check_command(&r.command).map_err(AppError::BadRequest)?;
    let code = CodeSpec { frontend_dir: folder("frontend folder", &r.frontend_dir)?, workdir: folder("working folder", &r.workdir)?, command: r.command.clone() };
    let run_as = store::users::by_email(&state.db, r.run_as.trim())
        .await?
        .ok_or_else(|| AppError::BadRequest(format!("no account {}", r.run_as.trim())))?;
    let project = store::projects::by_key(&state.db, run_as.tenant_id, validate_key("project key", &r.project_key)?)
        .await?
        .ok_or_else(|| AppError::BadRequest(format!("{}'s tenant has no project {}", run_as.email, r.project_key.trim())))?;
    permissions::may_be_webapp_identity(&run_as, project.tenant_id)
        .map_err(|d| AppError::BadRequest(format!("{} cannot run the backend: {}", run_as.email, d.reason())))?;
    let client = backend_client(state, name, &run_as);
    // The program only: its arguments are the operator's and may hold what tenants should not read.
    let reason = format!("scopes: {}; program: {} ({} arguments)", scopes_word(&scopes), r.command[0], r.command.len() - 1);
    let entry = command_line_entry(&run_as, AuditAction::WebappRegister, format!("webapp {}/{slug} ({name})", project.key), reason);
    let scopes = (!r.scopes.is_empty()).then(|| scopes.as_text());
    let new = NewCodeWebapp { project_id: project.id, slug: slug.to_string(), name: name.to_string(), run_as_user_id: run_as.id, scopes, code };
    store::webapps::register_code(&state.writer, new, client, entry).await?.map_err(AppError::Conflict)
}

/// One line per code webapp, for the operator.
pub async fn list(state: &AppState) -> Result<Vec<String>, AppError> {
    let webapps = store::webapps::list_code(&state.db).await?;
    Ok(webapps
        .into_iter()
        .map(|(project, run_as, w)| {
            let state = if w.disabled_at.is_some() { "disabled" } else { "enabled" };
            let command = w.code.map(|c| c.command.join(" ")).unwrap_or_default();
            format!("{project}/{}\t{}\t{state}\trun as {run_as}\tscopes: {}\tcommand: {command}", w.slug, w.name, w.scopes)
        })
        .collect())
}

/// Disables a code webapp (named by project key and slug): its backend stops and its
/// credentials are revoked, so its tokens stop working at once.
pub async fn disable(state: &AppState, project_key: &str, slug: &str) -> Result<(), AppError> {
    let (project_key, slug) = (project_key.trim(), slug.trim());
    let mut found: Vec<_> = store::webapps::list_code(&state.db).await?.into_iter().filter(|(p, _, w)| p == project_key && w.slug == slug).collect();
    let (_, _, webapp) = match found.len() {
        0 => return Err(AppError::NotFound(format!("no code webapp {project_key}/{slug}"))),
        1 => found.remove(0),
        _ => return Err(AppError::Conflict(format!("several tenants have a code webapp {project_key}/{slug}"))),
    };
    let run_as = store::users::by_id(&state.db, webapp.run_as_user_id).await?.ok_or_else(|| AppError::internal("the webapp's account is gone"))?;
    let target = format!("webapp {project_key}/{slug} ({})", webapp.name);
    let entry = command_line_entry(&run_as, AuditAction::WebappDisable, target, "its backend stops and its credentials are revoked".into());
    if !store::webapps::disable(&state.writer, webapp.id, &entry).await? {
        return Err(AppError::Conflict(format!("webapp {project_key}/{slug} is already disabled")));
    }
    Ok(())
}

/// How old a backend's credentials may grow before Guise replaces them.
pub const CREDENTIALS_LIFETIME_MS: i64 = 24 * 3_600_000;

/// Replaces a running webapp's credentials once they are a day old (audited as the operator's
/// changes are, naming the backend's account); true when it did.
pub async fn rotate_if_due(state: &AppState, webapp: &RunnableWebapp, now_ms: i64) -> Result<bool, AppError> {
    if now_ms - webapp.client_created_at < CREDENTIALS_LIFETIME_MS {
        return Ok(false);
    }
    let run_as = store::users::by_id(&state.db, webapp.run_as_user_id).await?.ok_or_else(|| AppError::internal("the webapp's account is gone"))?;
    let client = backend_client(state, &webapp.name, &run_as);
    let reason = format!("credentials a day old replaced: client {} instead of {}", client.client_id, webapp.client_id);
    let target = format!("webapp {}/{} backend credentials", webapp.project_key, webapp.slug);
    let entry = AuditEntry { via: "Guise".into(), ..command_line_entry(&run_as, AuditAction::WebappSettings, target, reason) };
    Ok(store::webapps::replace_backend_client(&state.writer, webapp.id, Some(&webapp.client_id), client, &entry).await?)
}
