use super::loaded;
use crate::api::jobs::webapp_jobs;
use crate::api::webapp::{webapp_page, BuildAsBackend, BuildInContext};
use crate::components::errors::action_error;
use crate::components::job_table::JobTable;
use crate::components::live_jobs::use_live_jobs;
use crate::components::person::Person;
use crate::error::AppError;
use crate::model::{BuildStarted, CodeWebappView, WebappView};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The "Impersonation Demo" webapp: the same build started inside and outside the
/// impersonation context.
#[component]
pub fn WebappPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        (p.get("key").unwrap_or_default(), p.get("slug").unwrap_or_default())
    };
    let in_context = ServerAction::<BuildInContext>::new();
    let as_backend = ServerAction::<BuildAsBackend>::new();
    let page = Resource::new(ids, |(key, slug)| webapp_page(key, slug));
    let jobs = Resource::new(
        move || (ids(), in_context.version().get(), as_backend.version().get()),
        |((key, slug), _, _)| webapp_jobs(key, slug),
    );
    let live = use_live_jobs(move || jobs.refetch());

    let demo = move |w: WebappView| {
        if let Some(code) = w.code.clone() {
            return code_webapp(w, code).into_any();
        }
        // The same fields for both buttons: which webapp, which dataset.
        let hidden = {
            let (project, slug, dataset) = (w.project_key.clone(), w.slug.clone(), w.dataset.clone());
            move || {
                view! {
                    <input type="hidden" name="project" value=project.clone()/>
                    <input type="hidden" name="webapp" value=slug.clone()/>
                    <input type="hidden" name="dataset" value=dataset.clone()/>
                }
            }
        };
        let settings = w.can_edit_settings.then(|| {
            view! { <a class="button" href=format!("/projects/{}/webapps/{}/settings", w.project_key, w.slug)>"Settings"</a> }
        });
        let hidden_again = hidden.clone();
        view! {
            <div class="title-row">
                <h1>{w.name.clone()}</h1>
                {settings}
            </div>
            <p class="welcome">"Welcome: "{w.browser_user.display_name.clone()}</p>
            <dl class="facts">
                <dt>"You (from your session)"</dt>
                <dd><Person user=w.browser_user.clone()/>" · "{w.browser_user.email.clone()}</dd>
                <dt>"Run backend as"</dt>
                <dd class="run-as"><Person user=w.run_as.clone()/>" · "{w.run_as.email.clone()}</dd>
                <dt>"Dataset"</dt>
                <dd><code>{w.dataset.clone()}</code></dd>
            </dl>
            <div class="demo-actions">
                <div class="demo-action">
                    <ActionForm action=in_context>
                        {hidden()}
                        <button type="submit" class="primary">"Build the dataset"</button>
                    </ActionForm>
                    <p class="muted">"Inside the impersonation context: the job runs as you."</p>
                </div>
                <div class="demo-action">
                    <ActionForm action=as_backend>
                        {hidden_again()}
                        <button type="submit">"Build as backend"</button>
                    </ActionForm>
                    <p class="muted">{format!("Outside it: the job runs as {}.", w.run_as.display_name)}</p>
                </div>
            </div>
        }
        .into_any()
    };

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(page.await, demo) })}
        </Suspense>
        {outcome(in_context.value().into())}
        {outcome(as_backend.value().into())}
        <h2>"Latest jobs of this webapp"</h2>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(jobs.await, move |list| view! { <JobTable jobs=list live/> }) })}
        </Transition>
        <p><a href="/jobs">"All jobs"</a></p>
    }
}

/// A code webapp: its own pages (served by Guise, its backend behind Guise's proxy), who its
/// backend runs as and what it may do on behalf of the people using it.
fn code_webapp(w: WebappView, code: CodeWebappView) -> impl IntoView {
    let settings = w.can_edit_settings.then(|| {
        view! { <a class="button" href=format!("/projects/{}/webapps/{}/settings", w.project_key, w.slug)>"Settings"</a> }
    });
    // `rel="external"`: its own pages, not the app's, so a full page load.
    let scopes = if code.scopes.is_empty() { "none: it acts only as its own account".to_string() } else { code.scopes.join(", ") };
    view! {
        <div class="title-row">
            <h1>{w.name.clone()}</h1>
            {settings}
        </div>
        <p><a class="button primary" href=code.url.clone() rel="external">"Open the webapp"</a></p>
        <dl class="facts">
            <dt>"Run backend as"</dt>
            <dd class="run-as"><Person user=w.run_as.clone()/>" · "{w.run_as.email.clone()}</dd>
            <dt>"Acts for its users with"</dt>
            <dd class="scopes">{scopes}</dd>
        </dl>
        <p class="muted">"Its backend never sees your session: each request carries a one-minute ticket naming you, which it may exchange for a short token acting as you, within the scopes above."</p>
    }
}

/// What happened to the last click of a build button.
fn outcome(value: Signal<Option<Result<BuildStarted, AppError>>>) -> impl IntoView {
    let started = move || {
        value.get().and_then(|r| r.ok()).map(|b| {
            view! {
                <div class="notice" role="status">
                    {format!("Job #{} queued: building {} as {}. ", b.job_id, b.dataset, b.run_as.display_name)}
                    <a href=format!("/jobs/{}", b.job_id)>"Open the job"</a>
                </div>
            }
        })
    };
    view! { {started} {action_error(value)} }
}
