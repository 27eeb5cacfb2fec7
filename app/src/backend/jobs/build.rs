//! What a recipe sees while it runs: its inputs, its output generation, progress and log.

use crate::backend::state::AppState;
use crate::backend::store::{self, datasets::DatasetRow, job_log::Level};
use crate::model::{JobEvent, JobStatus};
use serde_json::Value;

pub type Row = Vec<Value>;

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

    /// Reads every row of an input dataset of the same project.
    pub async fn read_input(&mut self, name: &str) -> Result<Vec<Row>, String> {
        let db = &self.state.db;
        let input = store::datasets::by_name(db, self.target.project_id, name)
            .await
            .map_err(|e| format!("cannot read {name}: {e}"))?
            .ok_or_else(|| format!("input dataset {name} does not exist"))?;
        let raw = store::datasets::read_rows(db, &input).await.map_err(|e| format!("cannot read {name}: {e}"))?;
        let mut rows = Vec::with_capacity(raw.len());
        for (i, text) in raw.iter().enumerate() {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(row)) => rows.push(row),
                _ => return Err(format!("{name} row {} is not a valid row", i + 1)),
            }
        }
        self.rows_in += rows.len() as i64;
        self.log(Level::Info, &format!("Read {} rows from {name}", rows.len())).await;
        Ok(rows)
    }

    /// Appends output rows to the unpublished generation.
    pub async fn write(&mut self, rows: &[Row]) -> Result<(), String> {
        store::datasets::append_rows(&self.state.writer, self.target.id, self.generation, self.rows_out, rows)
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
        if let Err(e) = store::jobs::set_progress(&self.state.writer, self.job_id, fraction, rows_in, rows_out).await {
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
