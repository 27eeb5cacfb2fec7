use crate::model::UserView;
use leptos::prelude::*;

/// A person by display name, with their email on hover.
#[component]
pub fn Person(user: UserView) -> impl IntoView {
    view! { <span class="person" title=user.email>{user.display_name}</span> }
}
