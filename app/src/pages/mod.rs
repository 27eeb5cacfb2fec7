pub mod activity;
pub mod admin_api_clients;
pub mod admin_audit;
pub mod admin_grants;
pub mod admin_groups;
pub mod admin_users;
pub mod cart;
pub mod dataset;
pub mod home;
pub mod job_detail;
pub mod jobs;
pub mod login;
pub mod not_found;
pub mod orders;
pub mod profile;
pub mod project;
pub mod shop;
pub mod webapp;
pub mod webapp_settings;

use crate::components::errors::ErrorView;
use crate::error::AppError;
use leptos::either::Either;
use leptos::prelude::*;

/// Renders a loaded result: the page on success, the error (or a login redirect) otherwise.
/// Not a boxed view: boxing moves every row of a long page into a fresh list once more.
pub fn loaded<T, V: IntoView + 'static>(result: Result<T, AppError>, page: impl FnOnce(T) -> V) -> impl IntoView {
    match result {
        Ok(value) => Either::Left(page(value)),
        Err(error) => Either::Right(view! { <ErrorView error/> }),
    }
}
