use super::loaded;
use crate::api::impersonation::directory;
use crate::components::admin_nav::AdminNav;
use crate::components::impersonate_button::ImpersonateButton;
use crate::components::mode_fields::ModeFields;
use crate::components::person::Person;
use crate::model::DirectoryEntry;
use crate::providers::auth::{use_auth, AuthContext};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// Administration → Users: everyone of the tenant, with `Impersonate user` where allowed.
#[component]
pub fn AdminUsersPage() -> impl IntoView {
    let auth = use_auth();
    let query = use_query_map();
    let chosen = move || query.read().get("impersonate").and_then(|id| id.parse::<i64>().ok());
    let users = Resource::new(move || auth.identity_version(), |_| directory());

    let page = move |entries: Vec<DirectoryEntry>| {
        let form = chosen()
            .and_then(|id| entries.iter().find(|e| e.user.id == id && e.impersonation_refusal.is_none()).cloned())
            .map(|e| view! { <StartForm entry=e auth/> });
        let rows = entries
            .into_iter()
            .map(|e| {
                view! {
                    <tr data-user=e.user.email.clone()>
                        <td><a href=format!("/users/{}", e.user.id)><Person user=e.user.clone()/></a></td>
                        <td>{e.user.email.clone()}</td>
                        <td>{e.role.clone()}</td>
                        <td>{e.groups.join(", ")}</td>
                        <td>{if e.disabled { "disabled" } else { "active" }}</td>
                        <td class="actions"><ImpersonateButton entry=e.clone()/></td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            {form}
            <table class="users">
                <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Groups"</th><th>"Status"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    };

    view! {
        <h1>"Administration — Users"</h1>
        <AdminNav/>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move { loaded(users.await, page) })}
        </Transition>
    }
}

/// The reason (required) and read-only choice before impersonation starts. `auth` comes from
/// the page, which renders this after an await.
#[component]
pub fn StartForm(entry: DirectoryEntry, auth: AuthContext) -> impl IntoView {
    view! {
        <section class="card start-form">
            <h2>{format!("Impersonate {} ({})", entry.user.display_name, entry.user.email)}</h2>
            <ActionForm action=auth.start>
                <input type="hidden" name="user_id" value=entry.user.id.to_string()/>
                <div class="field">
                    <label for="reason">"Reason for impersonating"</label>
                    <input id="reason" type="text" name="reason" maxlength="500" required placeholder="Ticket id or why you need to act as this user"/>
                </div>
                {entry.default_mode.map(|chosen| view! {
                    <div class="field">
                        <ModeFields allowed=entry.allowed_modes.clone() chosen id="mode".to_string()/>
                    </div>
                })}
                <label class="check"><input type="checkbox" name="read_only"/>"Read-only (refuse every change)"</label>
                <div class="form-actions">
                    <button type="submit" class="primary">"Start impersonation"</button>
                    <a href="/admin/users">"Cancel"</a>
                </div>
            </ActionForm>
            // A refusal shows once, under the picker bar at the top of every page.
        </section>
    }
}
