use crate::model::UserView;
use leptos::prelude::*;

/// A person by display name, with their email on hover.
#[component]
pub fn Person(user: UserView) -> impl IntoView {
    name_with_email(user.display_name, user.email)
}

/// The same, as a plain function for long tables: no component set-up per cell, and the
/// person borrowed from a list the page shares.
pub fn person(user: &UserView) -> impl IntoView {
    name_with_email(user.display_name.clone(), user.email.clone())
}

fn name_with_email(name: String, email: String) -> impl IntoView {
    view! { <span class="person" title=email>{name}</span> }
}
