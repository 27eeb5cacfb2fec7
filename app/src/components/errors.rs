use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_location;

/// Shows an error; a "not logged in" error sends the visitor to the login page instead.
#[component]
pub fn ErrorView(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthorized(_) => {
            let location = use_location();
            let here = location.pathname.get_untracked();
            let next: String = here.chars().filter(|c| c.is_ascii_alphanumeric() || "/-_.".contains(*c)).collect();
            view! { <Redirect path=format!("/login?next={next}")/> }.into_any()
        }
        other => view! {
            <div class="error" role="alert">{other.to_string()}</div>
        }
        .into_any(),
    }
}

/// The error of the last run of an action, if it failed.
pub fn action_error<T: Clone + Send + Sync + 'static>(
    value: Signal<Option<Result<T, AppError>>>,
) -> impl IntoView {
    move || {
        value.get().and_then(|r| r.err()).map(|e| {
            view! { <div class="error" role="alert">{e.to_string()}</div> }
        })
    }
}
