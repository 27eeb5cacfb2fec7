//! "Impersonate selected": exactly the users I may impersonate.

use super::errors::action_error;
use crate::api::impersonation::impersonation_candidates;
use crate::providers::auth::use_auth;
use leptos::prelude::*;

#[component]
pub fn ImpersonationPicker() -> impl IntoView {
    let auth = use_auth();
    let candidates = Resource::new(move || auth.identity_version(), |_| impersonation_candidates());
    let picker = move || {
        Suspend::new(async move {
            let list = candidates.await.unwrap_or_default();
            if list.is_empty() {
                return view! { <span class="muted">"You cannot impersonate anyone"</span> }.into_any();
            }
            let options = list
                .into_iter()
                .map(|u| view! { <option value=u.id.to_string()>{format!("{} ({})", u.display_name, u.email)}</option> })
                .collect_view();
            view! {
                <ActionForm action=auth.start>
                    <div class="picker">
                        <label for="picker-user">"Act as"</label>
                        <select id="picker-user" name="user_id">{options}</select>
                        <input type="text" name="reason" aria-label="Reason" placeholder="Reason or ticket id" maxlength="500" required/>
                        <label class="check"><input type="checkbox" name="read_only"/>"Read-only"</label>
                        <button type="submit">"Impersonate selected"</button>
                    </div>
                </ActionForm>
            }
            .into_any()
        })
    };
    view! {
        <div class="subbar">
            <Transition fallback=|| ()>{picker}</Transition>
            {action_error(auth.start.value().into())}
        </div>
    }
}
