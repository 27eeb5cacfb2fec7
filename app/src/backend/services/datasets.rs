//! Datasets as people read them: a readable project's dataset, and its rows filtered and
//! masked for the reader by the row- and column-level rules (`rules::row_security`), in the UI
//! and over `/v2` alike. Whose rules: the permission holder's (the person acted as, or the
//! impersonator with their own permissions), so impersonating shows exactly the subject's rows.

use crate::backend::jobs::queue::validate_dataset_name;
use crate::backend::jobs::recipes::geo::region_of_country;
use crate::backend::principal::Principal;
use crate::backend::rules::row_security::{self as rules, RegionSource, RowScope, Viewer, MASK};
use crate::backend::services::projects::readable_project;
use crate::backend::state::AppState;
use crate::backend::store::{self, datasets::DatasetRow, projects::ProjectRow};
use crate::error::AppError;
use crate::backend::audit::{AuditAction, Outcome};
use crate::model::{DatasetPreview, UserView, ViewAsView};
use serde_json::Value;
use std::collections::HashMap;

/// Rows a preview shows.
pub const PREVIEW_ROWS: i64 = 20;
/// Rows read per query while filtering.
const SCAN_CHUNK: i64 = 2_000;

/// A dataset of a project the principal may read.
pub async fn readable_dataset(state: &AppState, principal: &Principal, project: &str, dataset: &str) -> Result<(ProjectRow, DatasetRow), AppError> {
    let project = readable_project(state.cached(), principal, project).await?;
    let name = validate_dataset_name(dataset)?;
    let ds = store::datasets::by_name(&state.db, project.id, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("project {} has no dataset named {name}", project.key)))?;
    Ok((project, ds))
}

/// How one reader sees one dataset's rows.
pub struct RowFilter {
    scope: RowScope,
    source: RegionSource,
    /// Customer id → region, for datasets whose rows name a customer.
    customers: HashMap<i64, String>,
    masked: Vec<usize>,
}

impl RowFilter {
    /// Whether some rows may be hidden (else every row is read as it is).
    pub fn is_filtered(&self) -> bool {
        rules::is_filtered(&self.scope, &self.source)
    }

    pub fn visible(&self, row: &[Value]) -> bool {
        let region = rules::row_region(&self.source, row, region_of_country, &self.customers);
        rules::row_visible(&self.scope, &self.source, region)
    }

    /// The names of the columns the reader sees masked.
    pub fn masked_names(&self, columns: &[String]) -> Vec<String> {
        self.masked.iter().filter_map(|&i| columns.get(i).cloned()).collect()
    }

    /// A row with the cells the reader may not see masked.
    pub fn mask(&self, row: Vec<Value>) -> Vec<Value> {
        row.into_iter()
            .enumerate()
            .map(|(i, cell)| if self.masked.contains(&i) { Value::String(MASK.into()) } else { cell })
            .collect()
    }

    /// A row's cells as text, masked where the reader may not see them.
    pub fn cells(&self, row: Vec<Value>) -> Vec<String> {
        self.mask(row)
            .into_iter()
            .map(|cell| match cell {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    }
}

/// The reader's view of a dataset: the permission holder's region, group and role decide.
pub async fn row_filter(state: &AppState, principal: &Principal, ds: &DatasetRow) -> Result<RowFilter, AppError> {
    let user = principal.permissions_user();
    let attributes = store::users::attributes(&state.db, user.id).await?;
    let viewer = Viewer { is_admin: user.is_admin, region: attributes.region, in_sales: attributes.in_sales };
    let columns = ds.column_names();
    let scope = rules::row_scope(&viewer);
    let source = rules::region_source(&ds.name, &columns);
    let masked = rules::masked_columns(&ds.name, &columns, &viewer);
    let mut filter = RowFilter { scope, source, customers: HashMap::new(), masked };
    if filter.is_filtered() && matches!(filter.source, RegionSource::Customer(_)) {
        filter.customers = customer_regions(state, ds.project_id).await?;
    }
    Ok(filter)
}

/// The region of each customer of the project's `customers` dataset.
async fn customer_regions(state: &AppState, project_id: i64) -> Result<HashMap<i64, String>, AppError> {
    let mut regions = HashMap::new();
    let Some(customers) = store::datasets::by_name(&state.db, project_id, "customers").await? else {
        return Ok(regions);
    };
    let columns = customers.column_names();
    let (Some(id_at), RegionSource::Column(region_at)) =
        (columns.iter().position(|c| c == "customer_id"), rules::region_source("customers", &columns))
    else {
        return Ok(regions);
    };
    scan(state, &customers, |row| {
        if let (Some(id), Some(region)) = (row.get(id_at).and_then(Value::as_i64), row.get(region_at).and_then(Value::as_str)) {
            regions.insert(id, region.to_string());
        }
    })
    .await?;
    Ok(regions)
}

/// Calls `each` with every row of the dataset's current generation, in order.
async fn scan(state: &AppState, ds: &DatasetRow, mut each: impl FnMut(Vec<Value>)) -> Result<(), AppError> {
    let mut from = 0;
    loop {
        let page = store::datasets::read_page(&state.db, ds, from, SCAN_CHUNK).await?;
        let Some(&(last, _)) = page.last() else { return Ok(()) };
        for (_, text) in page {
            each(parse(&text));
        }
        from = last + 1;
    }
}

fn parse(text: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(cells)) => cells,
        _ => vec![Value::String("(unreadable row)".into())],
    }
}

