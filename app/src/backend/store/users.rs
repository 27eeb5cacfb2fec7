use super::{execute, now_ms, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult, Writer};
use crate::backend::audit::AuditEntry;
pub use crate::backend::domain::User;
use crate::backend::domain::AccountType;

/// `SELECT` of a user's columns, in the order `user` reads them.
macro_rules! select_user {
    () => {
        "SELECT id, tenant_id, email, display_name, password_hash, is_admin, account_type, disabled FROM users"
    };
}

/// A user from a row of `select_user!()` (or of the same columns first).
pub(super) fn user(r: &Row<'_>) -> SqlResult<User> {
    Ok(User {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        email: r.get(2)?,
        display_name: r.get(3)?,
        password_hash: r.get(4)?,
        is_admin: r.get(5)?,
        account_type: r.parsed(6)?,
        disabled: r.get(7)?,
    })
}

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

pub fn insert(tx: &Conn, user: &NewUser<'_>) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO users (tenant_id, email, display_name, password_hash, is_admin, account_type,
                            price_group, region, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            user.tenant_id,
            user.email,
            user.display_name,
            user.password_hash,
            user.is_admin,
            user.account_type.as_db(),
            user.price_group,
            user.region,
            now_ms(),
        ],
        |row| row.get(0),
    )
}

/// A user of any tenant: only for ids the server itself stored (a session's user, a job's
/// people); an id that came with a request is looked up with `in_tenant`.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    db.read(move |c| query_row(c, concat!(select_user!(), " WHERE id = ?"), params![id], user).optional()).await
}

/// A user of `tenant_id`; a user of another tenant is as unknown as one who does not exist.
pub async fn in_tenant(db: &Db, tenant_id: i64, id: i64) -> Result<Option<User>, sqlx::Error> {
    db.read(move |c| query_row(c, concat!(select_user!(), " WHERE id = ? AND tenant_id = ?"), params![id, tenant_id], user).optional())
        .await
}

/// The user who logs in with `email` (emails are unique across tenants).
pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let email = email.to_string();
    db.read(move |c| query_row(c, concat!(select_user!(), " WHERE email = ?"), params![email], user).optional()).await
}

/// Enabled accounts of a tenant, by display name.
pub async fn list_enabled(db: &Db, tenant_id: i64) -> Result<Vec<User>, sqlx::Error> {
    db.read(move |c| {
        query_map(c, concat!(select_user!(), " WHERE tenant_id = ? AND disabled = 0 ORDER BY display_name"), params![tenant_id], user)
    })
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
        .run(move |tx| {
            execute(tx, update, params![value, id])?;
            Ok(())
        })
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
            execute(tx, "INSERT INTO tenants (name) VALUES (?) ON CONFLICT DO NOTHING", params![&tenant])?;
            let tenant_id: i64 = query_row(tx, "SELECT id FROM tenants WHERE name = ?", params![&tenant], |row| row.get(0))?;
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
            let id = insert(tx, &user)?;
            super::audit::append(tx, &audit(tenant_id, id))?;
            Ok(id)
        })
        .await
}

/// Every account of a tenant, by display name.
pub async fn list_all(db: &Db, tenant_id: i64) -> Result<Vec<User>, sqlx::Error> {
    db.read(move |c| query_map(c, concat!(select_user!(), " WHERE tenant_id = ? ORDER BY display_name"), params![tenant_id], user))
        .await
}

/// What decides a user's prices and the rows they see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// A word the shop does not know counts as none.
    pub price_group: Option<crate::model::PriceGroup>,
    pub region: Option<String>,
    /// Member of the tenant's Sales group.
    pub in_sales: bool,
}

/// A user's attributes, in one query.
pub async fn attributes(db: &Db, id: i64) -> Result<Attributes, sqlx::Error> {
    let row: Option<(Option<String>, Option<String>, bool)> = db
        .read(move |c| {
            query_row(
                c,
                "SELECT u.price_group, u.region,
                        EXISTS (SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id
                                WHERE m.user_id = u.id AND g.tenant_id = u.tenant_id AND g.name = 'Sales')
                 FROM users u WHERE u.id = ?",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })
        .await?;
    let (price_group, region, in_sales) = row.unwrap_or_default();
    Ok(Attributes {
        price_group: price_group.as_deref().and_then(crate::model::PriceGroup::from_db),
        region: region.filter(|r| crate::model::REGIONS.contains(&r.as_str())),
        in_sales,
    })
}

/// Sets a user's region and price group with the audit row, in one unit of work. Returns
/// false when the tenant has no such user.
pub async fn set_attributes(
    writer: &Writer,
    tenant_id: i64,
    id: i64,
    region: Option<String>,
    price_group: Option<crate::model::PriceGroup>,
    entry: &AuditEntry,
) -> Result<bool, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let sql = "UPDATE users SET region = ?, price_group = ? WHERE id = ? AND tenant_id = ?";
            let params = params![region, price_group.map(crate::model::PriceGroup::as_db), id, tenant_id];
            Ok(super::audit::change_audited(tx, sql, params, &entry)?)
        })
        .await
}
