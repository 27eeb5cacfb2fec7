//! All SQL of Guise lives under this module, one file per table. Nothing else touches sqlx,
//! so another database engine can be added behind the same functions.

pub mod api_clients;
pub mod audit;
pub mod datasets;
pub mod grants;
pub mod groups;
pub mod impersonations;
pub mod job_log;
pub mod jobs;
pub mod projects;
pub mod settings;
pub mod signing_keys;
pub mod tenants;
pub mod used_subject_tokens;
pub mod users;
pub mod webapps;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub type Db = sqlx::SqlitePool;
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

/// Opens (creating when missing) the database named by a `sqlite://` URL.
pub async fn connect(url: &str) -> Result<Db, String> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("DATABASE_URL {url:?} is not a valid SQLite URL: {e}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(15));
    let file = options.get_filename().to_path_buf();
    if file != Path::new(":memory:") {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!("cannot create the database folder {}: {e}", dir.display())
            })?;
        }
    }
    SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", file.display()))
}

/// Applies the schema migrations that have not run yet.
pub async fn migrate(db: &Db) -> Result<(), String> {
    sqlx::migrate!("../migrations")
        .run(db)
        .await
        .map_err(|e| format!("cannot migrate the database: {e}"))
}

/// Starts a write transaction that takes the write lock at once, so concurrent writers wait
/// for each other instead of failing on a lock upgrade.
pub async fn begin_write(db: &Db) -> Result<Tx<'static>, sqlx::Error> {
    db.begin_with("BEGIN IMMEDIATE").await
}

/// Whether the database has never been seeded (no tenant exists yet).
pub async fn is_empty(db: &Db) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(db).await?;
    Ok(count == 0)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
