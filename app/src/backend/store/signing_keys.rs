//! The server's token signing keys, their private halves sealed with the server key.

use super::{execute, now_ms, params, Db, Writer};

/// (kid, sealed private key) of the keys in use, newest first: the first one signs.
pub async fn active(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT kid, private_sealed FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid")
        .fetch_all(db)
        .await
}

pub async fn insert(writer: &Writer, kid: &str, algorithm: &str, private_sealed: &str) -> Result<(), sqlx::Error> {
    let (kid, algorithm, private_sealed) = (kid.to_string(), algorithm.to_string(), private_sealed.to_string());
    writer
        .run(move |tx| {
            execute(
                tx,
                "INSERT INTO signing_keys (kid, algorithm, private_sealed, created_at) VALUES (?, ?, ?, ?)",
                params![kid, algorithm, private_sealed, now_ms()],
            )?;
            Ok(())
        })
        .await
}
