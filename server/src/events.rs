//! Server-Sent Events: job progress for the signed-in user's tenant.

use app::backend::principal::Principal;
use app::backend::state::AppState;
use app::components::live_jobs::READY_EVENT;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures::Stream;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;

pub async fn job_events(
    principal: Principal,
    Extension(state): Extension<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let tenant_id = principal.tenant_id();
    let stream = BroadcastStream::new(state.jobs.subscribe()).filter_map(move |message| {
        // A lagging browser skips events; its next refetch brings it up to date.
        let message = message.ok().filter(|m| m.tenant_id == tenant_id)?;
        Event::default().event("job").json_data(&message.event).ok().map(Ok)
    });
    // First a `ready` event, so the page fetches whatever changed before it was listening.
    let ready = futures::stream::once(async { Ok(Event::default().event(READY_EVENT).data("listening")) });
    Sse::new(ready.chain(stream)).keep_alive(KeepAlive::default())
}
