use super::loaded;
use crate::api::jobs::list_jobs;
use crate::codec::Compact;
use crate::components::job_table::JobTable;
use crate::components::live_jobs::use_live_jobs;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let only_mine = move || query.read().get("mine").as_deref() == Some("1");
    // Up to 200 rows ride in the page for hydration: compact, not JSON.
    let jobs = Resource::<_, Compact>::new_with_options(only_mine, list_jobs, false);
    let live = use_live_jobs(move || jobs.refetch());
    let filter = move || {
        let mine = only_mine();
        view! {
            <a class="toggle" aria-pressed=mine.to_string() href=if mine { "/jobs" } else { "/jobs?mine=1" }>
                <span class="box">{if mine { "✓" } else { "" }}</span>
                "Only my jobs"
            </a>
        }
    };
    view! {
        <div class="title-row">
            <h1>"Jobs"</h1>
            {filter}
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(jobs.await, move |list| view! { <JobTable jobs=list live/> }) })}
        </Transition>
    }
}
