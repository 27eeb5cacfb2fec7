use super::{api_clients, audit, execute, now_ms, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult, Writer};
use crate::backend::audit::AuditEntry;

/// A webapp built into Guise (its backend is Guise's own code) or a code webapp (a program
/// Guise runs, reached through its proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebappKind {
    BuiltIn,
    Code,
}

impl WebappKind {
    pub fn as_db(self) -> &'static str {
        match self {
            WebappKind::BuiltIn => "built_in",
            WebappKind::Code => "code",
        }
    }
}

impl TryFrom<String> for WebappKind {
    type Error = String;
    fn try_from(word: String) -> Result<Self, String> {
        match word.as_str() {
            "built_in" => Ok(WebappKind::BuiltIn),
            "code" => Ok(WebappKind::Code),
            other => Err(format!("unknown webapp kind {other:?}")),
        }
    }
}

/// What the operator registered for a code webapp: where its frontend files are, and the
/// program (with its arguments, run without a shell, in `workdir`) that is its backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeSpec {
    pub frontend_dir: String,
    pub workdir: String,
    pub command: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct WebappRow {
    pub id: i64,
    pub project_id: i64,
    pub slug: String,
    pub name: String,
    pub run_as_user_id: i64,
    pub kind: WebappKind,
    /// The scope words its backend may use on behalf of its users (code webapps).
    pub scopes: String,
    pub disabled_at: Option<i64>,
    /// Code webapps only.
    pub code: Option<CodeSpec>,
}

impl WebappRow {
    pub fn is_code(&self) -> bool {
        self.kind == WebappKind::Code
    }
}

/// The columns `webapp` reads, in its order.
macro_rules! webapp_columns {
    () => {
        "id, project_id, slug, name, run_as_user_id, kind, scopes, disabled_at, frontend_dir, workdir, command"
    };
}

/// A command stored as a JSON list, from column `index`.
fn parsed_command(index: usize, text: &str) -> SqlResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| super::SqlError::Column { index, message: format!("the webapp's command is not a JSON list: {e}") })
}

fn webapp(r: &Row<'_>) -> SqlResult<WebappRow> {
    let frontend_dir: Option<String> = r.get(8)?;
    let workdir: Option<String> = r.get(9)?;
    let command: Option<String> = r.get(10)?;
    let code = match (frontend_dir, workdir, command) {
        (Some(frontend_dir), Some(workdir), Some(command)) => Some(CodeSpec { frontend_dir, workdir, command: parsed_command(10, &command)? }),
        _ => None,
    };
    Ok(WebappRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        slug: r.get(2)?,
        name: r.get(3)?,
        run_as_user_id: r.get(4)?,
        kind: r.parsed(5)?,
        scopes: r.get(6)?,
        disabled_at: r.get(7)?,
        code,
    })
}

pub fn insert(tx: &Conn, project_id: i64, slug: &str, name: &str, run_as_user_id: i64) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO webapps (project_id, slug, name, run_as_user_id) VALUES (?, ?, ?, ?) RETURNING id",
        params![project_id, slug, name, run_as_user_id],
        |row| row.get(0),
    )
}

fn by_slug_in(c: &Conn, project_id: i64, slug: &str) -> SqlResult<Option<WebappRow>> {
    query_row(c, concat!("SELECT ", webapp_columns!(), " FROM webapps WHERE project_id = ? AND slug = ?"), params![project_id, slug], webapp)
        .optional()
}