/// The first rows of a dataset the reader may see, and how many they may see in all.
pub async fn preview(state: &AppState, principal: &Principal, ds: &DatasetRow) -> Result<DatasetPreview, AppError> {
    let filter = row_filter(state, principal, ds).await?;
    let (rows, total_rows) = if filter.is_filtered() {
        let (mut rows, mut visible) = (Vec::new(), 0);
        scan(state, ds, |row| {
            if filter.visible(&row) {
                visible += 1;
                if rows.len() < PREVIEW_ROWS as usize {
                    rows.push(filter.cells(row));
                }
            }
        })
        .await?;
        (rows, visible)
    } else {
        let rows = store::datasets::first_rows(&state.db, ds, PREVIEW_ROWS).await?;
        (rows.iter().map(|text| filter.cells(parse(text))).collect(), ds.row_count)
    };
    let columns = ds.column_names();
    let masked = filter.masked_names(&columns);
    let note = rules::scope_note(&filter.scope, &filter.source);
    Ok(DatasetPreview { name: ds.name.clone(), columns, rows, total_rows, note, masked })
}

/// One page of the rows a reader may see, from row number `from`, at most `limit`, with the
/// row number to read on from when more may follow. A page reads at most a few chunks, so a
/// reader who sees few rows gets short (even empty) pages with a next one, never a long wait.
pub async fn rows_page(state: &AppState, filter: &RowFilter, ds: &DatasetRow, from: i64, limit: usize) -> Result<(Vec<Vec<Value>>, Option<i64>), AppError> {
    const CHUNKS_PER_PAGE: usize = 5;
    let mut rows = Vec::new();
    let mut next = from;
    for _ in 0..CHUNKS_PER_PAGE {
        let page = store::datasets::read_page(&state.db, ds, next, SCAN_CHUNK).await?;
        let ended = (page.len() as i64) < SCAN_CHUNK;
        for (row_no, text) in page {
            next = row_no + 1;
            let row = parse(&text);
            if filter.visible(&row) {
                rows.push(filter.mask(row));
                if rows.len() == limit {
                    return Ok((rows, Some(next)));
                }
            }
        }
        if ended {
            return Ok((rows, None));
        }
    }
    Ok((rows, Some(next)))
}

/// The people an admin may view datasets as (none for anyone else).
pub async fn view_as_candidates(state: &AppState, principal: &Principal) -> Result<Vec<UserView>, AppError> {
    let viewer = principal.permissions_user();
    if !viewer.is_admin {
        // Nobody to offer: spare the query (the rule below would refuse each one).
        return Ok(Vec::new());
    }
    Ok(store::users::list_enabled(&state.db, principal.tenant_id())
        .await?
        .iter()
        .filter(|u| rules::may_view_as(viewer, principal.is_impersonating(), u).is_ok())
        .map(|u| u.view())
        .collect())
}

/// The dataset as `user_id` sees it, without impersonating them; audited, allowed or not.
pub async fn view_as(state: &AppState, principal: &Principal, project: &ProjectRow, ds: &DatasetRow, user_id: i64) -> Result<ViewAsView, AppError> {
    let target = state.cached().user_in(principal.tenant_id(), user_id).await?;
    let what = |email: &str| format!("dataset {} as {email}", ds.name);
    let Some(target) = target else {
        let entry = principal.audit(AuditAction::DatasetViewAs, what(&format!("user {user_id}")), Outcome::Denied, "no such user".into());
        store::audit::append_alone(&state.writer, &entry).await?;
        return Err(AppError::NotFound(format!("no user with id {user_id}")));
    };
    let mut entry = principal.audit(AuditAction::DatasetViewAs, what(&target.email), Outcome::Allowed, String::new());
    entry.subject_user_id = Some(target.id);
    let as_target = Principal::signed_in(target.clone());
    let refusal = match rules::may_view_as(principal.permissions_user(), principal.is_impersonating(), &target) {
        Err(why) => Some(format!("you may not view data as {}: {why}", target.display_name)),
        // They see nothing of a project they may not open.
        Ok(()) => readable_project(state.cached(), &as_target, &project.key)
            .await
            .err()
            .map(|refused| format!("{} cannot see this dataset: {refused}", target.display_name)),
    };
    if let Some(why) = refusal {
        store::audit::append_alone(&state.writer, &entry.denied(&why)).await?;
        return Err(AppError::Forbidden(why));
    }
    store::audit::append_alone(&state.writer, &entry).await?;
    let preview = preview(state, &as_target, ds).await?;
    Ok(ViewAsView { user: target.view(), hidden_rows: ds.row_count - preview.total_rows, preview })
}
