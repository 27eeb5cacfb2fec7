use super::loaded;
use crate::api::impersonation::profile;
use crate::error::AppError;
use crate::api::admin::SetUserAttributes;
use crate::components::errors::action_error;
use crate::model::{GrantView, PriceGroup, ProfileView, REGIONS};
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
    let save = ServerAction::<SetUserAttributes>::new();
    let user = Resource::new(
        move || (id(), auth.identity_version(), save.version().get()),
        |(id, _, _)| async move {
            let id: i64 = id.parse().map_err(|_| AppError::BadRequest(format!("{id:?} is not a user id")))?;
            profile(id).await
        },
    );
    let page = move |p: ProfileView| {
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
                <dt>"Region"</dt><dd class="region">{p.region.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Price group"</dt><dd class="price-group">{p.price_group.map_or("—", PriceGroup::as_db)}</dd>
            </dl>
            {p.viewer_is_admin.then(|| view! { <AttributesForm save user_id=e.user.id region=p.region.clone() price_group=p.price_group/> })}
            {impersonate}
            <h2>"May impersonate…"</h2>
            {grant_list(&p.may_impersonate, |g| g.subject.label())}
            <h2>"May be impersonated by…"</h2>
            {grant_list(&p.may_be_impersonated_by, |g| g.actor.label())}
            {p.viewer_is_admin.then(|| view! { <p><a href="/admin/grants">"Edit grants"</a></p> })}
        }
    };
    view! {
        {action_error(save.value().into())}
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(user.await, page) })}
        </Transition>
    }
}

/// Admins set a user's region (which rows of restricted datasets they see) and price group.
#[component]
fn AttributesForm(
    save: ServerAction<SetUserAttributes>,
    user_id: i64,
    region: Option<String>,
    price_group: Option<PriceGroup>,
) -> impl IntoView {
    let regions = REGIONS
        .iter()
        .map(|r| view! { <option value=*r selected=region.as_deref() == Some(*r)>{*r}</option> })
        .collect_view();
    let groups = PriceGroup::ALL
        .iter()
        .map(|g| view! { <option value=g.as_db() selected=price_group == Some(*g)>{g.as_db()}</option> })
        .collect_view();
    view! {
        <ActionForm action=save>
            <div class="grant-form attributes">
                <input type="hidden" name="user_id" value=user_id.to_string()/>
                <label for="region">"Region"</label>
                <select id="region" name="region"><option value="" selected=region.is_none()>"—"</option>{regions}</select>
                <label for="price-group">"Price group"</label>
                <select id="price-group" name="price_group"><option value="" selected=price_group.is_none()>"—"</option>{groups}</select>
                <button type="submit">"Save attributes"</button>
            </div>
        </ActionForm>
    }
}
