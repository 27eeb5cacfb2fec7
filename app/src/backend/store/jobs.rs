use super::{audit, datasets, execute, job_log, now_ms, params, query_map, query_row, Conn, Db, Optional, Row, SqlResult, UnitError, Writer};
use crate::backend::audit::AuditEntry;
use crate::model::{JobStatus, JobView, UserView, Via};

/// The identities and origin a job is created with.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub tenant_id: i64,
    pub dataset_id: i64,
    pub run_as_user_id: i64,
    pub triggered_by_user_id: i64,
    pub impersonated_by_user_id: Option<i64>,
    pub via: Via,
    pub webapp_id: Option<i64>,
}

/// What a worker needs to run a job.
#[derive(Clone, Debug)]
pub struct JobRow {
    pub id: i64,
    pub tenant_id: i64,
    pub dataset_id: i64,
    pub run_as_user_id: i64,
    pub triggered_by_user_id: i64,
    pub impersonated_by_user_id: Option<i64>,
    pub via_kind: String,
    pub via_label: String,
    pub attempts: i64,
}

impl JobRow {
    /// A job from a row of `id, tenant_id, dataset_id, run_as_user_id, triggered_by_user_id,
    /// impersonated_by_user_id, via_kind, via_label, attempts`.
    fn read(r: &Row<'_>) -> SqlResult<JobRow> {
        Ok(JobRow {
            id: r.get(0)?,
            tenant_id: r.get(1)?,
            dataset_id: r.get(2)?,
            run_as_user_id: r.get(3)?,
            triggered_by_user_id: r.get(4)?,
            impersonated_by_user_id: r.get(5)?,
            via_kind: r.get(6)?,
            via_label: r.get(7)?,
            attempts: r.get(8)?,
        })
    }

    pub fn via(&self) -> Via {
        via_from_db(&self.via_kind, &self.via_label)
    }
}

fn via_to_db(via: &Via) -> (&'static str, String) {
    match via {
        Via::Webapp { name } => ("webapp", name.clone()),
        Via::Ui => ("ui", String::new()),
        Via::ApiClient { client_id } => ("api", client_id.clone()),
    }
}

fn via_from_db(kind: &str, label: &str) -> Via {
    match kind {
        "webapp" => Via::Webapp { name: label.to_string() },
        "api" => Via::ApiClient { client_id: label.to_string() },
        _ => Via::Ui,
    }
}

/// Records a job: queued, or refused with its reason. The job, its first log line and its
/// audit row (when the work is audited) commit together.
pub async fn insert(
    writer: &Writer,
    job: &NewJob,
    refused: Option<&str>,
    audit_entry: Option<&AuditEntry>,
) -> Result<i64, sqlx::Error> {
    let (job, refused, audit_entry) = (job.clone(), refused.map(str::to_string), audit_entry.cloned());
    writer
        .run(move |tx| {
            let id = insert_in(tx, &job, refused.as_deref())?;
            if let Some(entry) = audit_entry {
                let entry = AuditEntry { target: format!("{} (job #{id})", entry.target), ..entry };
                audit::append(tx, &entry)?;
            }
            Ok(id)
        })
        .await
}

fn insert_in(tx: &Conn, job: &NewJob, refused: Option<&str>) -> SqlResult<i64> {
    let (via_kind, via_label) = via_to_db(&job.via);
    let now = now_ms();
    let status = if refused.is_some() { JobStatus::Refused } else { JobStatus::Queued };
    let id: i64 = query_row(
        tx,
        "INSERT INTO jobs (tenant_id, dataset_id, status, run_as_user_id, triggered_by_user_id,
                           impersonated_by_user_id, via_kind, via_label, webapp_id, created_at,
                           finished_at, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            job.tenant_id,
            job.dataset_id,
            status.as_db(),
            job.run_as_user_id,
            job.triggered_by_user_id,
            job.impersonated_by_user_id,
            via_kind,
            via_label,
            job.webapp_id,
            now,
            refused.map(|_| now),
            refused,
        ],
        |row| row.get(0),
    )?;
    match refused {
        Some(reason) => job_log::append_in(tx, id, job_log::Level::Error, &format!("Refused: {reason}"))?,
        None => job_log::append_in(tx, id, job_log::Level::Info, "Queued")?,
    }
    Ok(id)
}

