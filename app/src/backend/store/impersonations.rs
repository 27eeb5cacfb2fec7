//! Impersonations from start to end. Starting and ending write their audit row in the same
//! transaction.

use super::{audit, execute, now_ms, params, query_map, query_row, Conn, Db, Optional, SqlResult, Writer};
use crate::backend::audit::AuditEntry;
use crate::model::{ImpersonationMode, ImpersonationRecordView, UserView, Via};

#[derive(Clone, Debug)]
pub struct ImpersonationRow {
    pub id: i64,
    pub tenant_id: i64,
    pub actor_user_id: i64,
    pub subject_user_id: i64,
    pub reason: String,
    pub read_only: bool,
    pub mode: ImpersonationMode,
    pub started_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewImpersonation {
    pub tenant_id: i64,
    pub actor_user_id: i64,
    pub subject_user_id: i64,
    pub reason: String,
    pub read_only: bool,
    pub mode: ImpersonationMode,
    pub started_at: i64,
    pub expires_at: i64,
    /// The UI, or the API client that started it.
    pub via: Via,
}

/// Inserts an impersonation inside the caller's unit of work.
pub fn insert_in(tx: &Conn, new: &NewImpersonation) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO impersonations (tenant_id, actor_user_id, subject_user_id, reason, read_only, mode, started_at,
                                     expires_at, via, via_client_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            new.tenant_id,
            new.actor_user_id,
            new.subject_user_id,
            new.reason,
            new.read_only,
            new.mode.as_db(),
            new.started_at,
            new.expires_at,
            new.via.label(),
            match &new.via {
                Via::ApiClient { client_id } => Some(client_id.as_str()),
                Via::Ui | Via::Webapp { .. } => None,
            },
        ],
        |row| row.get(0),
    )
}

/// Records the start and its audit row together; the audit entry gets the new id.
pub async fn start(writer: &Writer, new: NewImpersonation, mut entry: AuditEntry) -> Result<i64, sqlx::Error> {
    writer
        .run(move |tx| {
            let id = insert_in(tx, &new)?;
            entry.impersonation_id = Some(id);
            audit::append(tx, &entry)?;
            Ok(id)
        })
        .await
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<ImpersonationRow>, sqlx::Error> {
    db.read(move |c| {
        query_row(
            c,
            "SELECT id, tenant_id, actor_user_id, subject_user_id, reason, read_only, started_at, expires_at, ended_at,
                    end_reason, mode
             FROM impersonations WHERE id = ?",
            params![id],
            |r| {
                Ok(ImpersonationRow {
                    id: r.get(0)?,
                    tenant_id: r.get(1)?,
                    actor_user_id: r.get(2)?,
                    subject_user_id: r.get(3)?,
                    reason: r.get(4)?,
                    read_only: r.get(5)?,
                    started_at: r.get(6)?,
                    expires_at: r.get(7)?,
                    ended_at: r.get(8)?,
                    end_reason: r.get(9)?,
                    mode: r.parsed(10)?,
                })
            },
        )
        .optional()
    })
    .await
}

/// Ends, inside the caller's unit of work, every ongoing impersonation an API client of the
/// tenant started.
pub fn end_all_started_by_client(tx: &Conn, tenant_id: i64, client_id: &str, end_reason: &str) -> SqlResult<usize> {
    execute(
        tx,
        "UPDATE impersonations SET ended_at = ?1, end_reason = ?2
         WHERE tenant_id = ?3 AND via_client_id = ?4 AND ended_at IS NULL AND expires_at > ?1",
        params![now_ms(), end_reason, tenant_id, client_id],
    )
}

/// Ends an ongoing impersonation with its audit row. Returns false (and writes nothing) when
/// it had already ended.
pub async fn end(writer: &Writer, id: i64, end_reason: &str, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let (end_reason, entry) = (end_reason.to_string(), entry.clone());
    writer
        .run(move |tx| {
            let sql = "UPDATE impersonations SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL";
            Ok(audit::change_audited(tx, sql, params![now_ms(), end_reason, id], &entry)?)
        })
        .await
}

/// Every impersonation of one user's account, newest first.
pub async fn of_subject(db: &Db, subject_user_id: i64) -> Result<Vec<ImpersonationRecordView>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT i.id, a.id, a.email, a.display_name, s.id, s.email, s.display_name,
                    i.reason, i.read_only, i.started_at, i.expires_at, i.ended_at, i.end_reason, i.via, i.mode
             FROM impersonations i
             JOIN users a ON a.id = i.actor_user_id
             JOIN users s ON s.id = i.subject_user_id
             WHERE i.subject_user_id = ? ORDER BY i.id DESC",
            params![subject_user_id],
            |r| {
                Ok(ImpersonationRecordView {
                    id: r.get(0)?,
                    actor: UserView { id: r.get(1)?, email: r.get(2)?, display_name: r.get(3)? },
                    subject: UserView { id: r.get(4)?, email: r.get(5)?, display_name: r.get(6)? },
                    reason: r.get(7)?,
                    read_only: r.get(8)?,
                    mode: r.parsed(14)?,
                    started_at: r.get(9)?,
                    expires_at: r.get(10)?,
                    ended_at: r.get(11)?,
                    end_reason: r.get(12)?,
                    via: r.get(13)?,
                    actions: Vec::new(),
                })
            },
        )
    })
    .await
}
