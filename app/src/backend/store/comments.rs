//! Comments of dataset discussions, written with their audit row in one unit of work.

use super::{audit, now_ms, params, query_map, query_row, Db, Writer};
use crate::backend::audit::AuditEntry;
use crate::model::{ImpersonationMode, UserView};

#[derive(Clone, Debug)]
pub struct NewComment {
    pub tenant_id: i64,
    pub dataset_id: i64,
    pub author_user_id: i64,
    pub actor_user_id: i64,
    pub subject_user_id: Option<i64>,
    pub impersonation_id: Option<i64>,
    pub mode: Option<ImpersonationMode>,
    pub via: String,
    pub body: String,
}

/// A comment with the people behind it.
#[derive(Clone, Debug)]
pub struct CommentRow {
    pub id: i64,
    pub author: UserView,
    pub actor: UserView,
    pub subject: Option<UserView>,
    pub mode: Option<ImpersonationMode>,
    pub body: String,
    pub created_at: i64,
}

/// Adds a comment and, when given, its audit row (work done while impersonating).
pub async fn add(writer: &Writer, comment: NewComment, audit: Option<AuditEntry>) -> Result<i64, sqlx::Error> {
    writer
        .run(move |tx| {
            let id: i64 = query_row(
                tx,
                "INSERT INTO dataset_comments (tenant_id, dataset_id, author_user_id, actor_user_id, subject_user_id,
                                               impersonation_id, mode, via, body, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                params![
                    comment.tenant_id,
                    comment.dataset_id,
                    comment.author_user_id,
                    comment.actor_user_id,
                    comment.subject_user_id,
                    comment.impersonation_id,
                    comment.mode.map(ImpersonationMode::as_db),
                    comment.via,
                    comment.body,
                    now_ms(),
                ],
                |r| r.get(0),
            )?;
            if let Some(entry) = audit {
                audit::append(tx, &AuditEntry { target: format!("comment #{id} {}", entry.target), ..entry })?;
            }
            Ok(id)
        })
        .await
}

/// The comments of a dataset of the tenant, oldest first (at most `limit`, the newest ones).
pub async fn list(db: &Db, tenant_id: i64, dataset_id: i64, limit: i64) -> Result<Vec<CommentRow>, sqlx::Error> {
    let mut rows = db
        .read(move |c| {
            query_map(
                c,
                "SELECT k.id, au.id, au.email, au.display_name, ac.id, ac.email, ac.display_name,
                        su.id, su.email, su.display_name, k.mode, k.body, k.created_at
                 FROM dataset_comments k
                 JOIN users au ON au.id = k.author_user_id
                 JOIN users ac ON ac.id = k.actor_user_id
                 LEFT JOIN users su ON su.id = k.subject_user_id
                 WHERE k.tenant_id = ? AND k.dataset_id = ? ORDER BY k.id DESC LIMIT ?",
                params![tenant_id, dataset_id, limit],
                |r| {
                    let subject = match r.get::<Option<i64>>(7)? {
                        Some(id) => Some(UserView { id, email: r.get(8)?, display_name: r.get(9)? }),
                        None => None,
                    };
                    let mode: Option<String> = r.get(10)?;
                    Ok(CommentRow {
                        id: r.get(0)?,
                        author: UserView { id: r.get(1)?, email: r.get(2)?, display_name: r.get(3)? },
                        actor: UserView { id: r.get(4)?, email: r.get(5)?, display_name: r.get(6)? },
                        subject,
                        mode: mode.as_deref().and_then(ImpersonationMode::from_db),
                        body: r.get(11)?,
                        created_at: r.get(12)?,
                    })
                },
            )
        })
        .await?;
    rows.reverse();
    Ok(rows)
}
