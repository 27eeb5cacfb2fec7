use super::{execute, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult};
use crate::backend::rules::permissions::ProjectGrants;

#[derive(Clone, Debug)]
pub struct ProjectRow {
    pub id: i64,
    pub tenant_id: i64,
    pub key: String,
    pub name: String,
}

fn project(r: &Row<'_>) -> SqlResult<ProjectRow> {
    Ok(ProjectRow { id: r.get(0)?, tenant_id: r.get(1)?, key: r.get(2)?, name: r.get(3)? })
}

pub fn insert(tx: &Conn, tenant_id: i64, key: &str, name: &str) -> SqlResult<i64> {
    query_row(
        tx,
        "INSERT INTO projects (tenant_id, key, name) VALUES (?, ?, ?) RETURNING id",
        params![tenant_id, key, name],
        |row| row.get(0),
    )
}

/// A project of the given tenant; projects of other tenants are never found.
pub async fn by_key(db: &Db, tenant_id: i64, key: &str) -> Result<Option<ProjectRow>, sqlx::Error> {
    let key = key.to_string();
    db.read(move |c| {
        query_row(c, "SELECT id, tenant_id, key, name FROM projects WHERE tenant_id = ? AND key = ?", params![tenant_id, key], project)
            .optional()
    })
    .await
}

pub async fn list(db: &Db, tenant_id: i64) -> Result<Vec<ProjectRow>, sqlx::Error> {
    db.read(move |c| query_map(c, "SELECT id, tenant_id, key, name FROM projects WHERE tenant_id = ? ORDER BY key", params![tenant_id], project))
        .await
}

pub enum Grantee {
    User(i64),
    Group(i64),
}

pub fn grant(tx: &Conn, project_id: i64, grantee: Grantee, can_build: bool) -> SqlResult<()> {
    let (user_id, group_id) = match grantee {
        Grantee::User(id) => (Some(id), None),
        Grantee::Group(id) => (None, Some(id)),
    };
    execute(
        tx,
        "INSERT INTO project_permissions (project_id, user_id, group_id, can_read, can_build)
         VALUES (?, ?, ?, 1, ?)",
        params![project_id, user_id, group_id, can_build],
    )
    .map(|_| ())
}

/// What a user holds on a project, directly or through any of their groups.
pub async fn grants_of(db: &Db, project_id: i64, user_id: i64) -> Result<ProjectGrants, sqlx::Error> {
    let (can_read, can_build) = db
        .read(move |c| {
            query_row(
                c,
                "SELECT COALESCE(MAX(p.can_read), 0), COALESCE(MAX(p.can_build), 0)
                 FROM project_permissions p
                 WHERE p.project_id = ?1
                   AND (p.user_id = ?2
                        OR p.group_id IN (SELECT group_id FROM group_members WHERE user_id = ?2))",
                params![project_id, user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await?;
    Ok(ProjectGrants { can_read, can_build })
}
