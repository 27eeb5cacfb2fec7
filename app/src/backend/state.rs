//! What every request and worker shares.

use super::secrets::ServerKey;
use super::throttle::{self, LoginThrottle, Throttle};
use std::net::IpAddr;
use super::store::cache::{Cached, ReadCache};
use super::store::job_lists::JobLists;
use super::store::{jobs::Lease, Database, Db, Writer};
use super::tokens::TokenKeys;
use crate::model::JobEvent;
use super::store::job_events::{Outbox, Relay};
use std::sync::{Arc, OnceLock};
use tokio::sync::{broadcast, Notify, Semaphore};

#[derive(Clone, Debug)]
pub struct Settings {
    pub job_workers: usize,
    pub impersonation_minutes: i64,
    /// The server key file; by default beside the database.
    pub key_file: Option<std::path::PathBuf>,
    /// Proxies whose `X-Forwarded-For` names the address a request came from.
    pub trusted_proxies: Vec<IpAddr>,
    /// The address users reach the server at, when it is not the one it listens on (behind a
    /// proxy that terminates TLS).
    pub public_url: Option<String>,
}

impl Settings {
    /// Whether browsers reach the server over HTTPS: its cookies are then `Secure`, and
    /// browsers are told to use nothing else (HSTS).
    pub fn serves_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| url.starts_with("https://"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings { job_workers: 2, impersonation_minutes: 60, key_file: None, trusted_proxies: Vec::new(), public_url: None }
    }
}

/// How long a job stays leased to the server that claimed it without a renewal; the server
/// renews it three times as often, so a lease runs out only when its server stopped (or lost
/// the database for that long).
pub const JOB_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// Wakes workers when work is queued, tells browsers how jobs move, and holds this server's
/// lease on the jobs it runs.
#[derive(Clone)]
pub struct JobHub {
    wake: Arc<Notify>,
    events: broadcast::Sender<TenantJobEvent>,
    /// On PostgreSQL, where this server's events leave for the other servers.
    outbox: Arc<OnceLock<Outbox>>,
    pub lease: Arc<Lease>,
}

/// A job event and the tenant allowed to see it.
#[derive(Clone, Debug)]
pub struct TenantJobEvent {
    pub tenant_id: i64,
    pub event: JobEvent,
}

impl JobHub {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        // One owner name per server process: a restarted server holds none of its old leases.
        let owner = format!("server-{}-{:016x}", std::process::id(), rand::random::<u64>());
        let lease = Lease { owner, millis: JOB_LEASE.as_millis() as i64 };
        JobHub { wake: Arc::new(Notify::new()), events, outbox: Arc::default(), lease: Arc::new(lease) }
    }

    /// Sends this server's job events to the other servers on the database, and theirs to
    /// this server's pages.
    pub async fn relay_through(&self, relay: Relay) {
        let events = self.events.clone();
        let deliver = move |tenant_id, event| {
            let _ = events.send(TenantJobEvent { tenant_id, event });
        };
        let outbox = relay.start(self.lease.owner.clone(), deliver).await;
        if self.outbox.set(outbox).is_err() {
            tracing::warn!("job events are already relayed");
        }
    }

    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }

    pub async fn wait_for_work(&self) {
        self.wake.notified().await
    }

    pub fn publish(&self, tenant_id: i64, event: JobEvent) {
        // Nobody listening is fine: events are only a live view of the jobs table.
        if let Some(outbox) = self.outbox.get() {
            outbox.send(tenant_id, event.clone());
        }
        let _ = self.events.send(TenantJobEvent { tenant_id, event });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TenantJobEvent> {
        self.events.subscribe()
    }
}

impl Default for JobHub {
    fn default() -> Self {
        Self::new()
    }
}

/// The keys of the server: the one kept outside the database, and the token signing keys.
#[derive(Debug)]
pub struct Keys {
    pub server: ServerKey,
    pub tokens: TokenKeys,
}

impl Keys {
    /// Keys that live only as long as the process (tests).
    pub fn ephemeral() -> Self {
        Keys { server: ServerKey::ephemeral(), tokens: TokenKeys::ephemeral() }
    }
}

/// Password checks at once: one per core. More only queue on the CPU while each holds
/// argon2's working memory.
fn hashing_slots() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Threads the runtime's blocking pool needs: every read handed to a thread (at most
/// `store::readers` at once), every password check (`hashing_slots`), and two for the rest
/// (a webapp's files, a password hashed for a new account). Each thread keeps memory of its
/// own (the allocator's pages, a read connection's cache): under load a pool bounded at 16
/// held 16–24 MB more, since a read handed over while the last one's thread was still
/// returning to the pool started another thread.
pub fn blocking_threads() -> usize {
    super::store::readers() + hashing_slots() + 2
}

#[derive(Clone)]
pub struct AppState {
    /// Reads: a pool of read-only connections.
    pub db: Db,
    /// Every write, as units of work on the one writer.
    pub writer: Writer,
    /// Who-may-do-what rows, kept while the database's access version stays put.
    pub cache: Arc<ReadCache>,
    /// The job lists pages show, kept while they are current.
    pub job_lists: Arc<JobLists>,
    pub jobs: JobHub,
    pub settings: Arc<Settings>,
    pub hashing: Arc<Semaphore>,
    pub keys: Arc<Keys>,
    /// Wrong passwords, per account and address.
    pub login_throttle: Arc<LoginThrottle>,
    /// Wrong API client secrets, per client and address.
    pub client_throttle: Arc<Throttle<(String, IpAddr)>>,
    /// The backends of code webapps this server runs.
    pub backends: Arc<super::webapp_backends::Backends>,
}

impl AppState {
    pub fn new(database: Database, settings: Settings, keys: Keys) -> Self {
        AppState {
            db: database.read,
            writer: database.writer,
            cache: database.cache,
            job_lists: Arc::default(),
            jobs: JobHub::new(),
            settings: Arc::new(settings),
            hashing: Arc::new(Semaphore::new(hashing_slots())),
            keys: Arc::new(keys),
            login_throttle: Arc::default(),
            client_throttle: Arc::new(Throttle::new(throttle::ONE_CLIENT_SOURCE)),
            backends: Arc::default(),
        }
    }

    /// Reads through the cache: only within a request that loaded its browser session or its
    /// API client (which brought the cache up to date).
    pub fn cached(&self) -> Cached<'_> {
        Cached { db: &self.db, cache: &self.cache }
    }

    /// The state of the current server-function request.
    pub fn current() -> Result<AppState, crate::error::AppError> {
        leptos::prelude::use_context::<AppState>()
            .ok_or_else(|| crate::error::AppError::internal("AppState missing from context"))
    }
}
