//! The server's token signing keys, their private halves sealed with the server key.

use super::{batch, execute, now_ms, params, query_map, Db, Writer};

/// (kid, sealed private key) of the keys in use, newest first: the first one signs.
pub async fn active(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    db.read(|c| {
        query_map(
            c,
            "SELECT kid, private_sealed FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
    .await
}

/// Stores the first signing key, unless another server stored one first (two servers starting
/// on an empty database): returns whether this one was stored. On PostgreSQL the table is
/// locked for the check, so exactly one of two servers starting at once stores its key.
pub async fn insert_first(writer: &Writer, kid: &str, algorithm: &str, private_sealed: &str) -> Result<bool, sqlx::Error> {
    let (kid, algorithm, private_sealed) = (kid.to_string(), algorithm.to_string(), private_sealed.to_string());
    writer
        .run(move |tx| {
            if tx.is_postgres() {
                batch(tx, "LOCK TABLE signing_keys IN EXCLUSIVE MODE")?;
            }
            let stored = execute(
                tx,
                "INSERT INTO signing_keys (kid, algorithm, private_sealed, created_at)
                 SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)",
                params![kid, algorithm, private_sealed, now_ms()],
            )?;
            Ok(stored == 1)
        })
        .await
}
