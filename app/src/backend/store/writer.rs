//! The one writer. Every change to the database is a *unit of work* sent to a thread that
//! owns the only writable connection: the caller awaits the outcome, but dropping the caller (a
//! client that went away) cannot cancel the unit — it commits or rolls back whole either way.
//!
//! The thread commits what is queued together (group commit): one `BEGIN IMMEDIATE … COMMIT`
//! for a batch, each unit inside its own savepoint, so a failing unit rolls back alone and its
//! caller alone gets its error (a batch of one needs no savepoint: its transaction is the
//! unit; a unit that only appends audit rows cannot fail alone and needs none either). The
//! audit rows of the batch's kept units are written just before the `COMMIT`. Callers are
//! answered only after the batch's `COMMIT`, and after the read cache has learnt whether the
//! batch changed what it holds.
//!
//! Units are plain functions run on the writer's own thread: a batch runs all its statements
//! without handing each one to another thread and back, which under load (every core busy
//! serving requests) costs more than the statements themselves.
//!
//! A PostgreSQL writer slots in behind the same `run`: a pool with ordinary transactions, each
//! unit run on a connection of its own so a dropped caller cannot cancel it.

use super::cache::{self, ReadCache};
use crate::backend::audit::ChainKey;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The connection a unit of work writes with.
pub type Conn = rusqlite::Connection;

/// Units waiting for the writer before callers are told to come back later.
pub const QUEUE_CAPACITY: usize = 4096;
/// Most units committed together.
const MAX_BATCH: usize = 256;
/// Statements each unit prepares once and reuses; room for every statement the units run.
const STATEMENT_CACHE: usize = 128;
/// How long a statement waits for SQLite's lock (another process, such as the `server`
/// command line, may hold it) before it fails.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a unit of work failed: one of its statements, or a refusal of its own.
#[derive(Debug)]
pub enum UnitError {
    Statement(rusqlite::Error),
    Other(sqlx::Error),
}

