use super::person::person;
use crate::codec::Shared;
use crate::model::{format_duration, format_time, JobEvent, JobStatus, JobView};
use leptos::either::Either;
use leptos::prelude::*;
use std::collections::HashMap;

/// The status word, with a progress bar while running (a plain function: one per row).
fn status_cell(status: JobStatus, progress: f64) -> impl IntoView {
    view! {
        <span class=status.badge_class()>{status.label()}</span>
        {(status == JobStatus::Running).then(|| view! {
            <span class="progress">
                <progress max="100" value=format!("{:.0}", progress * 100.0)></progress>
                <span class="pct">{format!("{:.0}%", progress * 100.0)}</span>
            </span>
        })}
    }
}

/// The job's status and progress: pushed live while it runs, else as loaded. A job that had
/// finished when loaded never changes, so it does not follow the live updates at all.
pub fn live_status(job: &JobView, live: RwSignal<HashMap<i64, JobEvent>>) -> impl IntoView {
    let (id, status, progress) = (job.id, job.status, job.progress);
    if status.is_finished() {
        return Either::Left(status_cell(status, progress));
    }
    Either::Right(move || {
        let pushed = live.with(|m| m.get(&id).map(|e| (e.status, e.progress)));
        let (status, progress) = pushed.unwrap_or((status, progress));
        status_cell(status, progress)
    })
}

fn rows_text(job: &JobView) -> String {
    match (job.rows_in, job.rows_out) {
        (Some(i), Some(o)) => format!("{i} → {o}"),
        _ => String::new(),
    }
}

#[component]
pub fn JobTable(jobs: Shared<Vec<JobView>>, live: RwSignal<HashMap<i64, JobEvent>>) -> impl IntoView {
    if jobs.is_empty() {
        return Either::Left(view! { <p class="empty">"No jobs yet."</p> });
    }
    // One static view type per row, no `into_any`: a boxed view per row and per cell cost an
    // allocation and dynamic calls for each, on a page that shows up to 200 rows.
    let rows = jobs
        .iter()
        .map(|job| {
            let status = live_status(job, live);
            let (duration, rows) = (job.duration_ms().map(format_duration), rows_text(job));
            let impersonated_by = match &job.impersonated_by {
                Some(user) => Either::Left(person(user)),
                None => Either::Right(view! { <span class="none">"—"</span> }),
            };
            let error = job.error.clone().map(|e| view! {
                <tr class="job-error"><td></td><td colspan="9">{e}</td></tr>
            });
            view! {
                <tr data-job-id=job.id>
                    <td><a href=format!("/jobs/{}", job.id)>{format!("#{}", job.id)}</a></td>
                    <td>{job.dataset.clone()}</td>
                    <td class="status-cell">{status}</td>
                    <td>{person(&job.run_as)}</td>
                    <td>{person(&job.triggered_by)}</td>
                    <td>{impersonated_by}</td>
                    <td>{job.via.label()}</td>
                    <td class="time">{job.started_at.map(format_time)}</td>
                    <td class="num">{duration}</td>
                    <td class="num">{rows}</td>
                </tr>
                {error}
            }
        })
        .collect_view();
    Either::Right(view! {
        <div class="scroll">
        <table class="jobs">
            <thead>
                <tr>
                    <th>"Job"</th>
                    <th>"Dataset"</th>
                    <th>"Status"</th>
                    <th>"Run as"</th>
                    <th>"Triggered by"</th>
                    <th>"Impersonated by"</th>
                    <th>"Via"</th>
                    <th>"Started (UTC)"</th>
                    <th>"Duration"</th>
                    <th>"Rows in → out"</th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        </div>
    })
}
