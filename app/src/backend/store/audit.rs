//! The audit log table: append-only (the database refuses updates, deletes and replacing
//! inserts) and hash-chained per tenant by `backend::audit`.

use super::audit_chain::push_pending;
use super::{Conn, Db, Writer};
use crate::backend::audit::{AuditEntry, AuditRecord, Chain, ChainBreak, ChainCheck, ChainKey, Outcome};
use crate::model::{AuditView, UserView};
use futures::TryStreamExt;

/// Appends a row to its tenant's chain inside the caller's unit of work, so it commits or
/// rolls back with the action it records. The row is written when the batch ends, with the
/// batch's other rows (`write_pending`). Taking the unit's connection keeps the call inside
/// a unit of work.
pub fn append(_tx: &Conn, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    push_pending(entry.clone())
}

/// Appends a row in a unit of its own (denied attempts, which change nothing else). Such a
/// unit cannot fail alone, so it runs without a savepoint of its own.
pub async fn append_alone(writer: &Writer, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    let entry = entry.clone();
    writer.run_deferred(move || push_pending(entry)).await
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: i64,
    seq: Option<i64>,
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

impl From<RecordRow> for AuditRecord {
    fn from(r: RecordRow) -> Self {
        AuditRecord {
            id: r.id,
            seq: r.seq,
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
        }
    }
}

const RECORD_COLUMNS: &str = "id, seq, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action, target,
                              outcome, reason, via, prev_hash, hash";

/// Streams the rows of one chain through `check`, in chain order; `count` says which rows
/// to count (all of them, or a tenant's), so a tenant learns nothing of other tenants' rows.
async fn check_rows(db: &Db, sql: &str, bind: Option<i64>, check: &mut ChainCheck, count: impl Fn(&AuditRecord) -> bool) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let mut query = sqlx::query_as::<_, RecordRow>(sql);
    if let Some(value) = bind {
        query = query.bind(value);
    }
    let mut rows = query.fetch(db);
    let mut counted = 0;
    while let Some(row) = rows.try_next().await? {
        let record = AuditRecord::from(row);
        if let Err(broken) = check.check(&record) {
            return Ok(Err(broken));
        }
        counted += usize::from(count(&record));
    }
    Ok(Ok(counted))
}

/// Checks the older global chain; counts the rows of `tenant` (all rows when `None`) and
/// returns the chain's last hash, where the tenant chains start.
async fn check_global_chain(db: &Db, tenant: Option<i64>) -> Result<Result<(usize, String), ChainBreak>, sqlx::Error> {
    let mut check = ChainCheck::new(Chain::Global);
    let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq IS NULL ORDER BY id");
    let counted = check_rows(db, &sql, None, &mut check, |r| tenant.is_none_or(|t| r.entry.tenant_id == t)).await?;
    Ok(counted.map(|n| (n, check.last_hash().to_string())))
}

async fn check_tenant_chain(db: &Db, key: &ChainKey, anchor: &str, tenant_id: i64) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let mut check = ChainCheck::new(Chain::Tenant { key: key.clone(), anchor: anchor.to_string() });
    let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq");
    check_rows(db, &sql, Some(tenant_id), &mut check, |_| true).await
}

/// Checks one tenant's chain (and the older global chain it starts from); returns how many
/// of the tenant's rows were checked. A break in another tenant's older row is reported
/// without naming it.
pub async fn verify_tenant(db: &Db, key: &ChainKey, tenant_id: i64) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let (older, anchor) = match check_global_chain(db, Some(tenant_id)).await? {
        Ok(found) => found,
        Err(broken) => {
            let theirs: Option<i64> = sqlx::query_scalar("SELECT tenant_id FROM audit_log WHERE id = ?")
                .bind(broken.row_id)
                .fetch_optional(db)
                .await?;
            return Ok(Err(if theirs == Some(tenant_id) {
                broken
            } else {
                ChainBreak {
                    row_id: None,
                    problem: "a row of another tenant, written before each tenant had its own chain, was changed or removed; `server audit verify` names it",
                }
            }));
        }
    };
    Ok(check_tenant_chain(db, key, &anchor, tenant_id).await?.map(|n| older + n))
}

/// Checks every chain: the older global one and each tenant's; returns how many rows were
/// checked in all.
pub async fn verify_all(db: &Db, key: &ChainKey) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let (mut total, anchor) = match check_global_chain(db, None).await? {
        Ok(found) => found,
        Err(broken) => return Ok(Err(broken)),
    };
    let tenants: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit_log WHERE seq IS NOT NULL ORDER BY tenant_id")
        .fetch_all(db)
        .await?;
    for tenant_id in tenants {
        match check_tenant_chain(db, key, &anchor, tenant_id).await? {
            Ok(n) => total += n,
            Err(broken) => return Ok(Err(broken)),
        }
    }
    Ok(Ok(total))
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
