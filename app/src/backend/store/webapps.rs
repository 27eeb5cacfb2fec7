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

fn webapp(r: &Row<'_>) -> SqlResult<WebappRow> {
    let frontend_dir: Option<String> = r.get(8)?;
    let workdir: Option<String> = r.get(9)?;
    let command: Option<String> = r.get(10)?;
    let code = match (frontend_dir, workdir, command) {
        (Some(frontend_dir), Some(workdir), Some(command)) => {
            let command = serde_json::from_str(&command)
                .map_err(|e| super::SqlError::Column { index: 10, message: format!("the webapp's command is not a JSON list: {e}") })?;
            Some(CodeSpec { frontend_dir, workdir, command })
        }
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

/// Changes "Run backend as", with its audit row (when audited) in the same transaction.
pub async fn set_run_as(writer: &Writer, webapp_id: i64, user_id: i64, audit_entry: &AuditEntry) -> Result<(), sqlx::Error> {
    let audit_entry = audit_entry.clone();
    writer
        .run(move |tx| {
            execute(tx, "UPDATE webapps SET run_as_user_id = ? WHERE id = ?", params![user_id, webapp_id])?;
            super::audit::append(tx, &audit_entry)?;
            Ok(())
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
    pub scopes: String,
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
                        params![new.project_id, new.slug, new.name, new.run_as_user_id, new.scopes, new.code.frontend_dir, new.code.workdir, command, now],
                        |r| r.get(0),
                    )?;
                    (id, Registered::Created)
                }
                Some(found) => {
                    let same = found.name == new.name
                        && found.run_as_user_id == new.run_as_user_id
                        && found.scopes == new.scopes
                        && found.disabled_at.is_none()
                        && found.code.as_ref() == Some(&new.code);
                    if same && api_clients::active_of_webapp(tx, found.id)?.is_some() {
                        return Ok(Ok((found.id, Registered::Unchanged)));
                    }
                    execute(
                        tx,
                        "UPDATE webapps SET name = ?, run_as_user_id = ?, scopes = ?, frontend_dir = ?, workdir = ?, command = ?,
                                disabled_at = NULL, updated_at = ?
                         WHERE id = ?",
                        params![new.name, new.run_as_user_id, new.scopes, new.code.frontend_dir, new.code.workdir, command, now, found.id],
                    )?;
                    if found.run_as_user_id != new.run_as_user_id {
                        api_clients::revoke_of_webapp(tx, found.id)?;
                    }
                    (found.id, Registered::Updated)
                }
            };
            if api_clients::active_of_webapp(tx, id)?.is_none() {
                api_clients::insert_in(tx, &api_clients::NewApiClient { webapp_id: Some(id), ..client })?;
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
