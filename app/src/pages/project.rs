use super::loaded;
use crate::api::projects::{preview_dataset, project_page};
use crate::components::preview::preview_view;
use crate::model::{format_time, ProjectView};
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
            let page = format!("/projects/{key}/datasets/{}", d.name);
            view! {
                <tr>
                    <td><a href=href>{d.name.clone()}</a></td>
                    <td><a href=page aria-label=format!("Open {}", d.name)>"Open"</a></td>
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
            <thead><tr><th>"Dataset"</th><th>"Page and discussion"</th><th>"Made by"</th><th>"Rows"</th><th>"Last build (UTC)"</th><th>"Description"</th></tr></thead>
            <tbody>{datasets}</tbody>
        </table>
    }
}
