//! The jobs table, its rows written as HTML text rather than built as views: a list of up to
//! 200 rows would otherwise build, render and then walk thousands of nodes on every visit.
//! Runs of finished jobs, which never change, are written once per list (`JobList` keeps them);
//! a queued or running job's row is written again when its pushed progress changes.

use crate::codec::Shared;
use crate::model::{format_duration, format_time, JobEvent, JobList, JobStatus, JobView, RowGroup, UserView};
use leptos::either::Either;
use leptos::prelude::*;
use std::collections::HashMap;
use std::fmt::Write;

/// `text` as HTML text or attribute value: nothing in it can open a tag or end an attribute.
fn push_escaped(html: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        html.push_str(&rest[..at]);
        html.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[at + 1..];
    }
    html.push_str(rest);
}

/// The status word, with a progress bar while running.
fn push_status(html: &mut String, status: JobStatus, progress: f64) {
    let _ = write!(html, r#"<span class="{}">{}</span>"#, status.badge_class(), status.label());
    if status == JobStatus::Running {
        let percent = format!("{:.0}", progress * 100.0);
        let _ = write!(html, r#"<span class="progress"><progress max="100" value="{percent}"></progress><span class="pct">{percent}%</span></span>"#);
    }
}

/// A person by display name, with their email on hover (as `person::Person`).
fn push_person(html: &mut String, user: &UserView) {
    html.push_str(r#"<span class="person" title=""#);
    push_escaped(html, &user.email);
    html.push_str(r#"">"#);
    push_escaped(html, &user.display_name);
    html.push_str("</span>");
}

/// One job's row, and a second one with its error if it has one.
fn push_row(html: &mut String, job: &JobView, status: JobStatus, progress: f64) {
    let _ = write!(html, r#"<tr data-job-id="{0}"><td><a href="/jobs/{0}">#{0}</a></td><td>"#, job.id);
    push_escaped(html, &job.dataset);
    html.push_str(r#"</td><td class="status-cell">"#);
    push_status(html, status, progress);
    html.push_str("</td><td>");
    push_person(html, &job.run_as);
    html.push_str("</td><td>");
    push_person(html, &job.triggered_by);
    html.push_str("</td><td>");
    match &job.impersonated_by {
        Some(user) => push_person(html, user),
        None => html.push_str(r#"<span class="none">—</span>"#),
    }
    html.push_str("</td><td>");
    push_escaped(html, &job.via.label());
    html.push_str(r#"</td><td class="time">"#);
    if let Some(started) = job.started_at {
        html.push_str(&format_time(started));
    }
    html.push_str(r#"</td><td class="num">"#);
    if let Some(duration) = job.duration_ms() {
        html.push_str(&format_duration(duration));
    }
    html.push_str(r#"</td><td class="num">"#);
    if let (Some(rows_in), Some(rows_out)) = (job.rows_in, job.rows_out) {
        let _ = write!(html, "{rows_in} → {rows_out}");
    }
    html.push_str("</td></tr>");
    if let Some(error) = &job.error {
        html.push_str(r#"<tr class="job-error"><td></td><td colspan="9">"#);
        push_escaped(html, error);
        html.push_str("</td></tr>");
    }
}

/// The rows of jobs as loaded.
fn rows_html(jobs: &[JobView]) -> String {
    let mut html = String::with_capacity(jobs.len() * 768);
    for job in jobs {
        push_row(&mut html, job, job.status, job.progress);
    }
    html
}

/// HTML that follows a job's status and progress: pushed live while it runs, else as loaded;
/// `write` makes it from them.
fn live_html(
    job: &JobView,
    live: RwSignal<HashMap<i64, JobEvent>>,
    write: fn(&mut String, &JobView, JobStatus, f64),
) -> impl Fn() -> String + Send + Sync + 'static {
    let job = job.clone();
    move || {
        let pushed = live.with(|m| m.get(&job.id).map(|e| (e.status, e.progress)));
        let (status, progress) = pushed.unwrap_or((job.status, job.progress));
        let mut html = String::new();
        write(&mut html, &job, status, progress);
        html
    }
}

/// A job's status word and progress bar, following live progress (the job's own page).
pub fn live_status_html(job: &JobView, live: RwSignal<HashMap<i64, JobEvent>>) -> impl Fn() -> String + Send + Sync + 'static {
    live_html(job, live, |html, _, status, progress| push_status(html, status, progress))
}

#[component]
pub fn JobTable(jobs: Shared<JobList>, live: RwSignal<HashMap<i64, JobEvent>>) -> impl IntoView {
    if jobs.jobs().is_empty() {
        return Either::Left(view! { <p class="empty">"No jobs yet."</p> });
    }
    // A table may have several bodies: one per run of finished jobs, one per live job.
    let bodies = jobs
        .row_groups(rows_html)
        .iter()
        .map(|group| match group {
            RowGroup::Finished(html) => Either::Left(view! { <tbody inner_html=html.clone()></tbody> }),
            RowGroup::Live(index) => {
                Either::Right(view! { <tbody class="live" inner_html=live_html(&jobs.jobs()[*index], live, push_row)></tbody> })
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
            {bodies}
        </table>
        </div>
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{sample_job, Via};

    fn job(id: i64, status: JobStatus) -> JobView {
        let carol = UserView { id: 7, email: "carol@tshirts.example".into(), display_name: "Carol Customer".into() };
        JobView {
            dataset: "orders_by_country".into(),
            run_as: carol.clone(),
            triggered_by: carol,
            started_at: Some(1_700_000_000_000),
            finished_at: Some(1_700_000_001_500),
            progress: 0.42,
            rows_in: Some(12),
            rows_out: Some(3),
            ..sample_job(id, status)
        }
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut hostile = job(1, JobStatus::Failed);
        hostile.run_as.display_name = r#"<img src=x onerror="alert(1)">"#.into();
        hostile.run_as.email = r#"x" onmouseover='alert(2)'@evil.example"#.into();
        hostile.dataset = "a&b</td>".into();
        hostile.via = Via::Webapp { name: "</tbody><script>alert(3)</script>".into() };
        hostile.error = Some("<b>boom</b>".into());
        let html = rows_html(&[hostile]);
        assert!(html.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"), "{html}");
        assert!(html.contains(r#"title="x&quot; onmouseover=&#39;alert(2)&#39;@evil.example""#), "{html}");
        assert!(html.contains("<td>a&amp;b&lt;/td&gt;</td>"), "{html}");
        assert!(html.contains("webapp &quot;&lt;/tbody&gt;&lt;script&gt;alert(3)&lt;/script&gt;&quot;"), "{html}");
        assert!(html.contains(r#"<td colspan="9">&lt;b&gt;boom&lt;/b&gt;</td>"#), "{html}");
        for tag in ["<img", "<script", "<b>", "</tbody>"] {
            assert!(!html.contains(tag), "{tag} in {html}");
        }
    }

    #[test]
    fn a_row_shows_every_column() {
        let mut finished = job(50, JobStatus::Succeeded);
        finished.impersonated_by = Some(UserView { id: 1, email: "alice@tshirts.example".into(), display_name: "Alice Admin".into() });
        assert_eq!(
            rows_html(&[finished]),
            concat!(
                r#"<tr data-job-id="50"><td><a href="/jobs/50">#50</a></td><td>orders_by_country</td>"#,
                r#"<td class="status-cell"><span class="status status-succeeded">Succeeded</span></td>"#,
                r#"<td><span class="person" title="carol@tshirts.example">Carol Customer</span></td>"#,
                r#"<td><span class="person" title="carol@tshirts.example">Carol Customer</span></td>"#,
                r#"<td><span class="person" title="alice@tshirts.example">Alice Admin</span></td>"#,
                r#"<td>UI</td><td class="time">2023-11-14 22:13:20</td><td class="num">1.5 s</td><td class="num">12 → 3</td></tr>"#,
            )
        );
        let mut refused = job(51, JobStatus::Refused);
        (refused.started_at, refused.rows_in, refused.error) = (None, None, Some("no build permission".into()));
        let html = rows_html(&[refused]);
        assert!(html.contains(r#"<td><span class="none">—</span></td>"#), "{html}");
        assert!(html.contains(r#"<td class="time"></td><td class="num"></td><td class="num"></td></tr>"#), "{html}");
        assert!(html.ends_with(r#"<tr class="job-error"><td></td><td colspan="9">no build permission</td></tr>"#), "{html}");
    }

    #[test]
    fn a_running_job_shows_its_progress() {
        let mut html = String::new();
        push_status(&mut html, JobStatus::Running, 0.424);
        assert_eq!(
            html,
            r#"<span class="status status-running">Running</span><span class="progress"><progress max="100" value="42"></progress><span class="pct">42%</span></span>"#
        );
    }
}
