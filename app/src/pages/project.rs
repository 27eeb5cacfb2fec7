use super::loaded;
use crate::api::projects::{preview_dataset, project_page};
use crate::model::{format_time, DatasetPreview, ProjectView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || params.read().get("key").unwrap_or_default();
    let preview_name = move || query.read().get("preview");
    let project = Resource::new(key, project_page);
    let preview = Resource::new(
        move || (key(), preview_name()),
        |(key, name)| async move {
            match name {
                Some(name) => preview_dataset(key, name).await.map(Some),
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(project.await, project_view) })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                loaded(preview.await, |p| p.map(preview_view))
            })}
        </Suspense>
    }
}

fn project_view(p: ProjectView) -> impl IntoView {
    let key = p.key.clone();
    let datasets = p
        .datasets
        .into_iter()
        .map(|d| {
            let href = format!("/projects/{key}?preview={}", d.name);
            view! {
                <tr>
                    <td><a href=href>{d.name.clone()}</a></td>
                    <td>{if d.kind == "raw" { "raw".to_string() } else { format!("recipe {}", d.recipe.clone().unwrap_or_default()) }}</td>
                    <td class="num">{d.row_count}</td>
                    <td class="time">{d.built_at.map(format_time).unwrap_or_else(|| "never built".into())}</td>
                    <td class="muted">{d.description.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let webapps = p
        .webapps
        .into_iter()
        .map(|w| view! {
            <li><a href=format!("/projects/{}/webapps/{}", p.key, w.slug)>{w.name.clone()}</a></li>
        })
        .collect_view();
    view! {
        <h1>{p.key.clone()}<span class="muted subtitle">{p.name.clone()}</span></h1>
        <p class="muted">{if p.can_build { "You may build datasets in this project." } else { "You may read this project; building needs the build permission." }}</p>
        <h2>"Webapps"</h2>
        <ul class="links">{webapps}</ul>
        <h2>"Datasets"</h2>
        <table class="datasets">
            <thead><tr><th>"Dataset"</th><th>"Made by"</th><th>"Rows"</th><th>"Last build (UTC)"</th><th>"Description"</th></tr></thead>
            <tbody>{datasets}</tbody>
        </table>
    }
}

fn preview_view(p: DatasetPreview) -> impl IntoView {
    let header = p.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view();
    let shown = p.rows.len();
    let rows = p
        .rows
        .into_iter()
        .map(|r| view! { <tr>{r.into_iter().map(|c| view! { <td title=c.clone()>{c.clone()}</td> }).collect_view()}</tr> })
        .collect_view();
    view! {
        <section class="preview">
            <h2>{format!("Preview of {}", p.name)}</h2>
            <p class="muted">{format!("First {shown} of {} rows", p.total_rows)}</p>
            <div class="scroll">
                <table class="data"><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>
            </div>
        </section>
    }
}
