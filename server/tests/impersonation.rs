//! Acting as another user, through the real router: start and stop, every refusal with its
//! status, message and audit row, automatic ends, read-only, and the audit chain.

mod common;

use app::backend::audit::{chain_hash, global_chain_hash, AuditEntry, AuditRecord, ChainKey, Outcome};
use app::backend::store;
use app::model::JobStatus;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{session_cookie, TestApp, DEMO_FORM};

const TSHIRTS: i64 = 1;

struct Audit {
    action: String,
    outcome: String,
    actor: String,
    subject: Option<String>,
    reason: String,
    target: String,
}

async fn audit_rows(app: &TestApp) -> Vec<Audit> {
    let filter = store::audit::AuditFilter { limit: 1000, ..Default::default() };
    let mut rows: Vec<Audit> = store::audit::list(&app.state.db, TSHIRTS, &filter)
        .await
        .unwrap()
        .into_iter()
        .map(|a| Audit {
            action: a.action,
            outcome: a.outcome,
            actor: a.actor.email,
            subject: a.subject.map(|s| s.email),
            reason: a.reason,
            target: a.target,
        })
        .collect();
    rows.reverse();
    rows
}

async fn start(app: &TestApp, cookie: &str, email: &str, reason: &str, read_only: bool) -> common::Reply {
    let id = app.user_id(email).await.to_string();
    let mut form = vec![("user_id", id.as_str()), ("reason", reason)];
    if read_only {
        form.push(("read_only", "on"));
    }
    app.post("/api/impersonation/start", &form, Some(cookie)).await
}

/// Starts impersonating and returns the new session cookie.
async fn impersonate(app: &TestApp, cookie: &str, email: &str, read_only: bool) -> String {
    let reply = start(app, cookie, email, "TICKET-7", read_only).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    session_cookie(&reply).expect("a new session id")
}

async fn me(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.post("/api/me", &[], Some(cookie)).await.json()
}

/// Checks every audit chain the way `server audit verify` does; returns the rows checked.
async fn chains_ok(app: &TestApp) -> usize {
    store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key())
        .await
        .unwrap()
        .expect("the audit chains are intact")
}

