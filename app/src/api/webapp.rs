use crate::error::AppError;
use crate::model::{BuildStarted, WebappSettingsView, WebappView};
use leptos::prelude::*;

/// The dataset the demo webapp's buttons build.
pub const DEMO_DATASET: &str = "web_history_prepared";

#[cfg(feature = "ssr")]
fn view_of(
    loaded: &crate::backend::webapp_backend::Webapp,
    principal: &crate::backend::principal::Principal,
) -> WebappView {
    WebappView {
        project_key: loaded.project.key.clone(),
        slug: loaded.webapp.slug.clone(),
        name: loaded.webapp.name.clone(),
        run_as: loaded.run_as.view(),
        browser_user: principal.subject_view(),
        can_edit_settings: crate::backend::identity::may_administer(principal).is_ok(),
        dataset: DEMO_DATASET.to_string(),
        code: loaded.webapp.is_code().then(|| crate::model::CodeWebappView {
            url: format!("/projects/{}/webapps/{}/", loaded.project.key, loaded.webapp.slug),
            scopes: loaded.webapp.scopes.split_whitespace().map(str::to_string).collect(),
        }),
    }
}

/// The built-in webapp's buttons are not a code webapp's: its backend builds, with its own
/// credentials, and nobody else as it.
#[cfg(feature = "ssr")]
fn built_in_only(loaded: &crate::backend::webapp_backend::Webapp) -> Result<(), AppError> {
    match loaded.webapp.is_code() {
        true => Err(AppError::BadRequest(format!("{} is a code webapp: its own backend builds", loaded.webapp.name))),
        false => Ok(()),
    }
}

/// The demo page: who the browser user is (derived from the session on the server — the
/// analogue of reading auth info from the browser's request) and who the backend runs as.
#[server(endpoint = "webapp")]
pub async fn webapp_page(project: String, webapp: String) -> Result<WebappView, AppError> {
    use crate::backend::{identity, state::AppState, webapp_backend::Webapp};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let loaded = Webapp::load(&state, &principal, &project, &webapp).await?;
    Ok(view_of(&loaded, &principal))
}

/// "Build the dataset": the backend enters the impersonation context, so the job runs as the
/// browser user.
#[server(endpoint = "build_in_context")]
pub async fn build_in_context(project: String, webapp: String, dataset: String) -> Result<BuildStarted, AppError> {
    use crate::backend::{context, identity, jobs::queue, state::AppState, webapp_backend::Webapp};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let loaded = Webapp::load(&state, &principal, &project, &webapp).await?;
    built_in_only(&loaded)?;
    let work = context::impersonation_context(queue::enqueue_build(&state, &loaded.project, &dataset));
    loaded.serve(&principal, work).await
}

/// "Build as backend": outside the impersonation context, the job runs as the webapp's
/// "Run backend as" identity.
#[server(endpoint = "build_as_backend")]
pub async fn build_as_backend(project: String, webapp: String, dataset: String) -> Result<BuildStarted, AppError> {
    use crate::backend::{identity, jobs::queue, state::AppState, webapp_backend::Webapp};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let loaded = Webapp::load(&state, &principal, &project, &webapp).await?;
    built_in_only(&loaded)?;
    loaded.serve(&principal, queue::enqueue_build(&state, &loaded.project, &dataset)).await
}

#[cfg(feature = "ssr")]
async fn load_for_admin(
    project: &str,
    webapp: &str,
) -> Result<(crate::backend::state::AppState, crate::backend::principal::Principal, crate::backend::webapp_backend::Webapp), AppError> {
    use crate::backend::{identity, state::AppState, webapp_backend::Webapp};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let loaded = Webapp::load(&state, &principal, project, webapp).await?;
    identity::may_administer(&principal).map_err(|why| {
        AppError::Forbidden(format!("you may not change the settings of {}: {why}", loaded.webapp.name))
    })?;
    Ok((state, principal, loaded))
}

#[server(endpoint = "webapp_settings")]
pub async fn webapp_settings(project: String, webapp: String) -> Result<WebappSettingsView, AppError> {
    use crate::backend::{rules::permissions, store};
    let (state, principal, loaded) = load_for_admin(&project, &webapp).await?;
    let candidates = store::users::list_enabled(&state.db, loaded.project.tenant_id)
        .await?
        .into_iter()
        .filter(|u| permissions::may_be_webapp_identity(u, loaded.project.tenant_id).is_ok())
        .map(|u| u.view())
        .collect();
    let backend = state.backends.view(loaded.webapp.id, BACKEND_LOG_SHOWN).filter(|_| loaded.webapp.is_code());
    Ok(WebappSettingsView { webapp: view_of(&loaded, &principal), candidates, backend })
}

