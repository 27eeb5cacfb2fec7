use crate::error::AppError;
use crate::model::{DatasetPreview, ProjectSummary, ProjectView};
use leptos::prelude::*;

pub const PREVIEW_ROWS: i64 = 20;

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
    use crate::backend::{identity, jobs::queue::validate_dataset_name, services, state::AppState, store};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let project = services::projects::readable_project(state.cached(), &principal, &project).await?;
    let name = validate_dataset_name(&dataset)?;
    let ds = store::datasets::by_name(&state.db, project.id, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("project {} has no dataset named {name}", project.key)))?;
    let rows = store::datasets::first_rows(&state.db, &ds, PREVIEW_ROWS)
        .await?
        .iter()
        .map(|text| match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(cells)) => cells
                .into_iter()
                .map(|c| match c {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            _ => vec!["(unreadable row)".to_string()],
        })
        .collect();
    Ok(DatasetPreview { name: ds.name.clone(), columns: ds.column_names(), rows, total_rows: ds.row_count })
}
