//! The backends of code webapps (M23) that this server runs, as the rest of the server sees
//! them: what each is doing, the port it answers on, and the last lines it printed (secrets
//! hidden), kept in memory for the proxy and the webapp's settings page. The supervisor
//! (`webapp_supervisor`) starts, watches and stops them.

use super::store::webapps::RunnableWebapp;
use crate::model::{BackendLogLine, BackendView};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::{watch, Notify};

/// Lines of a backend's output kept for its settings page.
pub const LOG_LINES_KEPT: usize = 200;
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
pub(crate) struct Slot {
    pub(crate) status: BackendStatus,
    /// Where it listens, once it answers.
    pub(crate) port: Option<u16>,
    /// Its process group, while it runs (to stop it and whatever it started).
    pub(crate) group: Option<u32>,
    pub(crate) restarts: u32,
    pub(crate) last_exit: Option<String>,
    pub(crate) log: VecDeque<BackendLogLine>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot { status: BackendStatus::Starting, port: None, group: None, restarts: 0, last_exit: None, log: VecDeque::new() }
    }
}

/// A backend's task and what it was started with.
pub(crate) struct Running {
    pub(crate) spec: RunnableWebapp,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// The backends this server runs.
pub struct Backends {
    pub(crate) slots: Mutex<HashMap<i64, Slot>>,
    pub(crate) reconcile: Notify,
    pub(crate) stopping: watch::Sender<bool>,
    /// Whether the supervisor was started (once per server).
    pub(crate) started: std::sync::atomic::AtomicBool,
    pub(crate) tasks: tokio::sync::Mutex<HashMap<i64, Running>>,
}

impl Default for Backends {
    fn default() -> Self {
        Backends {
            slots: Mutex::default(),
            reconcile: Notify::new(),
            stopping: watch::channel(false).0,
            started: Default::default(),
            tasks: tokio::sync::Mutex::default(),
        }
    }
}

impl Backends {
    pub(crate) fn slot<T>(&self, id: i64, f: impl FnOnce(&mut Slot) -> T) -> T {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        f(slots.entry(id).or_default())
    }

    /// Like `slot`, for a backend still known: what a stopped backend's output says late is dropped.
    pub(crate) fn known_slot(&self, id: i64, f: impl FnOnce(&mut Slot)) {
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
            kill_group(group, libc::SIGKILL);
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

/// Sends `signal` to a backend's process group.
pub(crate) fn kill_group(group: u32, signal: i32) {
    if let Ok(group) = i32::try_from(group) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
        unsafe { libc::kill(-group, signal) };
    }
}
