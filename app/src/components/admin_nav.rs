use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The tabs of Administration.
#[component]
pub fn AdminNav() -> impl IntoView {
    let location = use_location();
    let tab = move |href: &'static str, label: &'static str| {
        let current = move || location.pathname.get() == href;
        view! { <a href=href class:current=current aria-current=move || current().then_some("page")>{label}</a> }
    };
    view! {
        <nav class="tabs" aria-label="Administration">
            {tab("/admin/users", "Users")}
            {tab("/admin/groups", "Groups")}
            {tab("/admin/grants", "Grants")}
            {tab("/admin/audit", "Audit")}
            {tab("/admin/api-clients", "API clients")}
        </nav>
    }
}
