//! The foundation through the real router: login, the impersonation context, refusals, bad
//! input, CSRF, failures and restart recovery.

mod common;

use app::backend::jobs::runner;
use app::backend::store;
use app::model::{JobStatus, JobView, Via};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{session_cookie, TestApp, DEMO_FORM};
use tower::ServiceExt;

const TSHIRTS: i64 = 1;

async fn job(app: &TestApp, id: i64) -> JobView {
    store::jobs::view(&app.state.db, TSHIRTS, id).await.unwrap().expect("job exists")
}

fn job_id(reply: &common::Reply) -> i64 {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["job_id"].as_i64().expect("job_id")
}

#[tokio::test]
async fn password_guessing_waits_per_account_and_address_and_is_audited() {
    let app = TestApp::new().await;
    let try_login = |email: &'static str, password: &'static str, ip: &'static str| {
        let request = common::form_request("/api/login", &[("email", email), ("password", password)], None);
        app.request(common::from_address(request, ip))
    };
    for n in 1..=5 {
        let reply = try_login("carol@tshirts.example", "guess", "203.0.113.5").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {n}");
        assert_eq!(reply.error_message(), "wrong email or password");
    }
    let reasons: Vec<String> = app.values("SELECT reason FROM audit_log WHERE action = 'login' AND outcome = 'denied' ORDER BY id").await;
    assert_eq!(reasons.len(), 5, "every wrong password is audited on the account");
    assert_eq!(reasons[0], "wrong password (from 203.0.113.5)");
    assert_eq!(reasons[4], "wrong password (from 203.0.113.5); that address now waits 4 s");
    // The right password from that address now waits too: it is not even checked.
    let throttled = try_login("carol@tshirts.example", "guise-demo", "203.0.113.5").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
    assert!(throttled.error_message().starts_with("too many failed logins; try again in"), "{}", throttled.body);
    assert!(matches!(throttled.retry_after.as_deref(), Some("4" | "3")), "{:?}", throttled.retry_after);
    assert!(session_cookie(&throttled).is_none());
    // Carol, elsewhere, is not locked out; nor is anyone else from the guesser's address.
    let carol = try_login("carol@tshirts.example", "guise-demo", "192.0.2.10").await;
    assert!(carol.status.is_success() || carol.status.is_redirection(), "{} {}", carol.status, carol.body);
    let dave = try_login("dave@tshirts.example", "guise-demo", "203.0.113.5").await;
    assert!(dave.status.is_success() || dave.status.is_redirection(), "{} {}", dave.status, dave.body);
    // Guesses sent all at once are checked one at a time: no more get a 401 (a checked
    // password) than the free tries allow.
    let guesses = (0..20).map(|_| try_login("u2@tshirts.example", "guess", "203.0.113.6"));
    let statuses: Vec<StatusCode> = futures::future::join_all(guesses).await.into_iter().map(|r| r.status).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!((1..=5).contains(&checked), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    // An unknown email is throttled alike, so the answers do not tell which accounts exist.
    for _ in 1..=5 {
        assert_eq!(try_login("nobody@tshirts.example", "guess", "203.0.113.5").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(try_login("nobody@tshirts.example", "guess", "203.0.113.5").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_restarted_server_still_slows_the_guesser_down() {
    async fn try_login(app: &TestApp, password: &str) -> common::Reply {
        let request = common::form_request("/api/login", &[("email", "carol@tshirts.example"), ("password", password)], None);
        app.request(common::from_address(request, "203.0.113.5")).await
    }
    let app = TestApp::new().await;
    for n in 1..=5 {
        assert_eq!(try_login(&app, "guess").await.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let restarted = TestApp::new_on(&app).await;
    let throttled = try_login(&restarted, "guise-demo").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.body);
}

#[tokio::test]
async fn over_https_cookies_are_secure_and_browsers_are_told_to_stay_on_https() {
    let plain = TestApp::new().await;
    let login = plain.post("/api/login", &[("email", "u1@tshirts.example"), ("password", "guise-demo")], None).await;
    assert!(!login.set_cookie.unwrap().contains("Secure"), "plain HTTP (make run) cannot carry Secure cookies");
    let page = plain.request(Request::get("/login").body(Body::empty()).unwrap()).await;
    assert!(page.strict_transport_security.is_none());

    let settings = app::backend::state::Settings { public_url: Some("https://guise.example.com".into()), ..Default::default() };
    let https = TestApp::with_settings(settings).await;
    let login = https.post("/api/login", &[("email", "u1@tshirts.example"), ("password", "guise-demo")], None).await;
    let cookie = login.set_cookie.unwrap();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let page = https.request(Request::get("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(page.strict_transport_security.as_deref(), Some("max-age=63072000"));
}

#[tokio::test]
async fn the_project_list_shows_only_projects_one_may_read() {
    let app = TestApp::new().await;
    let carol = app.login("carol@tshirts.example").await;
    let keys = |reply: common::Reply| -> Vec<String> {
        reply.json().as_array().unwrap().iter().map(|p| p["key"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(keys(app.post("/api/projects", &[], Some(&carol)).await), ["TSHIRTS"]);
    // Carol leaves the Customers group, through which she could read TSHIRTS.
    let carol_id = app.user_id("carol@tshirts.example").await;
    app.edit_database(&format!("DELETE FROM group_members WHERE user_id = {carol_id}")).await.unwrap();
    assert!(keys(app.post("/api/projects", &[], Some(&carol)).await).is_empty(), "listed only if it may be opened");
    let opened = app.post("/api/project", &[("key", "TSHIRTS")], Some(&carol)).await;
    assert_eq!(opened.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn login_sets_a_session_and_bad_credentials_get_one_message() {
    let app = TestApp::new().await;
    for (email, password) in [
        ("u1@tshirts.example", "wrong"),
        ("nobody@tshirts.example", "guise-demo"),
        ("webapp-backend@tshirts.example", "guise-demo"),
    ] {
        let reply = app.post("/api/login", &[("email", email), ("password", password)], None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{email}");
        assert_eq!(reply.error_message(), "wrong email or password", "{email}");
        assert!(session_cookie(&reply).is_none());
    }
    let reply = app.post("/api/login", &[("email", "u1@tshirts.example"), ("password", "")], None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let cookie = app.login("u1@tshirts.example").await;
    let reply = app.request(
        Request::post("/api/login")
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("email=u1%40tshirts.example&password=guise-demo"))
            .unwrap(),
    ).await;
    let set_cookie = reply.set_cookie.clone().unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");

    let me = app.post("/api/me", &[], Some(&cookie)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json()["user"]["display_name"], "U1 Analyst");
    assert_eq!(me.json()["tenant_name"], "TShirts Co.");

    let anonymous = app.post("/api/me", &[], None).await;
    assert_eq!(anonymous.json(), serde_json::Value::Null);
}

#[tokio::test]
async fn logging_in_rotates_the_session_id_and_logout_ends_it() {
    let app = TestApp::new().await;
    let first = app.login("u1@tshirts.example").await;
    let again = app.post("/api/login", &[("email", "u2@tshirts.example"), ("password", "guise-demo")], Some(&first)).await;
    let second = session_cookie(&again).expect("new cookie");
    assert_ne!(first, second, "the session id changes at login");
    let me = app.post("/api/me", &[], Some(&first)).await;
    assert_eq!(me.json(), serde_json::Value::Null, "the old id no longer works");
    let me = app.post("/api/me", &[], Some(&second)).await;
    assert_eq!(me.json()["user"]["display_name"], "U2 Analyst");

    app.post("/api/logout", &[], Some(&second)).await;
    let me = app.post("/api/me", &[], Some(&second)).await;
    assert_eq!(me.json(), serde_json::Value::Null);
}

#[tokio::test]
async fn builds_inside_the_context_run_as_the_browser_user_and_outside_as_the_backend() {
    let app = TestApp::with_workers().await;
    let cookie = app.login("u1@tshirts.example").await;

    let inside = job_id(&app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await);
    let outside = job_id(&app.post("/api/build_as_backend", &DEMO_FORM, Some(&cookie)).await);

    let j = job(&app, inside).await;
    assert_eq!(j.run_as.email, "u1@tshirts.example");
    assert_eq!(j.triggered_by.email, "u1@tshirts.example");
    assert_eq!(j.impersonated_by, None);
    assert_eq!(j.via, Via::Webapp { name: "Impersonation Demo".into() });
    let j = job(&app, outside).await;
    assert_eq!(j.run_as.email, "webapp-backend@tshirts.example");
    assert_eq!(j.triggered_by.email, "u1@tshirts.example");

    assert_eq!(app.wait_for_job(inside).await, JobStatus::Succeeded);
    assert_eq!(app.wait_for_job(outside).await, JobStatus::Succeeded);
    let j = job(&app, inside).await;
    assert_eq!(j.rows_in, Some(52_000));
    let rows_out = j.rows_out.unwrap();
    assert!(rows_out > 40_000 && rows_out < 52_000, "bots and duplicates dropped: {rows_out}");
    assert!(j.started_at.is_some() && j.finished_at.is_some());

    let log = store::job_log::lines(&app.state.db, TSHIRTS, inside).await.unwrap();
    let text: Vec<&str> = log.iter().map(|l| l.message.as_str()).collect();
    assert!(text.iter().any(|l| l.contains("as U1 Analyst (u1@tshirts.example)")), "{text:?}");
    assert!(text.iter().any(|l| l.starts_with("Dropped ")), "{text:?}");
    assert!(text.iter().any(|l| l.starts_with("Succeeded: 52000 rows in")), "{text:?}");

    let project = store::projects::by_key(&app.state.db, TSHIRTS, "TSHIRTS").await.unwrap().unwrap();
    let ds = store::datasets::by_name(&app.state.db, project.id, "web_history_prepared").await.unwrap().unwrap();
    assert_eq!(ds.row_count, rows_out);
    let stored: i64 = app.value(&format!("SELECT COUNT(*) FROM dataset_rows WHERE dataset_id = {}", ds.id)).await;
    assert_eq!(stored, rows_out, "only the published generation remains");

    let listed = app.post("/api/jobs", &[("only_mine", "true")], Some(&cookie)).await;
    let ids: Vec<i64> = listed.json().as_array().unwrap().iter().map(|j| j["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![outside, inside], "newest first");
}

#[tokio::test]
async fn u2_is_refused_inside_the_context_but_the_backend_may_build() {
    let app = TestApp::new().await;
    let cookie = app.login("u2@tshirts.example").await;
    let reply = app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.error_message(),
        "U2 Analyst (u2@tshirts.example) may not build web_history_prepared: no build permission on the project"
    );
    let listed = app.post("/api/jobs", &[("only_mine", "true")], Some(&cookie)).await;
    let newest = &listed.json()[0];
    assert_eq!(newest["status"], "Refused");
    assert_eq!(newest["run_as"]["email"], "u2@tshirts.example");
    assert!(newest["error"].as_str().unwrap().contains("may not build"));

    let outside = job_id(&app.post("/api/build_as_backend", &DEMO_FORM, Some(&cookie)).await);
    let j = job(&app, outside).await;
    assert_eq!(j.status, JobStatus::Queued);
    assert_eq!(j.run_as.email, "webapp-backend@tshirts.example");
    assert_eq!(j.triggered_by.email, "u2@tshirts.example");
}

#[tokio::test]
async fn a_permission_lost_after_queueing_refuses_the_job_at_start() {
    let app = TestApp::new().await;
    let cookie = app.login("u1@tshirts.example").await;
    let id = job_id(&app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await);
    app.edit_database("UPDATE project_permissions SET can_build = 0").await.unwrap();
    let claimed = store::jobs::claim_next(&app.state.writer, &app.state.jobs.lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    runner::run_claimed(&app.state, claimed).await;
    let j = job(&app, id).await;
    assert_eq!(j.status, JobStatus::Refused);
    assert!(j.error.unwrap().contains("U1 Analyst (u1@tshirts.example) may not build"));
}

#[tokio::test]
async fn requests_without_a_session_are_refused() {
    let app = TestApp::new().await;
    for path in ["/api/build_in_context", "/api/build_as_backend"] {
        let reply = app.post(path, &DEMO_FORM, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.error_message(), "you are not logged in");
    }
    let reply = app.post("/api/jobs", &[("only_mine", "false")], None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = app.request(Request::get("/events/jobs").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let count = store::jobs::all_identities(&app.state.db).await.unwrap().len();
    assert_eq!(count, 0);
}

/// A form, the status it must get, and words its message must contain.
type BadInput<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = TestApp::new().await;
    let cookie = app.login("u1@tshirts.example").await;
    let long = "x".repeat(101);
    let cases: Vec<BadInput> = vec![
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "nope")], StatusCode::NOT_FOUND, "project TSHIRTS has no dataset named nope"),
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "")], StatusCode::BAD_REQUEST, "dataset name is empty"),
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", &long)], StatusCode::BAD_REQUEST, "dataset name is too long"),
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "web_history")], StatusCode::BAD_REQUEST, "web_history is a raw dataset"),
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "a b")], StatusCode::BAD_REQUEST, "may only contain"),
        (vec![("project", "NOPE"), ("webapp", "impersonation-demo"), ("dataset", "web_history_prepared")], StatusCode::NOT_FOUND, "no project named NOPE"),
        (vec![("project", "TSHIRTS"), ("webapp", "nope"), ("dataset", "web_history_prepared")], StatusCode::NOT_FOUND, "project TSHIRTS has no webapp nope"),
        (vec![("project", "TSHIRTS"), ("webapp", "impersonation-demo")], StatusCode::BAD_REQUEST, "malformed input"),
    ];
    for (form, status, message) in cases {
        let reply = app.post("/api/build_in_context", &form, Some(&cookie)).await;
        assert_eq!(reply.status, status, "{form:?}: {}", reply.body);
        assert!(reply.error_message().contains(message), "{form:?}: {}", reply.body);
    }
    let reply = app.post("/api/job", &[("id", "abc")], Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = app.post("/api/job", &[("id", "999999")], Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_message(), "no job #999999");
    assert!(store::jobs::all_identities(&app.state.db).await.unwrap().is_empty(), "no job was written");

    let huge = "a".repeat(200 * 1024);
    let reply = app.post("/api/build_in_context", &[("project", &huge)], Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn state_changes_need_a_same_origin_post() {
    let app = TestApp::new().await;
    let cookie = app.login("u1@tshirts.example").await;
    let body = common::form_body(&DEMO_FORM);
    let get = app
        .request(
            Request::get(format!("/api/build_in_context?{body}"))
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);

    for (name, value) in [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")] {
        let reply = app
            .request(
                Request::builder()
                    .method(Method::POST)
                    .uri("/api/build_in_context")
                    .header(header::HOST, "127.0.0.1:3000")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .header(header::COOKIE, &cookie)
                    .header(name, value)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(reply.error_message(), "cross-site request refused");
    }
    assert!(store::jobs::all_identities(&app.state.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn admins_change_run_backend_as_and_members_cannot() {
    let app = TestApp::new().await;
    let bob = app.user_id("bob@tshirts.example").await;
    let eve = app.user_id("eve@other.example").await;
    let member = app.login("u1@tshirts.example").await;
    let bob_id = bob.to_string();
    let f = [("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("user_id", bob_id.as_str())];
    let reply = app.post("/api/set_run_as", &f, Some(&member)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.error_message().contains("only administrators may do this"));

    let admin = app.login("alice@tshirts.example").await;
    let reply = app.post("/api/set_run_as", &f, Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let started = job_id(&app.post("/api/build_as_backend", &DEMO_FORM, Some(&member)).await);
    assert_eq!(job(&app, started).await.run_as.email, "bob@tshirts.example");
    // Audited, though Alice was not impersonating anyone.
    let (actor, reason): (String, String) = app
        .row(
            "SELECT u.email, a.reason FROM audit_log a JOIN users u ON u.id = a.actor_user_id
             WHERE a.action = 'webapp.settings' ORDER BY a.id DESC LIMIT 1",
        )
        .await;
    assert_eq!(actor, "alice@tshirts.example");
    assert_eq!(reason, "was webapp-backend@tshirts.example, now bob@tshirts.example");

    let eve_id = eve.to_string();
    let reply = app
        .post("/api/set_run_as", &[("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("user_id", &eve_id)], Some(&admin))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "another tenant's user is not found");
    let reply = app
        .post("/api/set_run_as", &[("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("user_id", "bob")], Some(&admin))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenants_never_mix() {
    let app = TestApp::new().await;
    let eve = app.login("eve@other.example").await;
    let reply = app.post("/api/project", &[("key", "TSHIRTS")], Some(&eve)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = app.post("/api/build_as_backend", &DEMO_FORM, Some(&eve)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let u1 = app.login("u1@tshirts.example").await;
    let id = job_id(&app.post("/api/build_as_backend", &DEMO_FORM, Some(&u1)).await);
    let reply = app.post("/api/job", &[("id", &id.to_string())], Some(&eve)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "another tenant's job is invisible");
    let listed = app.post("/api/jobs", &[("only_mine", "false")], Some(&eve)).await;
    assert_eq!(listed.json().as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_recipe_failing_midway_leaves_no_partial_output() {
    let app = TestApp::with_workers().await;
    let project = store::projects::by_key(&app.state.db, TSHIRTS, "TSHIRTS").await.unwrap().unwrap();
    let source = store::datasets::by_name(&app.state.db, project.id, "web_history").await.unwrap().unwrap();
    let target = store::datasets::by_name(&app.state.db, project.id, "web_history_prepared").await.unwrap().unwrap();
    app.edit_database(&format!(
        "UPDATE dataset_rows SET data = '[\"yesterday\",\"1.2.3.4\",\"x\",\"/\",\"\",\"v1\"]' WHERE dataset_id = {} AND row_no = 30000",
        source.id
    ))
    .await
    .unwrap();
    let cookie = app.login("u1@tshirts.example").await;
    let id = job_id(&app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await);
    assert_eq!(app.wait_for_job(id).await, JobStatus::Failed);
    let j = job(&app, id).await;
    let error = j.error.unwrap();
    assert!(error.contains("web_history row 30001: timestamp \"yesterday\""), "{error}");
    let log = store::job_log::lines(&app.state.db, TSHIRTS, id).await.unwrap();
    assert!(log.iter().any(|l| l.level == "error" && l.message.contains("row 30001")));

    let after = store::datasets::by_name(&app.state.db, project.id, "web_history_prepared").await.unwrap().unwrap();
    assert_eq!((after.generation, after.row_count), (target.generation, target.row_count), "nothing published");
    let leftovers: i64 = app.value(&format!("SELECT COUNT(*) FROM dataset_rows WHERE dataset_id = {}", target.id)).await;
    assert_eq!(leftovers, 0, "the half-written generation was discarded");
}

#[tokio::test]
async fn a_job_left_running_by_a_crash_is_queued_again_at_restart() {
    let app = TestApp::new().await;
    let cookie = app.login("u1@tshirts.example").await;
    let id = job_id(&app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await);
    let claimed = store::jobs::claim_next(&app.state.writer, &app.state.jobs.lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, id);
    let project = store::projects::by_key(&app.state.db, TSHIRTS, "TSHIRTS").await.unwrap().unwrap();
    let target = store::datasets::by_name(&app.state.db, project.id, "web_history_prepared").await.unwrap().unwrap();
    // Half of a build, as a crash would leave it.
    store::datasets::append_rows(&app.state.writer, target.id, id, &app.state.jobs.lease.owner, 0, &[vec![serde_json::json!("partial")]]).await.unwrap();
    assert_eq!(job(&app, id).await.status, JobStatus::Running);

    // "Restart": a new process opens the same database. On PostgreSQL it takes back only the
    // jobs whose lease ran out (others may be running on another server): this one's has.
    if app.is_postgres() {
        app.edit_database(&format!("UPDATE jobs SET lease_expires_at = 0 WHERE id = {id}")).await.unwrap();
    }
    let restarted = TestApp::new_on(&app).await;
    let requeued = runner::recover_interrupted(&restarted.state).await.unwrap();
    assert_eq!(requeued, vec![id]);
    assert_eq!(job(&restarted, id).await.status, JobStatus::Queued);
    let leftovers: i64 = restarted.value(&format!("SELECT COUNT(*) FROM dataset_rows WHERE dataset_id = {}", target.id)).await;
    assert_eq!(leftovers, 0);
    let log = store::job_log::lines(&restarted.state.db, TSHIRTS, id).await.unwrap();
    assert!(log.iter().any(|l| l.message.contains("queued again")));

    runner::spawn_workers(&restarted.state);
    assert_eq!(restarted.wait_for_job(id).await, JobStatus::Succeeded);
    let log = store::job_log::lines(&restarted.state.db, TSHIRTS, id).await.unwrap();
    assert!(log.iter().any(|l| l.message.contains("(attempt 2)")));
}

#[tokio::test]
async fn pages_render_on_the_server() {
    let app = TestApp::new().await;
    let cookie = app.login("u1@tshirts.example").await;
    let reply = app
        .request(
            Request::get("/projects/TSHIRTS/webapps/impersonation-demo")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("Welcome: <!>U1 Analyst") || reply.body.contains("Welcome: U1 Analyst"), "{}", reply.body);
    assert!(reply.body.contains("A1 Webapp Backend"));

    let anonymous =
        app.request(Request::get("/jobs").header(header::ACCEPT, "text/html").body(Body::empty()).unwrap()).await;
    assert_eq!(anonymous.status, StatusCode::FOUND, "{}", anonymous.body);
    assert_eq!(anonymous.location.as_deref(), Some("/login?next=/jobs"));

    // A page that does not exist still shows who is signed in.
    let missing = app
        .request(Request::get("/no-such-page").header(header::COOKIE, &cookie).body(Body::empty()).unwrap())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("Page not found"), "{}", missing.body);
    assert!(missing.body.contains("U1 Analyst") && !missing.body.contains(">Log in<"), "{}", missing.body);
}

#[tokio::test]
async fn the_cli_creates_users_who_can_log_in() {
    let app = TestApp::new().await;
    let cli = app.cli(&["user", "create", "--email", "zoe@tshirts.example", "--name", "Zoe Admin", "--admin", "--password", "zoe-secret-1"]);
    server::cli::run(cli).await.expect("user create");
    let reply = app.post("/api/login", &[("email", "zoe@tshirts.example"), ("password", "zoe-secret-1")], None).await;
    let cookie = session_cookie(&reply).expect("zoe logs in");
    let me = app.post("/api/me", &[], Some(&cookie)).await;
    assert_eq!(me.json()["is_admin"], true);
    assert_eq!(me.json()["tenant_name"], "TShirts Co.");
    let (action, target, via): (String, String, String) =
        app.row("SELECT action, target, via FROM audit_log WHERE action = 'user.create'").await;
    assert_eq!((action.as_str(), target.as_str(), via.as_str()), ("user.create", "user zoe@tshirts.example (admin)", "command line"));

    let again = app.cli(&["user", "create", "--email", "zoe@tshirts.example", "--name", "Zoe", "--password", "zoe-secret-1"]);
    let error = server::cli::run(again).await.unwrap_err();
    assert_eq!(error, "a user with email zoe@tshirts.example already exists");
}

#[test]
fn an_unwritable_database_path_is_a_clear_error_and_a_failed_exit() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("migrate")
        .env("DATABASE_URL", "sqlite:///proc/guise-test/guise.db")
        .output()
        .expect("run the server binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The server key file, which lives beside the database, is the first thing created there.
    assert!(stderr.contains("error: cannot create the server key file /proc/guise-test/guise.key"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_plain_first_start_seeds_nothing_and_says_how_to_create_the_first_admin() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("guise.db").display());
    let mut server = common::server_process(dir.path(), &url)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run the server binary");
    let stdout = BufReader::new(server.stdout.take().unwrap());
    let (lines, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut output = String::new();
    while let Ok(line) = said.recv_timeout(std::time::Duration::from_secs(60)) {
        output.push_str(&line);
        output.push('\n');
        if line.starts_with("Guise is serving") {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(output.contains("The database is empty"), "{output}");
    assert!(output.contains("server user create --admin"), "{output}");
    assert!(!output.contains("guise-demo"), "no demo logins printed: {output}");
    let tenants = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM tenants").fetch_one(&mut conn).await.unwrap()
    });
    assert_eq!(tenants, 0, "no demo seeded");
}

#[tokio::test]
async fn every_answer_refuses_framing_sniffing_and_cross_site_referrers() {
    let app = TestApp::new().await;
    let get = |path: &str| Request::get(path).header(header::HOST, "127.0.0.1:3000").body(Body::empty()).unwrap();
    for request in [get("/login"), get("/healthz"), get("/v2/whoami"), get("/no-such-page")] {
        let path = request.uri().path().to_string();
        let response = app.router.clone().oneshot(request).await.unwrap();
        let h = response.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "frame-ancestors 'none'", "{path}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin", "{path}");
    }
}
