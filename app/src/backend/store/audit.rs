//! The audit log table: append-only (the database refuses updates, deletes and replacing
//! inserts) and hash-chained per tenant by `backend::audit`.

use super::audit_chain::push_pending;
use super::{params, query_each, query_map, query_row, Conn, Db, Optional, Param, Row, SqlResult, Writer};
use crate::backend::audit::{AuditEntry, AuditRecord, Chain, ChainBreak, ChainCheck, ChainKey, Outcome};
use crate::model::{AuditView, UserView};

/// Appends a row to its tenant's chain inside the caller's unit of work, so it commits or
/// rolls back with the action it records. The row is written when the batch ends, with the
/// batch's other rows (`write_pending`). Taking the unit's connection keeps the call inside
/// a unit of work.
pub fn append(_tx: &Conn, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    push_pending(entry.clone())
}

/// Runs `sql`, a change of at most one row, and appends `entry` when it changed one, inside
/// the caller's unit of work. Returns whether a row changed (false: nothing was written).
pub fn change_audited(tx: &Conn, sql: &str, params: &[&dyn Param], entry: &AuditEntry) -> SqlResult<bool> {
    if super::execute(tx, sql, params)? == 0 {
        return Ok(false);
    }
    append(tx, entry)?;
    Ok(true)
}

/// Appends a row in a unit of its own (denied attempts, which change nothing else). Such a
/// unit cannot fail alone, so it runs without a savepoint of its own.
pub async fn append_alone(writer: &Writer, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    let entry = entry.clone();
    writer.run_deferred(move || push_pending(entry)).await
}

/// The columns `record` reads, in its order.
macro_rules! record_columns {
    () => {
        "id, seq, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action, target, outcome, reason, via, prev_hash, hash"
    };
}

fn record(r: &Row<'_>) -> SqlResult<AuditRecord> {
    let outcome: String = r.get(9)?;
    Ok(AuditRecord {
        id: r.get(0)?,
        seq: r.get(1)?,
        at: r.get(2)?,
        entry: AuditEntry {
            tenant_id: r.get(3)?,
            actor_user_id: r.get(4)?,
            subject_user_id: r.get(5)?,
            impersonation_id: r.get(6)?,
            action: r.get(7)?,
            target: r.get(8)?,
            // An unknown word cannot hash to the stored value, so verification names it.
            outcome: Outcome::from_db(&outcome).unwrap_or(Outcome::Failed),
            reason: r.get(10)?,
            via: r.get(11)?,
        },
        prev_hash: r.get(12)?,
        hash: r.get(13)?,
    })
}

/// Passes the rows of one chain through `check` as they are read, in chain order; `count`
/// says which rows to count (all of them, or a tenant's), so a tenant learns nothing of other
/// tenants' rows.
fn check_rows(
    c: &Conn,
    sql: &str,
    params: &[&dyn Param],
    check: &mut ChainCheck,
    count: impl Fn(&AuditRecord) -> bool,
) -> SqlResult<Result<usize, ChainBreak>> {
    let (mut counted, mut broken) = (0, None);
    query_each(c, sql, params, |r| {
        let record = record(r)?;
        if let Err(at) = check.check(&record) {
            broken = Some(at);
            return Ok(false);
        }
        counted += usize::from(count(&record));
        Ok(true)
    })?;
    Ok(broken.map_or(Ok(counted), Err))
}

/// Checks the older global chain; counts the rows of `tenant` (all rows when `None`) and
/// returns the chain's last hash, where the tenant chains start.
fn check_global_chain(c: &Conn, tenant: Option<i64>) -> SqlResult<Result<(usize, String), ChainBreak>> {
    let mut check = ChainCheck::new(Chain::Global);
    let sql = concat!("SELECT ", record_columns!(), " FROM audit_log WHERE seq IS NULL ORDER BY id");
    let counted = check_rows(c, sql, params![], &mut check, |r| tenant.is_none_or(|t| r.entry.tenant_id == t))?;
    Ok(counted.map(|n| (n, check.last_hash().to_string())))
}

fn check_tenant_chain(c: &Conn, key: &ChainKey, anchor: &str, tenant_id: i64) -> SqlResult<Result<usize, ChainBreak>> {
    let mut check = ChainCheck::new(Chain::Tenant { key: key.clone(), anchor: anchor.to_string() });
    let sql = concat!("SELECT ", record_columns!(), " FROM audit_log WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq");
    check_rows(c, sql, params![tenant_id], &mut check, |_| true)
}

/// Checks one tenant's chain (and the older global chain it starts from); returns how many
/// of the tenant's rows were checked. A break in another tenant's older row is reported
/// without naming it.
pub async fn verify_tenant(db: &Db, key: &ChainKey, tenant_id: i64) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let key = key.clone();
    db.read(move |c| {
        let (older, anchor) = match check_global_chain(c, Some(tenant_id))? {
            Ok(found) => found,
            Err(broken) => {
                let theirs: Option<i64> =
                    query_row(c, "SELECT tenant_id FROM audit_log WHERE id = ?", params![broken.row_id], |r| r.get(0)).optional()?;
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
        Ok(check_tenant_chain(c, &key, &anchor, tenant_id)?.map(|n| older + n))
    })
    .await
}

/// Checks every chain: the older global one and each tenant's; returns how many rows were
/// checked in all.
pub async fn verify_all(db: &Db, key: &ChainKey) -> Result<Result<usize, ChainBreak>, sqlx::Error> {
    let key = key.clone();
    db.read(move |c| {
        let (mut total, anchor) = match check_global_chain(c, None)? {
            Ok(found) => found,
            Err(broken) => return Ok(Err(broken)),
        };
        let tenants: Vec<i64> =
            query_map(c, "SELECT DISTINCT tenant_id FROM audit_log WHERE seq IS NOT NULL ORDER BY tenant_id", params![], |r| r.get(0))?;
        for tenant_id in tenants {
            match check_tenant_chain(c, &key, &anchor, tenant_id)? {
                Ok(n) => total += n,
                Err(broken) => return Ok(Err(broken)),
            }
        }
        Ok(Ok(total))
    })
    .await
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
    let f = f.clone();
    db.read(move |c| {
        query_map(
            c,
            "SELECT a.id, a.at, ac.id, ac.email, ac.display_name, s.id, s.email, s.display_name,
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
            params![tenant_id, f.actor_user_id, f.subject_user_id, f.action, f.impersonation_id, f.from, f.to, f.limit],
            |r| {
                let subject: (Option<i64>, Option<String>, Option<String>) = (r.get(5)?, r.get(6)?, r.get(7)?);
                Ok(AuditView {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: UserView { id: r.get(2)?, email: r.get(3)?, display_name: r.get(4)? },
                    subject: match subject {
                        (Some(id), Some(email), Some(display_name)) => Some(UserView { id, email, display_name }),
                        _ => None,
                    },
                    impersonation_id: r.get(8)?,
                    action: r.get(9)?,
                    target: r.get(10)?,
                    outcome: r.get(11)?,
                    reason: r.get(12)?,
                    via: r.get(13)?,
                })
            },
        )
    })
    .await
}

/// The distinct actions recorded for a tenant (for the filter).
pub async fn actions(db: &Db, tenant_id: i64) -> Result<Vec<String>, sqlx::Error> {
    db.read(move |c| query_map(c, "SELECT DISTINCT action FROM audit_log WHERE tenant_id = ? ORDER BY action", params![tenant_id], |r| r.get(0)))
        .await
}