impl From<rusqlite::Error> for UnitError {
    fn from(e: rusqlite::Error) -> Self {
        UnitError::Statement(e)
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
            UnitError::Statement(e) => sqlx::Error::Database(Box::new(StatementError::from(e))),
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

/// Runs one statement of a unit, prepared once per connection and reused; returns how many
/// rows it changed.
pub fn execute(conn: &Conn, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// Runs one statement of a unit that returns one row, such as an `INSERT … RETURNING id`.
pub fn query_row<T>(
    conn: &Conn,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, row)
}

/// Opens the write connection on the database file: WAL, every commit synced to disk (see
/// `open`), foreign keys enforced.
pub(super) fn connect(file: &std::path::Path) -> rusqlite::Result<Conn> {
    let conn = Conn::open(file)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A unit, its result type erased: given the connection it runs in its savepoint and says
/// whether to keep it; given none (the batch could not start) it only prepares its answer.
type Work = Box<dyn FnOnce(Option<&Conn>) -> Ran + Send>;

/// Answers a unit's caller once the batch's fate is known (`Some` = the batch was lost, with why).
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// A unit that has run: keep its savepoint or not, and how to answer its caller.
struct Ran {
    keep: bool,
    answer: Answer,
}

/// A unit in the queue. `own_savepoint`: it runs statements of its own, so in a batch it runs
/// in a savepoint; units that only leave rows for the end of the batch (audit rows) cannot
/// fail alone and need none.
struct Queued {
    work: Work,
    own_savepoint: bool,
}

/// A handle on the writer; clones share it. The writer stops when the last handle is gone,
/// after finishing what was queued.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Queued>,
}

/// A unit's outcome, once its batch has ended.
async fn answered<T>(outcome: oneshot::Receiver<Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    outcome.await.map_err(|_| sqlx::Error::PoolClosed)?
}

/// The answer to a caller whose unit was committed in a batch that then could not commit.
fn batch_lost(why: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the write was not saved: {why}"))
}

impl Writer {
    /// Starts the writer thread on `conn`, the database `file`'s write connection (reopened
    /// from `file` if its state becomes unknown). Audit rows appended by its units are signed
    /// with `chain_key`.
    pub fn spawn(conn: Conn, file: PathBuf, cache: Arc<ReadCache>, chain_key: ChainKey) -> std::io::Result<Writer> {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("guise-writer".into())
            .spawn(move || super::audit::with_chain_key(chain_key, || writer_loop(conn, file, &cache, receiver)))?;
        Ok(Writer { queue })
    }

    /// Runs `unit` on the writer and returns its result once it is committed (or rolled back,
    /// when it failed). When the queue is full the answer is `PoolTimedOut` at once (the
    /// server is overloaded: come back later), `PoolClosed` when the writer has stopped.
    pub async fn run<T, F>(&self, unit: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> UnitResult<T> + Send + 'static,
    {
        self.submit(unit)?.await
    }

    /// Queues `unit` at once and returns the wait for its outcome: units run in the order they
    /// are queued, so a caller may queue a unit, then await a later one, and know both ran.
    pub fn submit<T, F>(
        &self,
        unit: F,
    ) -> Result<impl Future<Output = Result<T, sqlx::Error>> + Send + 'static, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> UnitResult<T> + Send + 'static,
    {
        let outcome = self.queue_unit(true, move |conn| match std::panic::catch_unwind(AssertUnwindSafe(|| unit(conn))) {
            Ok(result) => result.map_err(sqlx::Error::from),
            Err(_) => Err(sqlx::Error::Protocol("a write crashed; see the server log".into())),
        })?;
        Ok(answered(outcome))
    }

    /// Runs `unit` on the writer, where it leaves rows for the end of the batch (audit rows)
    /// without running statements of its own; answered like `run`, after the commit.
    pub async fn run_deferred<T, F>(&self, unit: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, sqlx::Error> + Send + 'static,
    {
        answered(self.queue_unit(false, move |_conn| unit())?).await
    }

    /// Puts a unit in the queue; the receiver gets its outcome after its batch ends.
    fn queue_unit<T, F>(
        &self,
        own_savepoint: bool,
        unit: F,
    ) -> Result<oneshot::Receiver<Result<T, sqlx::Error>>, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Conn) -> Result<T, sqlx::Error> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel::<Result<T, sqlx::Error>>();
        let work: Work = Box::new(move |conn| {
            let result = conn.map(unit);
            let keep = matches!(result, Some(Ok(_)));
            let answer: Answer = Box::new(move |lost: Option<&str>| {
                let result = match (lost, result) {
                    (Some(why), Some(Ok(_)) | None) => Err(batch_lost(why)),
                    (_, Some(result)) => result,
                    (None, None) => Err(batch_lost("it never ran")),
                };
                // A caller that went away no longer wants the answer; the work is done.
                let _ = reply.send(result);
            });
            Ran { keep, answer }
        });
        self.queue
            .try_send(Queued {
                work,
                own_savepoint,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => sqlx::Error::PoolTimedOut,
                mpsc::error::TrySendError::Closed(_) => sqlx::Error::PoolClosed,
            })?;
        Ok(outcome)
    }
}

fn writer_loop(mut conn: Conn, file: PathBuf, cache: &ReadCache, mut receiver: mpsc::Receiver<Queued>) {
    let mut pending: VecDeque<Queued> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match receiver.blocking_recv() {
                Some(work) => pending.push_back(work),
                None => break,
            }
        }
        while pending.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(work) => pending.push_back(work),
                Err(_) => break,
            }
        }
        if let Err(lost) = run_batch(&conn, cache, &mut pending) {
            tracing::error!("a write batch was rolled back: {lost}");
            conn = recover(conn, &file);
        }
    }
}

