//! API clients: credentials for programs calling the /v2 API. Every change commits with its
//! audit row; the secret is only ever stored sealed.

use super::{audit, execute, impersonations, now_ms, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult, Writer};
use crate::backend::audit::AuditEntry;
use super::users::User;
use crate::backend::tokens::SubjectPolicy;
use crate::model::{ApiClientView, UserView};

#[derive(Clone)]
pub struct ApiClientRow {
    pub id: i64,
    pub tenant_id: i64,
    pub client_id: String,
    pub name: String,
    pub owner_user_id: i64,
    pub subject_policy: SubjectPolicy,
    pub secret_sealed: String,
    pub secret_version: i64,
    pub revoked_at: Option<i64>,
    /// The code webapp whose backend the client is (Guise manages such clients).
    pub webapp_id: Option<i64>,
}

// The sealed secret stays out of logs.
impl std::fmt::Debug for ApiClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClientRow")
            .field("client_id", &self.client_id)
            .field("tenant_id", &self.tenant_id)
            .field("owner_user_id", &self.owner_user_id)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl ApiClientRow {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// The text a client's sealed secret is bound to, so it cannot be moved to another client.
pub fn secret_context(client_id: &str) -> String {
    format!("api_client:{client_id}")
}

#[derive(Clone, Debug)]
pub struct NewApiClient {
    pub tenant_id: i64,
    pub client_id: String,
    pub name: String,
    pub owner_user_id: i64,
    pub subject_policy: SubjectPolicy,
    pub secret_sealed: String,
    pub created_by_user_id: i64,
    pub webapp_id: Option<i64>,
}

/// The columns `client_row` reads, in its order.
macro_rules! client_columns {
    () => {
        "c.id, c.tenant_id, c.client_id, c.name, c.owner_user_id, c.subject_policy, c.secret_sealed, c.secret_version, c.revoked_at, c.webapp_id"
    };
}

/// A client from the first ten columns of a row (`client_columns!`).
fn client_row(r: &Row<'_>) -> SqlResult<ApiClientRow> {
    Ok(ApiClientRow {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        client_id: r.get(2)?,
        name: r.get(3)?,
        owner_user_id: r.get(4)?,
        subject_policy: r.parsed(5)?,
        secret_sealed: r.get(6)?,
        secret_version: r.get(7)?,
        revoked_at: r.get(8)?,
        webapp_id: r.get(9)?,
    })
}

pub fn insert_in(tx: &Conn, new: &NewApiClient) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO api_clients (tenant_id, client_id, name, owner_user_id, subject_policy, secret_sealed,
                                  created_by_user_id, created_at, webapp_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            new.tenant_id,
            new.client_id,
            new.name,
            new.owner_user_id,
            new.subject_policy.as_db(),
            new.secret_sealed,
            new.created_by_user_id,
            now_ms(),
            new.webapp_id,
        ],
        |row| row.get(0),
    )
}

/// Creates a client and its audit row together.
pub async fn insert(writer: &Writer, new: NewApiClient, entry: AuditEntry) -> Result<i64, sqlx::Error> {
    writer
        .run(move |tx| {
            let id = insert_in(tx, &new)?;
            audit::append(tx, &entry)?;
            Ok(id)
        })
        .await
}

/// A client with its owner and the name of its tenant.
pub struct ClientWithOwner {
    pub client: ApiClientRow,
    pub owner: User,
    pub tenant: String,
    /// When a token was last issued to the client (ms; to the minute, see `last_use_is_stale`).
    pub last_used_at: Option<i64>,
    /// The database's access version when they were read (for the read cache).
    pub access_version: i64,
}

