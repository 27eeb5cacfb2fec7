//! Guise served from PostgreSQL: the demo's core flows through the production router, and two
//! servers on one database, where what one server changes holds on the other at once. The
//! cluster is the one `make test` starts (GUISE_TEST_POSTGRES_URL).

mod common;

use app::backend::jobs::runner;
use app::backend::seed::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use app::backend::store;
use app::model::JobStatus;
use axum::http::StatusCode;
use common::{form_request, session_cookie, TestApp, DEMO_FORM};

const TSHIRTS: i64 = 1;

async fn me(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.post("/api/me", &[], Some(cookie)).await.json()
}

#[tokio::test]
async fn a_build_inside_the_context_runs_as_the_browser_user_on_postgres() {
    let Some(app) = TestApp::on_postgres("serve_build").await else { return };
    runner::spawn_workers(&app.state);
    let cookie = app.login("u1@tshirts.example").await;
    let reply = app.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = reply.json()["job_id"].as_i64().expect("job_id");

    assert_eq!(app.wait_for_job(id).await, JobStatus::Succeeded);
    let job = store::jobs::view(&app.state.db, TSHIRTS, id).await.unwrap().expect("the job");
    assert_eq!((job.run_as.email.as_str(), job.triggered_by.email.as_str()), ("u1@tshirts.example", "u1@tshirts.example"));
    assert_eq!(job.rows_in, Some(52_000));
    let log = store::job_log::lines(&app.state.db, TSHIRTS, id).await.unwrap();
    assert!(log.iter().any(|l| l.message.contains("as U1 Analyst (u1@tshirts.example)")), "{log:?}");

    let listed = app.post("/api/jobs", &[("only_mine", "true")], Some(&cookie)).await.json();
    assert_eq!(listed[0]["id"], id, "{listed}");
    assert_eq!(listed[0]["status"], "Succeeded", "{listed}");
    let checked = store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap();
    checked.expect("the audit chains verify");
}

#[tokio::test]
async fn tokens_are_exchanged_and_replays_refused_on_postgres() {
    let Some(app) = TestApp::on_postgres("serve_api").await else { return };
    let token = |form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.request(form_request("/v2/auth/token", &form, None))
    };
    let reply = token(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", DEMO_CLIENT_ID.into()),
        ("client_secret", DEMO_CLIENT_SECRET.into()),
    ])
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let actor = reply.json()["access_token"].as_str().unwrap().to_string();

    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(DEMO_CLIENT_ID.into());
    let claims = serde_json::json!({ "sub": "u1@tshirts.example", "jti": "pg-once", "exp": store::now_ms() / 1000 + 300 });
    let subject = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(DEMO_CLIENT_SECRET.as_bytes())).unwrap();
    let exchange = || {
        token(vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".into()),
            ("subject_token", subject.clone()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt".into()),
            ("actor_token", actor.clone()),
            ("actor_token_type", "urn:ietf:params:oauth:token-type:access_token".into()),
            ("client_id", DEMO_CLIENT_ID.into()),
            ("client_secret", DEMO_CLIENT_SECRET.into()),
        ])
    };
    let first = exchange().await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let second = exchange().await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST, "a used jti is refused: {}", second.body);

    let rows = store::audit::list(&app.state.db, TSHIRTS, &store::audit::AuditFilter { limit: 100, ..Default::default() }).await.unwrap();
    let exchanges: Vec<&str> = rows.iter().filter(|r| r.action == "api.token_exchange").map(|r| r.outcome.as_str()).collect();
    assert_eq!(exchanges, ["denied", "allowed"], "{rows:?}");
}

#[tokio::test]
async fn an_impersonation_stopped_on_one_server_is_over_on_the_other_at_once() {
    let Some(a) = TestApp::on_postgres("serve_two").await else { return };
    let b = TestApp::new_on(&a).await;
    let alice = a.login("alice@tshirts.example").await;
    let carol = a.user_id("carol@tshirts.example").await.to_string();
    let reply = a.post("/api/impersonation/start", &[("user_id", carol.as_str()), ("reason", "TICKET-9")], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let acting = session_cookie(&reply).expect("a new session id");

    // The session lives in the database: server B knows it, and sees the impersonation.
    let seen_on_b = me(&b, &acting).await;
    assert_eq!(seen_on_b["user"]["email"], "carol@tshirts.example", "{seen_on_b}");
    assert_eq!(seen_on_b["impersonation"]["actor"]["email"], "alice@tshirts.example", "{seen_on_b}");

    let stopped = a.post("/api/impersonation/stop", &[], Some(&acting)).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    let back = session_cookie(&stopped).expect("a new session id on stop");
    let back_on_b = me(&b, &back).await;
    assert_eq!(back_on_b["user"]["email"], "alice@tshirts.example", "{back_on_b}");
    assert!(back_on_b["impersonation"].is_null(), "{back_on_b}");
    // The session that acted as Carol is over on server B too.
    assert_eq!(me(&b, &acting).await, serde_json::Value::Null);
}

#[tokio::test]
async fn a_page_on_one_server_sees_a_job_run_on_the_other_move() {
    let Some(a) = TestApp::on_postgres("serve_events").await else { return };
    let b = TestApp::new_on(&a).await;
    runner::spawn_workers(&a.state);
    let mut on_b = b.state.jobs.subscribe();
    let cookie = a.login("u1@tshirts.example").await;
    let reply = a.post("/api/build_in_context", &DEMO_FORM, Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = reply.json()["job_id"].as_i64().expect("job_id");

    let mut seen = Vec::new();
    let finished = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            let message = on_b.recv().await.expect("server B's events");
            if message.event.job_id == id {
                assert_eq!(message.tenant_id, TSHIRTS);
                seen.push(message.event.status);
                if message.event.status.is_finished() {
                    return message.event;
                }
            }
        }
    })
    .await
    .expect("server B hears the job end");
    assert_eq!(finished.status, JobStatus::Succeeded, "{seen:?}");
    assert_eq!(finished.rows_in, Some(52_000));
    assert!(seen.contains(&JobStatus::Running), "{seen:?}");
}

