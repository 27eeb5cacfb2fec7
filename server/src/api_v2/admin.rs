//! Administration over the API: API clients, grants and the audit log. These endpoints refuse
//! impersonation tokens — acting as someone else never extends to managing who may do so.

use super::error::{ApiResult, ErrorBody};
use super::private_json;
use super::resources::Person;
use app::backend::api_access::{ApiCaller, ApiFailure};
use app::backend::state::AppState;
use app::backend::store::{self, audit::AuditFilter};
use app::backend::rules::api_clients as client_rules;
use app::backend::{api_clients, rules::permissions};
use app::error::AppError;
use app::model::PartyView;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

/// The caller, if it is an administrator acting as themselves.
fn require_admin(caller: &ApiCaller) -> Result<(), ApiFailure> {
    client_rules::may_administer_with_token(caller.principal.actor().is_some() || caller.claims.is_impersonation())
        .map_err(ApiFailure::not_allowed)?;
    let user = caller.principal.permissions_user();
    permissions::may_administer(user, user.tenant_id)
        .map_err(|r| AppError::Forbidden(format!("administration needs an admin: {}", r.reason())).into())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientEntry {
    pub client_id: String,
    pub name: String,
    pub owner: Person,
    /// `strict` or `compatible`.
    pub subject_policy: String,
    pub secret_version: i64,
    /// Milliseconds since 1970.
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<ClientEntry>,
}

/// The tenant's API clients (never their secrets).
#[utoipa::path(get, path = "/v2/admin/clients", tag = "administration", security(("bearer" = [])),
    responses((status = 200, body = ClientList), (status = 403, description = "An impersonation token, or not an admin", body = ErrorBody)))]
pub async fn clients(State(state): State<AppState>, Extension(caller): Extension<ApiCaller>) -> ApiResult<Response> {
    require_admin(&caller)?;
    let clients = store::api_clients::list(&state.db, caller.principal.tenant_id(), caller.principal.subject().id)
        .await?
        .into_iter()
        .map(|c| ClientEntry {
            client_id: c.client_id,
            name: c.name,
            owner: Person::from(&c.owner),
            subject_policy: c.subject_policy,
            secret_version: c.secret_version,
            created_at: c.created_at,
            rotated_at: c.rotated_at,
            revoked_at: c.revoked_at,
            last_used_at: c.last_used_at,
        })
        .collect();
    Ok(private_json(StatusCode::OK, &ClientList { clients }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub client_id: String,
    pub revoked: bool,
}

/// Revokes an API client: its tokens stop working at once.
#[utoipa::path(post, path = "/v2/admin/clients/{client_id}/revoke", tag = "administration", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = Revoked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_client(
    State(state): State<AppState>,
    Extension(caller): Extension<ApiCaller>,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    require_admin(&caller)?;
    api_clients::revoke(&state, &caller.principal, &client_id).await?;
    Ok(private_json(StatusCode::OK, &Revoked { client_id, revoked: true }))
}

#[derive(Serialize, ToSchema)]
pub struct Party {
    /// `user` or `group`.
    pub kind: &'static str,
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
}

impl From<&PartyView> for Party {
    fn from(p: &PartyView) -> Self {
        match p {
            PartyView::User(u) => Party { kind: "user", id: u.id, name: u.display_name.clone(), email: Some(u.email.clone()) },
            PartyView::Group { id, name } => Party { kind: "group", id: *id, name: name.clone(), email: None },
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantEntry {
    pub id: i64,
    /// Who may impersonate.
    pub actor: Party,
    /// Whom.
    pub subject: Party,
    /// `on_behalf_of`, `full` or `full_impersonator_permissions`.
    pub mode: String,
    pub created_by: Person,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct GrantList {
    pub grants: Vec<GrantEntry>,
}

/// Who may impersonate whom, besides admins.
#[utoipa::path(get, path = "/v2/admin/grants", tag = "administration", security(("bearer" = [])),
    responses((status = 200, body = GrantList), (status = 403, body = ErrorBody)))]
pub async fn grants(State(state): State<AppState>, Extension(caller): Extension<ApiCaller>) -> ApiResult<Response> {
    require_admin(&caller)?;
    let grants = store::grants::list(&state.db, caller.principal.tenant_id())
        .await?
        .iter()
        .map(|g| GrantEntry {
            id: g.id,
            actor: Party::from(&g.actor),
            subject: Party::from(&g.subject),
            mode: g.mode.as_db().to_string(),
            created_by: Person::from(&g.created_by),
            created_at: g.created_at,
        })
        .collect();
    Ok(private_json(StatusCode::OK, &GrantList { grants }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    pub id: i64,
    /// Milliseconds since 1970.
    pub at: i64,
    pub actor: Person,
    pub subject: Option<Person>,
    pub action: String,
    pub target: String,
    /// `allowed`, `denied` or `failed`.
    pub outcome: String,
    pub reason: String,
    pub via: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub rows: Vec<AuditRow>,
}

/// The latest 200 audit rows of the tenant, newest first.
#[utoipa::path(get, path = "/v2/admin/audit", tag = "administration", security(("bearer" = [])),
    responses((status = 200, body = AuditList), (status = 403, body = ErrorBody)))]
pub async fn audit(State(state): State<AppState>, Extension(caller): Extension<ApiCaller>) -> ApiResult<Response> {
    require_admin(&caller)?;
    let filter = AuditFilter { limit: 200, ..AuditFilter::default() };
    let rows = store::audit::list(&state.db, caller.principal.tenant_id(), &filter)
        .await?
        .iter()
        .map(|r| AuditRow {
            id: r.id,
            at: r.at,
            actor: Person::from(&r.actor),
            subject: r.subject.as_ref().map(Person::from),
            action: r.action.clone(),
            target: r.target.clone(),
            outcome: r.outcome.clone(),
            reason: r.reason.clone(),
            via: r.via.clone(),
        })
        .collect();
    Ok(private_json(StatusCode::OK, &AuditList { rows }))
}
