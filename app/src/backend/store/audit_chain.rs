//! The tenant audit chains as the writer thread extends them: the rows a batch's units
//! append, chained (HMAC per tenant) and written at the end of the batch, and the last row of
//! each chain this writer committed.

use super::{execute, params, query_row, Conn, Optional, SqlResult};
use super::now_ms;
use crate::backend::audit::{chain_hash, AuditEntry, ChainKey, GENESIS};
use std::cell::RefCell;
use std::collections::HashMap;

/// What the writer thread knows of the chains: their key, the last row of each tenant's chain
/// as this writer committed it, and the rows appended in the open batch, written when the
/// batch ends.
struct Chains {
    key: ChainKey,
    heads: HashMap<i64, (i64, String)>,
    /// Rows appended by the batch's units (with the time each was appended), in order.
    pending: Vec<(AuditEntry, i64)>,
    /// SQLite's `data_version` when last looked: it moves when another connection commits.
    data_version: Option<i64>,
}

thread_local! {
    /// Set on the writer thread only: audit rows are appended by the writer.
    static CHAINS: RefCell<Option<Chains>> = const { RefCell::new(None) };
}

/// Runs `chains` on the writer thread's chains; `None` on any other thread.
fn with_chains<T>(f: impl FnOnce(&mut Chains) -> T) -> Option<T> {
    CHAINS.with(|c| c.borrow_mut().as_mut().map(f))
}

/// Runs `work` (the writer thread) with the chain key that `append` signs rows with.
pub(super) fn with_chain_key<T>(key: ChainKey, work: impl FnOnce() -> T) -> T {
    CHAINS.with(|c| {
        *c.borrow_mut() = Some(Chains {
            key,
            heads: HashMap::new(),
            pending: Vec::new(),
            data_version: None,
        })
    });
    work()
}

/// Forgets the chain heads seen: the batch that wrote them was rolled back.
pub(super) fn forget_heads() {
    with_chains(|c| c.heads.clear());
}

/// Where the rows appended so far end: a unit that fails drops what it appended after it.
pub(super) fn pending_mark() -> usize {
    with_chains(|c| c.pending.len()).unwrap_or(0)
}

/// Drops the rows appended after `mark` (their unit was rolled back).
pub(super) fn drop_pending_from(mark: usize) {
    with_chains(|c| c.pending.truncate(mark));
}

/// At the start of a write transaction, given SQLite's `data_version`: when another
/// connection (the command line) committed since, the heads seen may be stale and are
/// forgotten. Without one (PostgreSQL, where other servers write too) they always are.
pub(super) fn notice_other_writers(data_version: Option<i64>) {
    with_chains(|c| {
        c.pending.clear();
        if data_version.is_none() || c.data_version != data_version {
            c.heads.clear();
        }
        c.data_version = data_version;
    });
}

/// The last hash of the older global chain, where each tenant's chain starts.
fn anchor(tx: &Conn) -> SqlResult<String> {
    let last: Option<String> =
        query_row(tx, "SELECT hash FROM audit_log WHERE seq IS NULL ORDER BY id DESC LIMIT 1", params![], |r| r.get(0))
            .optional()?;
    Ok(last.unwrap_or_else(|| GENESIS.to_string()))
}

/// The last row (seq, hash) of a tenant's chain in the database, or where the chain starts.
fn stored_head(tx: &Conn, tenant_id: i64) -> SqlResult<(i64, String)> {
    let last = query_row(
        tx,
        "SELECT seq, hash FROM audit_log WHERE tenant_id = ? AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
        params![tenant_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?;
    match last {
        Some(head) => Ok(head),
        None => Ok((0, anchor(tx)?)),
    }
}

pub(super) fn push_pending(entry: AuditEntry) -> Result<(), sqlx::Error> {
    with_chains(|c| c.pending.push((entry, now_ms())))
        .ok_or_else(|| sqlx::Error::Protocol("audit rows are appended by the writer only".into()))
}

/// Writes the rows the batch's units appended, each chained to the one before it in its
/// tenant's chain; the heads move only once the rows are written.
pub(super) fn write_pending(tx: &Conn) -> SqlResult<()> {
    let Some((key, mut heads, rows)) =
        with_chains(|c| (c.key.clone(), c.heads.clone(), std::mem::take(&mut c.pending)))
    else {
        return Ok(());
    };
    if tx.is_postgres() {
        lock_chains(tx, rows.iter().map(|(entry, _)| entry.tenant_id))?;
    }
    for (entry, at) in rows {
        let (last_seq, prev_hash) = match heads.get(&entry.tenant_id) {
            Some(head) => head.clone(),
            None => stored_head(tx, entry.tenant_id)?,
        };
        let seq = last_seq + 1;
        let hash = chain_hash(&key, &prev_hash, seq, at, &entry);
        execute(
            tx,
            "INSERT INTO audit_log (seq, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action,
                                    target, outcome, reason, via, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                seq,
                at,
                entry.tenant_id,
                entry.actor_user_id,
                entry.subject_user_id,
                entry.impersonation_id,
                entry.action,
                entry.target,
                entry.outcome.as_db(),
                entry.reason,
                entry.via,
                prev_hash,
                hash,
            ],
        )?;
        heads.insert(entry.tenant_id, (seq, hash));
    }
    with_chains(|c| c.heads = heads);
    Ok(())
}

/// On PostgreSQL, where several servers append: holds each tenant's chain until the batch
/// commits, so no other server reads the same head and forks the chain. Taken in one order
/// (by tenant), so two batches never wait on each other.
fn lock_chains(tx: &Conn, tenants: impl Iterator<Item = i64>) -> SqlResult<()> {
    /// The first key of the chain locks, apart from any other advisory lock.
    const AUDIT_CHAIN_LOCKS: i64 = 1;
    let tenants: std::collections::BTreeSet<i64> = tenants.collect();
    for tenant_id in tenants {
        execute(
            tx,
            "SELECT pg_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))",
            params![AUDIT_CHAIN_LOCKS, tenant_id],
        )?;
    }
    Ok(())
}
