//! Administration: groups, impersonation grants, and the audit log.

use crate::error::AppError;
use crate::model::{AuditPage, ChainReport, GrantsPage, GroupView};
use leptos::prelude::*;

/// `user:ID` or `group:ID` of the tenant, as a grant party.
#[cfg(feature = "ssr")]
async fn party(
    state: &crate::backend::state::AppState,
    tenant_id: i64,
    side: &str,
    value: &str,
) -> Result<(crate::backend::store::grants::Party, crate::model::PartyView), AppError> {
    use crate::backend::store::{self, grants::Party};
    use crate::model::PartyView;
    let bad = || AppError::BadRequest(format!("{side} must be a user or group of this tenant"));
    let (kind, id) = value.split_once(':').ok_or_else(bad)?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    match kind {
        "user" => {
            let user = store::users::in_tenant(&state.db, tenant_id, id).await?.ok_or_else(bad)?;
            Ok((Party::User(user.id), PartyView::User(user.view())))
        }
        "group" => {
            let (id, name) = store::groups::list(&state.db, tenant_id)
                .await?
                .into_iter()
                .find(|(g, _)| *g == id)
                .ok_or_else(bad)?;
            Ok((Party::Group(id), PartyView::Group { id, name }))
        }
        _ => Err(bad()),
    }
}

#[server(endpoint = "admin/grants")]
pub async fn load_grants() -> Result<GrantsPage, AppError> {
    use crate::backend::store;
    use crate::model::PartyView;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    let tenant = principal.tenant_id();
    let mut parties: Vec<PartyView> = store::groups::list(&state.db, tenant)
        .await?
        .into_iter()
        .map(|(id, name)| PartyView::Group { id, name })
        .collect();
    parties.extend(
        store::users::list_enabled(&state.db, tenant)
            .await?
            .iter()
            .filter(|u| !u.is_service_account())
            .map(|u| PartyView::User(u.view())),
    );
    Ok(GrantsPage { grants: store::grants::list(&state.db, tenant).await?, parties })
}

/// A grant's mode from its form: a mode word (none: On behalf of, the least powerful) and
/// the checkbox "Use impersonator's permissions".
#[cfg(feature = "ssr")]
fn grant_mode(word: Option<&str>, use_impersonator_permissions: Option<String>) -> Result<crate::model::ImpersonationMode, AppError> {
    crate::backend::rules::modes::mode_from_form(word, use_impersonator_permissions.is_some())
        .map(|mode| mode.unwrap_or(crate::model::ImpersonationMode::OnBehalfOf))
        .map_err(|refusal| AppError::BadRequest(refusal.message().into()))
}

/// Lets `actor` (a user or group) impersonate `subject` (a user or group) in `mode`.
#[server(endpoint = "admin/grants/add")]
pub async fn add_grant(
    actor: String,
    subject: String,
    mode: Option<String>,
    use_impersonator_permissions: Option<String>,
) -> Result<(), AppError> {
    use crate::backend::{audit::{AuditAction, Outcome}, rules::impersonation, store::{self, grants::NewGrant}};
    use crate::model::PartyView;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    let mode = grant_mode(mode.as_deref(), use_impersonator_permissions)?;
    let tenant = principal.tenant_id();
    let (actor, actor_view) = party(&state, tenant, "the impersonator", &actor).await?;
    let (subject, subject_view) = party(&state, tenant, "the impersonated side", &subject).await?;
    if actor_view == subject_view {
        return Err(AppError::BadRequest("nobody may impersonate themselves".into()));
    }
    if let PartyView::User(u) = &subject_view {
        if let Some(row) = store::users::in_tenant(&state.db, tenant, u.id).await? {
            impersonation::may_be_granted(&row).map_err(|d| {
                AppError::BadRequest(format!("{} cannot be granted: {}", u.display_name, d.message()))
            })?;
        }
    }
    let what = format!("{} may impersonate {}", actor_view.label(), subject_view.label());
    let entry = principal.audit(AuditAction::GrantAdd, what, Outcome::Allowed, format!("mode: {}", mode.label()));
    let grant = NewGrant { tenant_id: tenant, actor, subject, mode, created_by: principal.acting_user().id };
    store::grants::add(&state.writer, grant, &entry).await?;
    Ok(())
}

