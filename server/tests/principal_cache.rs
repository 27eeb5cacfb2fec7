//! The rows that decide who a request is and what it may open are cached between requests.
//! Every change to them — through the server's writer or straight into the database file, as
//! the command line writes — must show on the very next request, with the cache warm. So must
//! every change to a job, whose lists are kept the same way.

mod common;

use app::backend::store;
use axum::http::StatusCode;
use common::{session_cookie, TestApp};

async fn me(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.post("/api/me", &[], Some(cookie)).await.json()
}

/// Asks the same things several times, so that what follows reads a warm cache.
async fn warm(app: &TestApp, cookie: &str) {
    for _ in 0..3 {
        assert_eq!(app.post("/api/me", &[], Some(cookie)).await.status, StatusCode::OK);
        app.post("/api/project", &[("key", "TSHIRTS")], Some(cookie)).await;
    }
}

fn candidate_emails(me: &serde_json::Value) -> Vec<String> {
    me["impersonation_candidates"]
        .as_array()
        .map(|users| users.iter().map(|u| u["email"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_demotion_shows_on_the_next_request_whoever_wrote_it() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    warm(&app, &alice).await;
    assert_eq!(me(&app, &alice).await["is_admin"], true);
    assert_eq!(app.post("/api/admin/users", &[], Some(&alice)).await.status, StatusCode::OK);

    // As the command line would: straight into the file, not through this server.
    app.edit_database("UPDATE users SET is_admin = 0 WHERE email = 'alice@tshirts.example'").await.unwrap();
    assert_eq!(me(&app, &alice).await["is_admin"], false);
    assert_eq!(app.post("/api/admin/users", &[], Some(&alice)).await.status, StatusCode::FORBIDDEN);

    // And back, through the server's own writer.
    store::users::set_admin(&app.state.writer, app.user_id("alice@tshirts.example").await, true).await.unwrap();
    assert_eq!(me(&app, &alice).await["is_admin"], true);
    assert_eq!(app.post("/api/admin/users", &[], Some(&alice)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_on_the_next_request() {
    let app = TestApp::new().await;
    let u1 = app.login("u1@tshirts.example").await;
    warm(&app, &u1).await;
    assert_eq!(me(&app, &u1).await["user"]["email"], "u1@tshirts.example");
    store::users::set_disabled(&app.state.writer, app.user_id("u1@tshirts.example").await, true).await.unwrap();
    assert_eq!(me(&app, &u1).await, serde_json::Value::Null, "no longer signed in");

    let u2 = app.login("u2@tshirts.example").await;
    warm(&app, &u2).await;
    app.edit_database("UPDATE users SET disabled = 1 WHERE email = 'u2@tshirts.example'").await.unwrap();
    assert_eq!(me(&app, &u2).await, serde_json::Value::Null);
}

#[tokio::test]
async fn a_revoked_grant_ends_the_impersonation_and_leaves_the_picker() {
    let app = TestApp::new().await;
    let sam = app.login("sam@tshirts.example").await;
    warm(&app, &sam).await;
    assert!(candidate_emails(&me(&app, &sam).await).contains(&"dave@tshirts.example".to_string()));
    let dave = app.user_id("dave@tshirts.example").await.to_string();
    let reply = app.post("/api/impersonation/start", &[("user_id", &dave), ("reason", "TICKET-9")], Some(&sam)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let as_dave = session_cookie(&reply).unwrap();
    warm(&app, &as_dave).await;
    assert_eq!(me(&app, &as_dave).await["user"]["email"], "dave@tshirts.example");

    // Dave leaves the Customers group the grant names.
    app.edit_database(
        "DELETE FROM group_members WHERE user_id = (SELECT id FROM users WHERE email = 'dave@tshirts.example')",
    )
    .await
    .unwrap();
    let who = me(&app, &as_dave).await;
    assert_eq!(who["user"]["email"], "sam@tshirts.example", "back to himself at once");
    assert!(!candidate_emails(&who).contains(&"dave@tshirts.example".to_string()));
}

#[tokio::test]
async fn the_global_switch_empties_the_picker_at_once() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    warm(&app, &alice).await;
    assert!(!candidate_emails(&me(&app, &alice).await).is_empty());
    app.edit_database("INSERT INTO settings (key, value) VALUES ('impersonation_enabled', 'false') ON CONFLICT(key) DO UPDATE SET value = 'false'")
        .await
        .unwrap();
    assert!(candidate_emails(&me(&app, &alice).await).is_empty());
    app::backend::services::settings::switch_impersonation(&app.state.writer, true, "test").await.unwrap();
    assert!(!candidate_emails(&me(&app, &alice).await).is_empty());
}

#[tokio::test]
async fn a_lost_project_permission_and_a_renamed_tenant_show_at_once() {
    let app = TestApp::new().await;
    let u1 = app.login("u1@tshirts.example").await;
    warm(&app, &u1).await;
    assert_eq!(app.post("/api/project", &[("key", "TSHIRTS")], Some(&u1)).await.status, StatusCode::OK);
    app.edit_database("DELETE FROM project_permissions").await.unwrap();
    assert_eq!(app.post("/api/project", &[("key", "TSHIRTS")], Some(&u1)).await.status, StatusCode::FORBIDDEN);

    app.edit_database("UPDATE tenants SET name = 'Shirts & Co' WHERE id = (SELECT tenant_id FROM users WHERE email = 'u1@tshirts.example')").await.unwrap();
    assert_eq!(me(&app, &u1).await["tenant_name"], "Shirts & Co");
}

#[tokio::test]
async fn writes_that_change_no_access_keep_the_cache() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    warm(&app, &alice).await;
    let before = app.state.cache.version();
    // A job, its log and an audit row change nothing the cache holds.
    let form = [("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "web_history_prepared")];
    assert_eq!(app.post("/api/build_in_context", &form, Some(&alice)).await.status, StatusCode::OK);
    me(&app, &alice).await;
    assert_eq!(app.state.cache.version(), before);
}

async fn job_list(app: &TestApp, cookie: &str) -> Vec<serde_json::Value> {
    let reply = app.post("/api/jobs", &[("only_mine", "false")], Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json().as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_jobs_list_shows_every_change_on_the_next_request() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let u2 = app.login("u2@tshirts.example").await;
    // U2 may not build: each try is a refused job, which no worker moves afterwards.
    let form = [("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "web_history_prepared")];
    assert_eq!(app.post("/api/build_in_context", &form, Some(&u2)).await.status, StatusCode::FORBIDDEN);
    for _ in 0..3 {
        assert_eq!(job_list(&app, &alice).await.len(), 1);
    }

    // A new job, through the server.
    assert_eq!(app.post("/api/build_in_context", &form, Some(&u2)).await.status, StatusCode::FORBIDDEN);
    let jobs = job_list(&app, &alice).await;
    assert_eq!(jobs.len(), 2);

    // A job changed straight in the database, as the command line would.
    let newest = jobs[0]["id"].as_i64().unwrap();
    app.edit_database(&format!("UPDATE jobs SET error = 'changed outside' WHERE id = {newest}")).await.unwrap();
    assert_eq!(job_list(&app, &alice).await[0]["error"], "changed outside");

    // A renamed user and a removed job.
    app.edit_database("UPDATE users SET display_name = 'U2 Renamed' WHERE email = 'u2@tshirts.example'").await.unwrap();
    assert_eq!(job_list(&app, &alice).await[0]["run_as"]["display_name"], "U2 Renamed");
    app.edit_database(&format!("DELETE FROM jobs WHERE id = {newest}")).await.unwrap();
    assert_eq!(job_list(&app, &alice).await.len(), 1);

    // Each person's own list is kept apart from the tenant's.
    let mine = app.post("/api/jobs", &[("only_mine", "true")], Some(&alice)).await.json();
    assert_eq!(mine.as_array().map(Vec::len), Some(0));
}
