//! PostgreSQL: its schema (`migrations/postgres`, the same tables as SQLite's) and how a
//! `postgres://` URL is reached. Errors name the engine, host, port and database, never the
//! password.

use super::cache::ReadCache;
use super::{Conn, Connect, Database, Db, Writer};
use std::sync::Arc;
use crate::backend::audit::ChainKey;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

/// How long reaching the server may take before the start fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn options(url: &str) -> Result<PgConnectOptions, String> {
    // sqlx's message quotes nothing of the URL, so no password can leak through it.
    PgConnectOptions::from_str(url).map_err(|e| format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
}

/// Where a URL points, to name in messages: `database guise on db.example:5432 as guise`.
pub fn place(url: &str) -> Result<String, String> {
    options(url).map(|options| place_of(&options))
}

fn place_of(options: &PgConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    format!("database {database} on {}:{} as {user}", options.get_host(), options.get_port())
}

/// Connects to the database and brings its schema up to date.
pub async fn migrate(url: &str) -> Result<(), String> {
    let options = options(url)?;
    let place = place_of(&options);
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return Err(format!("cannot connect to PostgreSQL, {place}: {e}")),
        Err(_) => return Err(format!("cannot connect to PostgreSQL, {place}: no answer in {} s", CONNECT_TIMEOUT.as_secs())),
    };
    sqlx::migrate!("../migrations/postgres")
        .run(&mut conn)
        .await
        .map_err(|e| format!("cannot migrate PostgreSQL, {place}: {e}"))?;
    let _ = conn.close().await;
    Ok(())
}

/// How the writer's connection names itself to the server (in `pg_stat_activity`).
pub const WRITER_APPLICATION_NAME: &str = "guise-writer";

/// Starts a writer on the database `url` names; its audit rows are signed with `chain_key`.
pub async fn start_writer(url: &str, chain_key: ChainKey) -> Result<Writer, String> {
    start_writer_with(url, chain_key, Box::new(|_| {})).await
}

/// Brings the schema of the database `url` names up to date, and starts its writer and its
/// readers (at most `readers` at once). The read cache learns the access version after each
/// commit of this server; other servers' changes it learns from the version every session
/// and API client read brings along.
pub async fn open(url: &str, chain_key: ChainKey, readers: usize) -> Result<Database, String> {
    migrate(url).await?;
    let cache = Arc::new(ReadCache::default());
    let learns = cache.clone();
    let writer = start_writer_with(url, chain_key, Box::new(move |conn| learns.learn_after_commit(conn))).await?;
    let read = reader(url, readers)?;
    let relay = Some(super::job_events::Relay { options: options(url)? });
    Ok(Database { read, writer, cache, relay })
}

async fn start_writer_with(url: &str, chain_key: ChainKey, committed: super::Committed) -> Result<Writer, String> {
    let options = options(url)?.application_name(WRITER_APPLICATION_NAME);
    let place = place_of(&options);
    let connect: Connect = Box::new(move || {
        Conn::postgres(&options, CONNECT_TIMEOUT).map_err(|e| match e {
            sqlx::Error::PoolTimedOut => format!("cannot connect to PostgreSQL, {place}: no answer in {} s", CONNECT_TIMEOUT.as_secs()),
            e => format!("cannot connect to PostgreSQL, {place}: {e}"),
        })
    });
    Writer::start(connect, committed, chain_key).await
}

/// How read connections name themselves to the server.
pub const READER_APPLICATION_NAME: &str = "guise-reader";

/// Read-only connections to the database `url` names, at most `connections` at once (opened
/// on first use).
pub fn reader(url: &str, connections: usize) -> Result<Db, String> {
    Ok(Db::postgres(&options(url)?.application_name(READER_APPLICATION_NAME), connections))
}
