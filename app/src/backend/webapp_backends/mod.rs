//! The backends of code webapps (M23) that this server runs: one process per enabled code
//! webapp, started with its credentials, restarted with back-off when it exits, stopped when
//! the webapp is disabled or changes and when the server shuts down. What each is doing and
//! the last lines it printed (secrets hidden) are kept here, in memory, for the proxy and the
//! webapp's settings page.

mod process;

use super::state::AppState;
use super::store::{self, webapps::RunnableWebapp};
use crate::model::{BackendLogLine, BackendView};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Lines of a backend's output kept for its settings page.
pub const LOG_LINES_KEPT: usize = 200;
/// How often the running backends are compared with the registered ones, besides whenever a
/// change on this server asks for it.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(5);

/// The unit of the restart back-off (a second in production; shorter in tests).
#[derive(Clone, Copy, Debug)]
pub struct BackoffPolicy {
    pub unit: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy { unit: Duration::from_secs(1) }
    }
}

/// What a backend is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendStatus {
    Starting,
    Running { pid: u32, since: i64 },
    Restarting { at: i64, last_exit: String },
    Stopped,
}

impl BackendStatus {
    pub fn word(&self) -> &'static str {
        match self {
            BackendStatus::Starting => "Starting",
            BackendStatus::Running { .. } => "Running",
            BackendStatus::Restarting { .. } => "Restarting",
            BackendStatus::Stopped => "Stopped",
        }
    }
}

/// One backend as the rest of the server sees it.
struct Slot {
    status: BackendStatus,
    /// Where it listens, once it answers.
    port: Option<u16>,
    /// Its process group, while it runs (to stop it and whatever it started).
    group: Option<u32>,
    restarts: u32,
    last_exit: Option<String>,
    log: VecDeque<BackendLogLine>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot { status: BackendStatus::Starting, port: None, group: None, restarts: 0, last_exit: None, log: VecDeque::new() }
    }
}

/// A backend's task and what it was started with.
struct Running {
    spec: RunnableWebapp,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The backends this server runs.
pub struct Backends {
    slots: Mutex<HashMap<i64, Slot>>,
    reconcile: Notify,
    stopping: watch::Sender<bool>,
    started: Mutex<bool>,
    tasks: tokio::sync::Mutex<HashMap<i64, Running>>,
}

impl Default for Backends {
    fn default() -> Self {
        Backends {
            slots: Mutex::default(),
            reconcile: Notify::new(),
            stopping: watch::channel(false).0,
            started: Mutex::new(false),
            tasks: tokio::sync::Mutex::default(),
        }
    }
}

impl Backends {
    fn slot<T>(&self, id: i64, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        f(slots.entry(id).or_default())
    }

    /// Like `slot`, for a backend still known: what a stopped backend's output says late is dropped.
    fn known_slot(&self, id: i64, f: impl FnOnce(&mut Slot)) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(&id) {
            f(slot);
        }
    }

    /// The port a webapp's backend answers on, once it does.
    pub fn ready_port(&self, webapp_id: i64) -> Option<u16> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.get(&webapp_id).filter(|s| matches!(s.status, BackendStatus::Running { .. })).and_then(|s| s.port)
    }

    /// What a webapp's backend is doing, with its last `lines` lines of output (already
    /// redacted); `None` when this server does not run it.
    pub fn view(&self, webapp_id: i64, lines: usize) -> Option<BackendView> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.get(&webapp_id)?;
        let (pid, since) = match slot.status {
            BackendStatus::Running { pid, since } => (Some(pid), Some(since)),
            _ => (None, None),
        };
        let skip = slot.log.len().saturating_sub(lines);
        Some(BackendView {
            status: slot.status.word().to_string(),
            pid,
            since,
            restarts: slot.restarts,
            last_exit: slot.last_exit.clone(),
            log: slot.log.iter().skip(skip).cloned().collect(),
        })
    }

    /// Asks the supervisor to compare the running backends with the registered ones now.
    pub fn reconcile(&self) {
        self.reconcile.notify_one();
    }

    /// Kills every backend process group at once (a test's server going away without a
    /// graceful shutdown).
    pub fn kill_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for group in slots.values().filter_map(|s| s.group) {
            process::kill_group(group, libc::SIGKILL);
        }
    }

    /// Stops every backend and waits for each to be gone; no backend starts after this.
    pub async fn shutdown(&self) {
        self.stopping.send_replace(true);
        let mut tasks = self.tasks.lock().await;
        for (_, running) in tasks.drain() {
            running.stop.send_replace(true);
            let _ = running.task.await;
        }
    }
}

/// Starts the supervisor of `state`'s code webapps (once): their backends reach this server at
/// `guise_url`.
pub fn start(state: &AppState, guise_url: String, policy: BackoffPolicy) {
    let backends = state.backends.clone();
    {
        let mut started = backends.started.lock().unwrap_or_else(|e| e.into_inner());
        if *started {
            return;
        }
        *started = true;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut stopping = backends.stopping.subscribe();
        loop {
            if *stopping.borrow() {
                return;
            }
            if let Err(e) = reconcile_once(&state, &guise_url, policy).await {
                tracing::warn!("cannot read the code webapps to run: {e}");
            }
            tokio::select! {
                _ = backends.reconcile.notified() => {}
                _ = tokio::time::sleep(RECONCILE_EVERY) => {}
                _ = stopping.changed() => return,
            }
        }
    });
}

/// Starts the backends that should run and do not, restarts those whose registration or
/// credentials changed, and stops those no longer registered or enabled.
async fn reconcile_once(state: &AppState, guise_url: &str, policy: BackoffPolicy) -> Result<(), sqlx::Error> {
    let wanted: HashMap<i64, RunnableWebapp> = store::webapps::list_runnable(&state.db).await?.into_iter().map(|w| (w.id, w)).collect();
    let backends = &state.backends;
    let mut tasks = backends.tasks.lock().await;
    if *backends.stopping.borrow() {
        return Ok(());
    }
    let outdated: Vec<i64> = tasks.iter().filter(|(id, running)| wanted.get(id) != Some(&running.spec)).map(|(id, _)| *id).collect();
    for id in outdated {
        if let Some(running) = tasks.remove(&id) {
            running.stop.send_replace(true);
            let _ = running.task.await;
        }
        if !wanted.contains_key(&id) {
            backends.slots.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
    }
    for (id, spec) in wanted {
        if tasks.contains_key(&id) {
            continue;
        }
        let (stop, stop_rx) = watch::channel(false);
        backends.slot(id, |slot| slot.status = BackendStatus::Starting);
        let task = tokio::spawn(process::run(state.clone(), spec.clone(), guise_url.to_string(), policy, stop_rx));
        tasks.insert(id, Running { spec, stop, task });
    }
    Ok(())
}

/// The address a backend reaches this server at: a wildcard listen address is reached on
/// loopback.
pub fn guise_url_for(listening: std::net::SocketAddr) -> String {
    let ip = if listening.ip().is_unspecified() {
        match listening {
            std::net::SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            std::net::SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        listening.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(ip, listening.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_reaches_a_wildcard_listener_on_loopback() {
        assert_eq!(guise_url_for("0.0.0.0:3000".parse().unwrap()), "http://127.0.0.1:3000");
        assert_eq!(guise_url_for("[::]:3000".parse().unwrap()), "http://[::1]:3000");
        assert_eq!(guise_url_for("127.0.0.1:3100".parse().unwrap()), "http://127.0.0.1:3100");
    }
}