/// Switches grant `id` to another mode. Impersonations it allowed in the old mode end on
/// their next request.
#[server(endpoint = "admin/grants/mode")]
pub async fn set_grant_mode(id: i64, mode: Option<String>, use_impersonator_permissions: Option<String>) -> Result<(), AppError> {
    use crate::backend::{audit::{AuditAction, Outcome}, rules::impersonation, store};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    let word = mode.filter(|m| !m.trim().is_empty()).ok_or_else(|| AppError::BadRequest("choose the grant's new mode".into()))?;
    let mode = grant_mode(Some(&word), use_impersonator_permissions)?;
    let grant = grant_of_tenant(&state, principal.tenant_id(), id).await?;
    if grant.mode == mode {
        return Ok(());
    }
    let what = format!("{} may impersonate {}", grant.actor.label(), grant.subject.label());
    let why = format!("mode: {} → {}", grant.mode.label(), mode.label());
    let entry = principal.audit(AuditAction::GrantMode, what, Outcome::Allowed, why);
    if !store::grants::set_mode(&state.writer, principal.tenant_id(), id, mode, &entry).await? {
        return Err(AppError::NotFound(format!("no grant #{id}")));
    }
    Ok(())
}

#[cfg(feature = "ssr")]
async fn grant_of_tenant(state: &crate::backend::state::AppState, tenant_id: i64, id: i64) -> Result<crate::model::GrantView, AppError> {
    crate::backend::store::grants::list(&state.db, tenant_id)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| AppError::NotFound(format!("no grant #{id}")))
}

#[server(endpoint = "admin/grants/remove")]
pub async fn remove_grant(id: i64) -> Result<(), AppError> {
    use crate::backend::{audit::{AuditAction, Outcome}, rules::impersonation, store};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    let grant = grant_of_tenant(&state, principal.tenant_id(), id).await?;
    let what = format!("{} may impersonate {}", grant.actor.label(), grant.subject.label());
    let entry = principal.audit(AuditAction::GrantRemove, what, Outcome::Allowed, String::new());
    if !store::grants::remove(&state.writer, principal.tenant_id(), id, &entry).await? {
        return Err(AppError::NotFound(format!("no grant #{id}")));
    }
    Ok(())
}

