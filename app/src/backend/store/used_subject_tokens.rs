//! Token exchanges: the subject-token ids already used (the primary key makes a `jti`
//! single-use per client, even when duplicates arrive at the same moment), and the
//! impersonation each exchange starts.

use super::impersonations::{self, NewImpersonation};
use super::{api_clients, audit, execute, now_ms, params, Writer};
use crate::backend::audit::AuditEntry;
use std::sync::atomic::{AtomicI64, Ordering};

/// When expired ids were last dropped (ms). Once a minute is enough: an id is refused while it
/// is in the table, whether or not it has expired.
static LAST_SWEEP: AtomicI64 = AtomicI64::new(0);

fn sweep_due() -> bool {
    let now = now_ms();
    let last = LAST_SWEEP.load(Ordering::Relaxed);
    now - last >= 60_000 && LAST_SWEEP.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

/// The outcome of recording an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The id of the impersonation the exchange started, if it started one.
    Done(Option<i64>),
    /// The jti was used before: nothing was written.
    Replayed,
}

/// The key webapp tickets are recorded under: per webapp, so a new client of the same
/// webapp (after a rotation or a change of account) cannot use a ticket again either.
pub fn ticket_key(webapp_id: i64) -> String {
    format!("webapp:{webapp_id}")
}

/// Whether a subject-token id was already used under `key`.
pub async fn is_used(db: &super::Db, key: &str, jti: &str) -> Result<bool, sqlx::Error> {
    let (key, jti) = (key.to_string(), jti.to_string());
    db.read(move |c| {
        super::query_row(c, "SELECT COUNT(*) FROM used_subject_tokens WHERE client_id = ? AND jti = ?", params![key, jti], |r| r.get(0))
    })
    .await
    .map(|n: i64| n > 0)
}

/// Records a successful exchange: the subject token's jti (when it has one), the
/// impersonation (an exchange of a webapp ticket starts none), the client's last use (when `mark_used`) and the audit row commit together,
/// or not at all when the jti was seen before.
pub async fn record_exchange(
    writer: &Writer,
    client_id: &str,
    jti: Option<&str>,
    expires_at: Option<i64>,
    impersonation: Option<NewImpersonation>,
    mark_used: bool,
    mut entry: AuditEntry,
) -> Result<Recorded, sqlx::Error> {
    let (client_id, jti) = (client_id.to_string(), jti.map(str::to_string));
    writer
        .run(move |tx| {
            if let Some(jti) = jti {
                if sweep_due() {
                    // Ids of tokens that expired more than a leeway ago can never be replayed.
                    execute(tx, "DELETE FROM used_subject_tokens WHERE expires_at < ?", params![now_ms() / 1000 - 600])?;
                }
                let first_use = execute(
                    tx,
                    "INSERT INTO used_subject_tokens (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    params![client_id, jti, expires_at],
                )? == 1;
                if !first_use {
                    return Ok(Recorded::Replayed);
                }
            }
            let id = impersonation.map(|started| impersonations::insert_in(tx, &started)).transpose()?;
            if id.is_some() {
                entry.impersonation_id = id;
            }
            if mark_used {
                api_clients::mark_used(tx, &client_id)?;
            }
            audit::append(tx, &entry)?;
            Ok(Recorded::Done(id))
        })
        .await
}
