use crate::codec::Shared;
use crate::error::AppError;
use crate::model::{JobDetail, JobList};
use leptos::prelude::*;

pub const JOB_LIST_LIMIT: i64 = 200;

/// The tenant's jobs, newest first; `only_mine` keeps those I triggered or that ran as me.
#[server(endpoint = "jobs")]
pub async fn list_jobs(only_mine: bool) -> Result<Shared<JobList>, AppError> {
    use crate::backend::{identity, services, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    Ok(services::jobs::list(&state, &principal, only_mine, JOB_LIST_LIMIT).await?.into())
}

/// The latest jobs a webapp started.
#[server(endpoint = "webapp_jobs")]
pub async fn webapp_jobs(project: String, webapp: String) -> Result<Shared<JobList>, AppError> {
    use crate::backend::{identity, state::AppState, store::jobs::JobFilter, webapp_backend::Webapp};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let loaded = Webapp::load(&state, &principal, &project, &webapp).await?;
    let filter = JobFilter { user_id: None, webapp_id: Some(loaded.webapp.id), limit: 5 };
    Ok(state.job_lists.list(&state.db, principal.tenant_id(), &filter).await?.into())
}

#[server(endpoint = "job")]
pub async fn get_job(id: i64) -> Result<JobDetail, AppError> {
    use crate::backend::{identity, services, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    services::jobs::detail(&state, &principal, id).await
}
