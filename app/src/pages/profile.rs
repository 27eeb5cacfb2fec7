use super::loaded;
use crate::api::impersonation::profile;
use crate::error::AppError;
use crate::model::{GrantView, ProfileView};
use crate::providers::auth::use_auth;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// The other side of each grant, or a word saying there is none.
fn grant_list(grants: &[GrantView], other_side: fn(&GrantView) -> String) -> AnyView {
    if grants.is_empty() {
        return view! { <p class="muted">"Nobody (administrators need no grant)."</p> }.into_any();
    }
    let items = grants
        .iter()
        .map(|g| view! { <li>{other_side(g)}" "<span class="muted">{format!("({})", g.mode.label())}</span></li> })
        .collect_view();
    view! { <ul class="grant-list">{items}</ul> }.into_any()
}

#[component]
pub fn ProfilePage() -> impl IntoView {
    let auth = use_auth();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let user = Resource::new(
        move || (id(), auth.identity_version()),
        |(id, _)| async move {
            let id: i64 = id.parse().map_err(|_| AppError::BadRequest(format!("{id:?} is not a user id")))?;
            profile(id).await
        },
    );
    let page = |p: ProfileView| {
        let e = p.entry;
        let impersonate = p.viewer_is_admin.then(|| match e.impersonation_refusal.clone() {
            None => view! { <a class="button" href=format!("/admin/users?impersonate={}", e.user.id)>"Impersonate user"</a> }.into_any(),
            Some(why) => view! { <p class="muted">{format!("Impersonation: {why}.")}</p> }.into_any(),
        });
        view! {
            <h1>{e.user.display_name.clone()}</h1>
            <dl class="facts">
                <dt>"Email"</dt><dd>{e.user.email.clone()}</dd>
                <dt>"Role"</dt><dd>{e.role.clone()}</dd>
                <dt>"Tenant"</dt><dd>{p.tenant_name.clone()}</dd>
                <dt>"Groups"</dt><dd>{if e.groups.is_empty() { "—".to_string() } else { e.groups.join(", ") }}</dd>
                <dt>"Status"</dt><dd>{if e.disabled { "disabled" } else { "active" }}</dd>
            </dl>
            {impersonate}
            <h2>"May impersonate…"</h2>
            {grant_list(&p.may_impersonate, |g| g.subject.label())}
            <h2>"May be impersonated by…"</h2>
            {grant_list(&p.may_be_impersonated_by, |g| g.actor.label())}
            {p.viewer_is_admin.then(|| view! { <p><a href="/admin/grants">"Edit grants"</a></p> })}
        }
    };
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(user.await, page) })}
        </Transition>
    }
}