#[tokio::test]
async fn alice_impersonates_carol_builds_and_stops() {
    let app = TestApp::with_workers().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    assert_ne!(as_carol, alice, "the session id changes on start");
    let who = me(&app, &as_carol).await;
    assert_eq!(who["user"]["email"], "carol@tshirts.example");
    assert_eq!(who["is_admin"], false, "everything is as Carol");
    assert_eq!(who["impersonation"]["actor"]["email"], "alice@tshirts.example");
    assert_eq!(who["impersonation"]["reason"], "TICKET-7");
    assert_eq!(me(&app, &alice).await, serde_json::Value::Null, "the old session id is gone");

    // Carol has no build right: inside the context the build is refused, but still names both.
    let refused = app.post("/api/build_in_context", &DEMO_FORM, Some(&as_carol)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let backend = app.post("/api/build_as_backend", &DEMO_FORM, Some(&as_carol)).await;
    assert_eq!(backend.status, StatusCode::OK, "{}", backend.body);
    let job_id = backend.json()["job_id"].as_i64().unwrap();
    let jobs = app.post("/api/jobs", &[("only_mine", "false")], Some(&as_carol)).await.json();
    let (newest, refused_job) = (&jobs[0], &jobs[1]);
    assert_eq!(newest["run_as"]["email"], "webapp-backend@tshirts.example");
    assert_eq!(newest["triggered_by"]["email"], "carol@tshirts.example");
    assert_eq!(newest["impersonated_by"]["email"], "alice@tshirts.example");
    assert_eq!(refused_job["status"], "Refused");
    assert_eq!(refused_job["run_as"]["email"], "carol@tshirts.example");
    assert_eq!(refused_job["impersonated_by"]["email"], "alice@tshirts.example");
    assert_eq!(app.wait_for_job(job_id).await, JobStatus::Succeeded);

    let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.body);
    let back = session_cookie(&stop).expect("a new session id on stop");
    assert_ne!(back, as_carol);
    let who = me(&app, &back).await;
    assert_eq!(who["user"]["email"], "alice@tshirts.example");
    assert_eq!(who["impersonation"], serde_json::Value::Null);

    let rows = audit_rows(&app).await;
    let actions: Vec<(&str, &str)> = rows.iter().map(|r| (r.action.as_str(), r.outcome.as_str())).collect();
    assert_eq!(
        actions,
        vec![
            ("impersonation.start", "allowed"),
            ("dataset.build", "denied"),
            ("dataset.build", "allowed"),
            ("impersonation.stop", "allowed")
        ]
    );
    for r in &rows {
        assert_eq!(r.actor, "alice@tshirts.example");
        assert_eq!(r.subject.as_deref(), Some("carol@tshirts.example"));
    }
    assert!(rows[2].target.contains(&format!("job #{job_id}")));
    assert_eq!(chains_ok(&app).await, 4);

    // Carol sees it under My account → Activity.
    let carol = app.login("carol@tshirts.example").await;
    let activity = app.post("/api/account/activity", &[], Some(&carol)).await.json();
    assert_eq!(activity[0]["actor"]["email"], "alice@tshirts.example");
    assert_eq!(activity[0]["reason"], "TICKET-7");
    assert_eq!(activity[0]["end_reason"], "stopped");
    assert_eq!(activity[0]["actions"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn every_refusal_has_its_status_message_and_audit_row() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let u1 = app.login("u1@tshirts.example").await;
    store::users::set_disabled(&app.state.writer, app.user_id("dave@tshirts.example").await, true).await.unwrap();
    let long = "x".repeat(501);
    let cases = [
        (&alice, "bob@tshirts.example", "TICKET-1", StatusCode::FORBIDDEN, "administrators cannot be impersonated"),
        (&alice, "alice@tshirts.example", "TICKET-1", StatusCode::FORBIDDEN, "you cannot impersonate yourself"),
        (&alice, "webapp-backend@tshirts.example", "TICKET-1", StatusCode::FORBIDDEN, "service accounts cannot be impersonated"),
        (&alice, "dave@tshirts.example", "TICKET-1", StatusCode::FORBIDDEN, "the user is disabled"),
        (&alice, "eve@other.example", "TICKET-1", StatusCode::NOT_FOUND, "no user with id"),
        (&u1, "carol@tshirts.example", "TICKET-1", StatusCode::FORBIDDEN, "you have no grant to impersonate this user"),
        (&alice, "carol@tshirts.example", "   ", StatusCode::BAD_REQUEST, "a reason is required to impersonate"),
        (&alice, "carol@tshirts.example", &long, StatusCode::BAD_REQUEST, "the reason is too long"),
    ];
    for (cookie, email, reason, status, message) in cases {
        let reply = start(&app, cookie, email, reason, false).await;
        assert_eq!(reply.status, status, "{email}: {}", reply.body);
        assert!(reply.error_message().contains(message), "{email}: {}", reply.body);
        assert!(session_cookie(&reply).is_none(), "{email}: nothing changes");
    }
    let reply = app.post("/api/impersonation/start", &[("user_id", "999999"), ("reason", "x")], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.post("/api/impersonation/start", &[("user_id", "carol"), ("reason", "x")], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    // No nesting.
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    let reply = start(&app, &as_carol, "sam@tshirts.example", "TICKET-2", false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.error_message().contains("already impersonating"));
    assert_eq!(me(&app, &as_carol).await["user"]["email"], "carol@tshirts.example", "still Carol");

    let rows = audit_rows(&app).await;
    let denied: Vec<&Audit> = rows.iter().filter(|r| r.outcome == "denied").collect();
    assert_eq!(denied.len(), 10, "every attempt but the malformed id is audited");
    assert!(denied.iter().all(|r| r.action == "impersonation.start"));
    assert_eq!(denied[0].actor, "alice@tshirts.example");
    assert_eq!(denied[0].subject.as_deref(), Some("bob@tshirts.example"));
    assert!(denied[0].reason.contains("administrators cannot be impersonated"));
    assert_eq!(denied[5].actor, "u1@tshirts.example");
    assert_eq!(denied[9].actor, "alice@tshirts.example", "the nested attempt names the real actor");
    let impersonations: i64 = app.value("SELECT COUNT(*) FROM impersonations").await;
    assert_eq!(impersonations, 1);
    chains_ok(&app).await;
}

#[tokio::test]
async fn the_picker_offers_exactly_whom_i_may_impersonate() {
    let app = TestApp::new().await;
    let names = |reply: common::Reply| -> Vec<String> {
        reply.json().as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect()
    };
    let sam = app.login("sam@tshirts.example").await;
    let list = names(app.post("/api/impersonation/candidates", &[], Some(&sam)).await);
    assert_eq!(list, vec!["carol@tshirts.example", "dave@tshirts.example"]);
    let u1 = app.login("u1@tshirts.example").await;
    assert!(names(app.post("/api/impersonation/candidates", &[], Some(&u1)).await).is_empty());
    let alice = app.login("alice@tshirts.example").await;
    let mut list = names(app.post("/api/impersonation/candidates", &[], Some(&alice)).await);
    list.sort();
    assert_eq!(
        list,
        vec!["carol@tshirts.example", "dave@tshirts.example", "sam@tshirts.example", "u1@tshirts.example", "u2@tshirts.example"]
    );

    // A grant on a group that contains an admin never reaches the admin.
    let bob = app.user_id("bob@tshirts.example").await;
    app.edit_database(&format!("INSERT INTO group_members (group_id, user_id) SELECT id, {bob} FROM groups WHERE name = 'Customers'"))
        .await
        .unwrap();
    let list = names(app.post("/api/impersonation/candidates", &[], Some(&sam)).await);
    assert_eq!(list, vec!["carol@tshirts.example", "dave@tshirts.example"]);
    let reply = start(&app, &sam, "bob@tshirts.example", "TICKET-3", false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let as_dave = impersonate(&app, &sam, "dave@tshirts.example", false).await;
    assert_eq!(me(&app, &as_dave).await["impersonation"]["actor"]["email"], "sam@tshirts.example");
    assert!(names(app.post("/api/impersonation/candidates", &[], Some(&as_dave)).await).is_empty(), "no nesting");
}

#[tokio::test]
async fn losing_the_right_or_the_time_ends_it_on_the_next_request() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    store::users::set_admin(&app.state.writer, app.user_id("alice@tshirts.example").await, false).await.unwrap();
    let who = me(&app, &as_carol).await;
    assert_eq!(who["user"]["email"], "alice@tshirts.example", "back to herself at once");
    assert_eq!(who["impersonation"], serde_json::Value::Null);
    let rows = audit_rows(&app).await;
    let last = rows.last().unwrap();
    assert_eq!(last.action, "impersonation.ended");
    assert!(last.reason.contains("you have no grant to impersonate this user"), "{}", last.reason);

    // Sam's grant is revoked mid-impersonation.
    let sam = app.login("sam@tshirts.example").await;
    let as_dave = impersonate(&app, &sam, "dave@tshirts.example", false).await;
    app.edit_database("DELETE FROM impersonation_grants").await.unwrap();
    assert_eq!(me(&app, &as_dave).await["user"]["email"], "sam@tshirts.example");

    // The time limit.
    store::users::set_admin(&app.state.writer, app.user_id("alice@tshirts.example").await, true).await.unwrap();
    let alice = app.login("alice@tshirts.example").await;
    let as_u1 = impersonate(&app, &alice, "u1@tshirts.example", false).await;
    app.edit_database("UPDATE impersonations SET expires_at = 0 WHERE ended_at IS NULL").await.unwrap();
    assert_eq!(me(&app, &as_u1).await["user"]["email"], "alice@tshirts.example");
    assert_eq!(audit_rows(&app).await.last().unwrap().action, "impersonation.expired");
    // A stale stop after expiry is a precise 4xx that changes nothing.
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_u1)).await;
    assert_eq!(stop.status, StatusCode::CONFLICT);
    assert!(stop.error_message().contains("you are not impersonating anyone"));

    // The global switch ends ongoing impersonations and refuses new ones.
    // After the automatic end, the same session is Alice herself again.
    let as_u2 = impersonate(&app, &as_u1, "u2@tshirts.example", false).await;
    app::backend::services::settings::switch_impersonation(&app.state.writer, false, "test").await.unwrap();
    assert_eq!(me(&app, &as_u2).await["user"]["email"], "alice@tshirts.example");
    let reply = start(&app, &as_u2, "u2@tshirts.example", "TICKET-4", false).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.error_message().contains("impersonation is switched off"));

    let open: i64 = app.value("SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL").await;
    assert_eq!(open, 0);
    chains_ok(&app).await;
}

#[tokio::test]
async fn read_only_impersonation_refuses_every_change() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_u1 = impersonate(&app, &alice, "u1@tshirts.example", true).await;
    assert_eq!(me(&app, &as_u1).await["impersonation"]["read_only"], true);
    for path in ["/api/build_in_context", "/api/build_as_backend"] {
        let reply = app.post(path, &DEMO_FORM, Some(&as_u1)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        assert!(reply.error_message().starts_with("read-only impersonation: "), "{}", reply.body);
    }
    assert!(store::jobs::all_identities(&app.state.db).await.unwrap().is_empty());
    let denied = audit_rows(&app).await.into_iter().filter(|r| r.outcome == "denied").count();
    assert_eq!(denied, 2);
    // Reading still works.
    let reply = app.post("/api/project", &[("key", "TSHIRTS")], Some(&as_u1)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_audit_insert_rolls_the_action_back() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_u1 = impersonate(&app, &alice, "u1@tshirts.example", false).await;
    app.fail_audit_inserts().await;
    let reply = app.post("/api/build_in_context", &DEMO_FORM, Some(&as_u1)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.body.contains("forced"), "no internal detail leaks: {}", reply.body);
    assert!(store::jobs::all_identities(&app.state.db).await.unwrap().is_empty(), "no job without its audit row");

    let stop = app.post("/api/impersonation/stop", &[], Some(&as_u1)).await;
    assert_eq!(stop.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(me(&app, &as_u1).await["user"]["email"], "u1@tshirts.example", "still impersonating");
    let open: i64 = app.value("SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL").await;
    assert_eq!(open, 1, "the stop was rolled back with its audit row");
}

#[tokio::test]
async fn start_and_stop_are_same_origin_posts_and_ignore_a_tampered_actor() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let carol = app.user_id("carol@tshirts.example").await.to_string();
    let get = app
        .request(
            Request::get(format!("/api/impersonation/start?user_id={carol}&reason=x"))
                .header(header::COOKIE, &alice)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    let cross = app
        .request(
            Request::builder()
                .method(Method::POST)
                .uri("/api/impersonation/start")
                .header(header::HOST, "127.0.0.1:3000")
                .header(header::ORIGIN, "https://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::COOKIE, &alice)
                .body(Body::from(format!("user_id={carol}&reason=x")))
                .unwrap(),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let impersonations: i64 = app.value("SELECT COUNT(*) FROM impersonations").await;
    assert_eq!(impersonations, 0);

    // A form naming another actor changes nothing: the actor is whoever is signed in.
    let bob = app.user_id("bob@tshirts.example").await.to_string();
    let reply = app
        .post("/api/impersonation/start", &[("user_id", &carol), ("reason", "x"), ("actor_id", &bob), ("actor", &bob)], Some(&alice))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows = audit_rows(&app).await;
    assert_eq!(rows.last().unwrap().actor, "alice@tshirts.example");

    let as_carol = session_cookie(&reply).unwrap();
    let stop_get = app
        .request(Request::get("/api/impersonation/stop").header(header::COOKIE, &as_carol).body(Body::empty()).unwrap())
        .await;
    assert_eq!(stop_get.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn logging_out_while_impersonating_ends_both() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    app.post("/api/logout", &[], Some(&as_carol)).await;
    assert_eq!(me(&app, &as_carol).await, serde_json::Value::Null);
    let rows = audit_rows(&app).await;
    assert_eq!(rows.last().unwrap().reason, "the impersonator logged out");
    let open: i64 = app.value("SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL").await;
    assert_eq!(open, 0);
}

#[tokio::test]
async fn logging_in_on_an_impersonating_session_ends_the_impersonation() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    let login = app.post("/api/login", &[("email", "u1@tshirts.example"), ("password", "guise-demo")], Some(&as_carol)).await;
    assert!(login.status.is_success() || login.status.is_redirection(), "{} {}", login.status, login.body);
    let as_u1 = session_cookie(&login).expect("a new session id");
    let who = me(&app, &as_u1).await;
    assert_eq!(who["user"]["email"], "u1@tshirts.example");
    assert_eq!(who["impersonation"], serde_json::Value::Null);
    let (ended_at, end_reason): (Option<i64>, Option<String>) =
        app.row("SELECT ended_at, end_reason FROM impersonations ORDER BY id DESC LIMIT 1").await;
    assert!(ended_at.is_some(), "Carol's record is closed");
    assert_eq!(end_reason.as_deref(), Some("another login"));
    let last = audit_rows(&app).await.pop().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("impersonation.stop", "alice@tshirts.example"));
    assert_eq!(last.subject.as_deref(), Some("carol@tshirts.example"));
    assert_eq!(last.reason, "someone logged in on the impersonator's browser session");
    chains_ok(&app).await;
}

#[tokio::test]
async fn a_session_ends_a_day_after_its_login_however_active_and_its_impersonation_with_it() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    assert_eq!(me(&app, &as_carol).await["user"]["email"], "carol@tshirts.example");
    // Her login was 24 hours ago; she kept the session busy (it never idled out).
    let day_ago = store::now_ms() - app::backend::auth::SESSION_LIFETIME_MS;
    let aged = if app.is_postgres() {
        format!("UPDATE sessions SET data = jsonb_set(data::jsonb, '{{guise.signed_in_at}}', '{day_ago}')::text")
    } else {
        format!("UPDATE sessions SET data = json_set(data, '$.\"guise.signed_in_at\"', {day_ago})")
    };
    let aged = app.edit_database(&aged).await.unwrap();
    assert_eq!(aged, 1);
    let reply = app.post("/api/me", &[], Some(&as_carol)).await;
    assert_eq!(reply.json(), serde_json::Value::Null, "signed out");
    let refused = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let (reason,): (String,) = app.row("SELECT end_reason FROM impersonations").await;
    assert_eq!(reason, "ended automatically: the impersonator's session reached its time limit");
    let last = audit_rows(&app).await.pop().unwrap();
    assert_eq!((last.action.as_str(), last.actor.as_str()), ("impersonation.ended", "alice@tshirts.example"));
    let sessions: i64 = app.value("SELECT COUNT(*) FROM sessions").await;
    assert_eq!(sessions, 0, "the session is gone");
    chains_ok(&app).await;
}

#[tokio::test]
async fn the_operator_s_global_switch_is_audited_in_a_chain_no_tenant_sees() {
    let app = TestApp::new().await;
    for state in ["off", "on"] {
        server::cli::run(app.cli(&["impersonation", state])).await.expect("the switch");
    }
    let rows: Vec<(i64, i64, String, String)> =
        app.rows("SELECT tenant_id, actor_user_id, reason, via FROM audit_log WHERE action = 'impersonation.switch' ORDER BY id").await;
    let expected = |state: &str| (0, 0, format!("impersonation turned {state}"), "command line".to_string());
    assert_eq!(rows, [expected("off"), expected("on")]);
    assert!(audit_rows(&app).await.is_empty(), "no tenant's audit shows the operator's rows");
    assert_eq!(chains_ok(&app).await, 2, "the operator's chain is checked with the others");
}

#[tokio::test]
async fn rows_the_command_line_appends_meanwhile_keep_the_server_s_chain_straight() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    // The server's writer appends to TShirts Co.'s chain, and knows where it ends.
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    // The command line, another connection, appends to the same chain.
    let cli = app.cli(&["user", "create", "--email", "zed@tshirts.example", "--name", "Zed", "--password", "zed-secret-1"]);
    server::cli::run(cli).await.expect("user create");
    // The server appends again: after the command line's row, not over it.
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.body);
    let actions: Vec<String> = audit_rows(&app).await.into_iter().map(|r| r.action).collect();
    assert_eq!(actions, ["impersonation.start", "user.create", "impersonation.stop"]);
    assert_eq!(chains_ok(&app).await, 3);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_a_precise_400() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let before = audit_rows(&app).await.len();
    for body in [b"user_id=\xff&reason=TICKET-1".to_vec(), b"user_id=%FF&reason=TICKET-1".to_vec()] {
        let mut request = common::form_request("/api/impersonation/start", &[], Some(&alice));
        *request.body_mut() = Body::from(body);
        let reply = app.request(request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.error_message().contains("malformed input"), "{}", reply.body);
    }
    assert_eq!(audit_rows(&app).await.len(), before, "nothing started, nothing written");
}

#[tokio::test]
async fn audit_rows_are_never_changed_and_the_cli_finds_tampering() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    let update = app.edit_database("UPDATE audit_log SET reason = 'nothing'").await;
    assert!(update.unwrap_err().to_string().contains("audit rows are never updated"));
    let delete = app.edit_database("DELETE FROM audit_log").await;
    assert!(delete.unwrap_err().to_string().contains("audit rows are never deleted"));
    // An insert that replaces a row: SQLite's REPLACE, PostgreSQL's upsert (an update there).
    let (verbs, conflict, refusal) = if app.is_postgres() {
        (&["INSERT"][..], "ON CONFLICT (id) DO UPDATE SET reason = 'nothing'", "audit rows are never updated")
    } else {
        (&["INSERT OR REPLACE", "REPLACE"][..], "", "audit rows are never replaced")
    };
    for verb in verbs {
        let replace = app
            .edit_database(&format!(
                "{verb} INTO audit_log (id, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action,
                                         target, outcome, reason, via, prev_hash, hash)
                 SELECT id, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action,
                        target, outcome, 'nothing', via, prev_hash, hash FROM audit_log WHERE id = 1 {conflict}"
            ))
            .await;
        assert!(replace.unwrap_err().to_string().contains(refusal), "{verb}");
    }

    let verify = || {
        app.server_binary()
            .args(["audit", "verify"])
            .output()
            .expect("run the server binary")
    };
    let ok = verify();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("audit chains intact: 2 rows verified"));

    // Someone with write access to the database file edits history.
    app.allow_audit_edits().await;
    app.edit_database("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 1").await.unwrap();
    let broken = verify();
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("the audit log does not verify: audit row 1: its content does not match its hash"), "{stderr}");
}

