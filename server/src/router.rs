//! The HTTP application: Leptos pages and server functions, the event stream, sessions and
//! the guards around them.

use crate::{api_v2, events, middleware, render_whole::render_whole, webapps};
use app::backend::auth::Accounts;
use app::backend::state::AppState;
use app::backend::store::sessions::Sessions;
use app::{shell, App};
use axum::handler::Handler;
use axum::routing::{any, get};
use axum::{Extension, Router};
use axum_login::AuthManagerLayerBuilder;
use leptos::prelude::*;
use std::sync::Arc;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::{time::Duration, SameSite};
use tower_sessions::{Expiry, SessionManagerLayer};

pub const SESSION_COOKIE: &str = "guise_session";

/// Leptos options for this process: cargo-leptos' settings when it built us, else defaults.
pub fn leptos_options(site_addr: std::net::SocketAddr) -> Result<LeptosOptions, String> {
    let mut options = get_configuration(None).map_err(|e| format!("leptos configuration: {e}"))?.leptos_options;
    if options.output_name.is_empty() {
        options.output_name = "guise".into();
    }
    options.site_addr = site_addr;
    Ok(options)
}

/// The session store: the `sessions` table, written through the writer.
pub fn session_store(state: &AppState) -> Sessions {
    Sessions::new(state.db.clone(), state.writer.clone(), state.cache.clone())
}

pub fn build(state: AppState, options: LeptosOptions, sessions: Sessions) -> Router {
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.settings.serves_https())
        .with_expiry(Expiry::OnInactivity(Duration::hours(8)));
    let auth_layer =
        AuthManagerLayerBuilder::new(Accounts::new(state.db.clone(), state.cache.clone(), state.hashing.clone()), session_layer).build();

    let routes = generate_route_list(App);
    let context_state = state.clone();
    let not_found_state = state.clone();
    let api = api_v2::router(state.clone());
    let trusted_proxies = Arc::new(state.settings.trusted_proxies.clone());
    let https = state.settings.serves_https();
    Router::new()
        .leptos_routes_with_context(
            &options,
            routes,
            move || provide_context(context_state.clone()),
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        // Leptos's routes only (its pages; its server functions, POSTs, pass through): the
        // event stream below never ends, and must stop when its browser goes.
        .route_layer(axum::middleware::from_fn(render_whole))
        .route("/events/jobs", get(events::job_events))
        // Code webapps: their files, and their backends behind the proxy.
        .route("/projects/{key}/webapps/{slug}/", any(webapps::serve))
        .route("/projects/{key}/webapps/{slug}/{*path}", any(webapps::serve))
        .route("/healthz", get(|| async { "ok" }))
        // A page that does not exist still knows who is signed in (header, banner).
        .fallback(
            leptos_axum::file_and_error_handler_with_context(move || provide_context(not_found_state.clone()), shell)
                .layer(axum::middleware::from_fn(render_whole)),
        )
        .with_state(options)
        .layer(axum::middleware::from_fn(middleware::server_fn_error_status))
        .layer(axum::middleware::from_fn(middleware::refuse_cross_site))
        .layer(auth_layer)
        .layer(axum::middleware::from_fn(middleware::session_back_pressure))
        .layer(Extension(state))
        .layer(axum::middleware::from_fn(middleware::limit_body))
        // The API authenticates by bearer token, not by session: none of the layers above.
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(trusted_proxies, middleware::client_address))
        .layer(axum::middleware::from_fn_with_state(https, middleware::security_headers))
        // Server-Sent Events are never compressed (tower-http's default predicate), so they
        // reach the browser as they happen.
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}