/// Runs units from the front of `pending` in one transaction. Units not run yet stay queued
/// for the next batch; on `Err` every unit of this batch was rolled back and told so.
fn run_batch(conn: &Conn, cache: &ReadCache, pending: &mut VecDeque<Queued>) -> Result<(), String> {
    // The data version moves when another connection commits.
    let begun = conn
        .execute_batch("BEGIN IMMEDIATE")
        .and_then(|()| conn.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0)));
    let data_version = match begun {
        Ok(version) => version,
        Err(e) => {
            // Nothing can run (the lock stayed taken past the busy timeout, the file is
            // read-only …): the waiting units are answered with the error rather than kept
            // spinning.
            let why = format!("cannot start a write: {e}");
            for queued in pending.drain(..) {
                ((queued.work)(None).answer)(Some(&why));
            }
            return Err(why);
        }
    };
    super::audit::notice_other_writers(data_version);
    let mut ran: Vec<Ran> = Vec::new();
    let mut lost = None;
    // Alone in its batch, a unit needs no savepoint: the transaction keeps or drops it.
    // Otherwise each unit that runs statements does so in a savepoint.
    let alone = pending.len() == 1;
    while lost.is_none() && ran.len() < MAX_BATCH {
        let Some(queued) = pending.pop_front() else {
            break;
        };
        let own_savepoint = queued.own_savepoint && !alone;
        if own_savepoint {
            if let Err(e) = exec(conn, "SAVEPOINT unit") {
                lost = Some(format!("SAVEPOINT failed: {e}"));
                pending.push_front(queued);
                break;
            }
        }
        let appended = super::audit::pending_mark();
        let unit = (queued.work)(Some(conn));
        if !unit.keep {
            // What it appended to the audit chains is dropped with it.
            super::audit::drop_pending_from(appended);
        }
        let ended = match (own_savepoint, unit.keep) {
            (false, _) => Ok(()),
            (true, true) => exec(conn, "RELEASE unit"),
            (true, false) => exec(conn, "ROLLBACK TO unit").and_then(|()| exec(conn, "RELEASE unit")),
        };
        ran.push(unit);
        if let Err(e) = ended {
            // The unit's failure ended the whole transaction (SQLite does on a full disk or
            // an I/O error): everything before it in the batch is gone too.
            lost = Some(format!("the transaction was aborted: {e}"));
        }
        if alone {
            break;
        }
    }
    let keep = !alone || ran.iter().all(|unit| unit.keep);
    if lost.is_none() && keep {
        if let Err(e) = super::audit::write_pending(conn) {
            lost = Some(format!("the audit rows could not be written: {e}"));
        }
    }
    if lost.is_none() {
        let end = if keep { "COMMIT" } else { "ROLLBACK" };
        match exec(conn, end) {
            Ok(()) if keep => learn_access_version(conn, cache),
            Ok(()) => {}
            Err(e) => lost = Some(format!("{end} failed: {e}")),
        }
    }
    match lost {
        None => {
            for unit in ran {
                (unit.answer)(None);
            }
            Ok(())
        }
        Some(why) => {
            super::audit::forget_heads();
            super::audit::drop_pending_from(0);
            for unit in ran {
                (unit.answer)(Some(&why));
            }
            Err(why)
        }
    }
}

/// Tells the read cache where the access version stands after a commit; when that cannot be
/// read, the cache forgets everything rather than risk serving a row the batch changed.
fn learn_access_version(conn: &Conn, cache: &ReadCache) {
    match cache::access_version(conn) {
        Ok(version) => cache.observe(version),
        Err(e) => {
            tracing::warn!("cannot read the access version after a commit: {e}");
            cache.forget();
        }
    }
}

/// Runs one of the writer's own statements (transaction control), prepared once.
fn exec(conn: &Conn, sql: &'static str) -> rusqlite::Result<()> {
    execute(conn, sql, []).map(|_| ())
}

/// Makes sure no transaction is left open on the connection; if that cannot be shown, the
/// connection is replaced (waiting and retrying while the database cannot be opened).
fn recover(conn: Conn, file: &std::path::Path) -> Conn {
    if conn.is_autocommit() {
        return conn;
    }
    match conn.execute_batch("ROLLBACK") {
        Ok(()) if conn.is_autocommit() => return conn,
        Ok(()) => tracing::error!("discarding the write connection, a transaction stayed open"),
        Err(e) => tracing::error!("discarding the write connection, its state is unknown: {e}"),
    }
    drop(conn);
    loop {
        match connect(file) {
            Ok(conn) => return conn,
            Err(e) => {
                tracing::error!("cannot reopen the write connection: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}
