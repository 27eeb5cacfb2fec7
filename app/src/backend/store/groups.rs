use super::users::{self, User};
use super::{execute, params, query_map, query_row, Conn, Db, SqlResult};

pub fn insert(tx: &Conn, tenant_id: i64, name: &str) -> SqlResult<i64> {
    query_row(tx, "INSERT INTO groups (tenant_id, name) VALUES (?, ?) RETURNING id", params![tenant_id, name], |row| {
        row.get(0)
    })
}

pub fn add_member(tx: &Conn, group_id: i64, user_id: i64) -> SqlResult<()> {
    execute(tx, "INSERT INTO group_members (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING", params![group_id, user_id]).map(|_| ())
}

/// The names of a user's groups.
pub async fn names_of(db: &Db, user_id: i64) -> Result<Vec<String>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id WHERE m.user_id = ? ORDER BY g.name",
            params![user_id],
            |r| r.get(0),
        )
    })
    .await
}

/// The groups of a tenant: (id, name), by name.
pub async fn list(db: &Db, tenant_id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    db.read(move |c| {
        query_map(c, "SELECT id, name FROM groups WHERE tenant_id = ? ORDER BY name", params![tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))
    })
    .await
}

/// The ids of a user's groups.
pub async fn ids_of(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    db.read(move |c| query_map(c, "SELECT group_id FROM group_members WHERE user_id = ?", params![user_id], |r| r.get(0))).await
}

/// The members of a group, by display name.
pub async fn members(db: &Db, group_id: i64) -> Result<Vec<User>, sqlx::Error> {
    db.read(move |c| {
        query_map(
            c,
            "SELECT u.id, u.tenant_id, u.email, u.display_name, u.password_hash, u.is_admin, u.account_type, u.disabled
             FROM users u JOIN group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.display_name",
            params![group_id],
            users::user,
        )
    })
    .await
}
