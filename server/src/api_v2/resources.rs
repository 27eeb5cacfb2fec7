//! Resources of the /v2 API. Each answers as the token's subject: an impersonation token
//! sees exactly what the impersonated user sees, and acts with their permissions.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::{private_json, SelfAudited};
use app::backend::api_access::{ApiCaller, ApiFailure};
use app::backend::context::{self, Execution};
use app::backend::jobs::queue;
use app::backend::state::AppState;
use app::backend::store::{self, projects::ProjectRow};
use app::backend::services;
use app::error::AppError;
use app::model::{JobDetail, JobView, LogLineView, UserView};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A person, as the API names them.
#[derive(Serialize, ToSchema)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub name: String,
}

impl From<&UserView> for Person {
    fn from(u: &UserView) -> Self {
        Person { id: u.id, email: u.email.clone(), name: u.display_name.clone() }
    }
}

/// Who the token acts as.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `user` or `service`.
    pub account_type: String,
    pub admin: bool,
    pub tenant: String,
    /// The API client the token was issued to.
    pub client_id: String,
    /// The user really acting, when the token is an impersonation token.
    pub impersonated_by: Option<Person>,
    /// How the impersonation acts for its subject (`on_behalf_of`, `full` or
    /// `full_impersonator_permissions`), when the token is an impersonation token.
    pub mode: Option<String>,
    /// Every actor of the token's delegation chain, current first (RFC 8693 `act`).
    pub delegation_chain: Vec<ChainLink>,
    /// When the token expires, in seconds since 1970.
    pub token_expires_at: i64,
    /// The code webapp whose backend holds the token.
    pub webapp: Option<String>,
    /// A webapp's token for its browser user: the scopes it has now (space-separated).
    pub scopes: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainLink {
    pub email: String,
    pub client_id: String,
}

/// Who the token acts as, and who really acts.
#[utoipa::path(get, path = "/v2/whoami", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(Extension(caller): Extension<ApiCaller>) -> Response {
    let p = &caller.principal;
    let chain = caller.claims.act.iter().flat_map(|a| a.chain()).map(|a| ChainLink { email: a.sub.clone(), client_id: a.client_id.clone() });
    let body = WhoAmI {
        id: p.subject().id,
        email: p.subject().email.clone(),
        name: p.subject().display_name.clone(),
        account_type: p.subject().account_type.as_db().to_string(),
        admin: p.subject().is_admin,
        tenant: caller.claims.tenant.clone(),
        client_id: caller.claims.client_id.clone(),
        impersonated_by: p.actor().map(|a| Person::from(&a.view())),
        mode: p.mode().map(|m| m.as_db().to_string()),
        delegation_chain: chain.collect(),
        token_expires_at: caller.claims.exp,
        webapp: p.webapp().map(|w| w.name.clone()),
        scopes: p.webapp().and_then(|w| w.user_scopes.as_ref()).map(|s| s.as_text()),
    };
    private_json(StatusCode::OK, &body)
}

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 500;

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Comma-separated types to list; only `dataset` exists.
    type_filters: Option<String>,
    /// Entries per page, 1 to 500 (default 100).
    page_size: Option<String>,
    /// The `nextPage` of the previous answer.
    page: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Always `dataset`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub project: String,
    pub name: String,
    /// `PROJECT/name`.
    pub path: String,
    /// `raw` or `derived`.
    pub dataset_kind: String,
    pub description: String,
    pub row_count: i64,
    /// Last build, in milliseconds since 1970.
    pub built_at: Option<i64>,
}

/// One page of a list, and the token of the next one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilesPage {
    pub entries: Vec<FileEntry>,
    /// Pass as `page` to get the next entries; absent on the last page.
    pub next_page: Option<String>,
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiFailure::bad_request(format!("bad query string: {}", e.body_text())).into()
}

fn parse_bounded(name: &str, value: Option<&str>, default: usize, max: usize) -> Result<usize, ApiFailure> {
    match value {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiFailure::bad_request(format!("{name} must be a whole number from 1 to {max}"))),
    }
}

