//! All SQL of Guise lives under this module, one file per table: nothing else writes a query
//! (elsewhere sqlx and rusqlite appear only as the error types these functions return), so another database
//! engine can be added behind the same functions.

pub mod api_clients;
pub mod audit;
pub mod comments;
pub mod datasets;
pub mod grants;
pub mod groups;
pub mod impersonations;
pub mod job_events;
pub mod job_lists;
pub mod job_log;
pub mod jobs;
pub mod orders;
pub mod projects;
pub mod settings;
pub mod shop;
pub mod signing_keys;
pub mod tenants;
pub mod throttle_failures;
pub mod used_subject_tokens;
pub mod users;
pub mod webapps;

pub mod cache;
pub mod sessions;
mod audit_chain;
mod checkpoints;
mod reader;
pub mod postgres;
mod sql;
mod statement;
mod writer;

pub use sql::{StatementError, UnitError, UnitResult};
pub use statement::{
    batch, execute, is_connection_lost, query_each, query_map, query_row, Column, Conn, Optional, Param, Row, SqlError, SqlResult, Value,
};
pub use crate::params;
pub use writer::{Committed, Connect, Writer, QUEUE_CAPACITY};
use sql::BUSY_TIMEOUT;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use crate::backend::audit::ChainKey;
use cache::ReadCache;

pub use reader::Db;

/// The database: readers, and the one writer.
#[derive(Clone, Debug)]
pub struct Database {
    pub read: Db,
    pub writer: Writer,
    pub cache: Arc<ReadCache>,
    /// On PostgreSQL, how job events reach the other servers on it.
    pub relay: Option<job_events::Relay>,
}

/// Reads under way at once, besides the inline ones: one per core and one more. On two
/// cores, three served the SSR pages 15–25% faster than two or eight (`make bench`): fewer
/// leave a core idle while one waits, more only add thread switches.
pub(crate) fn readers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1
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

/// Opens the database `url` names (a SQLite file is created when missing), brings its schema
/// up to date and starts its writer, which signs audit rows with `chain_key`.
pub async fn open(url: &str, chain_key: ChainKey) -> Result<Database, String> {
    match Engine::of(url)? {
        Engine::Sqlite => open_sqlite(url, chain_key).await,
        Engine::Postgres => postgres::open(url, chain_key, readers()).await,
    }
}

async fn open_sqlite(url: &str, chain_key: ChainKey) -> Result<Database, String> {
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
    let read = Db::sqlite(&file, readers());
    Ok(Database { read, writer, cache, relay: None })
}

/// Whether the database has never been seeded (no tenant exists yet).
pub async fn is_empty(db: &Db) -> Result<bool, sqlx::Error> {
    let count: i64 = db.read(|c| query_row(c, "SELECT COUNT(*) FROM tenants", params![], |r| r.get(0))).await?;
    Ok(count == 0)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