/// A server's hold on the jobs it runs: who holds them (one name per server process) and for
/// how long a claim or renewal lasts. A job whose lease runs out is queued again by any server
/// (`requeue_expired`); only the holder may record the job's progress, output and end.
#[derive(Clone, Debug)]
pub struct Lease {
    pub owner: String,
    pub millis: i64,
}

/// Why a server may no longer record a job: its lease ran out and the job was queued again.
fn lease_lost(id: i64) -> UnitError {
    UnitError::Other(sqlx::Error::Protocol(format!("job #{id} is no longer leased to this server")))
}

/// Takes the oldest queued job, marks it running and leases it; each job is claimed by one
/// worker only (on PostgreSQL, servers claiming at once skip each other's row).
pub async fn claim_next(writer: &Writer, lease: &Lease) -> Result<Option<JobRow>, sqlx::Error> {
    /// The claim, given how the oldest queued row is picked.
    macro_rules! claim {
        ($pick:literal) => {
            concat!(
                "UPDATE jobs SET status = 'running', started_at = ?1, progress = 0, attempts = attempts + 1,
                                 lease_owner = ?2, lease_expires_at = ?3
                 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1",
                $pick,
                ") AND status = 'queued'
                 RETURNING id, tenant_id, dataset_id, run_as_user_id, triggered_by_user_id,
                           impersonated_by_user_id, via_kind, via_label, attempts"
            )
        };
    }
    const CLAIM: &str = claim!("");
    const CLAIM_SKIPPING_LOCKED: &str = claim!(" FOR UPDATE SKIP LOCKED");
    let lease = lease.clone();
    writer
        .run(move |tx| {
            let claim = if tx.is_postgres() { CLAIM_SKIPPING_LOCKED } else { CLAIM };
            let now = now_ms();
            let claimed = query_row(tx, claim, params![now, lease.owner, now + lease.millis], JobRow::read);
            Ok(claimed.optional()?)
        })
        .await
}

/// Extends the lease on a running job; `false` when it is no longer this server's.
pub async fn renew_lease(writer: &Writer, id: i64, lease: &Lease) -> Result<bool, sqlx::Error> {
    let lease = lease.clone();
    writer
        .run(move |tx| {
            let renewed = execute(
                tx,
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
                params![now_ms() + lease.millis, id, lease.owner],
            )?;
            Ok(renewed == 1)
        })
        .await
}

/// Queues again the running jobs whose lease ran out before `now` (their server stopped, or
/// lost the database for longer than a lease), with a log line saying so, and drops the rows
/// their builds had half-written. Returns their ids.
pub async fn requeue_expired(writer: &Writer, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    writer.run(move |tx| Ok(requeue_expired_in(tx, now)?)).await
}

