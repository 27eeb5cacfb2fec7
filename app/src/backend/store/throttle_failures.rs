//! Failed logins and client secrets, per throttle and key, and the addresses each account
//! logged in from: what the throttles know, shared by every server on the database and kept
//! across restarts. (The rules are in `backend::throttle`.)

use super::{execute, now_ms, params, query_map, query_row, Db, Optional, Writer};
use std::sync::atomic::{AtomicI64, Ordering};

/// Failures of one key: how many, and when the last was (s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    pub failures: u32,
    pub last_at: i64,
}

/// Rows quiet for this long are dropped (s): longer than any throttle remembers a failure.
const KEPT_FOR: i64 = 2 * 3_600;

/// When quiet rows were last dropped (ms); once a minute is enough.
static LAST_SWEEP: AtomicI64 = AtomicI64::new(0);

fn sweep_due() -> bool {
    let now = now_ms();
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    now - last >= 60_000 && LAST_SWEEP.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

/// The failures counted for each `(scope, key)` asked, in that order (`None` where none).
pub async fn counted(db: &Db, keys: Vec<(&'static str, String)>) -> Result<Vec<Option<Counted>>, sqlx::Error> {
    db.read(move |c| {
        keys.iter()
            .map(|(scope, key)| {
                query_row(c, "SELECT failures, last_at FROM throttle_failures WHERE scope = ? AND key = ?", params![*scope, key], |r| {
                    Ok(Counted { failures: r.get::<i64>(0)?.clamp(0, u32::MAX as i64) as u32, last_at: r.get(1)? })
                })
                .optional()
            })
            .collect()
    })
    .await
}

/// Counts a failure at `now` (s) for each `(scope, key, forget_after)`: a count whose last
/// failure is `forget_after` seconds old starts over. Returns the new counts, in that order.
pub async fn fail(writer: &Writer, keys: Vec<(&'static str, String, i64)>, now: i64) -> Result<Vec<Counted>, sqlx::Error> {
    writer
        .run(move |tx| {
            if sweep_due() {
                execute(tx, "DELETE FROM throttle_failures WHERE last_at < ?", params![now - KEPT_FOR])?;
            }
            let mut counts = Vec::with_capacity(keys.len());
            for (scope, key, forget_after) in &keys {
                let failures: i64 = query_row(
                    tx,
                    "INSERT INTO throttle_failures (scope, key, failures, last_at) VALUES (?, ?, 1, ?) \
                     ON CONFLICT (scope, key) DO UPDATE SET \
                       failures = CASE WHEN throttle_failures.last_at + ? > excluded.last_at \
                                       THEN throttle_failures.failures + 1 ELSE 1 END, \
                       last_at = excluded.last_at \
                     RETURNING failures",
                    params![*scope, key, now, *forget_after],
                    |r| r.get(0),
                )?;
                counts.push(Counted { failures: failures.clamp(0, u32::MAX as i64) as u32, last_at: now });
            }
            Ok(counts)
        })
        .await
}

/// Forgets the failures of one key.
pub async fn clear(writer: &Writer, scope: &'static str, key: String) -> Result<(), sqlx::Error> {
    writer
        .run(move |tx| {
            execute(tx, "DELETE FROM throttle_failures WHERE scope = ? AND key = ?", params![scope, key])?;
            Ok(())
        })
        .await
}

/// Every count whose last failure is at most `within` seconds before `now`: what a server
/// starting up must remember.
pub async fn recent(db: &Db, now: i64, within: i64) -> Result<Vec<(String, String, Counted)>, sqlx::Error> {
    db.read(move |c| {
        query_map(c, "SELECT scope, key, failures, last_at FROM throttle_failures WHERE last_at >= ?", params![now - within], |r| {
            let counted = Counted { failures: r.get::<i64>(2)?.clamp(0, u32::MAX as i64) as u32, last_at: r.get(3)? };
            Ok((r.get(0)?, r.get(1)?, counted))
        })
    })
    .await
}

/// Whether `account` logged in from `address` before.
pub async fn is_known_address(db: &Db, account: String, address: String) -> Result<bool, sqlx::Error> {
    db.read(move |c| {
        let found: i64 = query_row(c, "SELECT count(*) FROM login_addresses WHERE account = ? AND address = ?", params![account, address], |r| r.get(0))?;
        Ok(found > 0)
    })
    .await
}

/// After a right password: `account`'s count from `address` starts over and the address is
/// one it logs in from; only its `keep` latest addresses are kept.
pub async fn succeeded(writer: &Writer, scope: &'static str, key: String, account: String, address: String, keep: usize) -> Result<(), sqlx::Error> {
    let now = now_ms() / 1000;
    writer
        .run(move |tx| {
            execute(tx, "DELETE FROM throttle_failures WHERE scope = ? AND key = ?", params![scope, key])?;
            execute(
                tx,
                "INSERT INTO login_addresses (account, address, seen_at) VALUES (?, ?, ?) \
                 ON CONFLICT (account, address) DO UPDATE SET seen_at = excluded.seen_at",
                params![account, address, now],
            )?;
            execute(
                tx,
                "DELETE FROM login_addresses WHERE account = ? AND address NOT IN \
                 (SELECT address FROM login_addresses WHERE account = ? ORDER BY seen_at DESC, address LIMIT ?)",
                params![account, account, keep as i64],
            )?;
            Ok(())
        })
        .await
}

/// Every account's known addresses, latest last: what a server starting up must remember.
pub async fn known_addresses(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    db.read(|c| query_map(c, "SELECT account, address FROM login_addresses ORDER BY account, seen_at, address", params![], |r| Ok((r.get(0)?, r.get(1)?))))
        .await
}
