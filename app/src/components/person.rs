use crate::model::UserView;
use leptos::prelude::*;

/// A person by display name, with their email on hover.
#[component]
pub fn Person(user: UserView) -> impl IntoView {
    person(&user)
}

/// The same, as a plain function for long tables: no component set-up per cell.
pub fn person(user: &UserView) -> impl IntoView {
    view! { <span class="person" title=user.email.clone()>{user.display_name.clone()}</span> }
}
