//! Server-wide settings.

use super::{audit, execute, params, query_row, Db, Optional, Writer};
use crate::backend::audit::AuditEntry;

const IMPERSONATION_ENABLED: &str = "impersonation_enabled";

/// The global impersonation switch; on unless turned off.
pub async fn impersonation_enabled(db: &Db) -> Result<bool, sqlx::Error> {
    let value: Option<String> = db
        .read(|c| query_row(c, "SELECT value FROM settings WHERE key = ?", params![IMPERSONATION_ENABLED], |r| r.get(0)).optional())
        .await?;
    Ok(value.as_deref() != Some("false"))
}

/// Turns the global switch on or off, with its audit row.
pub async fn set_impersonation_enabled(writer: &Writer, enabled: bool, entry: AuditEntry) -> Result<(), sqlx::Error> {
    writer
        .run(move |tx| {
            execute(
                tx,
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![IMPERSONATION_ENABLED, if enabled { "true" } else { "false" }],
            )?;
            Ok(audit::append(tx, &entry)?)
        })
        .await
}
