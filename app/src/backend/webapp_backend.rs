//! A webapp's backend: it runs as the webapp's "Run backend as" identity, on behalf of the
//! browser user who called it.

use super::context::{self, Execution};
use super::permissions;
use super::principal::Principal;
use super::state::AppState;
use super::store::{cache::Cached, projects::ProjectRow, users::UserRow, webapps::WebappRow};
use crate::error::AppError;
use crate::model::Via;
use std::future::Future;

const MAX_KEY: usize = 100;

/// Checks a project key or webapp slug sent by the client.
pub fn validate_key<'a>(what: &str, value: &'a str) -> Result<&'a str, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::BadRequest(format!("{what} is empty")));
    }
    if value.len() > MAX_KEY {
        return Err(AppError::BadRequest(format!("{what} is too long (at most {MAX_KEY} characters)")));
    }
    Ok(value)
}

/// A project of the principal's tenant that the principal may read.
pub async fn readable_project(reads: Cached<'_>, principal: &Principal, key: &str) -> Result<ProjectRow, AppError> {
    let key = validate_key("project key", key)?;
    let project = reads
        .project(principal.tenant_id(), key)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no project named {key}")))?;
    let grants = reads.project_grants(project.id, principal.subject.id).await?;
    permissions::may_read(&principal.subject, project.tenant_id, grants).map_err(|r| {
        AppError::Forbidden(format!("you may not open project {}: {}", project.key, r.reason()))
    })?;
    Ok(project)
}

pub struct Webapp {
    pub project: ProjectRow,
    pub webapp: WebappRow,
    pub run_as: UserRow,
}

impl Webapp {
    /// Loads a webapp the principal may open, with its current run-as identity.
    pub async fn load(state: &AppState, principal: &Principal, project_key: &str, slug: &str) -> Result<Webapp, AppError> {
        let reads = state.cached();
        let project = readable_project(reads, principal, project_key).await?;
        let slug = validate_key("webapp", slug)?;
        let webapp = reads
            .webapp(project.id, slug)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("project {} has no webapp {slug}", project.key)))?;
        let run_as = reads
            .user(webapp.run_as_user_id)
            .await?
            .ok_or_else(|| AppError::internal(format!("webapp {} runs as a missing user", webapp.id)))?;
        Ok(Webapp { project, webapp, run_as })
    }

    /// Runs `work` as this webapp's backend, called by `principal`.
    pub async fn serve<F: Future>(&self, principal: &Principal, work: F) -> F::Output {
        let execution = Execution {
            run_as: self.run_as.clone(),
            caller: principal.clone(),
            via: Via::Webapp { name: self.webapp.name.clone() },
            webapp_id: Some(self.webapp.id),
        };
        context::run_as(execution, work).await
    }
}
