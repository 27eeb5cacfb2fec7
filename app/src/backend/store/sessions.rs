//! Browser sessions (tower-sessions records): read inline (`inline`), written by the writer,
//! so a client that disconnects mid-request can never leave a session write half done. Each
//! load also brings the read cache up to date (`cache`), so the request it starts sees every
//! change committed before it.

use super::cache::ReadCache;
use super::{execute, params, query_row, Db, Writer};
use futures::future::BoxFuture;
use futures::FutureExt;
use crate::error::AppError;
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

#[derive(Clone, Debug)]
pub struct Sessions {
    read: Db,
    writer: Writer,
    cache: Arc<ReadCache>,
}

impl Sessions {
    pub fn new(read: Db, writer: Writer, cache: Arc<ReadCache>) -> Self {
        Sessions { read, writer, cache }
    }

    /// Removes sessions past their expiry; returns how many.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.writer
            .run(move |conn| Ok(execute(conn, "DELETE FROM sessions WHERE expires_at < ?", params![now])? as u64))
            .await
    }
}

tokio::task_local! {
    /// The session writes of the current request.
    static REQUEST_WRITES: RequestWrites;
}

#[derive(Default)]
struct RequestWrites {
    /// A session read or write was turned away for now (the writer's queue was full, the
    /// database could not be reached): the answer the request gets instead.
    unavailable: RefCell<Option<AppError>>,
    /// Deletes queued on the writer and not awaited yet: a new session id deletes the old
    /// record, and the request waits for that only once, at its end, with its other writes.
    deletes: RefCell<Vec<BoxFuture<'static, Result<(), sqlx::Error>>>>,
}

/// What the session writes of a request came to.
#[derive(Debug, Default)]
pub struct SessionWrites {
    /// One was turned away for now (tower-sessions answers any store failure with a bare
    /// 500; an overload or an unreachable database deserves the 503 and `Retry-After` that
    /// every other refused request gets).
    pub unavailable: Option<AppError>,
    /// A queued delete failed: the old session may still be valid.
    pub failed: Option<sqlx::Error>,
}

/// Runs a request, then waits for the session deletes it queued, and tells how its session
/// writes went.
pub async fn tracking_session_writes<F: Future>(request: F) -> (F::Output, SessionWrites) {
    REQUEST_WRITES
        .scope(RequestWrites::default(), async move {
            let output = request.await;
            let deletes = REQUEST_WRITES.with(|w| std::mem::take(&mut *w.deletes.borrow_mut()));
            let mut writes = SessionWrites {
                unavailable: REQUEST_WRITES.with(|w| w.unavailable.take()),
                failed: None,
            };
            for delete in deletes {
                if let Err(e) = delete.await {
                    writes.failed = Some(e);
                }
            }
            (output, writes)
        })
        .await
}

fn backend(e: sqlx::Error) -> session_store::Error {
    let message = e.to_string();
    // Only refusals for now are kept (converting others would log them a second time).
    if matches!(e, sqlx::Error::PoolTimedOut) || super::is_connection_lost(&e) {
        // Outside `tracking_session_writes` (a test calling the store) there is no one to tell.
        let _ = REQUEST_WRITES.try_with(|w| *w.unavailable.borrow_mut() = Some(AppError::from(e)));
    }
    session_store::Error::Backend(message)
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let expires_at = record.expiry_date.unix_timestamp();
        let first_id = record.id;
        // A fresh random id collides with an existing one about never; when it does, the
        // unit draws another rather than overwrite someone's session.
        let id = self
            .writer
            .run(move |conn| {
                let mut id = first_id;
                loop {
                    let inserted = execute(
                        conn,
                        "INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?) ON CONFLICT(id) DO NOTHING",
                        params![id.to_string(), data, expires_at],
                    )?;
                    if inserted == 1 {
                        return Ok(id);
                    }
                    id = Id::default();
                }
            })
            .await
            .map_err(backend)?;
        record.id = id;
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = encode(record)?;
        let (id, expires_at) = (record.id.to_string(), record.expiry_date.unix_timestamp());
        self.writer
            .run(move |conn| {
                execute(
                    conn,
                    "INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)
                     ON CONFLICT(id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
                    params![id, data, expires_at],
                )?;
                Ok(())
            })
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        // One row always: the access version, with the session when it exists and is current.
        let session = id.to_string();
        let (version, data, expires_at): (i64, Option<String>, Option<i64>) = self.read.read_inline(move |conn| {
            query_row(
                conn,
                "SELECT v.value, s.data, s.expires_at FROM access_version v
                 LEFT JOIN sessions s ON s.id = ? AND s.expires_at > ?
                 WHERE v.id = 1",
                params![session, now],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .await
        .map_err(backend)?;
        self.cache.observe(version);
        let (Some(data), Some(expires_at)) = (data, expires_at) else { return Ok(None) };
        let data = serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record { id: *id, data, expiry_date }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let id = id.to_string();
        let deleted = self
            .writer
            .submit(move |conn| {
                execute(conn, "DELETE FROM sessions WHERE id = ?", params![id])?;
                Ok(())
            })
            .map_err(backend)?;
        if REQUEST_WRITES.try_with(|_| ()).is_ok() {
            REQUEST_WRITES.with(|w| w.deletes.borrow_mut().push(deleted.boxed()));
            Ok(())
        } else {
            deleted.await.map_err(backend)
        }
    }
}
