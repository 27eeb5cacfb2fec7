//! Who an API request acts for: client credentials, token exchange (RFC 8693) and the bearer
//! tokens of the /v2 API. Whether an API client's owner may act as a user is decided by the
//! same rules module as the UI; every token issued and every refusal is audited.

use super::audit::{AuditAction, AuditEntry, Outcome};
use super::rules::api_clients::{self, CLIENT_REFUSED};
use super::rules::impersonation;
use super::rules::modes::{self, ModeRefusal};
use super::principal::Principal;
use super::secrets::same_secret;
use super::shared_throttles;
use super::state::AppState;
use super::throttle::ClientAddress;
use super::store::{self, api_clients::{secret_context, ApiClientRow, ClientWithOwner}, impersonations::{ImpersonationRow, NewImpersonation}, now_ms, used_subject_tokens::Recorded, users::User};
use super::tokens::{self, AccessClaims, Actor, SubjectClaims, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT, TOKEN_TYPE_WEBAPP_TICKET};
use crate::error::AppError;
use crate::model::{ImpersonationMode, Via};

/// The one answer for every subject that may not be impersonated — unknown, disabled, admin,
/// service account, other tenant or no right — so the API reveals nothing about who exists.
pub const SUBJECT_REFUSED: &str = "the subject token names no user this client may impersonate";

/// Why an API request failed, in the backend's own terms. The HTTP adapter
/// (`server::api_v2::error`) alone turns each into a status and an RFC 6749 / 6750 error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiFailure {
    /// The request is malformed: a missing or repeated parameter, a token of the wrong form.
    BadRequest(String),
    /// The client is unknown or its credentials are wrong, revoked or its owner disabled.
    ClientRefused(String),
    /// A grant type this server does not offer.
    UnsupportedGrant(String),
    /// The access token is missing, invalid, expired or no longer backed by its client.
    TokenRefused(String),
    /// The token is valid but may not do this.
    NotAllowed(String),
    /// An exchange asked for scopes wider than allowed (RFC 6749 §5.2 `invalid_scope`).
    InvalidScope(String),
    /// The request body is over the limit.
    TooLarge(String),
    /// Too many failures: come back after `retry_after` seconds.
    SlowDown { description: String, retry_after: i64 },
    /// Anything else the backend answered (not found, forbidden, busy …).
    App(AppError),
}

impl ApiFailure {
    pub fn bad_request(d: impl Into<String>) -> Self {
        ApiFailure::BadRequest(d.into())
    }
    pub fn client_refused(d: impl Into<String>) -> Self {
        ApiFailure::ClientRefused(d.into())
    }
    pub fn unsupported_grant(d: impl Into<String>) -> Self {
        ApiFailure::UnsupportedGrant(d.into())
    }
    pub fn token_refused(d: impl Into<String>) -> Self {
        ApiFailure::TokenRefused(d.into())
    }
    pub fn not_allowed(d: impl Into<String>) -> Self {
        ApiFailure::NotAllowed(d.into())
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        ApiFailure::InvalidScope(d.into())
    }
    pub fn too_large(d: impl Into<String>) -> Self {
        ApiFailure::TooLarge(d.into())
    }

    /// What exactly was wrong, for the developer reading it.
    pub fn description(&self) -> String {
        match self {
            ApiFailure::BadRequest(d)
            | ApiFailure::ClientRefused(d)
            | ApiFailure::UnsupportedGrant(d)
            | ApiFailure::TokenRefused(d)
            | ApiFailure::NotAllowed(d)
            | ApiFailure::InvalidScope(d)
            | ApiFailure::TooLarge(d)
            | ApiFailure::SlowDown { description: d, .. } => d.clone(),
            ApiFailure::App(e) => e.to_string(),
        }
    }

