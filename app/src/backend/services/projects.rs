//! Projects: which the principal may see. The UI and the API both list and open them here.

use crate::backend::rules::permissions;
use crate::backend::principal::Principal;
use crate::backend::store::{cache::Cached, projects::ProjectRow};
use crate::error::AppError;

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
        .filter(|p| principal.webapp().is_none_or(|w| w.reaches(p.id)))
        .ok_or_else(|| AppError::NotFound(format!("no project named {key}")))?;
    let grants = reads.project_grants(project.id, principal.permissions_user().id).await?;
    permissions::may_read(principal.permissions_user(), project.tenant_id, grants).map_err(|r| {
        AppError::Forbidden(format!("you may not open project {}: {}", project.key, r.reason()))
    })?;
    Ok(project)
}

/// The projects of the principal's tenant that the principal may read, by key.
pub async fn readable_projects(reads: Cached<'_>, principal: &Principal) -> Result<Vec<ProjectRow>, AppError> {
    let mut readable = Vec::new();
    for project in reads.projects(principal.tenant_id()).await? {
        if principal.webapp().is_some_and(|w| !w.reaches(project.id)) {
            continue;
        }
        let grants = reads.project_grants(project.id, principal.permissions_user().id).await?;
        if permissions::may_read(principal.permissions_user(), project.tenant_id, grants).is_ok() {
            readable.push(project);
        }
    }
    Ok(readable)
}
