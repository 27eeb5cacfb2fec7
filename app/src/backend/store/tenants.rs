use super::{params, query_row, Conn, Db, SqlResult};

/// Whether any tenant exists, inside the caller's unit of work.
pub fn any_in(tx: &Conn) -> SqlResult<bool> {
    let count: i64 = query_row(tx, "SELECT COUNT(*) FROM tenants", params![], |row| row.get(0))?;
    Ok(count > 0)
}

pub fn insert(tx: &Conn, name: &str) -> SqlResult<i64> {
    query_row(tx, "INSERT INTO tenants (name) VALUES (?) RETURNING id", params![name], |row| row.get(0))
}

pub async fn name_of(db: &Db, tenant_id: i64) -> Result<String, sqlx::Error> {
    db.read(move |c| query_row(c, "SELECT name FROM tenants WHERE id = ?", params![tenant_id], |r| r.get(0))).await
}
