//! Guise: the shared crate, compiled for the server (`ssr`) and the browser (`hydrate`).

// Deeply nested view types need more room than the default when hydrating.
#![recursion_limit = "256"]

pub mod api;
pub mod codec;
pub mod components;
pub mod error;
pub mod model;
pub mod pages;
pub mod providers;

#[cfg(feature = "ssr")]
pub mod backend;

use components::banner::ImpersonationBanner;
use components::header::Header;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};
use pages::{
    activity::ActivityPage, admin_api_clients::AdminApiClientsPage, admin_audit::AdminAuditPage, admin_grants::AdminGrantsPage,
    admin_groups::AdminGroupsPage, admin_users::AdminUsersPage, profile::ProfilePage,
    home::HomePage, job_detail::JobDetailPage, jobs::JobsPage, login::LoginPage, not_found::NotFound,
    project::ProjectPage, webapp::WebappPage, webapp_settings::WebappSettingsPage, shop::ShopPage, cart::CartPage, dataset::DatasetPage,
    orders::OrdersPage,
};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta http-equiv="Content-Security-Policy" content=script_policy()/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Scripts the page may run: the app's own files, the inline scripts the server wrote into this
/// response (they carry its nonce) and its WebAssembly; nothing injected, no plugins. (Framing
/// is refused by a header on every answer.)
fn script_policy() -> String {
    let nonce = leptos::nonce::use_nonce().map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!("script-src 'self'{nonce} 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'")
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    providers::auth::provide_auth();
    // Pages render completely on the server before they are sent, so they work without
    // JavaScript and a redirect to the login page can still be an HTTP redirect.
    view! {
        <Stylesheet id="leptos" href="/pkg/guise.css"/>
        <Title text="Guise"/>
        <Router>
            <ImpersonationBanner/>
            <Header/>
            <main>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:key") view=ProjectPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:key/datasets/:name") view=DatasetPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:key/webapps/:slug") view=WebappPage ssr=SsrMode::Async/>
                    <Route path=path!("/projects/:key/webapps/:slug/settings") view=WebappSettingsPage ssr=SsrMode::Async/>
                    <Route path=path!("/jobs") view=JobsPage ssr=SsrMode::Async/>
                    <Route path=path!("/jobs/:id") view=JobDetailPage ssr=SsrMode::Async/>
                    <Route path=path!("/users/:id") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/users") view=AdminUsersPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/groups") view=AdminGroupsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/grants") view=AdminGrantsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=AdminAuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/api-clients") view=AdminApiClientsPage ssr=SsrMode::Async/>
                    <Route path=path!("/account/activity") view=ActivityPage ssr=SsrMode::Async/>
                    <Route path=path!("/shop") view=ShopPage ssr=SsrMode::Async/>
                    <Route path=path!("/shop/cart") view=CartPage ssr=SsrMode::Async/>
                    <Route path=path!("/orders") view=OrdersPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