    /// Seconds the client should wait before trying again, if it should.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            ApiFailure::SlowDown { retry_after, .. } => Some(*retry_after),
            ApiFailure::App(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<AppError> for ApiFailure {
    fn from(e: AppError) -> Self {
        ApiFailure::App(e)
    }
}

impl From<sqlx::Error> for ApiFailure {
    fn from(e: sqlx::Error) -> Self {
        ApiFailure::App(AppError::from(e))
    }
}

/// A token just issued.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub claims: AccessClaims,
}

/// One of our access tokens, checked, with the client, owner and tenant behind it.
#[derive(Clone, Debug)]
pub struct VerifiedClientToken {
    pub claims: AccessClaims,
    pub client: ApiClientRow,
    pub owner: User,
    pub tenant: String,
    /// When the client last obtained a token (ms), as read with it.
    pub last_used_at: Option<i64>,
    /// The ongoing impersonation of an impersonation token.
    pub impersonation: Option<ImpersonationRow>,
}

impl VerifiedClientToken {
    /// Whether the token is one of a code webapp's backend.
    pub fn is_webapps(&self) -> bool {
        self.client.webapp_id.is_some() || self.claims.wa.is_some()
    }

    fn via(&self) -> Via {
        Via::ApiClient { client_id: self.client.client_id.clone() }
    }

    pub fn entry(&self, action: AuditAction, subject: Option<&User>, target: String, outcome: Outcome, reason: String) -> AuditEntry {
        client_entry(&self.client, &self.owner, action, subject, target, outcome, reason)
    }
}

/// An audit row for something an API client did: its owner acts, through the client.
fn client_entry(
    client: &ApiClientRow,
    owner: &User,
    action: AuditAction,
    subject: Option<&User>,
    target: String,
    outcome: Outcome,
    reason: String,
) -> AuditEntry {
    AuditEntry {
        tenant_id: client.tenant_id,
        actor_user_id: owner.id,
        subject_user_id: subject.map(|s| s.id),
        impersonation_id: None,
        action: action.as_str().into(),
        target,
        outcome,
        reason,
        via: Via::ApiClient { client_id: client.client_id.clone() }.label(),
    }
}

/// The caller of an API request: the principal it acts as, and the token that says so.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    pub principal: Principal,
    pub claims: AccessClaims,
}

pub(super) fn now_secs() -> i64 {
    now_ms() / 1000
}

pub(super) fn new_claims(subject: &User, tenant: &str, client: &ApiClientRow, exp: i64, act: Option<Actor>) -> AccessClaims {
    let now = now_secs();
    AccessClaims {
        iss: tokens::ISSUER.into(),
        aud: tokens::AUDIENCE.into(),
        sub: subject.email.clone(),
        uid: subject.id,
        tenant: tenant.to_string(),
        client_id: client.client_id.clone(),
        cv: client.secret_version,
        iat: now,
        nbf: now,
        exp,
        jti: tokens::new_jti(),
        act,
        imp: None,
        // Every token of a code webapp's backend names the webapp.
        wa: client.webapp_id,
        scope: None,
    }
}

pub(super) fn issue(state: &AppState, claims: AccessClaims) -> Result<IssuedToken, ApiFailure> {
    let access_token = state.keys.tokens.issue(&claims).map_err(AppError::internal)?;
    Ok(IssuedToken { access_token, expires_in: (claims.exp - claims.iat).max(0), claims })
}

fn open_secret(state: &AppState, client: &ApiClientRow) -> Result<Vec<u8>, ApiFailure> {
    state
        .keys
        .server
        .open(&client.secret_sealed, &secret_context(&client.client_id))
        .map_err(|e| AppError::internal(format!("client {}: {e}", client.client_id)).into())
}

/// The client, its owner and tenant, read fresh on every API request; the same query brings
/// the read cache up to date, so the rest of the request may read through it.
async fn client_with_owner(state: &AppState, client_id: &str) -> Result<Option<ClientWithOwner>, sqlx::Error> {
    let found = store::api_clients::with_owner(&state.db, client_id).await?;
    if let Some(found) = &found {
        state.cache.observe(found.access_version);
    }
    Ok(found)
}