pub async fn by_slug(db: &Db, project_id: i64, slug: &str) -> Result<Option<WebappRow>, sqlx::Error> {
    let slug = slug.to_string();
    db.read(move |c| by_slug_in(c, project_id, &slug)).await
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<WebappRow>, sqlx::Error> {
    db.read(move |c| query_row(c, concat!("SELECT ", webapp_columns!(), " FROM webapps WHERE id = ?"), params![id], webapp).optional())
        .await
}

pub async fn list(db: &Db, project_id: i64) -> Result<Vec<WebappRow>, sqlx::Error> {
    db.read(move |c| query_map(c, concat!("SELECT ", webapp_columns!(), " FROM webapps WHERE project_id = ? ORDER BY name"), params![project_id], webapp))
        .await
}

/// Changes "Run backend as", with its audit row in the same transaction. A code webapp's
/// backend gets `new_client` (owned by the new account) in place of its old one, which is
/// revoked: its backend always acts as its current account.
pub async fn set_run_as(
    writer: &Writer,
    webapp_id: i64,
    user_id: i64,
    new_client: Option<api_clients::NewApiClient>,
    audit_entry: &AuditEntry,
) -> Result<(), sqlx::Error> {
    let audit_entry = audit_entry.clone();
    writer
        .run(move |tx| {
            execute(tx, "UPDATE webapps SET run_as_user_id = ? WHERE id = ?", params![user_id, webapp_id])?;
            if let Some(client) = &new_client {
                replace_client(tx, webapp_id, client)?;
            }
            super::audit::append(tx, &audit_entry)?;
            Ok(())
        })
        .await
}

fn replace_client(tx: &Conn, webapp_id: i64, client: &api_clients::NewApiClient) -> SqlResult<()> {
    api_clients::revoke_of_webapp(tx, webapp_id)?;
    api_clients::insert_in(tx, &api_clients::NewApiClient { webapp_id: Some(webapp_id), ..client.clone() })?;
    Ok(())
}

/// Gives a code webapp's backend new credentials: a new client in place of its old one, whose
/// tokens stop working at once. With `only_if_current`, only while that client is still the
/// live one (of several servers seeing it grow old, one replaces it); false when it was not.
pub async fn replace_backend_client(
    writer: &Writer,
    webapp_id: i64,
    only_if_current: Option<&str>,
    client: api_clients::NewApiClient,
    entry: &AuditEntry,
) -> Result<bool, sqlx::Error> {
    let (current, entry) = (only_if_current.map(str::to_string), entry.clone());
    writer
        .run(move |tx| {
            if let Some(current) = &current {
                if api_clients::active_of_webapp(tx, webapp_id)?.is_none_or(|live| live.client_id != *current) {
                    return Ok(false);
                }
            }
            replace_client(tx, webapp_id, &client)?;
            audit::append(tx, &entry)?;
            Ok(true)
        })
        .await
}

/// A code webapp as the operator registers it.
#[derive(Clone, Debug)]
pub struct NewCodeWebapp {
    pub project_id: i64,
    pub slug: String,
    pub name: String,
    pub run_as_user_id: i64,
    /// None: a webapp registered before keeps its scopes (as changed in its settings).
    pub scopes: Option<String>,
    pub code: CodeSpec,
}

/// What a registration did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    Created,
    Updated,
    /// The same registration again: nothing was written.
    Unchanged,
}

impl Registered {
    pub fn word(self) -> &'static str {
        match self {
            Registered::Created => "created",
            Registered::Updated => "updated",
            Registered::Unchanged => "unchanged",
        }
    }
}

/// Registers a code webapp, or brings one registered before up to date (enabling it again),
/// in one unit of work with its audit row. Its backend gets `client` as its API client when it
/// has no live one or its "Run backend as" account changes (the old client is revoked: a
/// backend always acts as its current account). The slug of a built-in webapp is refused.
pub async fn register_code(
    writer: &Writer,
    new: NewCodeWebapp,
    client: api_clients::NewApiClient,
    entry: AuditEntry,
) -> Result<Result<(i64, Registered), String>, sqlx::Error> {
    writer
        .run(move |tx| {
            let command = serde_json::to_string(&new.code.command).map_err(|e| super::SqlError::Column { index: 0, message: e.to_string() })?;
            let now = now_ms();
            let existing = by_slug_in(tx, new.project_id, &new.slug)?;
            let (id, outcome) = match existing {
                Some(found) if !found.is_code() => {
                    return Ok(Err(format!("{} is a built-in webapp: choose another slug", new.slug)));
                }
                None => {
                    let id = query_row(
                        tx,
                        "INSERT INTO webapps (project_id, slug, name, run_as_user_id, kind, scopes, frontend_dir, workdir, command, updated_at)
                         VALUES (?, ?, ?, ?, 'code', ?, ?, ?, ?, ?) RETURNING id",
                        params![new.project_id, new.slug, new.name, new.run_as_user_id, new.scopes.clone().unwrap_or_default(), new.code.frontend_dir, new.code.workdir, command, now],
                        |r| r.get(0),
                    )?;
                    (id, Registered::Created)
                }
                Some(found) => {
                    let same = found.name == new.name
                        && found.run_as_user_id == new.run_as_user_id
                        && new.scopes.as_ref().is_none_or(|scopes| *scopes == found.scopes)
                        && found.disabled_at.is_none()
                        && found.code.as_ref() == Some(&new.code);
                    if same && api_clients::active_of_webapp(tx, found.id)?.is_some() {
                        return Ok(Ok((found.id, Registered::Unchanged)));
                    }
                    execute(
                        tx,
                        "UPDATE webapps SET name = ?, run_as_user_id = ?, scopes = COALESCE(?, scopes), frontend_dir = ?, workdir = ?, command = ?,
                                disabled_at = NULL, updated_at = ?
                         WHERE id = ?",
                        params![new.name, new.run_as_user_id, new.scopes, new.code.frontend_dir, new.code.workdir, command, now, found.id],
                    )?;
                    if found.run_as_user_id != new.run_as_user_id {
                        replace_client(tx, found.id, &client)?;
                    }
                    (found.id, Registered::Updated)
                }
            };
            if api_clients::active_of_webapp(tx, id)?.is_none() {
                replace_client(tx, id, &client)?;
            }
            audit::append(tx, &AuditEntry { reason: format!("{}; {}", outcome.word(), entry.reason), ..entry })?;
            Ok(Ok((id, outcome)))
        })
        .await
}

