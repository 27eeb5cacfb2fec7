use super::{now_ms, Conn, Db, Writer};
use crate::backend::audit::AuditEntry;
pub use crate::backend::domain::User;
use crate::backend::domain::AccountType;

const COLUMNS: &str =
    "id, tenant_id, email, display_name, password_hash, is_admin, account_type, disabled";

pub struct NewUser<'a> {
    pub tenant_id: i64,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
    pub account_type: AccountType,
    pub price_group: Option<&'a str>,
    pub region: Option<&'a str>,
}

pub async fn insert(tx: &mut Conn, user: &NewUser<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (tenant_id, email, display_name, password_hash, is_admin, account_type,
                            price_group, region, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(user.tenant_id)
    .bind(user.email)
    .bind(user.display_name)
    .bind(user.password_hash)
    .bind(user.is_admin)
    .bind(user.account_type.as_db())
    .bind(user.price_group)
    .bind(user.region)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await
}

/// A user of any tenant: only for ids the server itself stored (a session's user, a job's
/// people); an id that came with a request is looked up with `in_tenant`.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A user of `tenant_id`; a user of another tenant is as unknown as one who does not exist.
pub async fn in_tenant(db: &Db, tenant_id: i64, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ? AND tenant_id = ?"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(db)
        .await
}

/// The user who logs in with `email` (emails are unique across tenants).
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = ?"))
        .bind(email)
        .fetch_optional(db)
        .await
}

/// Enabled accounts of a tenant, by display name.
pub async fn list_enabled(db: &Db, tenant_id: i64) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE tenant_id = ? AND disabled = 0 ORDER BY display_name"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await
}

pub async fn set_admin(writer: &Writer, id: i64, is_admin: bool) -> Result<(), sqlx::Error> {
    set_flag(writer, "UPDATE users SET is_admin = ? WHERE id = ?", id, is_admin).await
}

pub async fn set_disabled(writer: &Writer, id: i64, disabled: bool) -> Result<(), sqlx::Error> {
    set_flag(writer, "UPDATE users SET disabled = ? WHERE id = ?", id, disabled).await
}

async fn set_flag(writer: &Writer, update: &'static str, id: i64, value: bool) -> Result<(), sqlx::Error> {
    writer
        .run(move |tx| Box::pin(async move { sqlx::query(update).bind(value).bind(id).execute(&mut *tx).await.map(|_| ()) }))
        .await
}

/// Creates a user who can log in, creating their tenant when it does not exist (CLI).
/// Creates a user (and its tenant when new) with the audit row `audit` writes for the new
/// user's tenant and id.
pub async fn create_with_tenant(
    writer: &Writer,
    tenant: &str,
    email: &str,
    display_name: &str,
    password_hash: &str,
    is_admin: bool,
    audit: impl FnOnce(i64, i64) -> AuditEntry + Send + 'static,
) -> Result<i64, sqlx::Error> {
    let (tenant, email, display_name, password_hash) =
        (tenant.to_string(), email.to_string(), display_name.to_string(), password_hash.to_string());
    writer
        .run(move |tx| {
            Box::pin(async move {
                sqlx::query("INSERT OR IGNORE INTO tenants (name) VALUES (?)").bind(&tenant).execute(&mut *tx).await?;
                let tenant_id: i64 =
                    sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?").bind(&tenant).fetch_one(&mut *tx).await?;
                let user = NewUser {
                    tenant_id,
                    email: &email,
                    display_name: &display_name,
                    password_hash: Some(&password_hash),
                    is_admin,
                    account_type: AccountType::User,
                    price_group: None,
                    region: None,
                };
                let id = insert(tx, &user).await?;
                super::audit::append(tx, &audit(tenant_id, id))?;
                Ok(id)
            })
        })
        .await
}

/// Every account of a tenant, by display name.
pub async fn list_all(db: &Db, tenant_id: i64) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE tenant_id = ? ORDER BY display_name"))
        .bind(tenant_id)
        .fetch_all(db)
        .await
}
