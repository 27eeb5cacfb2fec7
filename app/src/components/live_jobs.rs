//! Live job progress pushed by the server over Server-Sent Events. Without JavaScript the
//! pages still show the state at load time, and a refresh is always correct.

use crate::model::{JobEvent, JobStatus};
use leptos::prelude::*;
use std::collections::HashMap;

/// The URL of the server's job event stream.
pub const JOB_EVENTS_URL: &str = "/events/jobs";

/// The latest event the server pushed (never set while rendering on the server).
fn use_job_events() -> ReadSignal<Option<JobEvent>> {
    let (event, set_event) = signal(None::<JobEvent>);
    #[cfg(feature = "hydrate")]
    {
        use futures::StreamExt;
        let (listen, stop) = futures::future::abortable(async move {
            let Ok(mut source) = gloo_net::eventsource::futures::EventSource::new(JOB_EVENTS_URL) else {
                return;
            };
            let Ok(mut stream) = source.subscribe("job") else {
                return;
            };
            while let Some(item) = stream.next().await {
                let Ok((_, message)) = item else { continue };
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
    let _ = set_event;
    event
}

/// Latest pushed state per job. `refetch` runs when a job appears or changes status, so the
/// list picks up times and counts; progress alone only updates the overlay.
pub fn use_live_jobs(refetch: impl Fn() + 'static) -> RwSignal<HashMap<i64, JobEvent>> {
    let events = use_job_events();
    let overlay = RwSignal::new(HashMap::<i64, JobEvent>::new());
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
