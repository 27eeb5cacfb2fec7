//! Impersonation grants: users or groups who may impersonate users or groups.

use super::{Db, Tx};

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

pub async fn insert(
    tx: &mut Tx<'_>,
    tenant_id: i64,
    actor: Party,
    subject: Party,
    created_by: i64,
    at: i64,
) -> Result<i64, sqlx::Error> {
    let (actor_user, actor_group) = actor.columns();
    let (subject_user, subject_group) = subject.columns();
    sqlx::query_scalar(
        "INSERT INTO impersonation_grants (tenant_id, actor_user_id, actor_group_id, subject_user_id,
                                           subject_group_id, created_by_user_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(tenant_id)
    .bind(actor_user)
    .bind(actor_group)
    .bind(subject_user)
    .bind(subject_group)
    .bind(created_by)
    .bind(at)
    .fetch_one(&mut **tx)
    .await
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

/// Ids of the users of the tenant some grant lets `actor` impersonate.
pub async fn granted_subjects(db: &Db, tenant_id: i64, actor_user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT DISTINCT u.id FROM impersonation_grants g, users u
         WHERE g.tenant_id = ?2 AND u.tenant_id = ?2 AND {ACTOR_MATCHES} AND {SUBJECT_MATCHES}"
    ))
    .bind(actor_user_id)
    .bind(tenant_id)
    .fetch_all(db)
    .await
}
