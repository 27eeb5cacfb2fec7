//! Acting as another user: start and stop, who I may impersonate, the user directory and
//! profiles, and the impersonations of my own account.

use crate::error::AppError;
use crate::model::{DirectoryEntry, ImpersonationRecordView, ProfileView, UserView};
use leptos::prelude::*;

/// Starts impersonating `user_id`. The impersonator is whoever is signed in; a reason is
/// required. `read_only` and `use_impersonator_permissions` are checkboxes: present means
/// yes. `mode` is a mode word; without one the start gets the actor's default mode.
#[server(endpoint = "impersonation/start")]
pub async fn start_impersonation(
    user_id: i64,
    reason: String,
    read_only: Option<String>,
    mode: Option<String>,
    use_impersonator_permissions: Option<String>,
) -> Result<(), AppError> {
    use crate::backend::{auth::AuthSession, impersonating, rules::modes, state::AppState};
    let session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    let state = AppState::current()?;
    // Checked (and a bad one audited) with the rest of the start.
    let mode = modes::mode_from_form(mode.as_deref(), use_impersonator_permissions.is_some());
    impersonating::start(&state, &session, user_id, &reason, read_only.is_some(), mode).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Stops impersonating and returns to the impersonated user's profile as oneself.
#[server(endpoint = "impersonation/stop")]
pub async fn stop_impersonation() -> Result<(), AppError> {
    use crate::backend::{auth::AuthSession, impersonating, state::AppState};
    let session: AuthSession = leptos_axum::extract()
        .await
        .map_err(|e| AppError::internal(format!("auth session unavailable: {e}")))?;
    let state = AppState::current()?;
    let subject = impersonating::stop(&state, &session).await?;
    leptos_axum::redirect(&format!("/users/{}", subject.id));
    Ok(())
}

/// Exactly the users I may impersonate now.
#[server(endpoint = "impersonation/candidates")]
pub async fn impersonation_candidates() -> Result<Vec<UserView>, AppError> {
    use crate::backend::{identity, impersonating, state::AppState};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    Ok(impersonating::candidates(&state, &principal).await?.iter().map(|u| u.view()).collect())
}

#[cfg(feature = "ssr")]
pub(crate) async fn entry_for(
    state: &crate::backend::state::AppState,
    viewer: &crate::backend::principal::Principal,
    user: &crate::backend::store::users::User,
) -> Result<DirectoryEntry, AppError> {
    use crate::backend::{impersonating, store};
    let role = if user.is_service_account() {
        "Service account"
    } else if user.is_admin {
        "Admin"
    } else {
        "Member"
    };
    let offer = impersonating::offer(state, viewer, user).await?;
    Ok(DirectoryEntry {
        user: user.view(),
        role: role.to_string(),
        groups: store::groups::names_of(&state.db, user.id).await?,
        disabled: user.disabled,
        impersonation_refusal: offer.refusal,
        allowed_modes: offer.modes,
        default_mode: offer.default_mode,
    })
}

/// Administration → Users: everyone of my tenant, and whether I may impersonate them.
#[server(endpoint = "admin/users")]
pub async fn directory() -> Result<Vec<DirectoryEntry>, AppError> {
    use crate::backend::store;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    let mut entries = Vec::new();
    for user in store::users::list_all(&state.db, principal.tenant_id()).await? {
        entries.push(entry_for(&state, &principal, &user).await?);
    }
    Ok(entries)
}

/// A user's profile, for anyone of the same tenant.
#[server(endpoint = "users/profile")]
pub async fn profile(id: i64) -> Result<ProfileView, AppError> {
    use crate::backend::{identity, state::AppState, store};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let user = store::users::in_tenant(&state.db, principal.tenant_id(), id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {id}")))?;
    // Grants naming the user directly or through one of their groups.
    let groups = store::groups::ids_of(&state.db, user.id).await?;
    let names = |p: &crate::model::PartyView| match p {
        crate::model::PartyView::User(u) => u.id == user.id,
        crate::model::PartyView::Group { id, .. } => groups.contains(id),
    };
    let grants = store::grants::list(&state.db, user.tenant_id).await?;
    let attributes = store::users::attributes(&state.db, user.id).await?;
    let (mut may_impersonate, mut may_be_impersonated_by) = (Vec::new(), Vec::new());
    for g in grants {
        if names(&g.subject) {
            may_be_impersonated_by.push(g.clone());
        }
        if names(&g.actor) {
            may_impersonate.push(g);
        }
    }
    Ok(ProfileView {
        entry: entry_for(&state, &principal, &user).await?,
        tenant_name: store::tenants::name_of(&state.db, user.tenant_id).await?,
        viewer_is_admin: crate::backend::identity::may_administer(&principal).is_ok(),
        may_impersonate,
        may_be_impersonated_by,
        region: attributes.region,
        price_group: attributes.price_group,
    })
}

/// My account → Activity: every impersonation of my account and what was done in it.
#[server(endpoint = "account/activity")]
pub async fn my_activity() -> Result<Vec<ImpersonationRecordView>, AppError> {
    use crate::backend::{identity, state::AppState, store};
    let principal = identity::current().await?;
    let state = AppState::current()?;
    let mut records = store::impersonations::of_subject(&state.db, principal.subject().id).await?;
    for record in &mut records {
        let filter = store::audit::AuditFilter { impersonation_id: Some(record.id), limit: 500, ..Default::default() };
        record.actions = store::audit::list(&state.db, principal.tenant_id(), &filter).await?;
    }
    Ok(records)
}