/// The client, its owner and its tenant's name in one query: every API request needs all three
/// (read inline: see `Db::read_inline`).
pub async fn with_owner(db: &Db, client_id: &str) -> Result<Option<ClientWithOwner>, sqlx::Error> {
    let client_id = client_id.to_string();
    db.read_inline(move |conn| {
        query_row(
            conn,
            concat!(
                "SELECT ",
                client_columns!(),
                ", u.email, u.display_name, u.password_hash, u.is_admin, u.account_type, u.disabled, t.name, c.last_used_at,
                    (SELECT value FROM access_version WHERE id = 1)
             FROM api_clients c
             JOIN users u ON u.id = c.owner_user_id
             JOIN tenants t ON t.id = c.tenant_id
             WHERE c.client_id = ?"
            ),
            params![client_id],
            |r| {
            Ok(ClientWithOwner {
                client: client_row(r)?,
                owner: User {
                    id: r.get(4)?,
                    tenant_id: r.get(1)?,
                    email: r.get(10)?,
                    display_name: r.get(11)?,
                    password_hash: r.get(12)?,
                    is_admin: r.get(13)?,
                    account_type: r.parsed(14)?,
                    disabled: r.get(15)?,
                },
                tenant: r.get(16)?,
                last_used_at: r.get(17)?,
                access_version: r.get(18)?,
            })
        })
        .optional()
    })
    .await
}

/// A client of `tenant_id`.
pub async fn by_client_id(db: &Db, tenant_id: i64, client_id: &str) -> Result<Option<ApiClientRow>, sqlx::Error> {
    let client_id = client_id.to_string();
    db.read(move |c| {
        query_row(
            c,
            concat!("SELECT ", client_columns!(), " FROM api_clients c WHERE c.client_id = ? AND c.tenant_id = ?"),
            params![client_id, tenant_id],
            client_row,
        )
        .optional()
    })
    .await
}

/// The tenant's clients, newest first, each marked whether `viewer` owns it.
pub async fn list(db: &Db, tenant_id: i64, viewer_user_id: i64) -> Result<Vec<ApiClientView>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT c.client_id, c.name, u.id, u.email, u.display_name, c.subject_policy, c.secret_version,
                    c.created_at, c.rotated_at, c.revoked_at, c.last_used_at
             FROM api_clients c JOIN users u ON u.id = c.owner_user_id
             WHERE c.tenant_id = ? AND c.webapp_id IS NULL ORDER BY c.id DESC",
            params![tenant_id],
            |r| {
                let owner_id: i64 = r.get(2)?;
                Ok(ApiClientView {
                    client_id: r.get(0)?,
                    name: r.get(1)?,
                    yours: owner_id == viewer_user_id,
                    owner: UserView { id: owner_id, email: r.get(3)?, display_name: r.get(4)? },
                    subject_policy: r.get(5)?,
                    secret_version: r.get(6)?,
                    created_at: r.get(7)?,
                    rotated_at: r.get(8)?,
                    revoked_at: r.get(9)?,
                    last_used_at: r.get(10)?,
                })
            },
        )
    })
    .await
}

/// Replaces an active client's secret (retiring its tokens); false when there is no such
/// active client in the tenant.
pub async fn rotate(writer: &Writer, tenant_id: i64, client_id: &str, secret_sealed: &str, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let change = Change::Rotate { secret_sealed: secret_sealed.to_string() };
    change_active(writer, change, tenant_id, client_id, "the client's secret was rotated", entry).await
}

/// Revokes an active client for good; false when there is no such active client.
pub async fn revoke(writer: &Writer, tenant_id: i64, client_id: &str, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    change_active(writer, Change::Revoke, tenant_id, client_id, "the client was revoked", entry).await
}

/// What happens to an active client.
enum Change {
    Rotate { secret_sealed: String },
    Revoke,
}