/// A password login from `ip`.
async fn try_login(app: &TestApp, email: &str, password: &str, ip: &str) -> common::Reply {
    let request = form_request("/api/login", &[("email", email), ("password", password)], None);
    app.request(common::from_address(request, ip)).await
}

/// A client-credentials token request from `ip`.
async fn try_client(app: &TestApp, secret: &str, ip: &str) -> common::Reply {
    let form = [("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", secret)];
    app.request(common::from_address(form_request("/v2/auth/token", &form, None), ip)).await
}

#[tokio::test]
async fn wrong_passwords_and_secrets_counted_on_one_server_slow_down_the_other() {
    let Some(a) = TestApp::on_postgres("serve_throttle").await else { return };
    let b = TestApp::new_on(&a).await;
    // Guesses spread over both servers use up the free tries once, not once per server.
    for n in 0..5 {
        let server = if n % 2 == 0 { &a } else { &b };
        let reply = try_login(server, "carol@tshirts.example", "guess", "203.0.113.5").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {n}: {}", reply.body);
    }
    for server in [&a, &b] {
        let reply = try_login(server, "carol@tshirts.example", "guise-demo", "203.0.113.5").await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", reply.body);
    }
    // Carol, from elsewhere, is not locked out on either.
    let carol = try_login(&b, "carol@tshirts.example", "guise-demo", "192.0.2.10").await;
    assert!(carol.status.is_success() || carol.status.is_redirection(), "{} {}", carol.status, carol.body);

    let free = app::backend::throttle::ONE_CLIENT_SOURCE.free;
    for n in 0..free {
        let server = if n % 2 == 0 { &b } else { &a };
        assert_eq!(try_client(server, "nope", "203.0.113.7").await.status, StatusCode::UNAUTHORIZED, "wrong secret {n}");
    }
    for server in [&a, &b] {
        let right = try_client(server, DEMO_CLIENT_SECRET, "203.0.113.7").await;
        assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "{}", right.body);
    }
    assert_eq!(try_client(&a, DEMO_CLIENT_SECRET, "192.0.2.9").await.status, StatusCode::OK, "the client's own address");
}

#[tokio::test]
async fn two_servers_starting_on_an_empty_database_share_one_signing_key() {
    let Some(url) = common::fresh_postgres("serve_keys").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("guise.key");
    server::server_key(&url, Some(&key_file)).unwrap();
    let settings = app::backend::state::Settings { key_file: Some(key_file), ..Default::default() };
    let (a, b) = tokio::join!(server::open_state(&url, settings.clone(), false), server::open_state(&url, settings, false));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(store::signing_keys::active(&a.db).await.unwrap().len(), 1);
    // The same key set: what one signs, the other verifies.
    let jwks = |state: &app::backend::state::AppState| serde_json::to_string(state.keys.tokens.jwks()).unwrap();
    assert_eq!(jwks(&a), jwks(&b));
    // However late the second server comes, it finds the first key and stores none of its own.
    let stored = store::signing_keys::insert_first(&b.writer, "late", "EdDSA", "sealed").await.unwrap();
    assert!(!stored);
    assert_eq!(store::signing_keys::active(&b.db).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reads_from_a_postgres_that_cannot_be_reached_are_refused_for_now() {
    // Port 1 on loopback: nothing listens there.
    let db = store::postgres::reader("postgres://guise@127.0.0.1:1/guise", 1).unwrap();
    let refused = store::users::by_email(&db, "alice@tshirts.example").await.unwrap_err();
    assert!(matches!(refused, sqlx::Error::Io(_)), "{refused:?}");
    let reply = app::error::AppError::from(refused);
    assert_eq!(reply, app::error::AppError::database_unreachable());
    assert_eq!((reply.status(), reply.retry_after()), (503, Some(1)));
}
