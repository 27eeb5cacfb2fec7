//! The one writer. Every change to the database is a *unit of work* sent to a task that owns
//! the only writable connection: the caller awaits the outcome, but dropping the caller (a
//! client that went away) cannot cancel the unit — it commits or rolls back whole either way.
//!
//! The task commits what is queued together (group commit): one `BEGIN IMMEDIATE … COMMIT`
//! for a batch, each unit inside its own savepoint, so a failing unit rolls back alone and its
//! caller alone gets its error (a batch of one needs no savepoint: its transaction is the
//! unit; a unit that only appends audit rows cannot fail alone and needs none either). The
//! audit rows of the batch's kept units are written just before the `COMMIT`, in one
//! statement. Callers are answered only after the batch's `COMMIT`, and after the read cache
//! has learnt whether the batch changed what it holds.
//!
//! A PostgreSQL writer slots in behind the same `run`: a pool with ordinary transactions, each
//! unit run in a spawned task so a dropped caller cannot cancel it.

use super::cache::{self, ReadCache};
use crate::backend::audit::ChainKey;
use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The connection a unit of work writes with.
pub type Conn = SqliteConnection;

/// Units waiting for the writer before callers are told to come back later.
pub const QUEUE_CAPACITY: usize = 4096;
/// Most units committed together.
const MAX_BATCH: usize = 256;

