use super::loaded;
use crate::api::projects::{dataset_page, AddComment};
use crate::components::errors::action_error;
use crate::components::person::person;
use crate::components::preview::preview_view;
use crate::model::{format_time, DatasetPageView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A dataset's page: the preview, then its `Discussion` with `Add comment`.
#[component]
pub fn DatasetPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let ids = move || {
        let p = params.read();
        (p.get("key").unwrap_or_default(), p.get("name").unwrap_or_default())
    };
    let view_as = move || query.read().get("view_as").and_then(|id| id.parse::<i64>().ok());
    let add = ServerAction::<AddComment>::new();
    let page_data = Resource::new(
        move || (ids(), view_as(), add.version().get()),
        |((key, name), view_as, _)| dataset_page(key, name, view_as),
    );
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
        let view_as_form = (!d.view_as_candidates.is_empty()).then(|| {
            let chosen = d.view_as.as_ref().map(|v| v.user.id);
            let options = d
                .view_as_candidates
                .iter()
                .map(|u| view! { <option value=u.id.to_string() selected=chosen == Some(u.id)>{format!("{} ({})", u.display_name, u.email)}</option> })
                .collect_view();
            view! {
                <form method="get" class="grant-form view-as-form">
                    <label for="view-as">"View as"</label>
                    <select id="view-as" name="view_as">{options}</select>
                    <button type="submit">"View as"</button>
                    <span class="muted">"See this dataset as they do, side by side with your view (audited)."</span>
                </form>
            }
        });
        let previews = match d.view_as {
            None => preview_view(d.preview).into_any(),
            Some(other) => view! {
                <div class="side-by-side">
                    <div class="pane own">
                        <h3>"Your view"</h3>
                        {preview_view(d.preview)}
                    </div>
                    <div class="pane view-as">
                        <h3>{format!("As {} sees it", other.user.display_name)}</h3>
                        <p class="hidden-rows">{format!("{} rows hidden", other.hidden_rows)}</p>
                        {preview_view(other.preview)}
                    </div>
                </div>
            }
            .into_any(),
        };
        view! {
            <p><a href=format!("/projects/{}", d.project_key)>{format!("← {}", d.project_key)}</a></p>
            {view_as_form}
            {previews}
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
