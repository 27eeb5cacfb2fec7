//! Impersonation grants: users or groups who may impersonate users or groups.

use super::{audit, now_ms, params, query_map, query_row, users, Conn, Db, SqlResult, Writer};
use super::users::User;
use crate::backend::audit::AuditEntry;
use crate::model::{GrantView, ImpersonationMode, PartyView, UserView};

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

/// A grant to write: who may impersonate whom, in which mode.
pub struct NewGrant {
    pub tenant_id: i64,
    pub actor: Party,
    pub subject: Party,
    pub mode: ImpersonationMode,
    pub created_by: i64,
}

pub fn insert(tx: &Conn, grant: &NewGrant, at: i64) -> SqlResult<i64> {
    let (actor_user, actor_group) = grant.actor.columns();
    let (subject_user, subject_group) = grant.subject.columns();
    query_row(
        tx,
        "INSERT INTO impersonation_grants (tenant_id, actor_user_id, actor_group_id, subject_user_id,
                                           subject_group_id, mode, created_by_user_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![grant.tenant_id, actor_user, actor_group, subject_user, subject_group, grant.mode.as_db(), grant.created_by, at],
        |row| row.get(0),
    )
}

const ACTOR_MATCHES: &str = "(g.actor_user_id = ?1
      OR g.actor_group_id IN (SELECT group_id FROM group_members WHERE user_id = ?1))";
const SUBJECT_MATCHES: &str = "(g.subject_user_id = u.id
      OR g.subject_group_id IN (SELECT group_id FROM group_members WHERE user_id = u.id))";

/// The modes of the tenant's grants that let `actor` impersonate `subject` (directly or
/// through groups on either side), least powerful first; empty when none does. The rules
/// module still decides: a grant never reaches an admin.
pub async fn modes(db: &Db, tenant_id: i64, actor_user_id: i64, subject_user_id: i64) -> Result<Vec<ImpersonationMode>, sqlx::Error> {
    let sql = format!(
        "SELECT DISTINCT g.mode FROM impersonation_grants g, users u
         WHERE u.id = ?2 AND g.tenant_id = ?3 AND u.tenant_id = ?3 AND {ACTOR_MATCHES} AND {SUBJECT_MATCHES}"
    );
    let found: Vec<ImpersonationMode> =
        db.read(move |c| query_map(c, &sql, params![actor_user_id, subject_user_id, tenant_id], |r| r.parsed(0))).await?;
    Ok(ImpersonationMode::ALL.into_iter().filter(|m| found.contains(m)).collect())
}

/// The enabled users of the tenant, by display name, each with whether some grant lets `actor`
/// impersonate them (what the picker needs, in one query; the rules module still decides).
pub async fn enabled_users_granted_to(db: &Db, tenant_id: i64, actor_user_id: i64) -> Result<Vec<(User, bool)>, sqlx::Error> {
    let sql = format!(
        "SELECT u.id, u.tenant_id, u.email, u.display_name, u.password_hash, u.is_admin, u.account_type, u.disabled,
                EXISTS (SELECT 1 FROM impersonation_grants g
                        WHERE g.tenant_id = ?2 AND {ACTOR_MATCHES} AND {SUBJECT_MATCHES})
         FROM users u WHERE u.tenant_id = ?2 AND u.disabled = 0 ORDER BY u.display_name"
    );
    db.read(move |c| query_map(c, &sql, params![actor_user_id, tenant_id], |r| Ok((users::user(r)?, r.get(8)?)))).await
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
    db.read(move |c| {
        query_map(
            c,
            "SELECT g.id, au.id, au.email, au.display_name, ag.id, ag.name, su.id, su.email, su.display_name,
                    sg.id, sg.name, cb.id, cb.email, cb.display_name, g.created_at, g.mode
             FROM impersonation_grants g
             LEFT JOIN users au ON au.id = g.actor_user_id
             LEFT JOIN groups ag ON ag.id = g.actor_group_id
             LEFT JOIN users su ON su.id = g.subject_user_id
             LEFT JOIN groups sg ON sg.id = g.subject_group_id
             JOIN users cb ON cb.id = g.created_by_user_id
             WHERE g.tenant_id = ? ORDER BY g.id",
            params![tenant_id],
            |r| {
                Ok(GrantView {
                    id: r.get(0)?,
                    actor: party((r.get(1)?, r.get(2)?, r.get(3)?), (r.get(4)?, r.get(5)?)),
                    subject: party((r.get(6)?, r.get(7)?, r.get(8)?), (r.get(9)?, r.get(10)?)),
                    mode: r.parsed(15)?,
                    created_by: UserView { id: r.get(11)?, email: r.get(12)?, display_name: r.get(13)? },
                    created_at: r.get(14)?,
                })
            },
        )
    })
    .await
}

/// Adds a grant with its audit row, in one transaction.
pub async fn add(writer: &Writer, grant: NewGrant, entry: &AuditEntry) -> Result<i64, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let id = insert(tx, &grant, now_ms())?;
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
            let sql = "DELETE FROM impersonation_grants WHERE id = ? AND tenant_id = ?";
            Ok(audit::change_audited(tx, sql, params![id, tenant_id], &entry)?)
        })
        .await
}

/// Switches a grant of the tenant to another mode, with its audit row. Returns false when
/// there was no such grant.
pub async fn set_mode(writer: &Writer, tenant_id: i64, id: i64, mode: ImpersonationMode, entry: &AuditEntry) -> Result<bool, sqlx::Error> {
    let entry = entry.clone();
    writer
        .run(move |tx| {
            let sql = "UPDATE impersonation_grants SET mode = ? WHERE id = ? AND tenant_id = ?";
            Ok(audit::change_audited(tx, sql, params![mode.as_db(), id, tenant_id], &entry)?)
        })
        .await
}
