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
    Ok(WebappSettingsView { webapp: view_of(&loaded, &principal), candidates })
}

/// Changes "Run backend as" (admins of the webapp's tenant only).
#[server(endpoint = "set_run_as")]
pub async fn set_run_as(project: String, webapp: String, user_id: i64) -> Result<(), AppError> {
    use crate::backend::{audit::{AuditAction, Outcome}, rules::{impersonation, permissions}, store};
    let (state, principal, loaded) = load_for_admin(&project, &webapp).await?;
    let candidate = store::users::in_tenant(&state.db, loaded.project.tenant_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {user_id} in this tenant")))?;
    permissions::may_be_webapp_identity(&candidate, loaded.project.tenant_id).map_err(|r| {
        AppError::BadRequest(format!("{} cannot run this backend: {}", candidate.display_name, r.reason()))
    })?;
    let target = format!("webapp {}/{} run as", loaded.project.key, loaded.webapp.slug);
    if let Err(denial) = impersonation::may_change(principal.read_only()) {
        let entry = principal.audit(AuditAction::WebappSettings, target, Outcome::Denied, denial.message().into());
        store::audit::append_alone(&state.writer, &entry).await?;
        return Err(AppError::Forbidden(denial.message().into()));
    }
    // Administrative changes are audited whoever makes them, impersonating or not.
    let change = format!("was {}, now {}", loaded.run_as.email, candidate.email);
    let entry = principal.audit(AuditAction::WebappSettings, target, Outcome::Allowed, change);
    store::webapps::set_run_as(&state.writer, loaded.webapp.id, candidate.id, &entry).await?;
    Ok(())
}
