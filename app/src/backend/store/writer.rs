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
//! On PostgreSQL the same thread drives a connection of its own: batches are ordinary
//! transactions, and other servers' writers commit beside it (see `audit_chain` for how the
//! chains stay whole).

use super::audit_chain;
use super::sql::UnitResult;
use super::{batch, execute, params, Conn, SqlError, SqlResult};
use crate::backend::audit::ChainKey;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Units waiting for the writer before callers are told to come back later.
pub const QUEUE_CAPACITY: usize = 4096;
/// Most units committed together.
const MAX_BATCH: usize = 256;
/// A unit, its result type erased: given the connection it runs in its savepoint and says
/// whether to keep it; given none (the batch could not start) it only prepares its answer.
type Work = Box<dyn FnOnce(Option<&Conn>) -> Ran + Send>;

/// Answers a unit's caller once the batch's fate is known (`Some` = the batch was lost, with why).
type Answer = Box<dyn FnOnce(Option<&Lost>) + Send>;

/// Why a batch was not saved.
struct Lost {
    why: String,
    /// The database could not be reached (its connection broke, or it cannot be opened): the
    /// caller is told to come back later rather than that the write failed.
    unreachable: bool,
}

impl Lost {
    fn new(why: String, cause: &SqlError) -> Lost {
        Lost { why, unreachable: cause.is_connection_lost() }
    }

    fn unreachable(why: String) -> Lost {
        Lost { why, unreachable: true }
    }

    /// The answer to a caller whose unit ran in the lost batch, or never ran. An unreachable
    /// database is an I/O error, which callers already count as a lost connection (503).
    fn error(&self) -> sqlx::Error {
        let message = format!("the write was not saved: {}", self.why);
        if self.unreachable {
            sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::NotConnected, message))
        } else {
            sqlx::Error::Protocol(message)
        }
    }
}

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

/// Runs on the write connection after each commit (the read cache learns what changed).
pub type Committed = Box<dyn Fn(&Conn) + Send>;

/// Opens the write connection, on the writer's thread: first, and again when the state of
/// the one in use is unknown.
pub type Connect = Box<dyn Fn() -> Result<Conn, String> + Send>;

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