fn requeue_expired_in(tx: &Conn, now: i64) -> SqlResult<Vec<i64>> {
    let jobs: Vec<(i64, i64)> = query_map(
        tx,
        "UPDATE jobs SET status = 'queued', started_at = NULL, progress = 0, rows_in = NULL, rows_out = NULL,
                         lease_owner = NULL, lease_expires_at = NULL
         WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < ?)
         RETURNING id, dataset_id",
        params![now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    for (id, dataset_id) in &jobs {
        let line = "The server running this job stopped renewing its lease; it was queued again";
        job_log::append_in(tx, *id, job_log::Level::Warn, line)?;
        super::datasets::discard_generation_in(tx, *dataset_id, *id)?;
    }
    Ok(jobs.into_iter().map(|(id, _)| id).collect())
}

pub async fn set_progress(
    writer: &Writer,
    id: i64,
    lease: &Lease,
    progress: f64,
    rows_in: Option<i64>,
    rows_out: Option<i64>,
) -> Result<(), sqlx::Error> {
    let owner = lease.owner.clone();
    writer
        .run(move |tx| {
            execute(
                tx,
                "UPDATE jobs SET progress = ?, rows_in = ?, rows_out = ?
                 WHERE id = ? AND status = 'running' AND lease_owner = ?",
                params![progress, rows_in, rows_out, id, owner],
            )?;
            Ok(())
        })
        .await
}

/// How a running job ended.
#[derive(Clone, Debug)]
pub struct Finished {
    pub status: JobStatus,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub error: Option<String>,
    /// The last line of its log.
    pub level: job_log::Level,
    pub line: String,
    /// A build's output, published as the job ends.
    pub published: Option<Published>,
}

/// The generation a job wrote (numbered by the job), made its dataset's visible one.
#[derive(Clone, Debug)]
pub struct Published {
    pub dataset_id: i64,
    pub row_count: i64,
    /// The log line that says so.
    pub line: String,
}

/// Ends a running job with its final status, counts, error and last log line, and publishes
/// its output, together; refused when the job is no longer leased to this server (another one
/// runs it now).
pub async fn finish(writer: &Writer, id: i64, lease: &Lease, end: Finished) -> Result<(), sqlx::Error> {
    let owner = lease.owner.clone();
    writer
        .run(move |tx| {
            let progress = if end.status == JobStatus::Succeeded { 1.0 } else { 0.0 };
            let ended = execute(
                tx,
                "UPDATE jobs SET status = ?, finished_at = ?, rows_in = ?, rows_out = ?, error = ?,
                                 progress = CASE WHEN ? > 0 THEN ? ELSE progress END,
                                 lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ? AND status = 'running' AND lease_owner = ?",
                params![end.status.as_db(), now_ms(), end.rows_in, end.rows_out, end.error, progress, progress, id, owner],
            )?;
            if ended == 0 {
                return Err(lease_lost(id));
            }
            if let Some(published) = &end.published {
                datasets::publish_generation_in(tx, published.dataset_id, id, published.row_count, now_ms())?;
                job_log::append_in(tx, id, job_log::Level::Info, &published.line)?;
            }
            job_log::append_in(tx, id, end.level, &end.line)?;
            Ok(())
        })
        .await
}

/// Puts jobs left `running` by a stopped server back in the queue, with a log line saying so.
/// Returns their ids. Only for an engine one server uses (SQLite): on PostgreSQL other servers
/// may be running them, and `requeue_expired` takes back only those whose lease ran out.
pub async fn requeue_interrupted(writer: &Writer) -> Result<Vec<i64>, sqlx::Error> {
    writer
        .run(|tx| {
            if tx.is_postgres() {
                return Ok(requeue_expired_in(tx, now_ms())?);
            }
            let ids: Vec<i64> = query_map(
                tx,
                "UPDATE jobs SET status = 'queued', started_at = NULL, progress = 0,
                                 rows_in = NULL, rows_out = NULL, lease_owner = NULL, lease_expires_at = NULL
                 WHERE status = 'running' RETURNING id",
                params![],
                |row| row.get(0),
            )?;
            for id in &ids {
                let line = "The server stopped while this job was running; it was queued again";
                job_log::append_in(tx, *id, job_log::Level::Warn, line)?;
            }
            Ok(ids)
        })
        .await
}

/// A job as pages show it, from a row of `view_select!`.
fn job_view(r: &Row<'_>) -> SqlResult<JobView> {
    let person = |at: usize| -> SqlResult<UserView> {
        Ok(UserView { id: r.get(at)?, email: r.get(at + 1)?, display_name: r.get(at + 2)? })
    };
    let status = r.with_text(3, |word| JobStatus::from_db(word).unwrap_or(JobStatus::Failed))?;
    let via = r.with_text(13, |kind| r.with_text(14, |label| via_from_db(kind, label)))??;
    let impersonated_by = match r.get::<Option<i64>>(10)? {
        Some(_) => Some(person(10)?),
        None => None,
    };
    Ok(JobView {
        id: r.get(0)?,
        project_key: r.get(1)?,
        dataset: r.get(2)?,
        status,
        run_as: person(4)?,
        triggered_by: person(7)?,
        impersonated_by,
        via,
        created_at: r.get(15)?,
        started_at: r.get(16)?,
        finished_at: r.get(17)?,
        progress: r.get(18)?,
        rows_in: r.get(19)?,
        rows_out: r.get(20)?,
        error: r.get(21)?,
    })
}

/// Columns in the order `job_view` reads them. A macro, so that each query's text is put
/// together at compile time rather than on every call.
macro_rules! view_select {
    () => {
        "
    SELECT j.id, p.key, d.name, j.status,
           ra.id, ra.email, ra.display_name,
           tb.id, tb.email, tb.display_name,
           ib.id, ib.email, ib.display_name,
           j.via_kind, j.via_label, j.created_at, j.started_at, j.finished_at, j.progress,
           j.rows_in, j.rows_out, j.error
    FROM jobs j
    JOIN datasets d ON d.id = j.dataset_id
    JOIN projects p ON p.id = d.project_id
    JOIN users ra ON ra.id = j.run_as_user_id
    JOIN users tb ON tb.id = j.triggered_by_user_id
    LEFT JOIN users ib ON ib.id = j.impersonated_by_user_id"
    };
}

/// Which jobs of a tenant to list.
#[derive(Clone, Debug, Default, Hash, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs this user triggered or that ran as them.
    pub user_id: Option<i64>,
    pub webapp_id: Option<i64>,
    pub limit: i64,
}

