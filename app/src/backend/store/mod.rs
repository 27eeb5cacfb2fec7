//! All SQL of Guise lives under this module, one file per table: nothing else writes a query
//! (elsewhere sqlx and rusqlite appear only as the error types these functions return), so another database
//! engine can be added behind the same functions.

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

pub mod cache;
mod inline;
pub mod sessions;
mod audit_chain;
mod checkpoints;
pub mod postgres;
mod sql;
mod statement;
mod writer;

pub use sql::{StatementError, UnitError, UnitResult};
pub use statement::{batch, execute, query_map, query_row, Column, Conn, Optional, Param, Row, SqlError, SqlResult, Value};
pub use crate::params;
pub use writer::{Committed, Connect, Writer, QUEUE_CAPACITY};
use sql::BUSY_TIMEOUT;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use crate::backend::audit::ChainKey;
use cache::ReadCache;
use std::time::Duration;

/// The read side: a pool of read-only connections. Every write goes through the `Writer`.
pub type Db = sqlx::SqlitePool;

/// The database: readers, and the one writer.
#[derive(Clone, Debug)]
pub struct Database {
    pub read: Db,
    pub writer: Writer,
    pub cache: Arc<ReadCache>,
}

/// Read connections, each on a thread of its own: one per core and one more. On two cores,
/// three served the SSR pages 15–25% faster than two or eight (`make bench`): fewer leave a
/// core idle while one waits, more only add thread switches.
fn readers() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(2) + 1
}

/// The database engines, told apart by the scheme of `DATABASE_URL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a URL names; any other scheme is refused (it would otherwise be taken for a
    /// SQLite file name).
    pub fn of(url: &str) -> Result<Engine, String> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            let scheme = url.split_once(':').map_or("none", |(scheme, _)| scheme);
            Err(format!(
                "DATABASE_URL names no database Guise runs on (scheme {scheme}): use sqlite://FILE \
                 (the default is sqlite://data/guise.db) or postgres://USER@HOST:PORT/DATABASE"
            ))
        }
    }
}

/// Opens the database named by a `sqlite://` URL (creating the file when missing), brings its
/// schema up to date and starts its writer, which signs audit rows with `chain_key`.
pub async fn open(url: &str, chain_key: ChainKey) -> Result<Database, String> {
    if Engine::of(url)? == Engine::Postgres {
        return Err(format!(
            "DATABASE_URL names PostgreSQL ({}): this version serves from SQLite only; \
             `server migrate` already prepares a PostgreSQL database",
            postgres::place(url)?
        ));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| format!("DATABASE_URL {url:?} is not a valid SQLite URL: {e}"))?;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(format!(
            "DATABASE_URL {url:?} names an in-memory database, which the separate read and write \
             connections cannot share: use a file, such as sqlite://data/guise.db"
        ));
    }
    let file = options.get_filename().to_path_buf();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the database folder {}: {e}", dir.display()))?;
    }
    // Group commit makes each fsync cover many writes, so an accepted write can survive a
    // power cut (FULL) at little cost: about 5% of token exchanges against NORMAL (`make bench`).
    let write_options = options
        .clone()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = write_options
        .connect()
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", file.display()))?;
    sqlx::migrate!("../migrations")
        .run(&mut conn)
        .await
        .map_err(|e| format!("cannot migrate the database {}: {e}", file.display()))?;
    let _ = conn.close().await;
    let cache = Arc::new(ReadCache::default());
    let learns = cache.clone();
    let checkpoints = checkpoints::Checkpoints::spawn(&file)?;
    let committed: writer::Committed = Box::new(move |conn| {
        learns.learn_after_commit(conn);
        checkpoints.after_commit();
    });
    let write_file = file.clone();
    let connect: writer::Connect = Box::new(move || {
        sql::connect(&write_file)
            .map(Conn::sqlite)
            .map_err(|e| format!("cannot open the database {} for writing: {e}", write_file.display()))
    });
    let writer = Writer::start(connect, committed, chain_key).await?;
    let read = SqlitePoolOptions::new()
        .max_connections(readers())
        // A read-only connection has no state to check: skip the ping before each query.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.read_only(true).busy_timeout(BUSY_TIMEOUT))
        .await
        .map_err(|e| format!("cannot open the database {} for reading: {e}", file.display()))?;
    Ok(Database { read, writer, cache })
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
