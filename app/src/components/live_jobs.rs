//! Live job progress pushed by the server over Server-Sent Events. Without JavaScript the
//! pages still show the state at load time, and a refresh is always correct.

use crate::model::{JobEvent, JobStatus};
use leptos::prelude::*;
use std::collections::HashMap;

/// The URL of the server's job event stream.
pub const JOB_EVENTS_URL: &str = "/events/jobs";

/// Event name the server sends first on every (re)connection: anything that happened while the
/// page was not listening is then fetched once.
pub const READY_EVENT: &str = "ready";

/// The latest event the server pushed, and how many times the stream (re)connected (never set
/// while rendering on the server).
fn use_job_events() -> (ReadSignal<Option<JobEvent>>, ReadSignal<u32>) {
    let (event, set_event) = signal(None::<JobEvent>);
    let (connected, set_connected) = signal(0u32);
    #[cfg(feature = "hydrate")]
    {
        use futures::StreamExt;
        let (listen, stop) = futures::future::abortable(async move {
            let Ok(mut source) = gloo_net::eventsource::futures::EventSource::new(JOB_EVENTS_URL) else {
                return;
            };
            let (Ok(jobs), Ok(ready)) = (source.subscribe("job"), source.subscribe(READY_EVENT)) else {
                return;
            };
            let mut stream = futures::stream::select(jobs, ready);
            while let Some(item) = stream.next().await {
                let Ok((kind, message)) = item else { continue };
                if kind == READY_EVENT {
                    set_connected.update(|n| *n += 1);
                    continue;
                }
                if let Some(text) = message.data().as_string() {
                    if let Ok(ev) = serde_json::from_str::<JobEvent>(&text) {
                        set_event.set(Some(ev));
                    }
                }
            }
            source.close();
        });
        leptos::task::spawn_local(async move {
            let _ = listen.await;
        });
        on_cleanup(move || stop.abort());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_event, set_connected);
    (event, connected)
}

/// Latest pushed state per job. `refetch` runs when a job appears or changes status, so the
/// list picks up times and counts; progress alone only updates the overlay.
pub fn use_live_jobs(refetch: impl Fn() + 'static) -> RwSignal<HashMap<i64, JobEvent>> {
    let (events, connected) = use_job_events();
    let overlay = RwSignal::new(HashMap::<i64, JobEvent>::new());
    let refetch = std::rc::Rc::new(refetch);
    // A job may have moved between the page's render and the stream's start: catch up.
    let catch_up = refetch.clone();
    Effect::new(move |_| {
        if connected.get() > 0 {
            catch_up();
        }
    });
    Effect::new(move |_| {
        let Some(ev) = events.get() else { return };
        let before: Option<JobStatus> = overlay.with_untracked(|m| m.get(&ev.job_id).map(|e| e.status));
        let status_changed = before != Some(ev.status);
        overlay.update(|m| {
            m.insert(ev.job_id, ev);
        });
        if status_changed {
            refetch();
        }
    });
    overlay
}