/// The datasets the subject may read, page by page.
#[utoipa::path(get, path = "/v2/files", tag = "data", security(("bearer" = [])), params(FilesQuery),
    responses((status = 200, body = FilesPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn files(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    query: Result<Query<FilesQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(query_error)?;
    for kind in query.type_filters.as_deref().unwrap_or("dataset").split(',').map(str::trim) {
        if kind != "dataset" {
            return Err(ApiFailure::bad_request(format!("typeFilters: unknown type {kind:?}; the only type is dataset")).into());
        }
    }
    let page_size = parse_bounded("pageSize", query.page_size.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let offset = match query.page.as_deref() {
        None => 0,
        Some(page) => page.trim().parse::<usize>().map_err(|_| ApiFailure::bad_request("page is not a nextPage value"))?,
    };
    let mut entries = Vec::new();
    for project in services::projects::readable_projects(state.cached(), &caller.principal).await? {
        for d in store::datasets::list(&state.db, project.id).await? {
            entries.push(FileEntry {
                kind: "dataset",
                path: format!("{}/{}", project.key, d.name),
                project: project.key.clone(),
                name: d.name,
                dataset_kind: d.kind,
                description: d.description,
                row_count: d.row_count,
                built_at: d.built_at,
            });
        }
    }
    let next = offset.saturating_add(page_size);
    let next_page = (next < entries.len()).then(|| next.to_string());
    let entries = entries.into_iter().skip(offset).take(page_size).collect();
    Ok(private_json(StatusCode::OK, &FilesPage { entries, next_page }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BuildQuery {
    /// The project key; needed only when several readable projects have a dataset so named.
    project: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildAccepted {
    pub job_id: i64,
    pub project: String,
    pub dataset: String,
    /// `queued`.
    pub status: &'static str,
    pub run_as: Person,
    /// Where to follow the job.
    pub job: String,
}

/// Starts a build of a derived dataset, run as the token's subject.
#[utoipa::path(post, path = "/v2/datasets/{name}/build", tag = "data", security(("bearer" = [])),
    params(("name" = String, Path, description = "The dataset name"), BuildQuery),
    responses((status = 202, body = BuildAccepted), (status = 403, description = "The subject may not build it (the job is recorded as Refused)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn build(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(name): Path<String>,
    query: Result<Query<BuildQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(query_error)?;
    let name = queue::validate_dataset_name(&name)?;
    let project = match query.project.as_deref() {
        Some(key) => services::projects::readable_project(state.cached(), &caller.principal, key).await?,
        None => project_with_dataset(&state, &caller, name).await?,
    };
    let execution = Execution::as_caller(caller.principal.clone());
    let started = context::run_as(execution, queue::enqueue_build(&state, &project, name)).await?;
    let body = BuildAccepted {
        job_id: started.job_id,
        project: project.key,
        dataset: started.dataset,
        status: "queued",
        run_as: Person::from(&started.run_as),
        job: format!("/v2/jobs/{}", started.job_id),
    };
    let mut response = private_json(StatusCode::ACCEPTED, &body);
    // The build wrote its own audit row, naming both people, with the job.
    response.extensions_mut().insert(SelfAudited);
    Ok(response)
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct RowsQuery {
    /// The project key; needed only when several readable projects have a dataset so named.
    project: Option<String>,
    /// Rows per page, 1 to 500 (default 100).
    page_size: Option<String>,
    /// The `nextPage` of the previous answer.
    page: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RowsPage {
    pub project: String,
    pub dataset: String,
    pub columns: Vec<String>,
    /// Each row's cells, in the order of `columns`; masked cells read `••••••`.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Columns masked for this caller.
    pub masked: Vec<String>,
    /// Pass as `page` for the next rows; absent at the end. A page may hold fewer rows than
    /// asked (even none) when the caller sees few of the rows it went through. When the dataset
    /// is rebuilt between two pages, the next one answers 409: read it again from the start.
    pub next_page: Option<String>,
}

/// A dataset's rows as the subject may see them: rows of other regions left out and masked
/// columns masked, for any token, impersonation tokens included.
#[utoipa::path(get, path = "/v2/datasets/{name}/rows", tag = "data", security(("bearer" = [])),
    params(("name" = String, Path, description = "The dataset name"), RowsQuery),
    responses((status = 200, body = RowsPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The dataset was rebuilt since the previous page", body = ErrorBody)))]
pub async fn rows(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(name): Path<String>,
    query: Result<Query<RowsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(query_error)?;
    let name = queue::validate_dataset_name(&name)?;
    let page_size = parse_bounded("pageSize", query.page_size.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    // `nextPage` is `GENERATION.ROW`: the rows of one build, read on from one row number.
    let from = match query.page.as_deref() {
        None => None,
        Some(page) => {
            let parsed = page.trim().split_once('.').and_then(|(g, r)| Some((g.parse::<i64>().ok()?, r.parse::<i64>().ok()?)));
            Some(parsed.filter(|(_, row)| *row >= 0).ok_or_else(|| ApiFailure::bad_request("page is not a nextPage value"))?)
        }
    };
    let project = match query.project.as_deref() {
        Some(key) => services::projects::readable_project(state.cached(), &caller.principal, key).await?,
        None => project_with_dataset(&state, &caller, name).await?,
    };
    let ds = store::datasets::by_name(&state.db, project.id, name)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("project {} has no dataset named {name}", project.key)))?;
    let from = match from {
        None => 0,
        Some((generation, row)) if generation == ds.generation => row,
        Some(_) => return Err(AppError::Conflict(format!("{name} was rebuilt since the previous page: read it again from the start")).into()),
    };
    let filter = services::datasets::row_filter(&state, &caller.principal, &ds).await?;
    let (rows, next) = services::datasets::rows_page(&state, &filter, &ds, from, page_size).await?;
    let columns = ds.column_names();
    let body = RowsPage {
        project: project.key,
        dataset: ds.name.clone(),
        masked: filter.masked_names(&columns),
        columns,
        rows,
        next_page: next.map(|row| format!("{}.{row}", ds.generation)),
    };
    Ok(private_json(StatusCode::OK, &body))
}

/// The one readable project holding a dataset named `name`.
async fn project_with_dataset(state: &AppState, caller: &ApiCaller, name: &str) -> Result<ProjectRow, ApiError> {
    let mut found = Vec::new();
    for project in services::projects::readable_projects(state.cached(), &caller.principal).await? {
        if store::datasets::by_name(&state.db, project.id, name).await?.is_some() {
            found.push(project);
        }
    }
    match found.len() {
        0 => Err(AppError::NotFound(format!("no dataset named {name} in a project you may read")).into()),
        1 => Ok(found.remove(0)),
        _ => Err(ApiFailure::bad_request(format!("several projects have a dataset named {name}: add ?project=KEY")).into()),
    }
}

/// A job, with the identities it ran with.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobEntry {
    pub id: i64,
    pub project: String,
    pub dataset: String,
    /// `Queued`, `Running`, `Succeeded`, `Failed` or `Refused`.
    pub status: &'static str,
    pub run_as: Person,
    pub triggered_by: Person,
    pub impersonated_by: Option<Person>,
    /// `webapp "NAME"`, `UI` or `API client ID`.
    pub via: String,
    /// Milliseconds since 1970.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub progress: f64,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub error: Option<String>,
}

impl From<&JobView> for JobEntry {
    fn from(j: &JobView) -> Self {
        JobEntry {
            id: j.id,
            project: j.project_key.clone(),
            dataset: j.dataset.clone(),
            status: j.status.label(),
            run_as: Person::from(&j.run_as),
            triggered_by: Person::from(&j.triggered_by),
            impersonated_by: j.impersonated_by.as_ref().map(Person::from),
            via: j.via.label(),
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            progress: j.progress,
            rows_in: j.rows_in,
            rows_out: j.rows_out,
            error: j.error.clone(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `true`: only jobs the subject triggered or that ran as the subject.
    only_mine: Option<bool>,
    /// At most this many jobs, 1 to 200 (default 50).
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JobList {
    pub jobs: Vec<JobEntry>,
}

/// The tenant's jobs, newest first.
#[utoipa::path(get, path = "/v2/jobs", tag = "jobs", security(("bearer" = [])), params(JobsQuery),
    responses((status = 200, body = JobList), (status = 401, body = ErrorBody)))]
pub async fn jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    query: Result<Query<JobsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(query_error)?;
    let limit = parse_bounded("limit", query.limit.as_deref(), 50, 200)?;
    let jobs = services::jobs::list(&state, &caller.principal, query.only_mine.unwrap_or(false), limit as i64).await?;
    Ok(private_json(StatusCode::OK, &JobList { jobs: jobs.jobs().iter().map(JobEntry::from).collect() }))
}

#[derive(Serialize, ToSchema)]
pub struct LogLine {
    /// Milliseconds since 1970.
    pub at: i64,
    pub level: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct JobWithLog {
    #[serde(flatten)]
    pub job: JobEntry,
    pub log: Vec<LogLine>,
}

/// One job of the tenant, with its log.
#[utoipa::path(get, path = "/v2/jobs/{id}", tag = "jobs", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The job id")),
    responses((status = 200, body = JobWithLog), (status = 404, body = ErrorBody)))]
pub async fn job(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: i64 = id.parse().map_err(|_| ApiFailure::bad_request(format!("{id:?} is not a job id")))?;
    let JobDetail { job, log } = services::jobs::detail(&state, &caller.principal, id).await?;
    let log = log.into_iter().map(|LogLineView { at, level, message }| LogLine { at, level, message }).collect();
    Ok(private_json(StatusCode::OK, &JobWithLog { job: JobEntry::from(&job), log }))
}
