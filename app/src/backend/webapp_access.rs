//! The API side of code webapps (M23): the ticket a proxied request carries, its exchange
//! (RFC 8693) by the webapp's backend for a short token acting as the browser user, ticket
//! introspection, and the principal of a request made with a webapp's token. The rules are in
//! `rules::webapps`; every exchange, allowed or refused, is audited with both identities.

use super::api_access::{self, enabled_user_in, issue, new_claims, now_secs, refusal, verify_client_token, ApiCaller, ApiFailure, IssuedToken, VerifiedClientToken};
use super::audit::{AuditAction, Outcome};
use super::principal::{Principal, WebappRef};
use super::rules::impersonation::{self, AutomaticEnd};
use super::rules::modes::{self, ModeRefusal};
use super::rules::webapps::{self, Scopes, TicketFacts};
use super::services::projects::readable_project;
use super::state::AppState;
use super::store::{self, impersonations::ImpersonationRow, now_ms, projects::ProjectRow, used_subject_tokens::{ticket_key, Recorded}, users::User, webapps::WebappRow};
use super::tokens::{self, Actor, TicketClaims};
use crate::error::AppError;

/// A ticket for `principal`'s browser user to hand to `webapp`'s backend with one request.
/// Issuing writes nothing: the exchange records its single use.
pub async fn issue_ticket(state: &AppState, principal: &Principal, webapp: &WebappRow) -> Result<String, AppError> {
    let user = principal.subject();
    let now = now_secs();
    let claims = TicketClaims {
        iss: tokens::ISSUER.into(),
        aud: tokens::TICKET_AUDIENCE.into(),
        sub: user.email.clone(),
        uid: user.id,
        tenant: state.cached().tenant_name(user.tenant_id).await?,
        wa: webapp.id,
        iat: now,
        nbf: now,
        exp: now + webapps::TICKET_SECONDS,
        jti: tokens::new_jti(),
        imp: principal.impersonation_id(),
    };
    state.keys.tokens.issue_ticket(&claims).map_err(AppError::internal)
}

/// The webapp, if it is a code webapp that is not disabled.
async fn live_webapp(state: &AppState, id: i64) -> Result<Result<WebappRow, &'static str>, ApiFailure> {
    Ok(match state.cached().webapp_by_id(id).await? {
        Some(webapp) if webapp.is_code() && webapp.disabled_at.is_none() => Ok(webapp),
        Some(webapp) if webapp.is_code() => Err("the webapp is disabled"),
        _ => Err("the webapp does not exist"),
    })
}

/// The webapp's project, if the principal may open it (who may read the project may open its
/// webapps).
async fn may_open(state: &AppState, principal: &Principal, webapp: &WebappRow) -> Result<ProjectRow, AppError> {
    let projects = state.cached().projects(principal.tenant_id()).await?;
    let project = projects
        .iter()
        .find(|p| p.id == webapp.project_id)
        .ok_or_else(|| AppError::NotFound(format!("webapp {} is not in {}'s tenant", webapp.slug, principal.subject().email)))?;
    readable_project(state.cached(), principal, &project.key).await
}

/// The impersonator of an ongoing UI impersonation of `subject`, if it may still go on.
async fn ongoing_impersonator(state: &AppState, row: &ImpersonationRow, subject: &User) -> Result<Result<User, String>, ApiFailure> {
    if row.ended_at.is_some() || row.subject_user_id != subject.id {
        return Ok(Err("the impersonation it was issued in has ended".into()));
    }
    let Some(actor) = state.cached().user(row.actor_user_id).await? else { return Ok(Err("the impersonator is gone".into())) };
    let granted = state.cached().grant_modes(actor.tenant_id, actor.id, subject.id).await?;
    let enabled = state.cached().impersonation_enabled().await?;
    Ok(match impersonation::may_continue(&actor, subject, !granted.is_empty(), enabled, row.expires_at, now_ms()) {
        Err(AutomaticEnd::Expired) => Err("the impersonation it was issued in reached its time limit".into()),
        Err(AutomaticEnd::RightLost(d)) => Err(format!("the impersonation it was issued in may not go on: {}", d.message())),
        Ok(()) if !modes::mode_still_allowed(row.mode, actor.is_admin, &granted) => Err(ModeRefusal::NotGranted.message().to_string()),
        Ok(()) => Ok(actor),
    })
}

/// The UI impersonation a ticket or token names (`loaded`: already read, with a token), with
/// its impersonator, if it may go on.
async fn impersonation_of(
    state: &AppState,
    id: Option<i64>,
    loaded: Option<ImpersonationRow>,
    subject: &User,
) -> Result<Result<Option<(User, ImpersonationRow)>, String>, ApiFailure> {
    let Some(id) = id else { return Ok(Ok(None)) };
    let row = match loaded.filter(|row| row.id == id) {
        Some(row) => Some(row),
        None => store::impersonations::by_id(&state.db, id).await?,
    };
    let Some(row) = row else { return Ok(Err("its impersonation does not exist".into())) };
    Ok(ongoing_impersonator(state, &row, subject).await?.map(|actor| Some((actor, row))))
}

