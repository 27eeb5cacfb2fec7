//! PostgreSQL: its schema (`migrations/postgres`, the same tables as SQLite's) and how a
//! `postgres://` URL is reached. Errors name the engine, host, port and database, never the
//! password.

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
