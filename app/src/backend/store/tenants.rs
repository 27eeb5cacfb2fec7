use super::{Conn, Db};

/// Whether any tenant exists, inside the caller's write transaction.
pub async fn any_in(tx: &mut Conn) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(&mut *tx).await?;
    Ok(count > 0)
}

pub async fn insert(tx: &mut Conn, name: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO tenants (name) VALUES (?) RETURNING id")
        .bind(name)
        .fetch_one(&mut *tx)
        .await
}

pub async fn name_of(db: &Db, tenant_id: i64) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM tenants WHERE id = ?")
        .bind(tenant_id)
        .fetch_one(db)
        .await
}
