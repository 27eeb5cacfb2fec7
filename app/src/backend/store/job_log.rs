use super::{execute, now_ms, params, query_map, Conn, Db, SqlResult, Writer};
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
    db.read(move |c| {
        query_map(
            c,
            "SELECT l.at, l.level, l.message FROM job_log_lines l JOIN jobs j ON j.id = l.job_id
             WHERE l.job_id = ? AND j.tenant_id = ? ORDER BY l.id",
            params![job_id, tenant_id],
            |r| Ok(LogLineView { at: r.get(0)?, level: r.get(1)?, message: r.get(2)? }),
        )
    })
    .await
}
