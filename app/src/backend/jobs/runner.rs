//! Workers: claim queued jobs, enter the job's execution context from its row, check the
//! run-as identity again, run the recipe, publish its output atomically.

use super::build::Build;
use super::queue::refusal_message;
use super::recipes::Recipe;
use crate::backend::context::{self, Execution};
use crate::backend::rules::permissions;
use crate::backend::state::{AppState, JOB_LEASE};
use crate::backend::store::{self, jobs::JobRow, job_log::Level, now_ms, users::User};
use crate::model::{format_duration, JobEvent, JobStatus};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often an idle worker looks at the queue when nobody woke it.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Starts the configured number of workers, and the task that takes back jobs whose lease
/// ran out.
pub fn spawn_workers(state: &AppState) -> Vec<JoinHandle<()>> {
    let workers = (0..state.settings.job_workers.max(1)).map(|n| tokio::spawn(worker_loop(state.clone(), n)));
    workers.chain([tokio::spawn(requeue_expired_loop(state.clone()))]).collect()
}

/// Every third of a lease: queues again the jobs of servers that stopped renewing theirs.
async fn requeue_expired_loop(state: AppState) {
    loop {
        tokio::time::sleep(JOB_LEASE / 3).await;
        match store::jobs::requeue_expired(&state.writer, now_ms()).await {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => {
                tracing::warn!(?ids, "re-queued jobs whose server stopped renewing their lease");
                state.jobs.wake_worker();
            }
            Err(e) => tracing::error!("cannot re-queue jobs whose lease ran out: {e}"),
        }
    }
}

/// Renews the lease on a running job every third of a lease; returns only once the lease is
/// lost (the job was taken back by another server), so the caller stops the job.
async fn keep_lease(state: &AppState, id: i64) {
    loop {
        tokio::time::sleep(JOB_LEASE / 3).await;
        match store::jobs::renew_lease(&state.writer, id, &state.jobs.lease).await {
            Ok(true) => {}
            Ok(false) => return,
            // The database is away: the next renewal may still come in time, and nothing this
            // server records is kept once the lease is gone.
            Err(e) => tracing::warn!(job = id, "cannot renew the job's lease: {e}"),
        }
    }
}

/// Re-queues jobs a previous process left running and drops the rows they had half-written.
/// Runs once at start-up, before any worker.
pub async fn recover_interrupted(state: &AppState) -> Result<Vec<i64>, sqlx::Error> {
    let ids = store::jobs::requeue_interrupted(&state.writer).await?;
    store::datasets::discard_orphan_generations(&state.writer).await?;
    if !ids.is_empty() {
        tracing::warn!(?ids, "re-queued jobs interrupted by a restart");
    }
    Ok(ids)
}

