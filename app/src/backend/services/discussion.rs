//! Discussions on datasets: comments shown with the author the impersonation's mode decides,
//! and, to auditors, the other person behind them.

use crate::backend::audit::{AuditAction, Outcome};
use crate::backend::principal::Principal;
use crate::backend::rules::{discussion, impersonation};
use crate::backend::state::AppState;
use crate::backend::store::{self, comments::{CommentRow, NewComment}, datasets::DatasetRow};
use crate::error::AppError;
use crate::model::CommentView;

/// Comments a discussion shows (the newest).
const COMMENTS_SHOWN: i64 = 200;

/// What an admin reads beside the author of a comment written while impersonating.
fn other_person(row: &CommentRow) -> Option<String> {
    let subject = row.subject.as_ref()?;
    Some(if row.author.id == row.actor.id {
        format!("on behalf of {}", subject.display_name)
    } else {
        format!("written by {} while impersonating", row.actor.display_name)
    })
}

/// The discussion of a dataset the principal may read.
pub async fn comments(state: &AppState, principal: &Principal, ds: &DatasetRow) -> Result<Vec<CommentView>, AppError> {
    let auditor = discussion::shows_other_person(principal.permissions_user().is_admin);
    Ok(store::comments::list(&state.db, principal.tenant_id(), ds.id, COMMENTS_SHOWN)
        .await?
        .into_iter()
        .map(|row| CommentView {
            id: row.id,
            other_person: if auditor { other_person(&row) } else { None },
            author: row.author,
            body: row.body,
            created_at: row.created_at,
        })
        .collect())
}

/// Adds a comment to a dataset the principal may read, as the mode decides its author.
pub async fn add_comment(state: &AppState, principal: &Principal, ds: &DatasetRow, body: &str) -> Result<i64, AppError> {
    let body = discussion::check_comment(body).map_err(AppError::BadRequest)?;
    let target = format!("on dataset {}", ds.name);
    let entry = principal.audit_if_acting_for_another(AuditAction::CommentAdd, target, Outcome::Allowed, principal.mode_note());
    if let Err(denial) = impersonation::may_change(principal.read_only()) {
        if let Some(entry) = entry {
            store::audit::append_alone(&state.writer, &entry.denied(denial.message())).await?;
        }
        return Err(AppError::Forbidden(denial.message().into()));
    }
    let comment = NewComment {
        tenant_id: principal.tenant_id(),
        dataset_id: ds.id,
        author_user_id: principal.comment_author().id,
        actor_user_id: principal.acting_user().id,
        subject_user_id: principal.actor().map(|_| principal.subject().id),
        impersonation_id: principal.impersonation_id(),
        mode: principal.mode(),
        via: principal.via().label(),
        body: body.to_string(),
    };
    Ok(store::comments::add(&state.writer, comment, entry).await?)
}
