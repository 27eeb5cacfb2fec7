use super::{Conn, Db, Writer};
use serde_json::Value;

#[derive(Clone, Debug, sqlx::FromRow)]
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

const COLUMNS: &str =
    "id, project_id, name, kind, recipe, description, columns, generation, row_count, built_at";

pub struct NewDataset<'a> {
    pub project_id: i64,
    pub name: &'a str,
    pub recipe: Option<&'a str>,
    pub description: &'a str,
    pub columns: &'a [&'a str],
}

pub async fn insert(tx: &mut Conn, ds: &NewDataset<'_>) -> Result<i64, sqlx::Error> {
    let columns = serde_json::to_string(ds.columns).unwrap_or_else(|_| "[]".into());
    sqlx::query_scalar(
        "INSERT INTO datasets (project_id, name, kind, recipe, description, columns)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(ds.project_id)
    .bind(ds.name)
    .bind(if ds.recipe.is_some() { "derived" } else { "raw" })
    .bind(ds.recipe)
    .bind(ds.description)
    .bind(columns)
    .fetch_one(&mut *tx)
    .await
}

pub async fn by_name(db: &Db, project_id: i64, name: &str) -> Result<Option<DatasetRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM datasets WHERE project_id = ? AND name = ?"))
        .bind(project_id)
        .bind(name)
        .fetch_optional(db)
        .await
}

pub async fn by_id(db: &Db, id: i64) -> Result<Option<DatasetRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM datasets WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn list(db: &Db, project_id: i64) -> Result<Vec<DatasetRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM datasets WHERE project_id = ? ORDER BY kind DESC, name"
    ))
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// Up to `limit` rows of a dataset's current generation from row number `from` on, in order,
/// each with its number.
pub async fn read_page(db: &Db, ds: &DatasetRow, from: i64, limit: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT row_no, data FROM dataset_rows WHERE dataset_id = ? AND generation = ? AND row_no >= ?
         ORDER BY row_no LIMIT ?",
    )
    .bind(ds.id)
    .bind(ds.generation)
    .bind(from)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The first `limit` rows of the current generation.
pub async fn first_rows(db: &Db, ds: &DatasetRow, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT data FROM dataset_rows WHERE dataset_id = ? AND generation = ?
         ORDER BY row_no LIMIT ?",
    )
    .bind(ds.id)
    .bind(ds.generation)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// SQLite allows 32766 bound values per statement; three per row keeps well under that.
const ROWS_PER_INSERT: usize = 2_000;

/// Appends rows (JSON arrays) to a generation that is not visible yet, one unit of work per
/// chunk, so a long build never keeps other writers waiting for long.
pub async fn append_rows(
    writer: &Writer,
    dataset_id: i64,
    generation: i64,
    first_row_no: i64,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    for (chunk_no, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
        let first = first_row_no + (chunk_no * ROWS_PER_INSERT) as i64;
        let chunk = chunk.to_vec();
        writer
            .run(move |tx| Box::pin(async move { append_rows_on(tx, dataset_id, generation, first, &chunk).await }))
            .await?;
    }
    Ok(())
}

/// Appends rows on a given connection or transaction (the seed writes inside one).
pub async fn append_rows_on(
    conn: &mut sqlx::SqliteConnection,
    dataset_id: i64,
    generation: i64,
    first_row_no: i64,
    rows: &[Vec<Value>],
) -> Result<(), sqlx::Error> {
    for (chunk_no, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
        let base = first_row_no + (chunk_no * ROWS_PER_INSERT) as i64;
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO dataset_rows (dataset_id, generation, row_no, data) ",
        );
        qb.push_values(chunk.iter().enumerate(), |mut b, (i, row)| {
            b.push_bind(dataset_id)
                .push_bind(generation)
                .push_bind(base + i as i64)
                .push_bind(Value::Array(row.clone()).to_string());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Makes a fully written generation the visible one and drops the one it replaces, atomically.
pub async fn publish_generation(
    writer: &Writer,
    dataset_id: i64,
    generation: i64,
    row_count: i64,
    built_at: i64,
) -> Result<(), sqlx::Error> {
    writer
        .run(move |tx| {
            Box::pin(async move {
                let old: i64 = sqlx::query_scalar("SELECT generation FROM datasets WHERE id = ?")
                    .bind(dataset_id)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("UPDATE datasets SET generation = ?, row_count = ?, built_at = ? WHERE id = ?")
                    .bind(generation)
                    .bind(row_count)
                    .bind(built_at)
                    .bind(dataset_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM dataset_rows WHERE dataset_id = ? AND generation = ?")
                    .bind(dataset_id)
                    .bind(old)
                    .execute(&mut *tx)
                    .await
                    .map(|_| ())
            })
        })
        .await
}

/// Sets the visible generation's row count (used by the seed after writing generation 0).
pub async fn set_row_count(tx: &mut Conn, dataset_id: i64, row_count: i64, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE datasets SET row_count = ?, built_at = ? WHERE id = ?")
        .bind(row_count)
        .bind(at)
        .bind(dataset_id)
        .execute(&mut *tx)
        .await
        .map(|_| ())
}

/// Removes the rows of a generation that will never be published (a failed build).
pub async fn discard_generation(writer: &Writer, dataset_id: i64, generation: i64) -> Result<(), sqlx::Error> {
    writer
        .run(move |tx| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM dataset_rows WHERE dataset_id = ? AND generation = ?
                       AND generation <> (SELECT generation FROM datasets WHERE id = ?)",
                )
                .bind(dataset_id)
                .bind(generation)
                .bind(dataset_id)
                .execute(&mut *tx)
                .await
                .map(|_| ())
            })
        })
        .await
}

/// Removes rows of unpublished generations left by a crash. Only safe while no build runs.
pub async fn discard_orphan_generations(writer: &Writer) -> Result<u64, sqlx::Error> {
    writer
        .run(|tx| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM dataset_rows WHERE generation <>
                       (SELECT d.generation FROM datasets d WHERE d.id = dataset_rows.dataset_id)",
                )
                .execute(&mut *tx)
                .await
                .map(|r| r.rows_affected())
            })
        })
        .await
}
