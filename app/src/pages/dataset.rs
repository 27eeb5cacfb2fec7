use super::loaded;
use crate::api::projects::{dataset_page, AddComment};
use crate::components::errors::action_error;
use crate::components::person::person;
use crate::components::preview::preview_view;
use crate::model::{format_time, DatasetPageView};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// A dataset's page: the preview, then its `Discussion` with `Add comment`.
#[component]
pub fn DatasetPage() -> impl IntoView {
    let params = use_params_map();
    let ids = move || {
        let p = params.read();
        (p.get("key").unwrap_or_default(), p.get("name").unwrap_or_default())
    };
    let add = ServerAction::<AddComment>::new();
    let page_data = Resource::new(move || (ids(), add.version().get()), |((key, name), _)| dataset_page(key, name));
    let page = move |d: DatasetPageView| {
        let dataset = d.preview.name.clone();
        let comments = if d.comments.is_empty() {
            view! { <p class="empty">"No comments yet."</p> }.into_any()
        } else {
            let items = d
                .comments
                .iter()
                .map(|c| {
                    view! {
                        <li class="comment" data-comment=c.id.to_string()>
                            <div class="comment-head">
                                <span class="author">{person(&c.author)}</span>
                                {c.other_person.clone().map(|o| view! { " "<span class="other-person muted">{o}</span> })}
                                <span class="time muted">{format_time(c.created_at)}</span>
                            </div>
                            <p class="body">{c.body.clone()}</p>
                        </li>
                    }
                })
                .collect_view();
            view! { <ol class="comments">{items}</ol> }.into_any()
        };
        view! {
            <p><a href=format!("/projects/{}", d.project_key)>{format!("← {}", d.project_key)}</a></p>
            {preview_view(d.preview)}
            <section class="discussion">
                <h2>"Discussion"</h2>
                {comments}
                <ActionForm action=add>
                    <input type="hidden" name="project" value=d.project_key.clone()/>
                    <input type="hidden" name="dataset" value=dataset/>
                    <div class="field">
                        <label for="comment">"Comment"</label>
                        <textarea id="comment" name="body" rows="3" maxlength="2000" required></textarea>
                    </div>
                    <button type="submit" class="primary">"Add comment"</button>
                </ActionForm>
            </section>
        }
    };
    view! {
        {action_error(add.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(page_data.await, page) })}
        </Transition>
    }
}
