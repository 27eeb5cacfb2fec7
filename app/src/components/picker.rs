//! "Impersonate selected": exactly the users I may impersonate.

use super::errors::action_error;
use crate::model::UserView;
use crate::providers::auth::AuthContext;
use leptos::prelude::*;

/// The picker bar. Its list comes with who I am (one request, no resource of its own, so
/// hydration sees the same resources in the same order as the server). `auth` comes from the
/// parent, which renders this after an await.
#[component]
pub fn ImpersonationPicker(candidates: Vec<UserView>, auth: AuthContext) -> impl IntoView {
    let picker = if candidates.is_empty() {
        view! { <span class="muted">"You cannot impersonate anyone"</span> }.into_any()
    } else {
        let options = candidates
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
    };
    view! {
        <div class="subbar">
            {picker}
            {action_error(auth.start.value().into())}
        </div>
    }
}
