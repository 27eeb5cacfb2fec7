use super::{execute, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult, Writer};
use crate::backend::audit::AuditEntry;

#[derive(Clone, Debug)]
pub struct WebappRow {
    pub id: i64,
    pub project_id: i64,
    pub slug: String,
    pub name: String,
    pub run_as_user_id: i64,
}

fn webapp(r: &Row<'_>) -> SqlResult<WebappRow> {
    Ok(WebappRow { id: r.get(0)?, project_id: r.get(1)?, slug: r.get(2)?, name: r.get(3)?, run_as_user_id: r.get(4)? })
}

pub fn insert(tx: &Conn, project_id: i64, slug: &str, name: &str, run_as_user_id: i64) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO webapps (project_id, slug, name, run_as_user_id) VALUES (?, ?, ?, ?) RETURNING id",
        params![project_id, slug, name, run_as_user_id],
        |row| row.get(0),
    )
}

pub async fn by_slug(db: &Db, project_id: i64, slug: &str) -> Result<Option<WebappRow>, sqlx::Error> {
    let slug = slug.to_string();
    db.read(move |c| {
        query_row(
            c,
            "SELECT id, project_id, slug, name, run_as_user_id FROM webapps WHERE project_id = ? AND slug = ?",
            params![project_id, slug],
            webapp,
        )
        .optional()
    })
    .await
}

pub async fn list(db: &Db, project_id: i64) -> Result<Vec<WebappRow>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT id, project_id, slug, name, run_as_user_id FROM webapps WHERE project_id = ? ORDER BY name",
            params![project_id],
            webapp,
        )
    })
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
