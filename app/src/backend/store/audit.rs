//! The audit log table: append-only (the database refuses updates and deletes) and
//! hash-chained by `backend::audit`.

use super::{now_ms, Conn, Db, Writer};
use crate::backend::audit::{chain_hash, AuditEntry, AuditRecord, Outcome, GENESIS};
use crate::model::{AuditView, UserView};

/// Appends a row inside the caller's write transaction, so it commits or rolls back with the
/// action it records.
pub async fn append(tx: &mut Conn, entry: &AuditEntry) -> Result<i64, sqlx::Error> {
    let last: Option<(i64, String)> = sqlx::query_as("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (id, prev_hash) = match last {
        Some((id, hash)) => (id + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let at = now_ms();
    let hash = chain_hash(&prev_hash, id, at, entry);
    sqlx::query(
        "INSERT INTO audit_log (id, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action,
                                target, outcome, reason, via, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(at)
    .bind(entry.tenant_id)
    .bind(entry.actor_user_id)
    .bind(entry.subject_user_id)
    .bind(entry.impersonation_id)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(entry.outcome.as_db())
    .bind(&entry.reason)
    .bind(&entry.via)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Appends a row in a transaction of its own (denied attempts, which change nothing else).
pub async fn append_alone(writer: &Writer, entry: &AuditEntry) -> Result<i64, sqlx::Error> {
    let entry = entry.clone();
    writer.run(move |tx| Box::pin(async move { append(tx, &entry).await })).await
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    at: i64,
    tenant_id: i64,
    actor_user_id: i64,
    subject_user_id: Option<i64>,
    impersonation_id: Option<i64>,
    action: String,
    target: String,
    outcome: String,
    reason: String,
    via: String,
    prev_hash: String,
    hash: String,
}

/// Every row, in id order, for checking the chain.
pub async fn all_records(db: &Db) -> Result<Vec<AuditRecord>, sqlx::Error> {
    let rows: Vec<RecordRow> = sqlx::query_as(
        "SELECT id, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action, target, outcome,
                reason, via, prev_hash, hash
         FROM audit_log ORDER BY id",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditRecord {
            id: r.id,
            at: r.at,
            entry: AuditEntry {
                tenant_id: r.tenant_id,
                actor_user_id: r.actor_user_id,
                subject_user_id: r.subject_user_id,
                impersonation_id: r.impersonation_id,
                action: r.action,
                target: r.target,
                // An unknown word cannot hash to the stored value, so verification names it.
                outcome: Outcome::from_db(&r.outcome).unwrap_or(Outcome::Failed),
                reason: r.reason,
                via: r.via,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: i64,
    at: i64,
    actor_id: i64,
    actor_email: String,
    actor_name: String,
    subject_id: Option<i64>,
    subject_email: Option<String>,
    subject_name: Option<String>,
    impersonation_id: Option<i64>,
    action: String,
    target: String,
    outcome: String,
    reason: String,
    via: String,
}

/// Which audit rows of a tenant to show.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_user_id: Option<i64>,
    pub subject_user_id: Option<i64>,
    pub action: Option<String>,
    pub impersonation_id: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: i64,
}

/// Rows of a tenant, newest first.
pub async fn list(db: &Db, tenant_id: i64, f: &AuditFilter) -> Result<Vec<AuditView>, sqlx::Error> {
    let rows: Vec<ViewRow> = sqlx::query_as(
        "SELECT a.id, a.at, ac.id AS actor_id, ac.email AS actor_email, ac.display_name AS actor_name,
                s.id AS subject_id, s.email AS subject_email, s.display_name AS subject_name,
                a.impersonation_id, a.action, a.target, a.outcome, a.reason, a.via
         FROM audit_log a
         JOIN users ac ON ac.id = a.actor_user_id
         LEFT JOIN users s ON s.id = a.subject_user_id
         WHERE a.tenant_id = ?1
           AND (?2 IS NULL OR a.actor_user_id = ?2)
           AND (?3 IS NULL OR a.subject_user_id = ?3)
           AND (?4 IS NULL OR a.action = ?4)
           AND (?5 IS NULL OR a.impersonation_id = ?5)
           AND (?6 IS NULL OR a.at >= ?6)
           AND (?7 IS NULL OR a.at <= ?7)
         ORDER BY a.id DESC LIMIT ?8",
    )
    .bind(tenant_id)
    .bind(f.actor_user_id)
    .bind(f.subject_user_id)
    .bind(&f.action)
    .bind(f.impersonation_id)
    .bind(f.from)
    .bind(f.to)
    .bind(f.limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            at: r.at,
            actor: UserView { id: r.actor_id, email: r.actor_email, display_name: r.actor_name },
            subject: match (r.subject_id, r.subject_email, r.subject_name) {
                (Some(id), Some(email), Some(display_name)) => Some(UserView { id, email, display_name }),
                _ => None,
            },
            impersonation_id: r.impersonation_id,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            reason: r.reason,
            via: r.via,
        })
        .collect())
}

/// The distinct actions recorded for a tenant (for the filter).
pub async fn actions(db: &Db, tenant_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT DISTINCT action FROM audit_log WHERE tenant_id = ? ORDER BY action")
        .bind(tenant_id)
        .fetch_all(db)
        .await
}