/// `grant_type=client_credentials` from `address`: a token acting as the client's owner.
/// Wrong secrets slow that client id down from that address only, so someone who knows a
/// `client_id` cannot lock the client out; unknown ids are slowed alike, so the answers do
/// not tell which exist.
pub async fn client_credentials(state: &AppState, client_id: &str, secret: &str, address: ClientAddress) -> Result<IssuedToken, ApiFailure> {
    let Ok(client_id) = super::api_clients::check_client_id(client_id) else {
        tracing::warn!("client credentials for a malformed client id {:?}", tokens::clip(client_id, 64));
        return Err(ApiFailure::client_refused(CLIENT_REFUSED));
    };
    let source = (client_id.to_string(), address.0);
    shared_throttles::before_client(state, &source).await?;
    if let Some(seconds) = state.client_throttle.wait(&source, now_secs()) {
        return Err(ApiFailure::SlowDown {
            description: format!("too many wrong secrets for this client from this address; try again in {seconds} s"),
            retry_after: seconds,
        });
    }
    let Some(ClientWithOwner { client, owner, tenant, last_used_at, .. }) = client_with_owner(state, client_id).await? else {
        tracing::warn!("client credentials for unknown client {client_id:?}");
        shared_throttles::client_failed(state, source, now_secs()).await?;
        return Err(ApiFailure::client_refused(CLIENT_REFUSED));
    };
    let target = format!("client {}", client.client_id);
    let entry = |outcome: Outcome, reason: String| client_entry(&client, &owner, AuditAction::ApiToken, None, target.clone(), outcome, reason);
    let secret_matches = same_secret(&open_secret(state, &client)?, secret.as_bytes());
    if let Err(refusal) = api_clients::may_use_client(secret_matches, client.is_active(), owner.disabled) {
        let why = if refusal.is_guess() {
            match shared_throttles::client_failed(state, source, now_secs()).await? {
                0 => format!("{} (from {})", refusal.reason(), address.0),
                wait => format!("{} (from {}); that address now waits {wait} s", refusal.reason(), address.0),
            }
        } else {
            refusal.reason().to_string()
        };
        store::audit::append_alone(&state.writer, &entry(Outcome::Denied, why)).await?;
        return Err(ApiFailure::client_refused(refusal.told()));
    }
    let claims = new_claims(&owner, &tenant, &client, now_secs() + tokens::ACCESS_TOKEN_SECONDS, None);
    let issued = issue(state, claims)?;
    let entry = entry(Outcome::Allowed, format!("client credentials; token {}", issued.claims.jti));
    let mark_used = store::api_clients::last_use_is_stale(last_used_at, now_ms());
    store::api_clients::record_token(&state.writer, &client.client_id, mark_used, &entry).await?;
    Ok(issued)
}

/// Checks one of our access tokens and the client behind it: signature and times, the client
/// still active under the same secret, every client of its delegation chain likewise, and its
/// impersonation (if any) not ended.
pub async fn verify_client_token(state: &AppState, token: &str) -> Result<VerifiedClientToken, ApiFailure> {
    let claims = state.keys.tokens.verify(token).map_err(|e| ApiFailure::token_refused(e.message()))?;
    let ClientWithOwner { client, owner, tenant, last_used_at, .. } = client_with_owner(state, &claims.client_id)
        .await?
        .ok_or_else(|| ApiFailure::token_refused("the token's client no longer exists"))?;
    if !client.is_active() {
        return Err(ApiFailure::token_refused("the token's client is revoked"));
    }
    if client.secret_version != claims.cv {
        return Err(ApiFailure::token_refused("the client's secret was rotated since this token was issued"));
    }
    for link in claims.act.iter().flat_map(|a| a.chain()) {
        let live = if link.client_id == client.client_id {
            link.cv == client.secret_version
        } else {
            store::api_clients::by_client_id(&state.db, client.tenant_id, &link.client_id)
                .await?
                .is_some_and(|c| c.is_active() && c.secret_version == link.cv)
        };
        if !live {
            return Err(ApiFailure::token_refused(format!(
                "client {} of the token's delegation chain was revoked or rotated",
                link.client_id
            )));
        }
    }
    let impersonation = match claims.imp {
        Some(id) => store::impersonations::by_id(&state.db, id).await?,
        None => None,
    };
    if let Some(ended) = impersonation.as_ref().filter(|r| r.ended_at.is_some()) {
        let why = ended.end_reason.as_deref().unwrap_or_default();
        return Err(ApiFailure::token_refused(format!("the impersonation was ended: {why}")));
    }
    Ok(VerifiedClientToken { claims, client, owner, tenant, last_used_at, impersonation })
}

