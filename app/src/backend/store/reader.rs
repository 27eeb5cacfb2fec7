//! The read side: reads are plain functions of a `Conn`, like units of work, run on read-only
//! connections of either engine. Every write goes through the `Writer`.
//!
//! Two ways to read:
//! - `read` hands the function to a blocking thread with a connection of its own, so a long
//!   read (an audit page, a dataset preview) never holds up the async workers;
//! - `read_inline` is for the point lookups every request of a hot path makes (a session, an
//!   API client, the jobs list): on SQLite it runs on the calling thread's own connection,
//!   where a lookup found in SQLite's page cache takes microseconds, less than a handoff to
//!   another thread and back. PostgreSQL answers over the network, so there it is `read`.

use super::{Conn, SqlError, SqlResult};
use sqlx::postgres::PgConnectOptions;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a read waits for a connection (all busy) or for PostgreSQL to accept one.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Statements kept prepared on each SQLite connection.
const STATEMENT_CACHE: usize = 32;
/// SQLite databases a thread keeps an inline connection to (tests open many in one process).
const INLINE_PER_THREAD: usize = 4;

/// Read-only connections to one database; clones share them.
#[derive(Clone)]
pub struct Db {
    shared: Arc<Shared>,
}

struct Shared {
    source: Source,
    /// Reads under way at once (each holds a connection).
    permits: Arc<Semaphore>,
    /// Connections not in use.
    idle: Mutex<Vec<Conn>>,
}

enum Source {
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared.source {
            Source::Sqlite(file) => write!(f, "Db(SQLite {})", file.display()),
            Source::Postgres(options) => write!(f, "Db(PostgreSQL {}:{})", options.get_host(), options.get_port()),
        }
    }
}

thread_local! {
    static INLINE: RefCell<Vec<(PathBuf, Conn)>> = const { RefCell::new(Vec::new()) };
}

impl Db {
    /// Reads the SQLite database in `file`, with at most `connections` reads at once.
    pub fn sqlite(file: &Path, connections: usize) -> Db {
        Db::new(Source::Sqlite(file.to_path_buf()), connections)
    }

    /// Reads a PostgreSQL database, with at most `connections` reads (and connections) at once;
    /// its sessions are read-only.
    pub fn postgres(options: &PgConnectOptions, connections: usize) -> Db {
        let options = options.clone().options([("default_transaction_read_only", "on")]);
        Db::new(Source::Postgres(Box::new(options)), connections)
    }

    fn new(source: Source, connections: usize) -> Db {
        let permits = Arc::new(Semaphore::new(connections.max(1)));
        Db { shared: Arc::new(Shared { source, permits, idle: Mutex::new(Vec::new()) }) }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.shared.source, Source::Postgres(_))
    }

    /// Runs `read` on a read-only connection, on a blocking thread. A connection left in doubt
    /// by a failed read is closed, so the next read opens a fresh one.
    pub async fn read<T, F>(&self, read: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> SqlResult<T> + Send + 'static,
    {
        // The permit goes with the read: a caller that goes away does not free it while the
        // read still holds its connection.
        let permit = tokio::time::timeout(READ_TIMEOUT, self.shared.permits.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let shared = self.shared.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let idle = shared.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => shared.source.connect()?,
            };
            let outcome = read(&conn);
            let failure = outcome.as_ref().err();
            if failure.is_none_or(SqlError::leaves_connection_usable) {
                shared.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
            } else if failure.is_some_and(SqlError::is_connection_lost) {
                // The database server went away: the idle connections went with it.
                shared.close_idle();
            }
            crate::backend::memory::tidy_this_thread();
            Ok::<T, sqlx::Error>(outcome?)
        })
        .await;
        outcome.map_err(|e| sqlx::Error::Protocol(format!("a read crashed: {e}")))?
    }

    /// Runs `read` at once on this thread's own SQLite connection (see the module's notes);
    /// on PostgreSQL the same as `read`.
    pub async fn read_inline<T, F>(&self, read: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> SqlResult<T> + Send + 'static,
    {
        match &self.shared.source {
            Source::Sqlite(file) => inline(file, read),
            Source::Postgres(_) => self.read(read).await,
        }
    }

    /// Closes the idle connections (the database file may then be removed).
    pub fn close(&self) {
        self.shared.permits.close();
        self.shared.close_idle();
    }
}

impl Shared {
    /// Closes the idle connections, on a thread of their own: a PostgreSQL connection stops
    /// its runtime as it closes, which may not happen inside an async task.
    fn close_idle(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::Builder::new().name("guise-read-close".into()).spawn(move || drop(idle));
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close_idle();
    }
}

impl Source {
    /// Opens a read-only connection; called on a blocking thread (a PostgreSQL connection
    /// starts a runtime of its own there).
    fn connect(&self) -> Result<Conn, sqlx::Error> {
        match self {
            Source::Sqlite(file) => Ok(open_sqlite(file).map_err(SqlError::from)?),
            // The server is away (restarting, say) or slow to answer: the read is refused for
            // now (503, come back later) rather than as a fault, and the cause goes to the log.
            Source::Postgres(options) => Conn::postgres(options, READ_TIMEOUT).map_err(|e| {
                tracing::warn!("cannot open a read connection to PostgreSQL: {e}");
                if super::is_connection_lost(&e) {
                    e
                } else {
                    sqlx::Error::PoolTimedOut
                }
            }),
        }
    }
}

fn open_sqlite(file: &Path) -> rusqlite::Result<Conn> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(file, flags)?;
    conn.busy_timeout(super::sql::BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(Conn::sqlite(conn))
}

/// Runs `read` on this thread's read-only connection to `file` (opened on first use). A
/// connection that failed is dropped, so the next read opens a fresh one.
fn inline<T>(file: &Path, read: impl FnOnce(&Conn) -> SqlResult<T>) -> Result<T, sqlx::Error> {
    INLINE.with(|kept| {
        let mut kept = kept.borrow_mut();
        let at = match kept.iter().position(|(path, _)| path == file) {
            Some(at) => at,
            None => {
                let conn = open_sqlite(file).map_err(SqlError::from)?;
                if kept.len() == INLINE_PER_THREAD {
                    kept.remove(0);
                }
                kept.push((file.to_path_buf(), conn));
                kept.len() - 1
            }
        };
        let outcome = read(&kept[at].1);
        if !outcome.as_ref().err().is_none_or(SqlError::leaves_connection_usable) {
            kept.remove(at);
        }
        Ok(outcome?)
    })
}
