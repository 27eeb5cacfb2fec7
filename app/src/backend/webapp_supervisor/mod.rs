//! The supervisor of code webapps' backends (M23): one process per enabled code webapp, started
//! with its credentials, restarted with back-off when it exits, stopped when the webapp is
//! disabled or changes and when the server shuts down; credentials a day old are replaced.
//! What each backend is doing is kept in `webapp_backends`.

mod process;

use super::services;
use super::state::AppState;
use super::store::{self, webapps::RunnableWebapp};
use super::webapp_backends::{BackendStatus, Running};
use crate::error::AppError;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

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

/// Starts the supervisor of `state`'s code webapps (once): their backends reach this server at
/// `guise_url`.
pub fn start(state: &AppState, guise_url: String, policy: BackoffPolicy) {
    let backends = state.backends.clone();
    if backends.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
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

/// Replaces credentials a day old, starts the backends that should run and do not, restarts
/// those whose registration or credentials changed, and stops those no longer registered or
/// enabled.
async fn reconcile_once(state: &AppState, guise_url: &str, policy: BackoffPolicy) -> Result<(), AppError> {
    let mut runnable = store::webapps::list_runnable(&state.db).await?;
    let now = store::now_ms();
    let mut rotated = false;
    for webapp in &runnable {
        match services::webapps::rotate_if_due(state, webapp, now).await {
            Ok(done) => rotated |= done,
            // The old credentials still work: the backend keeps running, and the next round tries again.
            Err(e) => tracing::warn!("cannot replace the credentials of webapp {}: {e}", webapp.slug),
        }
    }
    if rotated {
        runnable = store::webapps::list_runnable(&state.db).await?;
    }
    let wanted: HashMap<i64, RunnableWebapp> = runnable.into_iter().map(|w| (w.id, w)).collect();
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
