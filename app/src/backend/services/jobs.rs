//! Jobs as people see them: the tenant's list and one job with its log, for the UI and the
//! API alike.

use crate::backend::principal::Principal;
use crate::backend::state::AppState;
use crate::backend::store::{self, jobs::JobFilter};
use crate::error::AppError;
use crate::model::{JobDetail, JobList};
use std::sync::Arc;

/// The tenant's jobs, newest first, at most `limit`; `only_mine` keeps those the principal
/// triggered or that ran as them.
pub async fn list(state: &AppState, principal: &Principal, only_mine: bool, limit: i64) -> Result<Arc<JobList>, AppError> {
    let filter = JobFilter { user_id: only_mine.then_some(principal.subject().id), webapp_id: None, limit };
    Ok(state.job_lists.list(&state.db, principal.tenant_id(), &filter).await?)
}

/// One job of the principal's tenant, with its log.
pub async fn detail(state: &AppState, principal: &Principal, id: i64) -> Result<JobDetail, AppError> {
    let job = store::jobs::view(&state.db, principal.tenant_id(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no job #{id}")))?;
    let log = store::job_log::lines(&state.db, principal.tenant_id(), id).await?;
    Ok(JobDetail { job, log })
}
