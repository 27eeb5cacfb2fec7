//! The execution context: whose permissions work runs with, and who asked for it.
//!
//! A webapp backend runs as its "Run backend as" identity. Inside an impersonation context it
//! runs as the browser user instead. The context is task-local: it follows one request or one
//! job through its awaits and never leaks to other tasks.

use super::principal::Principal;
use super::domain::User;
use crate::error::AppError;
use crate::model::Via;
use std::future::Future;

#[derive(Clone, Debug)]
pub struct Execution {
    /// Whose permissions the work uses.
    pub run_as: User,
    /// Who asked for the work: the browser user and, when impersonating, the impersonator.
    pub caller: Principal,
    /// The way the work came: the webapp it runs in, else the caller's own (UI or API client).
    pub via: Via,
    pub webapp_id: Option<i64>,
}

impl Execution {
    /// Work the caller does as themselves (the UI's own pages, an API request — from a code
    /// webapp's backend too, whose job then lists with the webapp's).
    pub fn as_caller(caller: Principal) -> Self {
        let webapp_id = caller.webapp().map(|w| w.id);
        Execution { run_as: caller.permissions_user().clone(), via: caller.via().clone(), caller, webapp_id }
    }

    /// Work a webapp's backend does as `run_as` for `caller`.
    pub fn in_webapp(run_as: User, caller: Principal, webapp_name: &str, webapp_id: i64) -> Self {
        Execution { run_as, caller, via: Via::Webapp { name: webapp_name.to_string() }, webapp_id: Some(webapp_id) }
    }

    /// A job's work, as its row recorded it: run as `run_as`, triggered by `triggered_by`
    /// (impersonated by `impersonated_by`), the way it came.
    pub fn of_job(run_as: User, triggered_by: User, impersonated_by: Option<User>, via: Via) -> Self {
        let caller = Principal::of_job(triggered_by, impersonated_by, via.clone());
        Execution { run_as, caller, via, webapp_id: None }
    }
}

tokio::task_local! {
    static CURRENT: Execution;
}

/// Runs `work` with `execution` as the current context.
pub async fn run_as<F: Future>(execution: Execution, work: F) -> F::Output {
    CURRENT.scope(execution, work).await
}

/// Runs `work` as the calling browser user (the impersonation context). Only meaningful inside
/// a webapp backend's context.
pub async fn impersonation_context<T, F>(work: F) -> Result<T, AppError>
where
    F: Future<Output = Result<T, AppError>>,
{
    let mut execution = current()
        .ok_or_else(|| AppError::internal("impersonation context entered outside a backend"))?;
    execution.run_as = execution.caller.permissions_user().clone();
    run_as(execution, work).await
}

/// The context the current task runs in, if any.
pub fn current() -> Option<Execution> {
    CURRENT.try_with(Clone::clone).ok()
}
