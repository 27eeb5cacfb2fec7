use super::loaded;
use crate::api::projects::list_projects;
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let projects = Resource::new(|| (), |_| list_projects());
    view! {
        <h1>"Projects"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded(projects.await, |list| view! {
                    <ul class="cards">
                        {list.into_iter().map(|p| view! {
                            <li class="card">
                                <a href=format!("/projects/{}", p.key)><strong>{p.key.clone()}</strong></a>
                                <span class="muted">{p.name.clone()}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                })
            })}
        </Suspense>
    }
}
