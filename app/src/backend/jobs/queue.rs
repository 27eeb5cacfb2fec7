//! Enqueueing builds. The identities come from the current execution context only.

use crate::backend::audit::{AuditAction, AuditEntry, Outcome};
use crate::backend::context;
use crate::backend::rules::impersonation;
use crate::backend::rules::permissions::{self, PermissionDenial};
use crate::backend::state::AppState;
use crate::backend::store::{self, datasets::DatasetRow, jobs::NewJob, projects::ProjectRow, users::User};
use crate::error::AppError;
use crate::model::{BuildStarted, JobEvent, JobStatus};

pub const MAX_DATASET_NAME: usize = 100;

/// Checks a dataset name a client sent before it reaches the database.
pub fn validate_dataset_name(name: &str) -> Result<&str, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::BadRequest("dataset name is empty".into()));
    }
    if name.len() > MAX_DATASET_NAME {
        return Err(AppError::BadRequest(format!(
            "dataset name is too long ({} characters; at most {MAX_DATASET_NAME})",
            name.len()
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(AppError::BadRequest(format!(
            "dataset name {name:?} may only contain letters, digits and underscores"
        )));
    }
    Ok(name)
}

/// The message shown when an identity may not build a dataset (at enqueue and at start).
pub fn refusal_message(run_as: &User, dataset: &str, refusal: PermissionDenial) -> String {
    format!(
        "{} ({}) may not build {dataset}: {}",
        run_as.display_name,
        run_as.email,
        refusal.reason()
    )
}

/// Queues a build of `dataset_name` in `project` as the current context's run-as identity.
/// A build the identity may not run is recorded as Refused and returned as 403.
pub async fn enqueue_build(
    state: &AppState,
    project: &ProjectRow,
    dataset_name: &str,
) -> Result<BuildStarted, AppError> {
    let execution = context::current()
        .ok_or_else(|| AppError::internal("build requested outside an execution context"))?;
    let name = validate_dataset_name(dataset_name)?;
    let dataset = find_buildable(state, project, name).await?;
    let caller = &execution.caller;
    // Work done while impersonating is audited with both people, in the job's transaction.
    let audit_entry = |outcome: Outcome, reason: String| {
        let target = format!("{}/{}", project.key, dataset.name);
        caller
            .audit_if_acting_for_another(AuditAction::DatasetBuild, target, outcome, reason)
            .map(|entry| AuditEntry { via: execution.via.label(), ..entry })
    };
    if let Err(denial) = impersonation::may_change(caller.read_only()) {
        let message = format!("{} (building {})", denial.message(), dataset.name);
        if let Some(entry) = audit_entry(Outcome::Denied, message.clone()) {
            store::audit::append_alone(&state.writer, &entry).await?;
        }
        return Err(AppError::Forbidden(message));
    }
    let run_as = &execution.run_as;
    let job = NewJob {
        tenant_id: project.tenant_id,
        dataset_id: dataset.id,
        run_as_user_id: run_as.id,
        triggered_by_user_id: execution.caller.subject().id,
        impersonated_by_user_id: execution.caller.actor().map(|a| a.id),
        via: execution.via.clone(),
        webapp_id: execution.webapp_id,
    };
    let grants = store::projects::grants_of(&state.db, project.id, run_as.id).await?;
    let refusal = permissions::may_build(run_as, project.tenant_id, grants)
        .err()
        .map(|r| refusal_message(run_as, &dataset.name, r));
    let entry = match &refusal {
        Some(message) => audit_entry(Outcome::Denied, message.clone()),
        None => audit_entry(Outcome::Allowed, format!("as {}", run_as.email)),
    };
    let job_id = store::jobs::insert(&state.writer, &job, refusal.as_deref(), entry.as_ref()).await?;
    let status = if refusal.is_some() { JobStatus::Refused } else { JobStatus::Queued };
    state.jobs.publish(
        project.tenant_id,
        JobEvent { job_id, status, progress: 0.0, rows_in: None, rows_out: None },
    );
    if let Some(message) = refusal {
        return Err(AppError::Forbidden(message));
    }
    state.jobs.wake_worker();
    Ok(BuildStarted { job_id, dataset: dataset.name, run_as: run_as.view() })
}

async fn find_buildable(state: &AppState, project: &ProjectRow, name: &str) -> Result<DatasetRow, AppError> {
    let dataset = store::datasets::by_name(&state.db, project.id, name)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!("project {} has no dataset named {name}", project.key))
        })?;
    if dataset.recipe.is_none() {
        return Err(AppError::BadRequest(format!(
            "{name} is a raw dataset; only datasets made by a recipe can be built"
        )));
    }
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_are_checked() {
        assert_eq!(validate_dataset_name(" web_history_prepared ").unwrap(), "web_history_prepared");
        assert!(validate_dataset_name("").is_err());
        assert!(validate_dataset_name("   ").is_err());
        assert!(validate_dataset_name(&"a".repeat(MAX_DATASET_NAME + 1)).is_err());
        assert!(validate_dataset_name("orders; DROP TABLE jobs").is_err());
        assert_eq!(validate_dataset_name("").unwrap_err().status(), 400);
    }
}
