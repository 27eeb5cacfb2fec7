//! One place that knows who is signed in, and the actions that change it.

use crate::api::auth::{current_user, Login, Logout};
use crate::api::impersonation::{StartImpersonation, StopImpersonation};
use crate::error::AppError;
use crate::model::SessionView;
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct AuthContext {
    pub login: ServerAction<Login>,
    pub logout: ServerAction<Logout>,
    pub start: ServerAction<StartImpersonation>,
    pub stop: ServerAction<StopImpersonation>,
    /// Reloaded whenever someone logs in or out, or starts or stops impersonating.
    pub me: Resource<Result<Option<SessionView>, AppError>>,
}

impl AuthContext {
    /// Changes whenever the signed-in identity may have changed.
    pub fn identity_version(&self) -> (usize, usize, usize, usize) {
        (self.login.version().get(), self.logout.version().get(), self.start.version().get(), self.stop.version().get())
    }
}

pub fn provide_auth() {
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    let start = ServerAction::<StartImpersonation>::new();
    let stop = ServerAction::<StopImpersonation>::new();
    let me = Resource::new(
        move || (login.version().get(), logout.version().get(), start.version().get(), stop.version().get()),
        |_| current_user(),
    );
    provide_context(AuthContext { login, logout, start, stop, me });
}

pub fn use_auth() -> AuthContext {
    expect_context::<AuthContext>()
}