/// The user a verified token acts as, if still enabled in the client's tenant.
async fn token_user(state: &AppState, session: &VerifiedClientToken) -> Result<Option<User>, ApiFailure> {
    enabled_user_in(state, session.client.tenant_id, session.claims.uid).await
}

pub(super) async fn enabled_user_in(state: &AppState, tenant_id: i64, id: i64) -> Result<Option<User>, ApiFailure> {
    Ok(state.cached().user_in(tenant_id, id).await?.filter(|u| !u.disabled))
}

/// The caller of a /v2 request whose token (of an ordinary client: code webapps' tokens go to
/// `webapp_access`) was verified. An impersonation token is re-checked against the rules on
/// every request, as a UI impersonation is, and its impersonation ends (audited) as soon as
/// the rules refuse it.
pub async fn caller_of(state: &AppState, session: VerifiedClientToken) -> Result<ApiCaller, ApiFailure> {
    if session.is_webapps() {
        return Err(ApiFailure::token_refused("the token belongs to a webapp's backend"));
    }
    let subject = token_user(state, &session)
        .await?
        .ok_or_else(|| ApiFailure::token_refused("the token's user is disabled or gone"))?;
    let actor = match &session.claims.act {
        None if subject.id == session.owner.id => None,
        None => return Err(ApiFailure::token_refused("the token does not belong to its client's owner")),
        Some(act) => {
            let actor = state
                .cached()
                .user(act.uid)
                .await?
                .ok_or_else(|| ApiFailure::token_refused("the token's actor is gone"))?;
            let granted = state.cached().grant_modes(actor.tenant_id, actor.id, subject.id).await?;
            let enabled = state.cached().impersonation_enabled().await?;
            // The mode the exchange recorded; a token without an impersonation row gets the
            // mode the grants give by default now.
            let mode = session.impersonation.as_ref().map(|r| r.mode).or_else(|| modes::default_mode(actor.is_admin, &granted));
            let allowed = impersonation::may_impersonate(&actor, &subject, !granted.is_empty(), enabled)
                .map_err(|d| d.message())
                .and_then(|()| mode.filter(|m| modes::mode_still_allowed(*m, actor.is_admin, &granted)).ok_or(ModeRefusal::NotGranted.message()));
            let denial = match allowed {
                Ok(mode) => return Ok(api_caller(subject, Some((actor, mode)), session)),
                Err(denial) => denial,
            };
            let why = format!("ended automatically: {denial}");
            if let Some(id) = session.claims.imp {
                let target = format!("user {} ({})", subject.id, subject.email);
                let entry = AuditEntry {
                    impersonation_id: Some(id),
                    ..session.entry(AuditAction::ImpersonationEnded, Some(&subject), target, Outcome::Allowed, why.clone())
                };
                store::impersonations::end(&state.writer, id, &why, &entry).await?;
            }
            return Err(ApiFailure::token_refused(format!("the impersonation is no longer allowed: {denial}")));
        }
    };
    Ok(api_caller(subject, actor, session))
}