/// Sets the scopes a code webapp's backend may use for its users; false when it is no code webapp.
pub async fn set_scopes(writer: &Writer, webapp_id: i64, scopes: &str, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let (scopes, entry) = (scopes.to_string(), entry.clone());
    writer
        .run(move |tx| {
            let sql = "UPDATE webapps SET scopes = ?, updated_at = ? WHERE id = ? AND kind = 'code'";
            Ok(audit::change_audited(tx, sql, params![scopes, now_ms(), webapp_id], &entry)?)
        })
        .await
}

/// Disables a code webapp: its backend stops and its API client is revoked, so its tokens stop
/// working at once. False when there was no enabled code webapp.
pub async fn disable(writer: &Writer, webapp_id: i64, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let now = now_ms();
            let sql = "UPDATE webapps SET disabled_at = ?, updated_at = ? WHERE id = ? AND kind = 'code' AND disabled_at IS NULL";
            if !audit::change_audited(tx, sql, params![now, now, webapp_id], &entry)? {
                return Ok(false);
            }
            api_clients::revoke_of_webapp(tx, webapp_id)?;
            Ok(true)
        })
        .await
}

/// A code webapp to run: what its backend runs and the credentials it runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnableWebapp {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub project_key: String,
    pub code: CodeSpec,
    pub client_id: String,
    pub secret_sealed: String,
    pub secret_version: i64,
    /// When its client was made (ms): credentials are replaced once they are a day old.
    pub client_created_at: i64,
    pub run_as_user_id: i64,
}

/// Every enabled code webapp with a live client: what this server runs.
pub async fn list_runnable(db: &Db) -> Result<Vec<RunnableWebapp>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT w.id, w.slug, w.name, p.key, w.frontend_dir, w.workdir, w.command, k.client_id, k.secret_sealed, k.secret_version,
                    k.created_at, w.run_as_user_id
             FROM webapps w
             JOIN projects p ON p.id = w.project_id
             JOIN api_clients k ON k.webapp_id = w.id AND k.revoked_at IS NULL
             WHERE w.kind = 'code' AND w.disabled_at IS NULL
             ORDER BY w.id",
            params![],
            |r| {
                let command = parsed_command(6, &r.get::<String>(6)?)?;
                Ok(RunnableWebapp {
                    id: r.get(0)?,
                    slug: r.get(1)?,
                    name: r.get(2)?,
                    project_key: r.get(3)?,
                    code: CodeSpec { frontend_dir: r.get(4)?, workdir: r.get(5)?, command },
                    client_id: r.get(7)?,
                    secret_sealed: r.get(8)?,
                    secret_version: r.get(9)?,
                    client_created_at: r.get(10)?,
                    run_as_user_id: r.get(11)?,
                })
            },
        )
    })
    .await
}

/// Every code webapp of every tenant, with its project's key and its account's email (for the
/// operator's command line).
pub async fn list_code(db: &Db) -> Result<Vec<(String, String, WebappRow)>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT w.id, w.project_id, w.slug, w.name, w.run_as_user_id, w.kind, w.scopes, w.disabled_at, w.frontend_dir, w.workdir,
                    w.command, p.key, u.email
             FROM webapps w JOIN projects p ON p.id = w.project_id JOIN users u ON u.id = w.run_as_user_id
             WHERE w.kind = 'code' ORDER BY p.key, w.slug",
            params![],
            |r| Ok((r.get(11)?, r.get(12)?, webapp(r)?)),
        )
    })
    .await
}
