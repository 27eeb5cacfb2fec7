//! Job events between the servers on one PostgreSQL, so that a page sees a job move whichever
//! server runs it: each server sends its own with `NOTIFY` on one channel and `LISTEN`s for
//! the others'. Events are a live view of the jobs table, so one lost while a connection is
//! down costs nothing lasting: a page fetches the table again when it reconnects.

use crate::model::JobEvent;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel every server sends on and listens to.
pub const CHANNEL: &str = "guise_job_events";

/// Events waiting to be sent; past this, new ones are dropped rather than slow the job down.
const BACKLOG: usize = 4096;

/// How long to wait before connecting again after the database went away.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One event on the channel: which server sent it, and the tenant allowed to see it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Notice {
    from: String,
    tenant_id: i64,
    event: JobEvent,
}

/// Where to send and listen: the database's connection options.
#[derive(Clone, Debug)]
pub struct Relay {
    pub options: PgConnectOptions,
}

/// Sends this server's events to the others.
#[derive(Clone, Debug)]
pub struct Outbox(mpsc::Sender<(i64, JobEvent)>);

impl Outbox {
    /// Queues an event for the other servers; dropped (with a warning) when the backlog is full.
    pub fn send(&self, tenant_id: i64, event: JobEvent) {
        if self.0.try_send((tenant_id, event)).is_err() {
            tracing::warn!("job event not relayed to the other servers: the backlog is full or the relay stopped");
        }
    }
}

impl Relay {
    /// Starts relaying for the server named `me`: the events sent through the returned outbox
    /// reach the other servers, and theirs are handed to `deliver` (tenant, event). Returns
    /// once listening (or, when the database cannot be reached, trying again in the background).
    pub async fn start(self, me: String, deliver: impl Fn(i64, JobEvent) + Send + 'static) -> Outbox {
        let options = self.options.application_name("guise-job-events");
        let (sender, outgoing) = mpsc::channel(BACKLOG);
        tokio::spawn(send_all(options.clone(), me.clone(), outgoing));
        let first = start_listening(&options).await;
        tokio::spawn(listen(options, first, me, deliver));
        Outbox(sender)
    }
}

/// A connection listening on the channel; `None` (with a warning) when it cannot be had.
async fn start_listening(options: &PgConnectOptions) -> Option<PgListener> {
    let pool = sqlx::PgPool::connect_lazy_with(options.clone());
    let listening = async {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    };
    match listening.await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!("not listening for other servers' job events: {e}");
            None
        }
    }
}

async fn send_all(options: PgConnectOptions, me: String, mut outgoing: mpsc::Receiver<(i64, JobEvent)>) {
    let mut conn = None;
    while let Some((tenant_id, event)) = outgoing.recv().await {
        let payload = match serde_json::to_string(&Notice { from: me.clone(), tenant_id, event }) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!("job event not relayed: {e}");
                continue;
            }
        };
        if conn.is_none() {
            conn = match options.connect().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("job events not relayed: cannot connect to PostgreSQL: {e}");
                    tokio::time::sleep(RECONNECT_AFTER).await;
                    continue;
                }
            };
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&mut *c).await {
            tracing::warn!("job event not relayed: {e}");
            if let Some(c) = conn.take() {
                let _ = c.close().await;
            }
        }
    }
}

async fn listen(options: PgConnectOptions, mut listening: Option<PgListener>, me: String, deliver: impl Fn(i64, JobEvent)) {
    loop {
        let Some(listener) = listening.as_mut() else {
            tokio::time::sleep(RECONNECT_AFTER).await;
            listening = start_listening(&options).await;
            continue;
        };
        // `recv` connects again by itself after a dropped connection; it fails when it cannot.
        match listener.recv().await {
            Ok(notification) => match serde_json::from_str::<Notice>(notification.payload()) {
                Ok(notice) if notice.from != me => deliver(notice.tenant_id, notice.event),
                Ok(_) => {}
                Err(e) => tracing::warn!("a job event on {CHANNEL} that is not one: {e}"),
            },
            Err(e) => {
                tracing::warn!("stopped listening for other servers' job events: {e}");
                listening = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobStatus;

    #[test]
    fn a_notice_reads_back_as_it_was_sent() {
        let event = JobEvent { job_id: 7, status: JobStatus::Running, progress: 0.5, rows_in: Some(10), rows_out: None };
        let notice = Notice { from: "server-a".into(), tenant_id: 1, event };
        let text = serde_json::to_string(&notice).unwrap();
        assert!(text.len() < 8000, "NOTIFY payloads are limited to 8000 bytes");
        assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), notice);
    }
}
