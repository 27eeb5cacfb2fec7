//! Datasets as people read them: a readable project's dataset and its preview.

use crate::backend::jobs::queue::validate_dataset_name;
use crate::backend::principal::Principal;
use crate::backend::services::projects::readable_project;
use crate::backend::state::AppState;
use crate::backend::store::{self, datasets::DatasetRow, projects::ProjectRow};
use crate::error::AppError;
use crate::model::DatasetPreview;

/// Rows a preview shows.
pub const PREVIEW_ROWS: i64 = 20;

/// A dataset of a project the principal may read.
pub async fn readable_dataset(state: &AppState, principal: &Principal, project: &str, dataset: &str) -> Result<(ProjectRow, DatasetRow), AppError> {
    let project = readable_project(state.cached(), principal, project).await?;
    let name = validate_dataset_name(dataset)?;
    let ds = store::datasets::by_name(&state.db, project.id, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("project {} has no dataset named {name}", project.key)))?;
    Ok((project, ds))
}

/// The first rows of a dataset, each cell as text.
pub async fn preview(state: &AppState, ds: &DatasetRow) -> Result<DatasetPreview, AppError> {
    let rows = store::datasets::first_rows(&state.db, ds, PREVIEW_ROWS)
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