/// A unit, its result type erased: given the connection it runs in its savepoint and says
/// whether to keep it; given none (the batch could not start) it only prepares its answer.
type Work = Box<dyn for<'c> FnOnce(Option<&'c mut Conn>) -> BoxFuture<'c, Ran> + Send>;

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
    /// Starts the writer task on `conn`; `options` reopen it if its state becomes unknown.
    /// Audit rows appended by its units are signed with `chain_key`.
    pub fn spawn(conn: Conn, options: SqliteConnectOptions, cache: Arc<ReadCache>, chain_key: ChainKey) -> Writer {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(super::audit::with_chain_key(chain_key, writer_loop(conn, options, cache, receiver)));
        Writer { queue }
    }

    /// Runs `unit` on the writer and returns its result once it is committed (or rolled back,
    /// when it failed). When the queue is full the answer is `PoolTimedOut` at once (the
    /// server is overloaded: come back later), `PoolClosed` when the writer has stopped.
    pub async fn run<T, F>(&self, unit: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + 'static,
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
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + 'static,
    {
        let outcome = self.queue_unit(true, move |conn| {
            async move {
                match AssertUnwindSafe(unit(conn)).catch_unwind().await {
                    Ok(result) => result,
                    Err(_) => Err(sqlx::Error::Protocol(
                        "a write crashed; see the server log".into(),
                    )),
                }
            }
            .boxed()
        })?;
        Ok(answered(outcome))
    }

    /// Runs `unit` in the writer task, where it leaves rows for the end of the batch (audit
    /// rows) without running statements of its own; answered like `run`, after the commit.
    pub async fn run_deferred<T, F>(&self, unit: F) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, sqlx::Error> + Send + 'static,
    {
        answered(self.queue_unit(false, move |_conn| async move { unit() }.boxed())?).await
    }

    /// Puts a unit in the queue; the receiver gets its outcome after its batch ends.
    fn queue_unit<T, F>(
        &self,
        own_savepoint: bool,
        unit: F,
    ) -> Result<oneshot::Receiver<Result<T, sqlx::Error>>, sqlx::Error>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, sqlx::Error>> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel::<Result<T, sqlx::Error>>();
        let work: Work = Box::new(move |conn| {
            async move {
                let result = match conn {
                    Some(conn) => Some(unit(conn).await),
                    None => None,
                };
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
            }
            .boxed()
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

async fn writer_loop(
    mut conn: Conn,
    options: SqliteConnectOptions,
    cache: Arc<ReadCache>,
    mut receiver: mpsc::Receiver<Queued>,
) {
    let mut pending: VecDeque<Queued> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match receiver.recv().await {
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
        if let Err(lost) = run_batch(&mut conn, &cache, &mut pending).await {
            tracing::error!("a write batch was rolled back: {lost}");
            conn = recover(conn, options.clone()).await;
        }
    }
    let _ = conn.close().await;
}

/// Runs units from the front of `pending` in one transaction. Units not run yet stay queued
/// for the next batch; on `Err` every unit of this batch was rolled back and told so. (Boxed,
/// like `exec` and `recover`, so that the writer task's future is `Send` for every lifetime.)
fn run_batch<'a>(
    conn: &'a mut Conn,
    cache: &'a ReadCache,
    pending: &'a mut VecDeque<Queued>,
) -> BoxFuture<'a, Result<(), String>> {
    async move {
        // The data version (it moves when another connection commits) comes in the same trip.
        let begun = sqlx::query_scalar::<_, i64>("BEGIN IMMEDIATE; PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await;
        let data_version = match begun {
            Ok(version) => version,
            Err(e) => {
                // Nothing can run (the lock stayed taken past the busy timeout, the file is
                // read-only …): the waiting units are answered with the error rather than kept
                // spinning.
                let why = format!("cannot start a write: {e}");
                for queued in pending.drain(..) {
                    ((queued.work)(None).await.answer)(Some(&why));
                }
                return Err(why);
            }
        };
        super::audit::notice_other_writers(data_version);
        let mut ran: Vec<Ran> = Vec::new();
        let mut lost = None;
        // Alone in its batch, a unit needs no savepoint: the transaction keeps or drops it.
        // Otherwise each unit that runs statements does so in a savepoint; its end and the next
        // one's savepoint go to SQLite together.
        let alone = pending.len() == 1;
        let mut in_savepoint = false;
        while lost.is_none() && ran.len() < MAX_BATCH {
            let Some(queued) = pending.pop_front() else {
                break;
            };
            let own_savepoint = queued.own_savepoint && !alone;
            if own_savepoint && !in_savepoint {
                if let Err(e) = exec(conn, "SAVEPOINT unit").await {
                    lost = Some(format!("SAVEPOINT failed: {e}"));
                    pending.push_front(queued);
                    break;
                }
            }
            let appended = super::audit::pending_mark();
            let unit = (queued.work)(Some(&mut *conn)).await;
            if !unit.keep {
                // What it appended to the audit chains is dropped with it.
                super::audit::drop_pending_from(appended);
            }
            if !own_savepoint {
                ran.push(unit);
                if alone {
                    break;
                }
                continue;
            }
            let another =
                pending.front().is_some_and(|next| next.own_savepoint) && ran.len() + 1 < MAX_BATCH;
            let end = match (unit.keep, another) {
                (true, true) => "RELEASE unit; SAVEPOINT unit",
                (true, false) => "RELEASE unit",
                (false, true) => "ROLLBACK TO unit; RELEASE unit; SAVEPOINT unit",
                (false, false) => "ROLLBACK TO unit; RELEASE unit",
            };
            let ended = exec(conn, end).await;
            in_savepoint = another;
            ran.push(unit);
            if let Err(e) = ended {
                // The unit's failure ended the whole transaction (SQLite does on a full disk or
                // an I/O error), or the next savepoint could not be taken: everything before it
                // in the batch is gone too.
                lost = Some(format!("the transaction was aborted: {e}"));
            }
        }
        let keep = !alone || ran.iter().all(|unit| unit.keep);
        if lost.is_none() && keep {
            if let Err(e) = super::audit::write_pending(conn).await {
                lost = Some(format!("the audit rows could not be written: {e}"));
            }
        }
        if lost.is_none() {
            let end = if keep { "COMMIT" } else { "ROLLBACK" };
            match exec(conn, end).await {
                Ok(()) if keep => learn_access_version(conn, cache).await,
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
    .boxed()
}

/// Tells the read cache where the access version stands after a commit; when that cannot be
/// read, the cache forgets everything rather than risk serving a row the batch changed.
fn learn_access_version<'c>(conn: &'c mut Conn, cache: &'c ReadCache) -> BoxFuture<'c, ()> {
    async move {
        match cache::access_version(conn).await {
            Ok(version) => cache.observe(version),
            Err(e) => {
                tracing::warn!("cannot read the access version after a commit: {e}");
                cache.forget();
            }
        }
    }
    .boxed()
}

/// Runs the writer's own statements (transaction control, `;`-separated, in one go) on its
/// connection.
fn exec<'c>(conn: &'c mut Conn, sql: &'static str) -> BoxFuture<'c, Result<(), sqlx::Error>> {
    async move { sqlx::query(sql).execute(&mut *conn).await.map(|_| ()) }.boxed()
}

/// Makes sure no transaction is left open on the connection; if that cannot be shown, the
/// connection is replaced (waiting and retrying while the database cannot be opened).
fn recover(mut conn: Conn, options: SqliteConnectOptions) -> BoxFuture<'static, Conn> {
    async move {
        match exec(&mut conn, "ROLLBACK").await {
            Ok(_) => return conn,
            Err(e) if e.to_string().contains("no transaction is active") => return conn,
            Err(e) => tracing::error!("discarding the write connection, its state is unknown: {e}"),
        }
        let _ = conn.close().await;
        loop {
            match options.connect().await {
                Ok(conn) => return conn,
                Err(e) => {
                    tracing::error!("cannot reopen the write connection: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
    .boxed()
}