fn api_caller(subject: User, actor: Option<(User, ImpersonationMode)>, session: VerifiedClientToken) -> ApiCaller {
    let principal = Principal::of_api_token(subject, actor, session.via(), session.claims.exp * 1000, session.claims.imp);
    ApiCaller { principal, claims: session.claims }
}

/// The actor of an exchange: a client's own access token, never an impersonation token (that
/// refusal is audited: the client is known).
pub async fn authenticate_actor(state: &AppState, actor_token: &str) -> Result<VerifiedClientToken, ApiFailure> {
    let session = verify_client_token(state, actor_token)
        .await
        .map_err(|e| ApiFailure::client_refused(format!("actor_token: {}", e.description())))?;
    if let Err(denial) = impersonation::no_nesting(session.claims.is_impersonation()) {
        let error = ApiFailure::bad_request(format!("actor_token is an impersonation token: {}", denial.message()));
        return Err(refuse_exchange(state, &session, error).await);
    }
    if token_user(state, &session).await?.is_none() {
        return Err(ApiFailure::client_refused("actor_token: the client's owner is disabled"));
    }
    Ok(session)
}

/// Audits a refused exchange request of an authenticated client and returns its error.
pub async fn refuse_exchange(state: &AppState, session: &VerifiedClientToken, error: ApiFailure) -> ApiFailure {
    let target = format!("client {}", session.client.client_id);
    refusal(state, session, None, target, error.description(), error).await
}

