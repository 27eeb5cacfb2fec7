use super::{execute, params, query_row, Conn, Db, SqlResult, Writer};
use crate::backend::audit::AuditEntry;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WebappRow {
    pub id: i64,
    pub project_id: i64,
    pub slug: String,
    pub name: String,
    pub run_as_user_id: i64,
}

const COLUMNS: &str = "id, project_id, slug, name, run_as_user_id";

pub fn insert(tx: &Conn, project_id: i64, slug: &str, name: &str, run_as_user_id: i64) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO webapps (project_id, slug, name, run_as_user_id) VALUES (?, ?, ?, ?) RETURNING id",
        params![project_id, slug, name, run_as_user_id],
        |row| row.get(0),
    )
}

pub async fn by_slug(db: &Db, project_id: i64, slug: &str) -> Result<Option<WebappRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM webapps WHERE project_id = ? AND slug = ?"))
        .bind(project_id)
        .bind(slug)
        .fetch_optional(db)
        .await
}

pub async fn list(db: &Db, project_id: i64) -> Result<Vec<WebappRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM webapps WHERE project_id = ? ORDER BY name"))
        .bind(project_id)
        .fetch_all(db)
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
