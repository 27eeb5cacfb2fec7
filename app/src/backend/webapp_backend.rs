//! A webapp's backend: it runs as the webapp's "Run backend as" identity, on behalf of the
//! browser user who called it.

use super::context::{self, Execution};
use super::services::projects::{readable_project, validate_key};
use super::principal::Principal;
use super::state::AppState;
use super::store::{projects::ProjectRow, users::User, webapps::WebappRow};
use crate::error::AppError;
use std::future::Future;

pub struct Webapp {
    pub project: ProjectRow,
    pub webapp: WebappRow,
    pub run_as: User,
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
        let execution = Execution::in_webapp(self.run_as.clone(), principal.clone(), &self.webapp.name, self.webapp.id);
        context::run_as(execution, work).await
    }
}
