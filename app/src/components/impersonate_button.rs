use crate::model::DirectoryEntry;
use leptos::prelude::*;

/// `Impersonate user` for one person: a link to the start form, or a disabled button that
/// says why not.
#[component]
pub fn ImpersonateButton(entry: DirectoryEntry) -> impl IntoView {
    match entry.impersonation_refusal {
        None => view! {
            <a class="button" href=format!("/admin/users?impersonate={}", entry.user.id)>"Impersonate user"</a>
        }
        .into_any(),
        Some(why) => view! {
            <button type="button" disabled title=why.clone()>"Impersonate user"</button>
            <div class="why">{why}</div>
        }
        .into_any(),
    }
}
