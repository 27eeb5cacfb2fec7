use super::{execute, params, query_map, query_row, Conn, Db, Optional, Param, Row, SqlResult, UnitResult, Writer};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct DatasetRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub kind: String,
    pub recipe: Option<String>,
    pub description: String,
    pub columns: String,
    pub generation: i64,
    pub row_count: i64,
    pub built_at: Option<i64>,
}

impl DatasetRow {
    pub fn column_names(&self) -> Vec<String> {
        serde_json::from_str(&self.columns).unwrap_or_default()
    }
}

/// `SELECT` of a dataset's columns, in the order `dataset` reads them.
macro_rules! select_dataset {
    () => {
        "SELECT id, project_id, name, kind, recipe, description, columns, generation, row_count, built_at FROM datasets"
    };
}

fn dataset(r: &Row<'_>) -> SqlResult<DatasetRow> {
    Ok(DatasetRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        recipe: r.get(4)?,
        description: r.get(5)?,
        columns: r.get(6)?,
        generation: r.get(7)?,
        row_count: r.get(8)?,
        built_at: r.get(9)?,
    })
}

pub struct NewDataset<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub recipe: Option<&'a str>,
    pub description: &'a str,
    pub columns: &'a [&'a str],
}

pub fn insert(tx: &Conn, ds: &NewDataset<'_>) -> SqlResult<i64> {
    let columns = serde_json::to_string(ds.columns).unwrap_or_else(|_| "[]".into());
    query_row(
        tx,
        "INSERT INTO datasets (project_id, name, kind, recipe, description, columns)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        params![
            ds.project_id,
            ds.name,
            if ds.recipe.is_some() { "derived" } else { "raw" },
            ds.recipe,
            ds.description,
            columns,
        ],
        |row| row.get(0),
    )
}

