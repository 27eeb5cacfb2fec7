//! What a recipe sees while it runs: its inputs, its output generation, progress and log.

use crate::backend::state::AppState;
use crate::backend::store::{self, datasets::DatasetRow, job_log::Level};
use crate::model::{JobEvent, JobStatus};
use serde_json::Value;

pub type Row = Vec<Value>;

/// Rows read from an input at a time: a build holds one page of a large input, not all of it.
/// A page of 5,000 rows held 8–10 MB per running build while it was read, parsed and written
/// out again (the enqueue scenario of `make bench` with one, two and four workers).
const PAGE: i64 = 1_000;

/// An input dataset being read page by page.
pub struct Input {
    dataset: DatasetRow,
    next_row: i64,
    read: i64,
}

impl Input {
    /// Its rows, as counted when it was last built (for progress).
    pub fn row_count(&self) -> i64 {
        self.dataset.row_count
    }
}

pub struct Build<'a> {
    state: &'a AppState,
    pub job_id: i64,
    tenant_id: i64,
    pub target: DatasetRow,
    /// The generation being written; invisible until the runner publishes it.
    pub generation: i64,
    pub rows_in: i64,
    pub rows_out: i64,
    reported: f64,
}

impl<'a> Build<'a> {
    pub fn new(state: &'a AppState, job_id: i64, tenant_id: i64, target: DatasetRow) -> Self {
        Build { state, job_id, tenant_id, target, generation: job_id, rows_in: 0, rows_out: 0, reported: 0.0 }
    }

    /// Opens an input dataset of the same project, to read page by page.
    pub async fn open_input(&mut self, name: &str) -> Result<Input, String> {
        let dataset = store::datasets::by_name(&self.state.db, self.target.project_id, name)
            .await
            .map_err(|e| format!("cannot read {name}: {e}"))?
            .ok_or_else(|| format!("input dataset {name} does not exist"))?;
        Ok(Input { dataset, next_row: 0, read: 0 })
    }

    /// The next page of an input (at most `PAGE` rows), or `None` after its last row.
    pub async fn next_page(&mut self, input: &mut Input) -> Result<Option<Vec<Row>>, String> {
        let name = &input.dataset.name;
        let raw = store::datasets::read_page(&self.state.db, &input.dataset, input.next_row, PAGE)
            .await
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        let Some((last, _)) = raw.last() else { return Ok(None) };
        input.next_row = last + 1;
        let mut rows = Vec::with_capacity(raw.len());
        for (row_no, text) in &raw {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(row)) => rows.push(row),
                _ => return Err(format!("{name} row {} is not a valid row", row_no + 1)),
            }
        }
        input.read += rows.len() as i64;
        self.rows_in += rows.len() as i64;
        Ok(Some(rows))
    }

    /// Once an input is read to its end: makes sure no new generation replaced the one read
    /// (its pages would not add up), and logs how many rows were read.
    pub async fn finish_input(&self, input: &Input) -> Result<(), String> {
        let name = &input.dataset.name;
        let now = store::datasets::by_id(&self.state.db, input.dataset.id)
            .await
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        if now.map(|d| d.generation) != Some(input.dataset.generation) {
            return Err(format!("{name} was rebuilt while this build read it; build again"));
        }
        self.log(Level::Info, &format!("Read {} rows from {name}", input.read)).await;
        Ok(())
    }

    /// Reads every row of a (small) input dataset of the same project.
    pub async fn read_input(&mut self, name: &str) -> Result<Vec<Row>, String> {
        let mut input = self.open_input(name).await?;
        let mut rows = Vec::new();
        while let Some(page) = self.next_page(&mut input).await? {
            rows.extend(page);
        }
        self.finish_input(&input).await?;
        Ok(rows)
    }

    /// Appends output rows to the unpublished generation.
    pub async fn write(&mut self, rows: &[Row]) -> Result<(), String> {
        store::datasets::append_rows(&self.state.writer, self.target.id, self.generation, &self.state.jobs.lease.owner, self.rows_out, rows)
            .await
            .map_err(|e| format!("cannot write {}: {e}", self.target.name))?;
        self.rows_out += rows.len() as i64;
        Ok(())
    }

    /// Reports progress (0..1); only steps of 2% or more reach the database and browsers.
    pub async fn progress(&mut self, fraction: f64) {
        let fraction = fraction.clamp(0.0, 1.0);
        if fraction - self.reported < 0.02 {
            return;
        }
        self.reported = fraction;
        let (rows_in, rows_out) = (Some(self.rows_in), Some(self.rows_out));
        if let Err(e) = store::jobs::set_progress(&self.state.writer, self.job_id, &self.state.jobs.lease, fraction, rows_in, rows_out).await {
            tracing::warn!(job = self.job_id, "cannot record progress: {e}");
        }
        self.state.jobs.publish(
            self.tenant_id,
            JobEvent { job_id: self.job_id, status: JobStatus::Running, progress: fraction, rows_in, rows_out },
        );
    }

    pub async fn log(&self, level: Level, message: &str) {
        if let Err(e) = store::job_log::append(&self.state.writer, self.job_id, level, message).await {
            tracing::warn!(job = self.job_id, "cannot write job log line {message:?}: {e}");
        }
    }
}