/// Sets a user's region (`EU`, `US`, or empty for none) and price group (`Retail`,
/// `Wholesale`, `Staff`, or empty for none).
#[server(endpoint = "admin/users/attributes")]
pub async fn set_user_attributes(user_id: i64, region: String, price_group: String) -> Result<(), AppError> {
    use crate::backend::{audit::{AuditAction, Outcome}, rules::impersonation, store};
    use crate::model::{PriceGroup, REGIONS};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    let region = match region.trim() {
        "" => None,
        word if REGIONS.contains(&word) => Some(word.to_string()),
        word => return Err(AppError::BadRequest(format!("unknown region {word:?}: choose EU, US or none"))),
    };
    let price_group = match price_group.trim() {
        "" => None,
        word => Some(PriceGroup::from_db(word).ok_or_else(|| {
            AppError::BadRequest(format!("unknown price group {word:?}: choose Retail, Wholesale, Staff or none"))
        })?),
    };
    let tenant = principal.tenant_id();
    let user = store::users::in_tenant(&state.db, tenant, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no user with id {user_id}")))?;
    let before = store::users::attributes(&state.db, user.id).await?;
    let word = |w: Option<&str>| w.unwrap_or("none").to_string();
    let change = format!(
        "region {} → {}; price group {} → {}",
        word(before.region.as_deref()),
        word(region.as_deref()),
        word(before.price_group.map(PriceGroup::as_db)),
        word(price_group.map(PriceGroup::as_db)),
    );
    let target = format!("user {} ({})", user.id, user.email);
    let entry = principal.audit(AuditAction::UserAttributes, target, Outcome::Allowed, change);
    if !store::users::set_attributes(&state.writer, tenant, user.id, region, price_group, &entry).await? {
        return Err(AppError::NotFound(format!("no user with id {user_id}")));
    }
    Ok(())
}

/// Administration → Groups: each group with its members and whether I may impersonate them.
#[server(endpoint = "admin/groups")]
pub async fn groups_page() -> Result<Vec<GroupView>, AppError> {
    use crate::backend::store;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    let mut groups = Vec::new();
    for (id, name) in store::groups::list(&state.db, principal.tenant_id()).await? {
        let mut members = Vec::new();
        for user in store::groups::members(&state.db, id).await? {
            members.push(super::impersonation::entry_for(&state, &principal, &user).await?);
        }
        groups.push(GroupView { id, name, members });
    }
    Ok(groups)
}

/// `YYYY-MM-DD` to Unix milliseconds at the start (or end) of that day, UTC.
pub fn parse_day(text: &str, end_of_day: bool) -> Result<i64, AppError> {
    let bad = || AppError::BadRequest(format!("{text:?} is not a date of the form YYYY-MM-DD"));
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let start = crate::model::days_from_civil(y, m, d) * 86_400_000;
    Ok(if end_of_day { start + 86_400_000 - 1 } else { start })
}

/// Administration → Audit, filtered by actor, subject, action and days (all optional).
#[server(endpoint = "admin/audit")]
pub async fn load_audit(
    actor: Option<String>,
    subject: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
) -> Result<AuditPage, AppError> {
    use crate::backend::store::{self, audit::AuditFilter};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    let non_empty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let id = |v: Option<String>, what: &str| -> Result<Option<i64>, AppError> {
        non_empty(v).map(|s| s.parse().map_err(|_| AppError::BadRequest(format!("{what} must be a user id")))).transpose()
    };
    let action = non_empty(action);
    if action.as_ref().is_some_and(|a| a.len() > 64) {
        return Err(AppError::BadRequest("the action filter is too long".into()));
    }
    let filter = AuditFilter {
        actor_user_id: id(actor, "actor")?,
        subject_user_id: id(subject, "subject")?,
        action,
        impersonation_id: None,
        from: non_empty(from).map(|d| parse_day(&d, false)).transpose()?,
        to: non_empty(to).map(|d| parse_day(&d, true)).transpose()?,
        limit: 500,
    };
    let tenant = principal.tenant_id();
    Ok(AuditPage {
        rows: store::audit::list(&state.db, tenant, &filter).await?,
        people: store::users::list_all(&state.db, tenant).await?.iter().map(|u| u.view()).collect(),
        actions: store::audit::actions(&state.db, tenant).await?,
    })
}

/// Checks the tenant's audit chain and names the first broken row.
#[server(endpoint = "admin/audit/verify")]
pub async fn verify_audit_chain() -> Result<ChainReport, AppError> {
    use crate::backend::store;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    let key = state.keys.server.chain_key();
    Ok(match store::audit::verify_tenant(&state.db, &key, principal.tenant_id()).await? {
        Ok(n) => ChainReport { intact: true, rows_checked: n, message: format!("The audit chain is intact: {n} rows verified.") },
        Err(b) if b.row_id.is_some() => ChainReport { intact: false, rows_checked: 0, message: format!("The audit chain is broken at {b}.") },
        Err(b) => ChainReport { intact: false, rows_checked: 0, message: format!("The audit chain is broken: {b}.") },
    })
}

#[cfg(test)]
mod tests {
    use super::parse_day;

    #[test]
    fn days_parse_strictly() {
        assert_eq!(parse_day("1970-01-02", false).unwrap(), 86_400_000);
        assert_eq!(parse_day("1970-01-01", true).unwrap(), 86_399_999);
        for bad in ["", "2026-13-01", "2026-1", "2026-01-01-01", "x-y-z", "1969-12-31"] {
            assert_eq!(parse_day(bad, false).unwrap_err().status(), 400, "{bad}");
        }
    }
}