async fn worker_loop(state: AppState, worker: usize) {
    loop {
        match store::jobs::claim_next(&state.writer, &state.jobs.lease).await {
            Ok(Some(job)) => run_claimed(&state, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = state.jobs.wait_for_work() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(e) => {
                tracing::error!(worker, "cannot claim a job: {e}");
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }
}

enum JobEnd {
    Refused(String),
    Failed(String),
}

struct Counts {
    rows_in: i64,
    rows_out: i64,
    /// The dataset built.
    dataset: String,
}

/// Runs one claimed job to its end and records the outcome.
pub async fn run_claimed(state: &AppState, job: JobRow) {
    let started = now_ms();
    state.jobs.publish(
        job.tenant_id,
        JobEvent { job_id: job.id, status: JobStatus::Running, progress: 0.0, rows_in: None, rows_out: None },
    );
    let outcome = tokio::select! {
        outcome = AssertUnwindSafe(execute(state, &job)).catch_unwind() => outcome,
        () = keep_lease(state, job.id) => {
            tracing::warn!(job = job.id, "stopped the job: its lease ran out and it was queued again");
            return;
        }
    };
    let (status, counts, error) = match outcome {
        Ok(Ok(counts)) => (JobStatus::Succeeded, Some(counts), None),
        Ok(Err(JobEnd::Refused(msg))) => (JobStatus::Refused, None, Some(msg)),
        Ok(Err(JobEnd::Failed(msg))) => (JobStatus::Failed, None, Some(msg)),
        Err(_) => (JobStatus::Failed, None, Some("the build crashed; see the server log".to_string())),
    };
    if status != JobStatus::Succeeded {
        if let Err(e) = store::datasets::discard_generation(&state.writer, job.dataset_id, job.id).await {
            tracing::warn!(job = job.id, "cannot discard unpublished rows: {e}");
        }
    }
    let (rows_in, rows_out) = match &counts {
        Some(c) => (Some(c.rows_in), Some(c.rows_out)),
        None => (None, None),
    };
    let line = match (&error, &counts) {
        (Some(msg), _) => format!("{}: {msg}", status.label()),
        (None, Some(c)) => format!(
            "Succeeded: {} rows in, {} rows out, in {}",
            c.rows_in,
            c.rows_out,
            format_duration(now_ms() - started)
        ),
        (None, None) => status.label().to_string(),
    };
    let level = if error.is_some() { Level::Error } else { Level::Info };
    // The output is published with the job's end, in one unit of work.
    let published = counts.as_ref().map(|c| store::jobs::Published {
        dataset_id: job.dataset_id,
        row_count: c.rows_out,
        line: format!("Published {} rows as {}", c.rows_out, c.dataset),
    });
    let end = store::jobs::Finished { status, rows_in, rows_out, error, level, line, published };
    if let Err(e) = store::jobs::finish(&state.writer, job.id, &state.jobs.lease, end).await {
        tracing::error!(job = job.id, "cannot record the end of a job: {e}");
    }
    state.jobs.publish(
        job.tenant_id,
        JobEvent { job_id: job.id, status, progress: if counts.is_some() { 1.0 } else { 0.0 }, rows_in, rows_out },
    );
}

/// One of the job's people, of the job's tenant.
async fn load_user(state: &AppState, tenant_id: i64, id: i64) -> Result<User, JobEnd> {
    store::users::in_tenant(&state.db, tenant_id, id)
        .await
        .map_err(|e| JobEnd::Failed(format!("cannot load user {id}: {e}")))?
        .ok_or_else(|| JobEnd::Failed(format!("user {id} no longer exists in the job's tenant")))
}

/// Rebuilds the job's execution context from its row and runs the build inside it.
async fn execute(state: &AppState, job: &JobRow) -> Result<Counts, JobEnd> {
    let run_as = load_user(state, job.tenant_id, job.run_as_user_id).await?;
    let triggered_by = load_user(state, job.tenant_id, job.triggered_by_user_id).await?;
    let impersonated_by = match job.impersonated_by_user_id {
        Some(id) => Some(load_user(state, job.tenant_id, id).await?),
        None => None,
    };
    let execution = Execution::of_job(run_as, triggered_by, impersonated_by, job.via());
    context::run_as(execution, build_in_context(state, job)).await
}

async fn build_in_context(state: &AppState, job: &JobRow) -> Result<Counts, JobEnd> {
    let execution = context::current().ok_or_else(|| JobEnd::Failed("no execution context".into()))?;
    let run_as = &execution.run_as;
    let db = &state.db;
    let failed = |e: sqlx::Error| JobEnd::Failed(format!("database: {e}"));
    let dataset = store::datasets::by_id(db, job.dataset_id)
        .await
        .map_err(failed)?
        .ok_or_else(|| JobEnd::Failed("the dataset no longer exists".into()))?;
    let project_tenant = job.tenant_id;
    let grants = store::projects::grants_of(db, dataset.project_id, run_as.id).await.map_err(failed)?;
    if let Err(refusal) = permissions::may_build(run_as, project_tenant, grants) {
        return Err(JobEnd::Refused(refusal_message(run_as, &dataset.name, refusal)));
    }
    let recipe = dataset
        .recipe
        .as_deref()
        .and_then(Recipe::find)
        .ok_or_else(|| JobEnd::Failed(format!("{} has no known recipe", dataset.name)))?;

    let mut build = Build::new(state, job.id, job.tenant_id, dataset);
    let mut who = format!("as {} ({})", run_as.display_name, run_as.email);
    if execution.caller.subject().id != run_as.id {
        who.push_str(&format!(", triggered by {}", execution.caller.subject().display_name));
    }
    if let Some(actor) = &execution.caller.actor() {
        who.push_str(&format!(", impersonated by {}", actor.display_name));
    }
    let start_line = format!(
        "Building {} with recipe {} {who}, via {}{}",
        build.target.name,
        recipe.name(),
        execution.via.label(),
        if job.attempts > 1 { format!(" (attempt {})", job.attempts) } else { String::new() }
    );
    build.log(Level::Info, &start_line).await;

    recipe.run(&mut build).await.map_err(JobEnd::Failed)?;

    Ok(Counts { rows_in: build.rows_in, rows_out: build.rows_out, dataset: build.target.name })
}
