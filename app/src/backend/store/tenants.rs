use super::{Conn, Db};

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