/// The exchange of a webapp ticket by its webapp's backend: a token acting as the browser user
/// (`act` = the backend's account), with the webapp's scopes (or fewer, as asked), for a few
/// minutes. Each ticket is exchanged once.
pub async fn exchange_ticket(
    state: &AppState,
    session: &VerifiedClientToken,
    ticket: &str,
    scope: Option<&str>,
) -> Result<(IssuedToken, Scopes), ApiFailure> {
    let refuse = |subject: Option<User>, target: String, error: ApiFailure| async move {
        refusal(state, session, subject.as_ref(), target, error.description(), error).await
    };
    let claims = match state.keys.tokens.verify_ticket(ticket) {
        Ok(claims) => claims,
        Err(e) => {
            let error = ApiFailure::bad_request(format!("subject_token: {}", e.message()));
            return Err(refuse(None, format!("client {}", session.client.client_id), error).await);
        }
    };
    let target = format!("webapp ticket {} for {}", claims.jti, tokens::clip(&claims.sub, 64));
    let facts = TicketFacts { issued_at: claims.iat, not_before: claims.nbf, expires_at: claims.exp, webapp_id: claims.wa };
    if let Err(refused) = webapps::check_ticket(&facts, now_secs(), session.client.webapp_id) {
        return Err(refuse(None, target, ApiFailure::bad_request(refused.message())).await);
    }
    let webapp = match live_webapp(state, claims.wa).await? {
        Ok(webapp) => webapp,
        Err(why) => return Err(refuse(None, target, ApiFailure::bad_request(why)).await),
    };
    let not_allowed = "the ticket names no user who may open the webapp";
    let user = enabled_user_in(state, session.client.tenant_id, claims.uid).await?.filter(|u| u.email == claims.sub);
    let Some(user) = user else { return Err(refuse(None, target, ApiFailure::bad_request(not_allowed)).await) };
    let impersonation = match impersonation_of(state, claims.imp, None, &user).await? {
        Ok(found) => found,
        Err(why) => return Err(refuse(Some(user), target.clone(), ApiFailure::bad_request(format!("{not_allowed}: {why}"))).await),
    };
    let declared = Scopes::parse(&webapp.scopes).map_err(AppError::internal)?;
    let asked = match scope.map(Scopes::parse).transpose() {
        Ok(asked) => asked,
        Err(why) => return Err(refuse(Some(user), target, ApiFailure::invalid_scope(why)).await),
    };
    let granted = match webapps::granted_scopes(asked.as_ref(), &declared) {
        Ok(granted) => granted,
        Err(why) => return Err(refuse(Some(user), target, ApiFailure::invalid_scope(why)).await),
    };
    let exp = webapps::user_token_expiry(now_secs(), session.claims.exp, impersonation.as_ref().map(|(_, row)| row.expires_at / 1000));
    let webapp_ref = WebappRef { id: webapp.id, name: webapp.name.clone(), project_id: webapp.project_id, user_scopes: Some(granted.clone()) };
    let browser = Principal::of_webapp_token(
        user.clone(),
        impersonation.as_ref().map(|(actor, row)| (actor.clone(), row)),
        Some(session.owner.clone()),
        webapp_ref,
        exp * 1000,
    );
    if let Err(e) = may_open(state, &browser, &webapp).await {
        let why = format!("{} may not open webapp {}: {e}", user.email, webapp.name);
        let error = ApiFailure::bad_request(not_allowed);
        return Err(refusal(state, session, Some(&user), target, why, error).await);
    }
    let owner = &session.owner;
    let act = Actor { sub: owner.email.clone(), uid: owner.id, client_id: session.client.client_id.clone(), cv: session.client.secret_version, act: None };
    let mut token_claims = new_claims(&user, &session.tenant, &session.client, exp, Some(act));
    token_claims.scope = Some(granted.as_text());
    token_claims.imp = claims.imp;
    let reason = format!("token {} until {}; scopes: {}; backend account {}", token_claims.jti, token_claims.exp, granted.as_text(), owner.email);
    let entry = browser.audit(AuditAction::ApiTokenExchange, target.clone(), Outcome::Allowed, reason);
    let key = ticket_key(webapp.id);
    let remember_until = Some(claims.exp + tokens::SUBJECT_LEEWAY_SECONDS);
    // A webapp's client is listed nowhere, so when it was last used is not kept.
    match store::used_subject_tokens::record_exchange(&state.writer, &key, Some(&claims.jti), remember_until, None, false, entry).await? {
        Recorded::Done(_) => Ok((issue(state, token_claims)?, granted)),
        Recorded::Replayed => {
            let error = ApiFailure::bad_request("the ticket was already exchanged: tickets are single-use");
            Err(refusal(state, session, Some(&user), target, error.description(), error).await)
        }
    }
}

