//! The OpenAPI document of the /v2 API, generated from the handlers and types themselves.

use super::{admin, error, resources, token};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Guise API",
        description = "Guise's REST API. Obtain a token with client credentials, exchange it (RFC 8693) for a token acting as a user, and call the resources as that user."
    ),
    paths(
        token::token,
        token::introspect,
        token::jwks,
        resources::whoami,
        resources::files,
        resources::build,
        resources::rows,
        resources::jobs,
        resources::job,
        admin::clients,
        admin::revoke_client,
        admin::grants,
        admin::audit,
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// `GET /v2/openapi.json`
pub async fn document() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}