impl Writer {
    /// Starts the writer thread on the write connection `connect` opens there (and opens
    /// again if its state becomes unknown); fails when the first connection cannot be opened.
    /// Audit rows appended by its units are signed with `chain_key`; `committed` runs after
    /// each commit, before the callers are answered.
    pub async fn start(connect: Connect, committed: Committed, chain_key: ChainKey) -> Result<Writer, String> {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (opened, first) = oneshot::channel();
        std::thread::Builder::new()
            .name("guise-writer".into())
            .spawn(move || {
                let conn = match connect() {
                    Ok(conn) => conn,
                    Err(e) => return drop(opened.send(Err(e))),
                };
                let _ = opened.send(Ok(()));
                audit_chain::with_chain_key(chain_key, || writer_loop(Some(conn), &connect, &committed, receiver))
            })
            .map_err(|e| format!("cannot start the database writer: {e}"))?;
        first.await.map_err(|_| "the database writer stopped at its start".to_string())??;
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
            let answer: Answer = Box::new(move |lost: Option<&Lost>| {
                let result = match (lost, result) {
                    (Some(lost), Some(Ok(_)) | None) => Err(lost.error()),
                    (_, Some(result)) => result,
                    (None, None) => Err(Lost { why: "it never ran".into(), unreachable: false }.error()),
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

/// Runs the batches. Without a connection (the last one was discarded and the database could
/// not be opened again), each batch first tries to open one; while that fails, its units are
/// answered at once that the database cannot be reached, rather than kept waiting.
fn writer_loop(mut conn: Option<Conn>, reopen: &Connect, committed: &Committed, mut receiver: mpsc::Receiver<Queued>) {
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
        let live = match conn.take() {
            Some(live) => live,
            None => match reopen() {
                Ok(live) => {
                    tracing::info!("the write connection is open again");
                    live
                }
                Err(e) => {
                    let lost = Lost::unreachable(format!("the database cannot be reached: {e}"));
                    for queued in pending.drain(..) {
                        ((queued.work)(None).answer)(Some(&lost));
                    }
                    // A database that refuses at once is not asked again more than ten times a second.
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        conn = match run_batch(&live, committed, &mut pending) {
            Ok(()) => Some(live),
            Err(lost) => {
                tracing::error!("a write batch was rolled back: {}", lost.why);
                recover(live, reopen)
            }
        };
        crate::backend::memory::tidy_this_thread();
    }
}

/// Runs units from the front of `pending` in one transaction. Units not run yet stay queued
/// for the next batch; on `Err` every unit of this batch was rolled back and told so.
fn run_batch(conn: &Conn, committed: &Committed, pending: &mut VecDeque<Queued>) -> Result<(), Lost> {
    if let Err(e) = begin(conn) {
        // Nothing can run (the lock stayed taken past the busy timeout, the file is read-only,
        // the database server is gone …): the waiting units are answered with the error
        // rather than kept spinning.
        let lost = Lost::new(format!("cannot start a write: {e}"), &e);
        for queued in pending.drain(..) {
            ((queued.work)(None).answer)(Some(&lost));
        }
        return Err(lost);
    }
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
                lost = Some(Lost::new(format!("SAVEPOINT failed: {e}"), &e));
                pending.push_front(queued);
                break;
            }
        }
        let appended = audit_chain::pending_mark();
        let unit = (queued.work)(Some(conn));
        if !unit.keep {
            // What it appended to the audit chains is dropped with it.
            audit_chain::drop_pending_from(appended);
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
            lost = Some(Lost::new(format!("the transaction was aborted: {e}"), &e));
        }
        if alone {
            break;
        }
    }
    let keep = !alone || ran.iter().all(|unit| unit.keep);
    if lost.is_none() && keep {
        if let Err(e) = audit_chain::write_pending(conn) {
            lost = Some(Lost::new(format!("the audit rows could not be written: {e}"), &e));
        }
    }
    if lost.is_none() {
        let end = if keep { "COMMIT" } else { "ROLLBACK" };
        match exec(conn, end) {
            Ok(()) if keep => committed(conn),
            Ok(()) => {}
            Err(e) => lost = Some(Lost::new(format!("{end} failed: {e}"), &e)),
        }
    }
    match lost {
        None => {
            for unit in ran {
                (unit.answer)(None);
            }
            Ok(())
        }
        Some(lost) => {
            audit_chain::forget_heads();
            audit_chain::drop_pending_from(0);
            for unit in ran {
                (unit.answer)(Some(&lost));
            }
            Err(lost)
        }
    }
}

/// Starts a batch's transaction. SQLite: takes the write lock at once, and tells the audit
/// chains whether another connection (the command line) committed since the last batch, which
/// the data version says. PostgreSQL: other servers may have committed at any time.
fn begin(conn: &Conn) -> SqlResult<()> {
    match conn.as_sqlite() {
        Some(sqlite) => {
            sqlite.execute_batch("BEGIN IMMEDIATE")?;
            let data_version = sqlite.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0))?;
            audit_chain::notice_other_writers(Some(data_version));
        }
        None => {
            batch(conn, "BEGIN")?;
            audit_chain::notice_other_writers(None);
        }
    }
    Ok(())
}

/// Runs one of the writer's own statements (transaction control): on SQLite prepared once,
/// on PostgreSQL as a simple query.
fn exec(conn: &Conn, sql: &'static str) -> SqlResult<()> {
    if conn.is_postgres() {
        batch(conn, sql)
    } else {
        execute(conn, sql, params![]).map(|_| ())
    }
}

/// Makes sure no transaction is left open on the connection; if that cannot be shown, the
/// connection is replaced, or none is kept while the database cannot be opened.
fn recover(conn: Conn, reopen: &Connect) -> Option<Conn> {
    // Whether a transaction is open: SQLite tells; on PostgreSQL a ROLLBACK that succeeds
    // shows none is.
    let in_transaction = |conn: &Conn| conn.as_sqlite().map(|sqlite| !sqlite.is_autocommit());
    if in_transaction(&conn) == Some(false) {
        return Some(conn);
    }
    match batch(&conn, "ROLLBACK") {
        Ok(()) if in_transaction(&conn) != Some(true) => return Some(conn),
        Ok(()) => tracing::error!("discarding the write connection, a transaction stayed open"),
        Err(e) => tracing::error!("discarding the write connection, its state is unknown: {e}"),
    }
    drop(conn);
    match reopen() {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracing::error!("cannot reopen the write connection, writes are refused until it opens: {e}");
            None
        }
    }
}
