//! Administration → API clients: list, create, rotate, revoke. Admins only; the secret is in
//! the answer of create and rotate (to the client's owner only), and nowhere else.

use crate::error::AppError;
use crate::model::{ApiClientView, ClientSecret};
use leptos::prelude::*;

#[server(endpoint = "admin/api_clients")]
pub async fn list_api_clients() -> Result<Vec<ApiClientView>, AppError> {
    use crate::backend::store;
    let (state, principal) = crate::backend::identity::current_admin().await?;
    Ok(store::api_clients::list(&state.db, principal.tenant_id(), principal.subject().id).await?)
}

/// Creates a client owned by the signed-in admin.
#[server(endpoint = "admin/api_clients/create")]
pub async fn create_api_client(name: String, policy: String) -> Result<ClientSecret, AppError> {
    use crate::backend::{api_clients, rules::impersonation};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    let policy = api_clients::parse_policy(&policy)?;
    // Administration is refused while impersonating: the subject is the admin acting.
    api_clients::create(&state, principal.subject(), &name, policy, &principal.via().label()).await
}

#[server(endpoint = "admin/api_clients/rotate")]
pub async fn rotate_api_client(client_id: String) -> Result<ClientSecret, AppError> {
    use crate::backend::{api_clients, rules::impersonation};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    api_clients::rotate(&state, &principal, &client_id).await
}

#[server(endpoint = "admin/api_clients/revoke")]
pub async fn revoke_api_client(client_id: String) -> Result<(), AppError> {
    use crate::backend::{api_clients, rules::impersonation};
    let (state, principal) = crate::backend::identity::current_admin().await?;
    impersonation::may_change(principal.read_only()).map_err(|d| AppError::Forbidden(d.message().into()))?;
    api_clients::revoke(&state, &principal, &client_id).await
}
