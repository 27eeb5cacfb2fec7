//! One place that knows who is signed in, and the actions that change it.

use crate::api::auth::{current_user, Login, Logout};
use crate::error::AppError;
use crate::model::SessionView;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct AuthContext {
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    /// Reloaded whenever someone logs in or out.
    pub me: Resource<Result<Option<SessionView>, AppError>>,
}

pub fn provide_auth() {
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    let me = Resource::new(
        move || (login.version().get(), logout.version().get()),
        |_| current_user(),
    );
    provide_context(AuthContext { login, logout, me });
}

pub fn use_auth() -> AuthContext {
    expect_context::<AuthContext>()
}
