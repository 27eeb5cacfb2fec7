use super::loaded;
use crate::api::jobs::get_job;
use crate::components::job_table::live_status_html;
use crate::components::live_jobs::use_live_jobs;
use crate::components::person::Person;
use crate::error::AppError;
use crate::model::{format_duration, format_time, JobDetail};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn JobDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, |id| async move {
        let id: i64 = id.parse().map_err(|_| AppError::BadRequest(format!("{id:?} is not a job number")))?;
        get_job(id).await
    });
    let live = use_live_jobs(move || detail.refetch());

    let page = move |d: JobDetail| {
        let job = d.job;
        let status = live_status_html(&job, live);
        let log = d
            .log
            .into_iter()
            .map(|l| view! {
                <tr class=format!("log-{}", l.level)>
                    <td class="time">{format_time(l.at)}</td>
                    <td>{l.level.clone()}</td>
                    <td>{l.message.clone()}</td>
                </tr>
            })
            .collect_view();
        view! {
            <h1>{format!("Job #{} — {}", job.id, job.dataset)}</h1>
            <dl class="facts">
                <dt>"Status"</dt><dd inner_html=status></dd>
                <dt>"Project"</dt><dd><a href=format!("/projects/{}", job.project_key)>{job.project_key.clone()}</a></dd>
                <dt>"Run as"</dt><dd><Person user=job.run_as.clone()/>" · "{job.run_as.email.clone()}</dd>
                <dt>"Triggered by"</dt><dd><Person user=job.triggered_by.clone()/>" · "{job.triggered_by.email.clone()}</dd>
                <dt>"Impersonated by"</dt>
                <dd>{job.impersonated_by.clone().map(|u| view! { <Person user=u.clone()/>" · "{u.email.clone()} }.into_any()).unwrap_or_else(|| "—".into_any())}</dd>
                <dt>"Via"</dt><dd>{job.via.label()}</dd>
                <dt>"Queued (UTC)"</dt><dd>{format_time(job.created_at)}</dd>
                <dt>"Started (UTC)"</dt><dd>{job.started_at.map(format_time).unwrap_or_default()}</dd>
                <dt>"Finished (UTC)"</dt><dd>{job.finished_at.map(format_time).unwrap_or_default()}</dd>
                <dt>"Duration"</dt><dd>{job.duration_ms().map(format_duration).unwrap_or_default()}</dd>
                <dt>"Rows in / out"</dt><dd>{format!("{} / {}", job.rows_in.map(|n| n.to_string()).unwrap_or_default(), job.rows_out.map(|n| n.to_string()).unwrap_or_default())}</dd>
                {job.error.clone().map(|e| view! { <dt>"Error"</dt><dd class="error-text">{e}</dd> })}
            </dl>
            <h2>"Log"</h2>
            <table class="log"><tbody>{log}</tbody></table>
            <p><a href="/jobs">"All jobs"</a></p>
        }
    };

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(detail.await, page) })}
        </Transition>
    }
}