/// Changes an active client; the impersonations its tokens carried end and the audit row is
/// written in the same unit of work. False, and nothing written, when no active client
/// matched.
async fn change_active(
    writer: &Writer,
    change: Change,
    tenant_id: i64,
    client_id: &str,
    why: &str,
    entry: &AuditEntry,
) -> Result<bool, sqlx::Error> {
    let (client_id, why, entry) = (client_id.to_string(), why.to_string(), entry.clone());
    writer
        .run(move |tx| {
            let now = now_ms();
            let changed = match &change {
                Change::Rotate { secret_sealed } => execute(
                    tx,
                    "UPDATE api_clients SET secret_sealed = ?, secret_version = secret_version + 1, rotated_at = ?
                     WHERE tenant_id = ? AND client_id = ? AND revoked_at IS NULL AND webapp_id IS NULL",
                    params![secret_sealed, now, tenant_id, client_id],
                )?,
                Change::Revoke => execute(
                    tx,
                    "UPDATE api_clients SET revoked_at = ? WHERE tenant_id = ? AND client_id = ? AND revoked_at IS NULL AND webapp_id IS NULL",
                    params![now, tenant_id, client_id],
                )?,
            };
            if changed == 0 {
                return Ok(false);
            }
            impersonations::end_all_started_by_client(tx, tenant_id, &client_id, &why)?;
            audit::append(tx, &entry)?;
            Ok(true)
        })
        .await
}

/// The live client of a code webapp's backend.
pub fn active_of_webapp(tx: &Conn, webapp_id: i64) -> SqlResult<Option<ApiClientRow>> {
    query_row(
        tx,
        concat!("SELECT ", client_columns!(), " FROM api_clients c WHERE c.webapp_id = ? AND c.revoked_at IS NULL"),
        params![webapp_id],
        client_row,
    )
    .optional()
}

/// The id of the live client of a code webapp's backend.
pub async fn active_id_of_webapp(db: &Db, webapp_id: i64) -> Result<Option<String>, sqlx::Error> {
    db.read(move |c| active_of_webapp(c, webapp_id).map(|found| found.map(|client| client.client_id))).await
}

/// Revokes the live client of a code webapp's backend, if it has one.
pub fn revoke_of_webapp(tx: &Conn, webapp_id: i64) -> SqlResult<()> {
    execute(tx, "UPDATE api_clients SET revoked_at = ? WHERE webapp_id = ? AND revoked_at IS NULL", params![now_ms(), webapp_id])
        .map(|_| ())
}

/// Records that a client obtained a token, with the token's audit row; `mark_used`: its
/// `last_used_at` is stale and is written too.
pub async fn record_token(
    writer: &Writer,
    client_id: &str,
    mark_used: bool,
    entry: &AuditEntry,
) -> Result<(), sqlx::Error> {
    if !mark_used {
        return audit::append_alone(writer, entry).await;
    }
    let (client_id, entry) = (client_id.to_string(), entry.clone());
    writer
        .run(move |tx| {
            self::mark_used(tx, &client_id)?;
            Ok(audit::append(tx, &entry)?)
        })
        .await
}

/// How close to the truth a client's `last_used_at` is kept: writing it on every token would
/// cost a statement per token for a figure shown to the minute.
pub const LAST_USED_PRECISION_MS: i64 = 60_000;

/// Whether a client's `last_used_at` is old enough to be written again at `now` (ms).
pub fn last_use_is_stale(last_used_at: Option<i64>, now: i64) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_PRECISION_MS || at > now)
}

pub fn mark_used(tx: &Conn, client_id: &str) -> SqlResult<()> {
    execute(tx, "UPDATE api_clients SET last_used_at = ? WHERE client_id = ?", params![now_ms(), client_id])
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_use_is_written_again_once_a_minute() {
        let now = 10 * LAST_USED_PRECISION_MS;
        assert!(last_use_is_stale(None, now), "never used");
        assert!(!last_use_is_stale(Some(now - 1), now));
        assert!(!last_use_is_stale(
            Some(now - LAST_USED_PRECISION_MS + 1),
            now
        ));
        assert!(last_use_is_stale(Some(now - LAST_USED_PRECISION_MS), now));
        assert!(
            last_use_is_stale(Some(now + 5_000), now),
            "a time in the future (clock moved back) is corrected"
        );
    }
}