/// A subject token, once its signature and claims are accepted.
struct Subject {
    user: Option<User>,
    /// What the token named, for the audit row.
    named: String,
    tenant_claim: Option<String>,
    /// What makes it single-use: its `jti`, or its hash (see `tokens::replay_guard`).
    jti: Option<String>,
    expires: Option<i64>,
    /// Until when (seconds) the `jti` must be remembered; `None`: for ever.
    replay_until: Option<i64>,
    /// A Guise token rather than one the client signed: reusable, and the new token must not
    /// outlive it.
    issued_by_us: bool,
    /// The delegation chain the subject token already carried.
    prior: Option<Actor>,
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`: a token acting as the
/// subject token's user, with the client's owner as actor (`act`), nesting any earlier chain.
pub async fn exchange(
    state: &AppState,
    session: &VerifiedClientToken,
    subject_token: &str,
    subject_token_type: &str,
) -> Result<IssuedToken, ApiFailure> {
    let subject = match read_subject(state, session, subject_token, subject_token_type).await {
        Ok(subject) => subject,
        Err(error) => {
            let target = format!("client {}", session.client.client_id);
            return Err(refusal(state, session, None, target, error.description(), error).await);
        }
    };
    let target = match &subject.jti {
        Some(jti) => format!("subject {} · jti {jti}", subject.named),
        None => format!("subject {}", subject.named),
    };
    let (user, mode) = match check_subject(state, session, &subject).await? {
        Ok(allowed) => allowed,
        Err(why) => {
            let known = subject.user.as_ref();
            return Err(refusal(state, session, known, target, why, ApiFailure::bad_request(SUBJECT_REFUSED)).await);
        }
    };
    let act = Actor {
        sub: session.owner.email.clone(),
        uid: session.owner.id,
        client_id: session.client.client_id.clone(),
        cv: session.client.secret_version,
        act: subject.prior.clone().map(Box::new),
    };
    if act.chain().len() > tokens::MAX_CHAIN {
        let error = ApiFailure::bad_request(format!("the delegation chain would exceed {} actors", tokens::MAX_CHAIN));
        return Err(refusal(state, session, Some(&user), target, error.description(), error).await);
    }
    let bounds = [Some(session.claims.exp), subject.expires.filter(|_| subject.issued_by_us)];
    let exp = impersonation::token_expiry(
        now_secs(),
        state.settings.impersonation_minutes,
        tokens::ACCESS_TOKEN_SECONDS,
        bounds.into_iter().flatten(),
    );
    let mut claims = new_claims(&user, &session.tenant, &session.client, exp, Some(act));
    let entry = session.entry(
        AuditAction::ApiTokenExchange,
        Some(&user),
        target.clone(),
        Outcome::Allowed,
        format!("token {} until {} (mode: {})", claims.jti, claims.exp, mode.label()),
    );
    let via = session.via();
    let reason = format!("{} (token exchange)", via.label());
    let started = NewImpersonation {
        tenant_id: session.client.tenant_id,
        actor_user_id: session.owner.id,
        subject_user_id: user.id,
        reason: reason.clone(),
        read_only: false,
        mode,
        started_at: claims.iat * 1000,
        expires_at: claims.exp * 1000,
        via,
    };
    let jti_expiry = subject.replay_until;
    let single_use = api_clients::subject_token_is_single_use(subject.issued_by_us, session.client.subject_policy);
    let jti = subject.jti.as_deref().filter(|_| single_use);
    let client_id = &session.client.client_id;
    let mark_used = store::api_clients::last_use_is_stale(session.last_used_at, now_ms());
    match store::used_subject_tokens::record_exchange(&state.writer, client_id, jti, jti_expiry, Some(started), mark_used, entry).await? {
        Recorded::Done(impersonation_id) => {
            claims.imp = impersonation_id;
            issue(state, claims)
        }
        Recorded::Replayed => {
            let error = ApiFailure::bad_request("subject_token jti was already used: subject tokens are single-use");
            Err(refusal(state, session, Some(&user), target, error.description(), error).await)
        }
    }
}

/// Audits a refused exchange; returns the error to answer with (or the audit's own failure).
pub(super) async fn refusal(
    state: &AppState,
    session: &VerifiedClientToken,
    subject: Option<&User>,
    target: String,
    why: String,
    error: ApiFailure,
) -> ApiFailure {
    let entry = session.entry(AuditAction::ApiTokenExchange, subject, target, Outcome::Denied, why);
    match store::audit::append_alone(&state.writer, &entry).await {
        Ok(_) => error,
        Err(e) => e.into(),
    }
}

/// Checks the subject token's form, signature and claims.
async fn read_subject(state: &AppState, session: &VerifiedClientToken, token: &str, token_type: &str) -> Result<Subject, ApiFailure> {
    if session.client.webapp_id.is_some() {
        return Err(ApiFailure::bad_request(format!("a webapp's backend exchanges only its tickets (subject_token_type {TOKEN_TYPE_WEBAPP_TICKET})")));
    }
    match token_type {
        TOKEN_TYPE_JWT => read_self_signed(state, session, token).await,
        TOKEN_TYPE_ACCESS_TOKEN => read_issued(state, session, token).await,
        TOKEN_TYPE_WEBAPP_TICKET => Err(ApiFailure::bad_request(super::rules::webapps::TicketRefusal::NotAWebappBackend.message())),
        other => Err(ApiFailure::bad_request(format!(
            "subject_token_type {:?} is not supported: use {TOKEN_TYPE_JWT} (or {TOKEN_TYPE_ACCESS_TOKEN} for a Guise impersonation token)",
            tokens::clip(other, 64)
        ))),
    }
}

/// A JWT the client signed itself: HS256 with its own secret, `kid` = its id.
async fn read_self_signed(state: &AppState, session: &VerifiedClientToken, token: &str) -> Result<Subject, ApiFailure> {
    let client = &session.client;
    tokens::check_subject_header(token, &client.client_id).map_err(ApiFailure::bad_request)?;
    let claims = tokens::verify_subject_signature(token, &open_secret(state, client)?).map_err(ApiFailure::bad_request)?;
    let policy = client.subject_policy;
    let accepted = tokens::check_subject_claims(&claims, policy, now_secs()).map_err(ApiFailure::bad_request)?;
    let guard = tokens::replay_guard(token, &accepted);
    let SubjectClaims { sub, tenant, exp, .. } = accepted;
    let user = state.cached().user_by_email_in(client.tenant_id, &sub).await?;
    Ok(Subject {
        user,
        named: sub,
        tenant_claim: tenant,
        jti: Some(guard.key),
        expires: exp,
        replay_until: guard.until,
        issued_by_us: false,
        prior: None,
    })
}

/// An impersonation token Guise issued (to this or another client of the tenant): its user,
/// if of this client's tenant, and its delegation chain kept.
async fn read_issued(state: &AppState, session: &VerifiedClientToken, token: &str) -> Result<Subject, ApiFailure> {
    let inner = verify_client_token(state, token)
        .await
        .map_err(|e| ApiFailure::bad_request(format!("subject_token: {}", e.description())))?;
    super::rules::webapps::may_exchange_again(inner.claims.is_webapp_user_token()).map_err(ApiFailure::bad_request)?;
    if !inner.claims.is_impersonation() {
        return Err(ApiFailure::bad_request(format!(
            "a subject_token of type {TOKEN_TYPE_ACCESS_TOKEN} must be an impersonation token; name a user with a {TOKEN_TYPE_JWT} subject token"
        )));
    }
    let user = enabled_user_in(state, session.client.tenant_id, inner.claims.uid).await?;
    let claims = inner.claims;
    Ok(Subject {
        named: claims.sub.clone(),
        user,
        tenant_claim: Some(claims.tenant.clone()),
        jti: Some(claims.jti.clone()),
        expires: Some(claims.exp),
        replay_until: Some(claims.exp + tokens::SUBJECT_LEEWAY_SECONDS),
        issued_by_us: true,
        prior: claims.act,
    })
}

/// Whether the client's owner may act as the subject: same tenant (the claim must name it
/// exactly when present) and the impersonation rules. The reason is for the audit row only;
/// the same queries run whoever the subject is, so timing tells as little as the answer.
async fn check_subject(state: &AppState, session: &VerifiedClientToken, subject: &Subject) -> Result<Result<(User, ImpersonationMode), String>, ApiFailure> {
    let owner = &session.owner;
    let user = subject.user.clone();
    let granted = state.cached().grant_modes(owner.tenant_id, owner.id, user.as_ref().map_or(0, |u| u.id)).await?;
    let enabled = state.cached().impersonation_enabled().await?;
    if let Some(claimed) = &subject.tenant_claim {
        if *claimed != session.tenant {
            return Ok(Err(format!("the tenant claim {:?} is not the client's tenant", tokens::clip(claimed, 64))));
        }
    }
    // A user of another tenant is, for this client, no user at all.
    let Some(user) = user else {
        return Ok(Err("no such user in the client's tenant".into()));
    };
    // An exchange has no form to choose a mode on: it gets the default one.
    let mode = modes::default_mode(owner.is_admin, &granted);
    Ok(impersonation::may_impersonate(owner, &user, !granted.is_empty(), enabled)
        .map_err(|d| d.message().to_string())
        .and_then(|()| mode.map(|mode| (user, mode)).ok_or_else(|| ModeRefusal::NotGranted.message().to_string())))
}

/// Audits a request made with an impersonation token, naming both people.
pub async fn audit_request(state: &AppState, caller: &ApiCaller, request: &str, status: u16) -> Result<(), AppError> {
    let outcome = match status {
        200..=399 => Outcome::Allowed,
        400..=499 => Outcome::Denied,
        _ => Outcome::Failed,
    };
    let reason = format!("HTTP {status}; token {}", caller.claims.jti);
    if let Some(entry) = caller.principal.audit_if_acting_for_another(AuditAction::ApiRequest, request.to_string(), outcome, reason) {
        store::audit::append_alone(&state.writer, &entry).await?;
    }
    Ok(())
}
