//! Impersonation grants: users or groups who may impersonate users or groups.

use super::{audit, execute, now_ms, params, query_row, Conn, Db, SqlResult, Writer};
use super::users::User;
use crate::backend::audit::AuditEntry;
use crate::model::{GrantView, PartyView, UserView};

pub enum Party {
    User(i64),
    Group(i64),
}

impl Party {
    fn columns(&self) -> (Option<i64>, Option<i64>) {
        match self {
            Party::User(id) => (Some(*id), None),
            Party::Group(id) => (None, Some(*id)),
        }
    }
}

pub fn insert(tx: &Conn, tenant_id: i64, actor: Party, subject: Party, created_by: i64, at: i64) -> SqlResult<i64> {
    let (actor_user, actor_group) = actor.columns();
    let (subject_user, subject_group) = subject.columns();
    query_row(
        tx,
        "INSERT INTO impersonation_grants (tenant_id, actor_user_id, actor_group_id, subject_user_id,
                                           subject_group_id, created_by_user_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![tenant_id, actor_user, actor_group, subject_user, subject_group, created_by, at],
        |row| row.get(0),
    )
}

const ACTOR_MATCHES: &str = "(g.actor_user_id = ?1
      OR g.actor_group_id IN (SELECT group_id FROM group_members WHERE user_id = ?1))";
const SUBJECT_MATCHES: &str = "(g.subject_user_id = u.id
      OR g.subject_group_id IN (SELECT group_id FROM group_members WHERE user_id = u.id))";

/// Whether any grant of the tenant lets `actor` impersonate `subject` (directly or through
/// groups on either side). The rules module still decides: a grant never reaches an admin.
pub async fn covers(db: &Db, tenant_id: i64, actor_user_id: i64, subject_user_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT g.id FROM impersonation_grants g, users u
         WHERE u.id = ?2 AND g.tenant_id = ?3 AND u.tenant_id = ?3 AND {ACTOR_MATCHES} AND {SUBJECT_MATCHES}
         LIMIT 1"
    ))
    .bind(actor_user_id)
    .bind(subject_user_id)
    .bind(tenant_id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

#[derive(sqlx::FromRow)]
struct UserGranted {
    #[sqlx(flatten)]
    user: User,
    granted: bool,
}

/// The enabled users of the tenant, by display name, each with whether some grant lets `actor`
/// impersonate them (what the picker needs, in one query; the rules module still decides).
pub async fn enabled_users_granted_to(db: &Db, tenant_id: i64, actor_user_id: i64) -> Result<Vec<(User, bool)>, sqlx::Error> {
    let rows: Vec<UserGranted> = sqlx::query_as(&format!(
        "SELECT u.id, u.tenant_id, u.email, u.display_name, u.password_hash, u.is_admin, u.account_type, u.disabled,
                EXISTS (SELECT 1 FROM impersonation_grants g
                        WHERE g.tenant_id = ?2 AND {ACTOR_MATCHES} AND {SUBJECT_MATCHES}) AS granted
         FROM users u WHERE u.tenant_id = ?2 AND u.disabled = 0 ORDER BY u.display_name"
    ))
    .bind(actor_user_id)
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.user, r.granted)).collect())
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: i64,
    au_id: Option<i64>,
    au_email: Option<String>,
    au_name: Option<String>,
    ag_id: Option<i64>,
    ag_name: Option<String>,
    su_id: Option<i64>,
    su_email: Option<String>,
    su_name: Option<String>,
    sg_id: Option<i64>,
    sg_name: Option<String>,
    cb_id: i64,
    cb_email: String,
    cb_name: String,
    created_at: i64,
}

fn party(user: (Option<i64>, Option<String>, Option<String>), group: (Option<i64>, Option<String>)) -> PartyView {
    match (user, group) {
        ((Some(id), Some(email), Some(display_name)), _) => PartyView::User(UserView { id, email, display_name }),
        (_, (Some(id), Some(name))) => PartyView::Group { id, name },
        // The CHECK constraints make one side always present.
        _ => PartyView::Group { id: 0, name: "(removed)".into() },
    }
}

/// Every grant of a tenant, oldest first.
pub async fn list(db: &Db, tenant_id: i64) -> Result<Vec<GrantView>, sqlx::Error> {
    let rows: Vec<GrantRow> = sqlx::query_as(
        "SELECT g.id, au.id AS au_id, au.email AS au_email, au.display_name AS au_name,
                ag.id AS ag_id, ag.name AS ag_name,
                su.id AS su_id, su.email AS su_email, su.display_name AS su_name,
                sg.id AS sg_id, sg.name AS sg_name,
                cb.id AS cb_id, cb.email AS cb_email, cb.display_name AS cb_name, g.created_at
         FROM impersonation_grants g
         LEFT JOIN users au ON au.id = g.actor_user_id
         LEFT JOIN groups ag ON ag.id = g.actor_group_id
         LEFT JOIN users su ON su.id = g.subject_user_id
         LEFT JOIN groups sg ON sg.id = g.subject_group_id
         JOIN users cb ON cb.id = g.created_by_user_id
         WHERE g.tenant_id = ? ORDER BY g.id",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| GrantView {
            id: r.id,
            actor: party((r.au_id, r.au_email, r.au_name), (r.ag_id, r.ag_name)),
            subject: party((r.su_id, r.su_email, r.su_name), (r.sg_id, r.sg_name)),
            created_by: UserView { id: r.cb_id, email: r.cb_email, display_name: r.cb_name },
            created_at: r.created_at,
        })
        .collect())
}

/// Adds a grant with its audit row, in one transaction.
pub async fn add(writer: &Writer, tenant_id: i64, actor: Party, subject: Party, created_by: i64, entry: &AuditEntry) -> Result<i64, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let id = insert(tx, tenant_id, actor, subject, created_by, now_ms())?;
            audit::append(tx, &entry)?;
            Ok(id)
        })
        .await
}

/// Removes a grant of the tenant with its audit row. Returns false when there was none.
pub async fn remove(writer: &Writer, tenant_id: i64, id: i64, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let removed = execute(tx, "DELETE FROM impersonation_grants WHERE id = ? AND tenant_id = ?", params![id, tenant_id])?;
            if removed == 0 {
                return Ok(false);
            }
            audit::append(tx, &entry)?;
            Ok(true)
        })
        .await
}