/// Lines of a backend's output its settings page shows.
#[cfg(feature = "ssr")]
const BACKEND_LOG_SHOWN: usize = 50;

/// A change to a webapp's settings, audited as `webapp.settings` (refused while read-only).
#[cfg(feature = "ssr")]
async fn change_settings<F, Fut>(project: &str, webapp: &str, what: &str, change: F) -> Result<(), AppError>
where
    F: FnOnce(crate::backend::state::AppState, crate::backend::webapp_backend::Webapp, crate::backend::audit::AuditEntry) -> Fut,
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    use crate::backend::{audit::{AuditAction, Outcome}, rules::impersonation, store};
    let (state, principal, loaded) = load_for_admin(project, webapp).await?;
    let target = format!("webapp {}/{} {what}", loaded.project.key, loaded.webapp.slug);
    if let Err(denial) = impersonation::may_change(principal.read_only()) {
        let entry = principal.audit(AuditAction::WebappSettings, target, Outcome::Denied, denial.message().into());
        store::audit::append_alone(&state.writer, &entry).await?;
        return Err(AppError::Forbidden(denial.message().into()));
    }
    // Administrative changes are audited whoever makes them, impersonating or not.
    let entry = principal.audit(AuditAction::WebappSettings, target, Outcome::Allowed, String::new());
    let backends = state.backends.clone();
    change(state, loaded, entry).await?;
    // A code webapp's backend restarts with what changed (its credentials, its account).
    backends.reconcile();
    Ok(())
}

/// The scopes a code webapp's backend may use on behalf of its users (checkbox per scope).
#[server(endpoint = "set_webapp_scopes")]
pub async fn set_webapp_scopes(project: String, webapp: String, read: Option<String>, build: Option<String>) -> Result<(), AppError> {
    use crate::backend::rules::webapps::{Scope, Scopes};
    use crate::backend::store;
    let chosen: Vec<Scope> = [(read, Scope::DatasetsRead), (build, Scope::DatasetsBuild)].into_iter().filter(|(on, _)| on.is_some()).map(|(_, s)| s).collect();
    let scopes = Scopes::of(&chosen).as_text();
    change_settings(&project, &webapp, "scopes", |state, loaded, entry| async move {
        if !loaded.webapp.is_code() {
            return Err(AppError::BadRequest(format!("{} is built in: it has no scopes", loaded.webapp.name)));
        }
        let entry = crate::backend::audit::AuditEntry { reason: format!("was [{}], now [{scopes}]", loaded.webapp.scopes), ..entry };
        store::webapps::set_scopes(&state.writer, loaded.webapp.id, &scopes, &entry).await?;
        Ok(())
    })
    .await
}

/// New credentials for a code webapp's backend: the old ones, and every token issued with
/// them, stop working; the backend restarts with the new ones.
#[server(endpoint = "rotate_backend_credentials")]
pub async fn rotate_backend_credentials(project: String, webapp: String) -> Result<(), AppError> {
    use crate::backend::{services::webapps, store};
    change_settings(&project, &webapp, "backend credentials", |state, loaded, entry| async move {
        if !loaded.webapp.is_code() {
            return Err(AppError::BadRequest(format!("{} is built in: it has no credentials of its own", loaded.webapp.name)));
        }
        let client = webapps::backend_client(&state, &loaded.webapp.name, &loaded.run_as);
        let entry = crate::backend::audit::AuditEntry { reason: format!("new client {}", client.client_id), ..entry };
        store::webapps::replace_backend_client(&state.writer, loaded.webapp.id, None, client, &entry).await?;
        Ok(())
    })
    .await
}

/// Changes "Run backend as" (admins of the webapp's tenant only).
#[server(endpoint = "set_run_as")]
pub async fn set_run_as(project: String, webapp: String, user_id: i64) -> Result<(), AppError> {
    use crate::backend::{rules::permissions, services::webapps, store};
    change_settings(&project, &webapp, "run as", |state, loaded, entry| async move {
        let candidate = store::users::in_tenant(&state.db, loaded.project.tenant_id, user_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no user with id {user_id} in this tenant")))?;
        permissions::may_be_webapp_identity(&candidate, loaded.project.tenant_id).map_err(|r| {
            AppError::BadRequest(format!("{} cannot run this backend: {}", candidate.display_name, r.reason()))
        })?;
        let entry = crate::backend::audit::AuditEntry { reason: format!("was {}, now {}", loaded.run_as.email, candidate.email), ..entry };
        let new_client = loaded.webapp.is_code().then(|| webapps::backend_client(&state, &loaded.webapp.name, &candidate));
        store::webapps::set_run_as(&state.writer, loaded.webapp.id, candidate.id, new_client, &entry).await?;
        Ok(())
    })
    .await
}