/// A row rewritten with the hash `rehash` gives it, and every later row of its tenant's chain
/// relinked (what someone who can write the database file can do).
async fn rewrite_chain(app: &TestApp, from_id: i64, rehash: impl Fn(&AuditRecord) -> String) {
    let rows: Vec<(i64, i64, i64, String)> =
        app.rows(&format!("SELECT id, seq, at, prev_hash FROM audit_log WHERE tenant_id = 1 AND id >= {from_id} ORDER BY seq")).await;
    let mut prev = rows[0].3.clone();
    for (id, seq, at, _) in rows {
        let entry = store::audit::list(&app.state.db, TSHIRTS, &store::audit::AuditFilter { limit: 1000, ..Default::default() })
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.id == id)
            .unwrap();
        let record = AuditRecord {
            id,
            seq: Some(seq),
            at,
            entry: AuditEntry {
                tenant_id: TSHIRTS,
                actor_user_id: entry.actor.id,
                subject_user_id: entry.subject.map(|s| s.id),
                impersonation_id: entry.impersonation_id,
                action: entry.action,
                target: entry.target,
                outcome: Outcome::from_db(&entry.outcome).unwrap(),
                reason: entry.reason,
                via: entry.via,
            },
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        let hash = rehash(&record);
        app.edit_database(&format!("UPDATE audit_log SET prev_hash = '{prev}', hash = '{hash}' WHERE id = {id}")).await.unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn editing_the_database_alone_cannot_forge_the_keyed_chain() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    assert_eq!(chains_ok(&app).await, 2);
    // The reason of the start is changed and every hash from there recomputed, as plain
    // SHA-256 and as an HMAC under a key of the forger's own: without the key file, neither
    // passes.
    app.allow_audit_edits().await;
    app.edit_database("UPDATE audit_log SET reason = 'nothing to see' WHERE id = 1").await.unwrap();
    let forger = ChainKey::new([1; 32]);
    let forgeries: [&dyn Fn(&AuditRecord) -> String; 2] = [
        &|r| global_chain_hash(&r.prev_hash, r.seq.unwrap(), r.at, &r.entry),
        &|r| chain_hash(&forger, &r.prev_hash, r.seq.unwrap(), r.at, &r.entry),
    ];
    for forge in forgeries {
        rewrite_chain(&app, 1, forge).await;
        let found = store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap();
        assert_eq!(found.unwrap_err().row_id, Some(1));
    }
    // With the key, the same rewrite verifies: the key is what the chain's trust rests on.
    let key = app.state.keys.server.chain_key();
    rewrite_chain(&app, 1, |r| chain_hash(&key, &r.prev_hash, r.seq.unwrap(), r.at, &r.entry)).await;
    assert_eq!(chains_ok(&app).await, 2);
}

#[tokio::test]
async fn each_tenant_verifies_its_own_chain_and_learns_nothing_of_others() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    // Starting gave the session a new id: log in afresh.
    let alice: &'static str = app.login("alice@tshirts.example").await.leak();
    let eve: &'static str = app.login("eve@other.example").await.leak();
    let rotate = app.post("/api/admin/api_clients/create", &[("name", "Eve's reports"), ("policy", "strict")], Some(eve)).await;
    assert_eq!(rotate.status, StatusCode::OK, "{}", rotate.body);
    let other_rows: i64 = app.value("SELECT COUNT(*) FROM audit_log WHERE tenant_id <> 1").await;
    assert!(other_rows > 0);
    let verify = |cookie: &'static str| app.post("/api/admin/audit/verify", &[], Some(cookie));
    assert_eq!(verify(alice).await.json()["rows_checked"], 2, "only TShirts Co.'s rows are counted");
    assert_eq!(verify(eve).await.json()["rows_checked"], other_rows);
    assert_eq!(chains_ok(&app).await, 2 + other_rows as usize, "the operator checks every chain");
    // Another tenant's row is edited: that tenant's chain breaks, TShirts Co.'s does not.
    app.allow_audit_edits().await;
    app.edit_database("UPDATE audit_log SET reason = 'nothing' WHERE tenant_id <> 1").await.unwrap();
    assert_eq!(verify(alice).await.json()["intact"], true);
    assert_eq!(verify(eve).await.json()["intact"], false);
    assert!(store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap().is_err());
}