/// Jobs of a tenant, newest first (read inline: the jobs page shows up to a few hundred rows,
/// and handing each value across the read pool's thread cost more than the query).
pub async fn list(db: &Db, tenant_id: i64, filter: &JobFilter) -> Result<Vec<JobView>, sqlx::Error> {
    let filter = filter.clone();
    db.read_inline(move |conn| list_in(conn, tenant_id, &filter)).await
}

/// `list` on a connection the caller holds.
pub(super) fn list_in(conn: &Conn, tenant_id: i64, filter: &JobFilter) -> SqlResult<Vec<JobView>> {
    const SQL: &str = concat!(
        view_select!(),
        "
         WHERE j.tenant_id = ?1
           AND (?2 IS NULL OR j.triggered_by_user_id = ?2 OR j.run_as_user_id = ?2)
           AND (?3 IS NULL OR j.webapp_id = ?3)
         ORDER BY j.id DESC LIMIT ?4"
    );
    query_map(conn, SQL, params![tenant_id, filter.user_id, filter.webapp_id, filter.limit], job_view)
}

/// One job, only if it belongs to the tenant.
pub async fn view(db: &Db, tenant_id: i64, id: i64) -> Result<Option<JobView>, sqlx::Error> {
    const SQL: &str = concat!(view_select!(), " WHERE j.tenant_id = ?1 AND j.id = ?2");
    db.read_inline(move |conn| query_row(conn, SQL, params![tenant_id, id], job_view).optional()).await
}

/// Every job's identities, for checks that each job names its own user.
pub async fn all_identities(db: &Db) -> Result<Vec<JobRow>, sqlx::Error> {
    db.read(|c| {
        query_map(
            c,
            "SELECT id, tenant_id, dataset_id, run_as_user_id, triggered_by_user_id,
                    impersonated_by_user_id, via_kind, via_label, attempts
             FROM jobs ORDER BY id",
            params![],
            JobRow::read,
        )
    })
    .await
}

/// How many jobs are in each state (for tests, the CLI and waiting in scripts).
pub async fn count_with_status(db: &Db, status: JobStatus) -> Result<i64, sqlx::Error> {
    db.read(move |c| query_row(c, "SELECT COUNT(*) FROM jobs WHERE status = ?", params![status.as_db()], |r| r.get(0))).await
}
