//! How failures of units of work reach callers, and the SQLite write connection. The
//! statements themselves run through `statement`, on either engine.

use super::statement::SqlError;
use std::borrow::Cow;
use std::time::Duration;

/// Statements each unit prepares once and reuses; room for every statement the units run.
const STATEMENT_CACHE: usize = 128;
/// How long a statement waits for SQLite's lock (another process, such as the `server`
/// command line, may hold it) before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a unit of work failed: one of its statements, or a refusal of its own.
#[derive(Debug)]
pub enum UnitError {
    Statement(SqlError),
    Other(sqlx::Error),
}

impl From<SqlError> for UnitError {
    fn from(e: SqlError) -> Self {
        UnitError::Statement(e)
    }
}

impl From<rusqlite::Error> for UnitError {
    fn from(e: rusqlite::Error) -> Self {
        UnitError::Statement(SqlError::Sqlite(e))
    }
}

impl From<sqlx::Error> for UnitError {
    fn from(e: sqlx::Error) -> Self {
        UnitError::Other(e)
    }
}

/// What a unit of work returns.
pub type UnitResult<T> = Result<T, UnitError>;

impl From<UnitError> for sqlx::Error {
    /// The store answers with sqlx's error whichever connection wrote, so callers tell a
    /// constraint failure (a duplicate email, say) from any other the same way.
    fn from(e: UnitError) -> Self {
        match e {
            UnitError::Other(e) => e,
            UnitError::Statement(e) => e.into(),
        }
    }
}

/// A failed statement of the writer, as sqlx's `DatabaseError`.
#[derive(Debug)]
pub struct StatementError {
    message: String,
    code: Option<i32>,
    kind: sqlx::error::ErrorKind,
}

impl From<rusqlite::Error> for StatementError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        let code = e.sqlite_error().map(|f| f.extended_code);
        let kind = match code {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => ErrorKind::UniqueViolation,
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        };
        let message = match &e {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
            other => other.to_string(),
        };
        StatementError { message, code, kind }
    }
}

impl std::fmt::Display for StatementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "(code: {code}) {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for StatementError {}

impl sqlx::error::DatabaseError for StatementError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match &self.kind {
            sqlx::error::ErrorKind::UniqueViolation => sqlx::error::ErrorKind::UniqueViolation,
            sqlx::error::ErrorKind::ForeignKeyViolation => sqlx::error::ErrorKind::ForeignKeyViolation,
            sqlx::error::ErrorKind::NotNullViolation => sqlx::error::ErrorKind::NotNullViolation,
            sqlx::error::ErrorKind::CheckViolation => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

/// WAL pages after which the writer checkpoints itself. The checkpoint thread (`checkpoints`)
/// copies pages as they come, so this checkpoint is left little to copy; its job is to restart
/// the WAL, which bounds it (16,000 pages of 4 KiB: 64 MiB).
const WRITER_CHECKPOINT_PAGES: u32 = 16_000;

/// Page cache of the write connection (KiB; SQLite's default is 2 MiB). Unique indexes on
/// random keys (used subject-token ids) take a random page per insert: once they outgrow the
/// cache, every insert first reads its page back from the file. 16 MiB keeps about 250,000
/// ids in memory: 10–20% more token exchanges per second in `make bench`, for at most 14 MiB
/// more memory (32 MiB took the server past 100 MB at the end of the bench). Filled only as
/// the database grows.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// Opens the write connection on the database file: WAL, every commit synced to disk (see
/// `open`), foreign keys enforced.
pub fn connect(file: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(file)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

