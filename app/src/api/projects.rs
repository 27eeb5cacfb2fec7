use crate::error::AppError;
use crate::model::{DatasetPageView, DatasetPreview, ProjectSummary, ProjectView};
use leptos::prelude::*;

#[server(endpoint = "projects")]
pub async fn list_projects() -> Result<Vec<ProjectSummary>, AppError> {
    use crate::backend::{identity, services, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let projects = services::projects::readable_projects(state.cached(), &principal).await?;
    Ok(projects.into_iter().map(|p| ProjectSummary { key: p.key, name: p.name }).collect())
}

#[server(endpoint = "project")]
pub async fn project_page(key: String) -> Result<ProjectView, AppError> {
    use crate::backend::{identity, rules::permissions, services, state::AppState, store};
    use crate::model::{DatasetView, WebappLink};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let project = services::projects::readable_project(state.cached(), &principal, &key).await?;
    let grants = state.cached().project_grants(project.id, principal.permissions_user().id).await?;
    let can_build = permissions::may_build(principal.permissions_user(), project.tenant_id, grants).is_ok();
    let datasets = store::datasets::list(&state.db, project.id)
        .await?
        .into_iter()
        .map(|d| DatasetView {
            name: d.name,
            kind: d.kind,
            description: d.description,
            recipe: d.recipe,
            row_count: d.row_count,
            built_at: d.built_at,
        })
        .collect();
    let webapps = store::webapps::list(&state.db, project.id)
        .await?
        .into_iter()
        .map(|w| WebappLink { slug: w.slug, name: w.name })
        .collect();
    Ok(ProjectView { key: project.key, name: project.name, can_build, datasets, webapps })
}

#[server(endpoint = "dataset_preview")]
pub async fn preview_dataset(project: String, dataset: String) -> Result<DatasetPreview, AppError> {
    use crate::backend::{identity, services::datasets, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let (_, ds) = datasets::readable_dataset(&state, &principal, &project, &dataset).await?;
    datasets::preview(&state, &principal, &ds).await
}

/// A dataset's page: its preview and its discussion, and for admins the preview as another
/// user sees it (`view_as`, a user id).
#[server(endpoint = "dataset")]
pub async fn dataset_page(project: String, dataset: String, view_as: Option<i64>) -> Result<DatasetPageView, AppError> {
    use crate::backend::{identity, services::{datasets, discussion}, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let (project, ds) = datasets::readable_dataset(&state, &principal, &project, &dataset).await?;
    let view_as = match view_as {
        Some(user_id) => Some(datasets::view_as(&state, &principal, &project, &ds, user_id).await?),
        None => None,
    };
    Ok(DatasetPageView {
        project_key: project.key,
        preview: datasets::preview(&state, &principal, &ds).await?,
        comments: discussion::comments(&state, &principal, &ds).await?,
        view_as_candidates: datasets::view_as_candidates(&state, &principal).await?,
        view_as,
    })
}

/// Adds a comment to a dataset's discussion.
#[server(endpoint = "dataset/comment")]
pub async fn add_comment(project: String, dataset: String, body: String) -> Result<(), AppError> {
    use crate::backend::{identity, services::{datasets, discussion}, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let (_, ds) = datasets::readable_dataset(&state, &principal, &project, &dataset).await?;
    discussion::add_comment(&state, &principal, &ds, &body).await?;
    Ok(())
}