pub async fn by_name(db: &Db, project_id: i64, name: &str) -> Result<Option<DatasetRow>, sqlx::Error> {
    let name = name.to_string();
    db.read(move |c| {
        query_row(c, concat!(select_dataset!(), " WHERE project_id = ? AND name = ?"), params![project_id, name], dataset).optional()
    })
    .await
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<DatasetRow>, sqlx::Error> {
    db.read(move |c| query_row(c, concat!(select_dataset!(), " WHERE id = ?"), params![id], dataset).optional()).await
}

pub async fn list(db: &Db, project_id: i64) -> Result<Vec<DatasetRow>, sqlx::Error> {
    db.read(move |c| query_map(c, concat!(select_dataset!(), " WHERE project_id = ? ORDER BY kind DESC, name"), params![project_id], dataset))
        .await
}

/// Up to `limit` rows of a dataset's current generation from row number `from` on, in order,
/// each with its number.
pub async fn read_page(db: &Db, ds: &DatasetRow, from: i64, limit: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let (id, generation) = (ds.id, ds.generation);
    db.read(move |c| {
        query_map(
            c,
            "SELECT row_no, data FROM dataset_rows WHERE dataset_id = ? AND generation = ? AND row_no >= ?
             ORDER BY row_no LIMIT ?",
            params![id, generation, from, limit],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })
    .await
}

/// The first `limit` rows of the current generation.
pub async fn first_rows(db: &Db, ds: &DatasetRow, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let (id, generation) = (ds.id, ds.generation);
    db.read(move |c| {
        query_map(
            c,
            "SELECT data FROM dataset_rows WHERE dataset_id = ? AND generation = ? ORDER BY row_no LIMIT ?",
            params![id, generation, limit],
            |r| r.get(0),
        )
    })
    .await
}

/// Rows appended by one unit of work: a long build never keeps other writers waiting long.
const ROWS_PER_UNIT: usize = 1_000;

/// Rows as the JSON text they are stored as.
fn row_texts(rows: &[Vec<Value>]) -> Result<Vec<String>, sqlx::Error> {
    rows.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Appends rows (JSON arrays) to a generation that is not visible yet, one unit of work per
/// chunk, while the job building it is leased to `lease_owner` (see `publish_generation_in`).
/// Each chunk goes to the writer as text, made here: the one writer thread only inserts, and
/// holds no copy of the caller's rows.
pub async fn append_rows(
    writer: &Writer,
    dataset_id: i64,
    generation: i64,
    lease_owner: &str,
    first_row_no: i64,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    for (chunk_no, chunk) in rows.chunks(ROWS_PER_UNIT).enumerate() {
        let first = first_row_no + (chunk_no * ROWS_PER_UNIT) as i64;
        let texts = row_texts(chunk)?;
        let lease_owner = lease_owner.to_string();
        writer
            .run(move |tx| {
                check_leased(tx, generation, &lease_owner)?;
                Ok(append_row_texts_on(tx, dataset_id, generation, first, &texts)?)
            })
            .await?;
    }
    Ok(())
}

/// Refuses to write a generation whose job (the generation's number) is no longer leased to
/// `lease_owner`: the job was queued again, and the server running it now writes its own rows
/// under the same number.
fn check_leased(tx: &Conn, generation: i64, lease_owner: &str) -> UnitResult<()> {
    let leased = query_row(
        tx,
        "SELECT id FROM jobs WHERE id = ? AND status = 'running' AND lease_owner = ?",
        params![generation, lease_owner],
        |row| row.get::<i64>(0),
    )
    .optional()?;
    match leased {
        Some(_) => Ok(()),
        None => {
            let lost = format!("job #{generation} is no longer leased to this server; its output was not kept");
            Err(sqlx::Error::Protocol(lost).into())
        }
    }
}

/// Rows one PostgreSQL insert carries (four parameters each, far below its limit of 65,535).
const ROWS_PER_POSTGRES_INSERT: usize = 1_000;

/// Appends rows inside the caller's unit of work (the seed writes inside one).
pub fn append_rows_on(tx: &Conn, dataset_id: i64, generation: i64, first_row_no: i64, rows: &[Vec<Value>]) -> SqlResult<()> {
    append_row_texts_on(tx, dataset_id, generation, first_row_no, &row_texts(rows)?)
}

/// Appends rows already written as JSON text, numbered from `first_row_no`.
fn append_row_texts_on(tx: &Conn, dataset_id: i64, generation: i64, first_row_no: i64, texts: &[String]) -> SqlResult<()> {
    let insert = |rows: usize| {
        format!("INSERT INTO dataset_rows (dataset_id, generation, row_no, data) VALUES {}", vec!["(?, ?, ?, ?)"; rows].join(", "))
    };
    let row_nos: Vec<i64> = (first_row_no..).take(texts.len()).collect();
    // SQLite runs in this process: a prepared insert per row costs nothing to repeat. Each
    // statement to PostgreSQL is a round trip: a page of rows goes in a few statements.
    let per_statement = if tx.is_postgres() { ROWS_PER_POSTGRES_INSERT } else { 1 };
    let full = insert(per_statement);
    for (row_nos, texts) in row_nos.chunks(per_statement).zip(texts.chunks(per_statement)) {
        let sql = if texts.len() == per_statement { std::borrow::Cow::Borrowed(&full) } else { std::borrow::Cow::Owned(insert(texts.len())) };
        let params: Vec<&dyn Param> = row_nos
            .iter()
            .zip(texts)
            .flat_map(|(row_no, data)| [&dataset_id as &dyn Param, &generation, row_no, data])
            .collect();
        execute(tx, &sql, &params)?;
    }
    Ok(())
}

/// Makes a fully written generation the visible one and drops the one it replaces, inside the
/// unit of work that ends the job building it (`jobs::finish`, which checks the job is still
/// leased to this server): a generation is numbered by its job, so a job that published its
/// output has also ended, and is never run again to write the same generation twice.
pub fn publish_generation_in(tx: &Conn, dataset_id: i64, generation: i64, row_count: i64, built_at: i64) -> SqlResult<()> {
    // On PostgreSQL another server may publish the same dataset at once: the row is locked
    // before it is read, so the second publish drops the first one's rows, not the rows both
    // replaced (SQLite's one writer publishes one at a time).
    let lock = if tx.is_postgres() { " FOR UPDATE" } else { "" };
    let current = format!("SELECT generation FROM datasets WHERE id = ?{lock}");
    let old: i64 = query_row(tx, &current, params![dataset_id], |row| row.get(0))?;
    execute(
        tx,
        "UPDATE datasets SET generation = ?, row_count = ?, built_at = ? WHERE id = ?",
        params![generation, row_count, built_at, dataset_id],
    )?;
    execute(tx, "DELETE FROM dataset_rows WHERE dataset_id = ? AND generation = ?", params![dataset_id, old])?;
    Ok(())
}

/// Sets the visible generation's row count (used by the seed after writing generation 0).
pub fn set_row_count(tx: &Conn, dataset_id: i64, row_count: i64, at: i64) -> SqlResult<()> {
    execute(tx, "UPDATE datasets SET row_count = ?, built_at = ? WHERE id = ?", params![row_count, at, dataset_id]).map(|_| ())
}

/// Removes the rows of a generation that will never be published (a failed build).
pub async fn discard_generation(writer: &Writer, dataset_id: i64, generation: i64) -> Result<(), sqlx::Error> {
    writer.run(move |tx| Ok(discard_generation_in(tx, dataset_id, generation)?)).await
}

/// Removes the rows of an unpublished generation inside the caller's unit of work.
pub fn discard_generation_in(tx: &Conn, dataset_id: i64, generation: i64) -> SqlResult<()> {
    execute(
        tx,
        "DELETE FROM dataset_rows WHERE dataset_id = ? AND generation = ?
           AND generation <> (SELECT generation FROM datasets WHERE id = ?)",
        params![dataset_id, generation, dataset_id],
    )?;
    Ok(())
}

/// Removes rows of unpublished generations left by a crash. Only safe while no build runs:
/// on PostgreSQL other servers may be building, and the rows of a job whose lease ran out go
/// when it is queued again (`jobs::requeue_expired`).
pub async fn discard_orphan_generations(writer: &Writer) -> Result<u64, sqlx::Error> {
    writer
        .run(|tx| {
            if tx.is_postgres() {
                return Ok(0);
            }
            let removed = execute(
                tx,
                "DELETE FROM dataset_rows WHERE generation <>
                   (SELECT d.generation FROM datasets d WHERE d.id = dataset_rows.dataset_id)",
                params![],
            )?;
            Ok(removed as u64)
        })
        .await
}