#[tokio::test]
async fn rows_of_the_older_global_chain_still_verify_and_anchor_every_tenant_chain() {
    let app = TestApp::new().await;
    // Two rows as written before chains were per tenant and keyed: one global plain chain.
    let mut prev = app::backend::audit::GENESIS.to_string();
    let (mut first_hash, mut older_entry) = (String::new(), None);
    for (id, tenant) in [(1, 1), (2, 2)] {
        let entry = AuditEntry {
            tenant_id: tenant,
            actor_user_id: if tenant == 1 { app.user_id("alice@tshirts.example").await } else { app.user_id("eve@other.example").await },
            subject_user_id: None,
            impersonation_id: None,
            action: "settings.change".into(),
            target: "run-as".into(),
            outcome: Outcome::Allowed,
            reason: format!("older row {id}"),
            via: "UI".into(),
        };
        let hash = global_chain_hash(&prev, id, 1000 + id, &entry);
        app.edit_database(&format!(
            "INSERT INTO audit_log (id, at, tenant_id, actor_user_id, action, target, outcome, reason, via, prev_hash, hash)
             VALUES ({id}, {}, {tenant}, {}, '{}', '{}', 'allowed', '{}', 'UI', '{prev}', '{hash}')",
            1000 + id, entry.actor_user_id, entry.action, entry.target, entry.reason
        ))
        .await
        .unwrap();
        if id == 1 {
            first_hash = hash.clone();
        }
        older_entry = Some(entry);
        prev = hash;
    }
    let older_entry = older_entry.unwrap();
    if app.is_postgres() {
        // Rows inserted with their own ids leave PostgreSQL's id sequence behind them.
        app.edit_database("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), (SELECT MAX(id) FROM audit_log))").await.unwrap();
    }
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", false).await;
    app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    assert_eq!(chains_ok(&app).await, 4);
    let alice = app.login("alice@tshirts.example").await;
    let report = app.post("/api/admin/audit/verify", &[], Some(&alice)).await.json();
    assert_eq!(report["rows_checked"], 3, "TShirts Co.'s older row and its two keyed rows");
    // Eve's older row edited: Alice learns that a row of another tenant changed, not which.
    app.allow_audit_edits().await;
    app.edit_database("UPDATE audit_log SET reason = 'nothing' WHERE id = 2").await.unwrap();
    let report = app.post("/api/admin/audit/verify", &[], Some(&alice)).await.json();
    assert_eq!(report["intact"], false);
    assert!(report["message"].as_str().unwrap().contains("a row of another tenant"), "{report}");
    let key = app.state.keys.server.chain_key();
    assert_eq!(store::audit::verify_all(&app.state.db, &key).await.unwrap().unwrap_err().row_id, Some(2));
    // Its plain hash recomputed, the older chain holds again, but its last hash moved: the
    // first keyed row of TShirts Co., which starts from it, no longer matches.
    let edited = AuditEntry { reason: "nothing".into(), ..older_entry };
    let rehashed = global_chain_hash(&first_hash, 2, 1002, &edited);
    app.edit_database(&format!("UPDATE audit_log SET hash = '{rehashed}' WHERE id = 2")).await.unwrap();
    let first_keyed: i64 = app.value("SELECT MIN(id) FROM audit_log WHERE seq IS NOT NULL").await;
    assert_eq!(store::audit::verify_all(&app.state.db, &key).await.unwrap().unwrap_err().row_id, Some(first_keyed));
}