/// What introspecting a ticket tells its webapp's backend (RFC 7662): who the browser user is,
/// if the ticket is live, unused and for this webapp. It does not use the ticket up.
pub struct TicketInfo {
    pub user: User,
    pub tenant: String,
    pub expires_at: i64,
    pub webapp: String,
}

pub async fn introspect(state: &AppState, session: &VerifiedClientToken, ticket: &str) -> Result<Option<TicketInfo>, ApiFailure> {
    if session.client.webapp_id.is_none() || session.claims.is_webapp_user_token() {
        return Err(ApiFailure::not_allowed("only a webapp's backend, with its own token, introspects tickets"));
    }
    if session.owner.disabled {
        return Err(ApiFailure::token_refused("the webapp's backend account is disabled"));
    }
    let Ok(claims) = state.keys.tokens.verify_ticket(ticket) else { return Ok(None) };
    let facts = TicketFacts { issued_at: claims.iat, not_before: claims.nbf, expires_at: claims.exp, webapp_id: claims.wa };
    if webapps::check_ticket(&facts, now_secs(), session.client.webapp_id).is_err() {
        return Ok(None);
    }
    let Ok(webapp) = live_webapp(state, claims.wa).await? else { return Ok(None) };
    if store::used_subject_tokens::is_used(&state.db, &ticket_key(webapp.id), &claims.jti).await? {
        return Ok(None);
    }
    let user = enabled_user_in(state, session.client.tenant_id, claims.uid).await?.filter(|u| u.email == claims.sub);
    Ok(user.map(|user| TicketInfo { user, tenant: claims.tenant, expires_at: claims.exp, webapp: webapp.slug }))
}

/// The caller of a /v2 request carrying `token`: a code webapp's token, or any other client's.
pub async fn authenticate_request(state: &AppState, token: &str) -> Result<ApiCaller, ApiFailure> {
    let session = verify_client_token(state, token).await?;
    if !session.is_webapps() {
        return api_access::caller_of(state, session).await;
    }
    let principal = principal_of(state, &session).await?;
    Ok(ApiCaller { principal, claims: session.claims })
}

/// The principal of a request made with a code webapp's token: the backend's own token acts as
/// its account; a token for its browser user acts as that user (and their UI impersonator, if
/// any), with the scopes the webapp still declares, while the user may still open the webapp.
pub async fn principal_of(state: &AppState, session: &VerifiedClientToken) -> Result<Principal, ApiFailure> {
    let claims = &session.claims;
    let Some(wa) = claims.wa.filter(|wa| session.client.webapp_id == Some(*wa)) else {
        return Err(ApiFailure::token_refused("the token does not belong to its webapp's backend"));
    };
    let webapp = live_webapp(state, wa).await?.map_err(ApiFailure::token_refused)?;
    let subject = enabled_user_in(state, session.client.tenant_id, claims.uid)
        .await?
        .ok_or_else(|| ApiFailure::token_refused("the token's user is disabled or gone"))?;
    let expires_at = claims.exp * 1000;
    let Some(act) = &claims.act else {
        if subject.id != session.owner.id {
            return Err(ApiFailure::token_refused("the token does not belong to its client's owner"));
        }
        let app = WebappRef { id: webapp.id, name: webapp.name.clone(), project_id: webapp.project_id, user_scopes: None };
        return Ok(Principal::of_webapp_token(subject, None, None, app, expires_at));
    };
    if act.uid != session.owner.id || act.act.is_some() {
        return Err(ApiFailure::token_refused("the token's actor is not its webapp's backend"));
    }
    if session.owner.disabled {
        return Err(ApiFailure::token_refused("the webapp's backend account is disabled"));
    }
    let impersonation = impersonation_of(state, claims.imp, session.impersonation.clone(), &subject).await?.map_err(ApiFailure::token_refused)?;
    let held = Scopes::parse(claims.scope.as_deref().unwrap_or_default()).map_err(ApiFailure::token_refused)?;
    let declared = Scopes::parse(&webapp.scopes).map_err(AppError::internal)?;
    let user_scopes = Some(webapps::effective_scopes(&held, &declared));
    let webapp_ref = WebappRef { id: webapp.id, name: webapp.name.clone(), project_id: webapp.project_id, user_scopes };
    let impersonation = impersonation.as_ref().map(|(actor, row)| (actor.clone(), row));
    let principal = Principal::of_webapp_token(subject, impersonation, Some(session.owner.clone()), webapp_ref, expires_at);
    if let Err(e) = may_open(state, &principal, &webapp).await {
        return Err(ApiFailure::token_refused(format!("the token's user may no longer open the webapp: {e}")));
    }
    Ok(principal)
}
