use super::{execute, now_ms, params, Conn, Db, SqlResult, Writer};
use crate::model::LogLineView;

#[derive(Clone, Copy, Debug)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_db(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

pub async fn append(writer: &Writer, job_id: i64, level: Level, message: &str) -> Result<(), sqlx::Error> {
    let message = message.to_string();
    writer.run(move |tx| Ok(append_in(tx, job_id, level, &message)?)).await
}

/// Appends a line inside the caller's unit of work.
pub fn append_in(tx: &Conn, job_id: i64, level: Level, message: &str) -> SqlResult<()> {
    execute(
        tx,
        "INSERT INTO job_log_lines (job_id, at, level, message) VALUES (?, ?, ?, ?)",
        params![job_id, now_ms(), level.as_db(), message],
    )
    .map(|_| ())
}

pub async fn lines(db: &Db, tenant_id: i64, job_id: i64) -> Result<Vec<LogLineView>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT l.at, l.level, l.message FROM job_log_lines l JOIN jobs j ON j.id = l.job_id
         WHERE l.job_id = ? AND j.tenant_id = ? ORDER BY l.id",
    )
    .bind(job_id)
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, level, message)| LogLineView { at, level, message })
        .collect())
}
