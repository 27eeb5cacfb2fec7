//! Code webapps' tokens through the real router (M23): the ticket a proxied request carries,
//! its single exchange by the webapp's backend for a token acting as the browser user, what
//! each token may call, and the audit rows naming both identities. Registration here is the
//! operator's service call; no backend process runs.

mod common;

use app::backend::principal::Principal;
use app::backend::services::webapps::{self, Registration};
use app::backend::store::{self, api_clients::secret_context, webapps::Registered};
use app::backend::tokens::{TicketClaims, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT, TOKEN_TYPE_WEBAPP_TICKET};
use app::backend::webapp_access;
use axum::http::{Method, StatusCode};
use common::{form_body, session_cookie, Reply, TestApp};
use serde_json::Value;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const BACKEND: &str = "webapp-backend@tshirts.example";

/// A code webapp registered in TSHIRTS, and its backend's credentials.
struct Webapp {
    id: i64,
    client_id: String,
    secret: String,
}

fn registration(app: &TestApp, slug: &str, run_as: &str, scopes: &[&str]) -> Registration {
    Registration {
        project_key: "TSHIRTS".into(),
        slug: slug.into(),
        name: format!("Test {slug}"),
        run_as: run_as.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        frontend_dir: app.dir.path().to_path_buf(),
        workdir: app.dir.path().to_path_buf(),
        command: vec!["python3".into(), "app.py".into()],
    }
}

async fn credentials(app: &TestApp, id: i64) -> Webapp {
    let client_id = store::api_clients::active_id_of_webapp(&app.state.db, id).await.unwrap().expect("a live client");
    let found = store::api_clients::with_owner(&app.state.db, &client_id).await.unwrap().unwrap();
    let secret = app.state.keys.server.open(&found.client.secret_sealed, &secret_context(&client_id)).unwrap();
    Webapp { id, client_id, secret: String::from_utf8(secret).unwrap() }
}

async fn register(app: &TestApp, slug: &str, run_as: &str, scopes: &[&str]) -> Webapp {
    let (id, _) = webapps::register(&app.state, &registration(app, slug, run_as, scopes)).await.expect("registered");
    credentials(app, id).await
}

async fn call(app: &TestApp, method: Method, path: &str, bearer: Option<&str>, form: Option<&[(&str, &str)]>) -> Reply {
    app.api_request(method, path, bearer, form.map(form_body)).await
}

fn refused(reply: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.json()["error"], code, "{}", reply.body);
    reply.json()["error_description"].as_str().unwrap().to_string()
}

async fn app_token(app: &TestApp, webapp: &Webapp) -> String {
    let form = [("grant_type", "client_credentials"), ("client_id", webapp.client_id.as_str()), ("client_secret", webapp.secret.as_str())];
    let reply = call(app, Method::POST, "/v2/auth/token", None, Some(&form)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_string()
}

async fn exchange_typed(app: &TestApp, actor: &str, subject: &str, subject_type: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", subject_type),
        ("actor_token", actor),
        ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
    ];
    form.extend(scope.map(|s| ("scope", s)));
    call(app, Method::POST, "/v2/auth/token", Some(actor), Some(&form)).await
}

async fn exchange(app: &TestApp, actor: &str, ticket: &str) -> Reply {
    exchange_typed(app, actor, ticket, TOKEN_TYPE_WEBAPP_TICKET, None).await
}

async fn user_token(app: &TestApp, actor: &str, ticket: &str) -> String {
    let reply = exchange(app, actor, ticket).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_string()
}

async fn user(app: &TestApp, email: &str) -> store::users::User {
    store::users::by_email(&app.state.db, email).await.unwrap().unwrap()
}

async fn ticket_for(app: &TestApp, email: &str, webapp: &Webapp) -> String {
    let row = store::webapps::by_id(&app.state.db, webapp.id).await.unwrap().unwrap();
    webapp_access::issue_ticket(&app.state, &Principal::signed_in(user(app, email).await), &row).await.unwrap()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// (action, outcome, actor email, subject email, via, reason) of the newest audit row.
async fn last_audit(app: &TestApp) -> (String, String, String, Option<String>, String, String) {
    app.row(
        "SELECT a.action, a.outcome, u.email, s.email, a.via, a.reason FROM audit_log a
         JOIN users u ON u.id = a.actor_user_id LEFT JOIN users s ON s.id = a.subject_user_id
         ORDER BY a.id DESC LIMIT 1",
    )
    .await
}

async fn build(app: &TestApp, token: &str) -> Reply {
    call(app, Method::POST, "/v2/datasets/web_history_prepared/build", Some(token), None).await
}

/// (run as, triggered by, impersonated by, the webapp's name, webapp) of a job.
async fn job_people(app: &TestApp, id: i64) -> (String, String, Option<String>, String, Option<i64>) {
    app.row(&format!(
        "SELECT r.email, t.email, i.email, j.via_label, j.webapp_id FROM jobs j
         JOIN users r ON r.id = j.run_as_user_id JOIN users t ON t.id = j.triggered_by_user_id
         LEFT JOIN users i ON i.id = j.impersonated_by_user_id WHERE j.id = {id}"
    ))
    .await
}

#[tokio::test]
async fn a_ticket_becomes_a_token_acting_as_the_browser_user_via_the_webapp() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read", "datasets:build"]).await;
    let backend = app_token(&app, &webapp).await;
    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;

    let reply = exchange(&app, &backend, &ticket).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["scope"], "datasets:read datasets:build");
    assert_eq!(reply.json()["issued_token_type"], TOKEN_TYPE_ACCESS_TOKEN);
    let expires_in = reply.json()["expires_in"].as_i64().unwrap();
    assert!((1..=300).contains(&expires_in), "a few minutes at most: {expires_in}");
    let token = reply.json()["access_token"].as_str().unwrap().to_string();
    let token_claims = claims(&token);
    assert_eq!(token_claims["sub"], "u1@tshirts.example");
    assert_eq!(token_claims["act"]["sub"], BACKEND);
    assert_eq!(token_claims["wa"], webapp.id);
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.1.as_str(), audit.2.as_str()), ("api.token_exchange", "allowed", BACKEND));
    assert_eq!((audit.3.as_deref(), audit.4.as_str()), (Some("u1@tshirts.example"), "webapp \"Test reports\""));

    let me = call(&app, Method::GET, "/v2/whoami", Some(&token), None).await.json();
    assert_eq!((me["email"].as_str(), me["webapp"].as_str(), me["scopes"].as_str()), (Some("u1@tshirts.example"), Some("Test reports"), Some("datasets:read datasets:build")));
    assert_eq!(me["delegationChain"][0]["email"], BACKEND);
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.2.as_str(), audit.3.as_deref()), ("api.request", BACKEND, Some("u1@tshirts.example")), "every request with a user token is audited");

    let started = build(&app, &token).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let job = started.json()["jobId"].as_i64().unwrap();
    let people = job_people(&app, job).await;
    assert_eq!(people, ("u1@tshirts.example".into(), "u1@tshirts.example".into(), None, "Test reports".into(), Some(webapp.id)));
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.2.as_str(), audit.3.as_deref()), ("dataset.build", BACKEND, Some("u1@tshirts.example")));

    // Outside the context, the backend's own token acts as its account, via the webapp.
    let started = build(&app, &backend).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let people = job_people(&app, started.json()["jobId"].as_i64().unwrap()).await;
    assert_eq!((people.0.as_str(), people.1.as_str(), people.3.as_str()), (BACKEND, BACKEND, "Test reports"));
}

#[tokio::test]
async fn a_ticket_is_exchanged_once_even_under_concurrent_duplicates() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    user_token(&app, &backend, &ticket).await;
    let again = refused(&exchange(&app, &backend, &ticket).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(again.contains("single-use"), "{again}");
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.1.as_str()), ("api.token_exchange", "denied"));

    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    let replies = futures::future::join_all((0..8).map(|_| exchange(&app, &backend, &ticket))).await;
    let ok = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
}

#[tokio::test]
async fn stale_tickets_and_tickets_of_another_webapp_are_refused() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let other = register(&app, "other", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let u1 = user(&app, "u1@tshirts.example").await;
    let now = store::now_ms() / 1000;
    let forged = |iat: i64, exp: i64| TicketClaims {
        iss: "guise".into(),
        aud: "guise-webapp-ticket".into(),
        sub: u1.email.clone(),
        uid: u1.id,
        tenant: "TShirts Co.".into(),
        wa: webapp.id,
        iat,
        nbf: iat,
        exp,
        jti: format!("t-{iat}-{exp}"),
        imp: None,
    };
    let old = app.state.keys.tokens.issue_ticket(&forged(now - 61, now - 1)).unwrap();
    let why = refused(&exchange(&app, &backend, &old).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("expired"), "{why}");
    let long = app.state.keys.tokens.issue_ticket(&forged(now, now + 120)).unwrap();
    let why = refused(&exchange(&app, &backend, &long).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("longer than 60 seconds"), "{why}");

    let others_ticket = ticket_for(&app, "u1@tshirts.example", &other).await;
    let why = refused(&exchange(&app, &backend, &others_ticket).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("another webapp"), "{why}");
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.1.as_str(), audit.2.as_str()), ("api.token_exchange", "denied", BACKEND));

    // An ordinary API client cannot exchange a ticket either.
    let demo = {
        let form = [("grant_type", "client_credentials"), ("client_id", app::backend::seed::DEMO_CLIENT_ID), ("client_secret", app::backend::seed::DEMO_CLIENT_SECRET)];
        call(&app, Method::POST, "/v2/auth/token", None, Some(&form)).await.json()["access_token"].as_str().unwrap().to_string()
    };
    let fresh = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    let why = refused(&exchange(&app, &demo, &fresh).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("only a webapp's backend"), "{why}");
    // …and the ticket is still good for its own webapp.
    user_token(&app, &backend, &fresh).await;
}

#[tokio::test]
async fn a_ticket_naming_someone_who_may_not_open_the_webapp_is_refused() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let cli = app.cli(&["user", "create", "--email", "pat@tshirts.example", "--name", "Pat", "--password", "long-enough"]);
    server::cli::run(cli).await.expect("user create");
    for email in ["pat@tshirts.example", "eve@other.example"] {
        let ticket = ticket_for(&app, email, &webapp).await;
        let why = refused(&exchange(&app, &backend, &ticket).await, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(why, "the ticket names no user who may open the webapp", "{email}");
    }
    let ticket = ticket_for(&app, "u2@tshirts.example", &webapp).await;
    app.edit_database("UPDATE users SET disabled = 1 WHERE email = 'u2@tshirts.example'").await.unwrap();
    refused(&exchange(&app, &backend, &ticket).await, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn scopes_limit_what_the_user_token_may_do() {
    let app = TestApp::new().await;
    let webapp = register(&app, "viewer", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    let wider = exchange_typed(&app, &backend, &ticket, TOKEN_TYPE_WEBAPP_TICKET, Some("datasets:read datasets:build")).await;
    assert!(refused(&wider, StatusCode::BAD_REQUEST, "invalid_scope").contains("datasets:build"));

    let token = user_token(&app, &backend, &ticket_for(&app, "u1@tshirts.example", &webapp).await).await;
    let jobs_before: i64 = app.value("SELECT COUNT(*) FROM jobs").await;
    let why = refused(&build(&app, &token).await, StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(why.contains("datasets:build"), "{why}");
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM jobs").await, jobs_before, "no job was written");
    let audit = last_audit(&app).await;
    assert_eq!((audit.0.as_str(), audit.1.as_str(), audit.2.as_str(), audit.3.as_deref()), ("api.request", "denied", BACKEND, Some("u1@tshirts.example")));
    assert_eq!(call(&app, Method::GET, "/v2/files", Some(&token), None).await.status, StatusCode::OK);

    // Narrowed after the exchange: live tokens lose the scope at once; disabled: they stop.
    app.edit_database("UPDATE webapps SET scopes = '' WHERE slug = 'viewer'").await.unwrap();
    refused(&call(&app, Method::GET, "/v2/files", Some(&token), None).await, StatusCode::FORBIDDEN, "insufficient_scope");
    assert_eq!(call(&app, Method::GET, "/v2/whoami", Some(&token), None).await.status, StatusCode::OK);
    app.edit_database("UPDATE webapps SET disabled_at = 1 WHERE slug = 'viewer'").await.unwrap();
    refused(&call(&app, Method::GET, "/v2/whoami", Some(&token), None).await, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn an_exchanged_token_cannot_be_exchanged_again_and_never_administers() {
    let app = TestApp::new().await;
    // Even a webapp run as an admin does not administer through its tokens.
    let webapp = register(&app, "admin-tool", "alice@tshirts.example", &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let token = user_token(&app, &backend, &ticket_for(&app, "u1@tshirts.example", &webapp).await).await;
    for bearer in [&backend, &token] {
        let why = refused(&call(&app, Method::GET, "/v2/admin/clients", Some(bearer), None).await, StatusCode::FORBIDDEN, "insufficient_scope");
        assert!(why.contains("never administer"), "{why}");
    }
    // As the actor of another exchange…
    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    assert_eq!(exchange(&app, &token, &ticket).await.status, StatusCode::BAD_REQUEST);
    // …as the subject of an ordinary client's exchange…
    let demo = {
        let form = [("grant_type", "client_credentials"), ("client_id", app::backend::seed::DEMO_CLIENT_ID), ("client_secret", app::backend::seed::DEMO_CLIENT_SECRET)];
        call(&app, Method::POST, "/v2/auth/token", None, Some(&form)).await.json()["access_token"].as_str().unwrap().to_string()
    };
    let why = refused(&exchange_typed(&app, &demo, &token, TOKEN_TYPE_ACCESS_TOKEN, None).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("cannot be exchanged again"), "{why}");
    // …and the backend exchanges nothing but its tickets.
    let why = refused(&exchange_typed(&app, &backend, "x.y.z", TOKEN_TYPE_JWT, None).await, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(why.contains("only its tickets"), "{why}");
    // A webapp's client is not among the clients admins manage.
    let listed = store::api_clients::list(&app.state.db, 1, 1).await.unwrap();
    assert!(listed.iter().all(|c| c.client_id != webapp.client_id));
}

#[tokio::test]
async fn an_impersonated_users_ticket_keeps_the_impersonator() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read", "datasets:build"]).await;
    let backend = app_token(&app, &webapp).await;
    let alice = app.login("alice@tshirts.example").await;
    let u1_id = app.user_id("u1@tshirts.example").await.to_string();
    let started = app.post("/api/impersonation/start", &[("user_id", u1_id.as_str()), ("reason", "TICKET-12")], Some(&alice)).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let alice = session_cookie(&started).unwrap();
    let imp: i64 = app.value("SELECT id FROM impersonations ORDER BY id DESC LIMIT 1").await;
    let row = store::impersonations::by_id(&app.state.db, imp).await.unwrap().unwrap();
    let principal = Principal::impersonating(user(&app, "alice@tshirts.example").await, user(&app, "u1@tshirts.example").await, &row);
    let webapp_row = store::webapps::by_id(&app.state.db, webapp.id).await.unwrap().unwrap();
    let ticket = webapp_access::issue_ticket(&app.state, &principal, &webapp_row).await.unwrap();
    let token = user_token(&app, &backend, &ticket).await;
    assert_eq!(claims(&token)["imp"], imp);

    let started = build(&app, &token).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let people = job_people(&app, started.json()["jobId"].as_i64().unwrap()).await;
    assert_eq!(people.0, "u1@tshirts.example");
    assert_eq!(people.2.as_deref(), Some("alice@tshirts.example"));
    let audit = last_audit(&app).await;
    assert_eq!((audit.2.as_str(), audit.3.as_deref()), ("alice@tshirts.example", Some("u1@tshirts.example")));

    let stopped = app.post("/api/impersonation/stop", &[], Some(&alice)).await;
    assert_eq!(stopped.status, StatusCode::OK, "{}", stopped.body);
    refused(&call(&app, Method::GET, "/v2/whoami", Some(&token), None).await, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn introspection_tells_the_backend_who_without_using_the_ticket() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let other = register(&app, "other", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let ticket = ticket_for(&app, "u1@tshirts.example", &webapp).await;
    let introspect = |bearer: String, ticket: String| {
        let app = &app;
        async move { call(app, Method::POST, "/v2/auth/introspect", Some(&bearer), Some(&[("token", ticket.as_str())])).await }
    };
    let seen = introspect(backend.clone(), ticket.clone()).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!((seen.json()["active"].as_bool(), seen.json()["email"].as_str(), seen.json()["name"].as_str()), (Some(true), Some("u1@tshirts.example"), Some("U1 Analyst")));
    let others = app_token(&app, &other).await;
    assert_eq!(introspect(others, ticket.clone()).await.json(), serde_json::json!({ "active": false }));
    user_token(&app, &backend, &ticket).await;
    assert_eq!(introspect(backend.clone(), ticket.clone()).await.json(), serde_json::json!({ "active": false }), "used up");
    let token = user_token(&app, &backend, &ticket_for(&app, "u1@tshirts.example", &webapp).await).await;
    refused(&introspect(token, ticket).await, StatusCode::FORBIDDEN, "insufficient_scope");
}

#[tokio::test]
async fn registering_again_changes_only_what_changed() {
    let app = TestApp::new().await;
    let spec = registration(&app, "reports", BACKEND, &["datasets:read"]);
    let (id, created) = webapps::register(&app.state, &spec).await.unwrap();
    assert_eq!(created, Registered::Created);
    let audits: i64 = app.value("SELECT COUNT(*) FROM audit_log").await;
    assert_eq!(webapps::register(&app.state, &spec).await.unwrap(), (id, Registered::Unchanged));
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM audit_log").await, audits, "nothing written");
    let first = credentials(&app, id).await;
    let old_token = app_token(&app, &first).await;

    // A new "Run backend as" gets a new client: the old one's tokens stop.
    let moved = Registration { run_as: "u1@tshirts.example".into(), ..spec.clone() };
    assert_eq!(webapps::register(&app.state, &moved).await.unwrap(), (id, Registered::Updated));
    let (action, reason): (String, String) = app.row("SELECT action, reason FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(action, "webapp.register");
    assert!(reason.starts_with("updated"), "{reason}");
    refused(&call(&app, Method::GET, "/v2/whoami", Some(&old_token), None).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let second = credentials(&app, id).await;
    assert_ne!(second.client_id, first.client_id);
    let me = call(&app, Method::GET, "/v2/whoami", Some(&app_token(&app, &second).await), None).await.json();
    assert_eq!((me["email"].as_str(), me["webapp"].as_str()), (Some("u1@tshirts.example"), Some("Test reports")));

    for (bad, why) in [
        (Registration { slug: "impersonation-demo".into(), ..spec.clone() }, "built-in"),
        (Registration { scopes: vec!["admin".into()], ..spec.clone() }, "unknown scope"),
        (Registration { slug: "Bad Slug".into(), ..spec.clone() }, "not a slug"),
        (Registration { command: vec![], ..spec.clone() }, "empty"),
        (Registration { frontend_dir: app.dir.path().join("missing"), ..spec.clone() }, "cannot be used"),
        (Registration { run_as: "eve@other.example".into(), ..spec.clone() }, "no project"),
    ] {
        let error = webapps::register(&app.state, &bad).await.unwrap_err().to_string();
        assert!(error.contains(why), "{why}: {error}");
    }
}

#[tokio::test]
async fn only_the_operators_command_line_registers_a_command() {
    let app = TestApp::new().await;
    let folder = app.dir.path().display().to_string();
    let register = |slug: &str| {
        let args = ["webapp", "register", "--project", "TSHIRTS", "--slug", slug, "--name", "Reports", "--run-as", BACKEND, "--scope", "datasets:read",
            "--frontend", &folder, "--workdir", &folder, "--", "python3", "app.py"];
        app.cli(&args)
    };
    server::cli::run(register("reports")).await.expect("registered");
    let (action, via, actor): (String, String, String) =
        app.row("SELECT a.action, a.via, u.email FROM audit_log a JOIN users u ON u.id = a.actor_user_id ORDER BY a.id DESC LIMIT 1").await;
    assert_eq!((action.as_str(), via.as_str(), actor.as_str()), ("webapp.register", "command line", BACKEND));
    let command: String = app.value("SELECT command FROM webapps WHERE slug = 'reports'").await;
    assert_eq!(command, r#"["python3","app.py"]"#);
    let audits: i64 = app.value("SELECT COUNT(*) FROM audit_log").await;
    server::cli::run(register("reports")).await.expect("the same again");
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM audit_log").await, audits, "unchanged: nothing written");
    server::cli::run(app.cli(&["webapp", "disable", "--project", "TSHIRTS", "--slug", "reports"])).await.expect("disabled");
    assert!(server::cli::run(app.cli(&["webapp", "disable", "--project", "TSHIRTS", "--slug", "reports"])).await.is_err());

    // Nothing on the web takes a command or a folder: no API route, and the settings functions
    // ignore such fields.
    let alice = app.login("alice@tshirts.example").await;
    let form = [("project", "TSHIRTS"), ("webapp", "reports"), ("read", "on"), ("command", "[\"sh\",\"-c\",\"id\"]"), ("workdir", "/")];
    let reply = app.post("/api/set_webapp_scopes", &form, Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(app.value::<String>("SELECT command FROM webapps WHERE slug = 'reports'").await, command);
    let demo = {
        let form = [("grant_type", "client_credentials"), ("client_id", app::backend::seed::DEMO_CLIENT_ID), ("client_secret", app::backend::seed::DEMO_CLIENT_SECRET)];
        call(&app, Method::POST, "/v2/auth/token", None, Some(&form)).await.json()["access_token"].as_str().unwrap().to_string()
    };
    let posted = call(&app, Method::POST, "/v2/webapps", Some(&demo), Some(&[("command", "id")])).await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_user_token_reaches_only_its_webapps_project() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let backend = app_token(&app, &webapp).await;
    let u1 = app.user_id("u1@tshirts.example").await;
    app.edit_database("INSERT INTO projects (tenant_id, key, name) VALUES (1, 'SECOND', 'Second project')").await.unwrap();
    app.edit_database(&format!(
        "INSERT INTO project_permissions (project_id, user_id, can_read, can_build) SELECT id, {u1}, 1, 1 FROM projects WHERE key = 'SECOND'"
    ))
    .await
    .unwrap();
    let token = user_token(&app, &backend, &ticket_for(&app, "u1@tshirts.example", &webapp).await).await;
    let files = call(&app, Method::GET, "/v2/files", Some(&token), None).await.json();
    let projects: Vec<&str> = files["entries"].as_array().unwrap().iter().map(|e| e["project"].as_str().unwrap()).collect();
    assert!(!projects.is_empty() && projects.iter().all(|p| *p == "TSHIRTS"), "{projects:?}");
    let other = call(&app, Method::GET, "/v2/datasets/customers/rows?project=SECOND", Some(&token), None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    // The backend's own token acts as its account, wherever that account may read.
    assert_eq!(call(&app, Method::GET, "/v2/files", Some(&backend), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn guise_replaces_a_backends_credentials_once_a_day_old() {
    let app = TestApp::new().await;
    let webapp = register(&app, "reports", BACKEND, &["datasets:read"]).await;
    let old_token = app_token(&app, &webapp).await;
    let now = store::now_ms();
    let fresh = store::webapps::list_runnable(&app.state.db).await.unwrap().remove(0);
    assert!(!webapps::rotate_if_due(&app.state, &fresh, now).await.unwrap(), "a new client stays");

    app.edit_database(&format!("UPDATE api_clients SET created_at = {} WHERE webapp_id = {}", now - webapps::CREDENTIALS_LIFETIME_MS - 1, webapp.id)).await.unwrap();
    let aged = store::webapps::list_runnable(&app.state.db).await.unwrap().remove(0);
    assert!(webapps::rotate_if_due(&app.state, &aged, now).await.unwrap());
    // Another server that saw the same old client replaces nothing more.
    assert!(!webapps::rotate_if_due(&app.state, &aged, now).await.unwrap());
    let live: Vec<String> = app.values(&format!("SELECT client_id FROM api_clients WHERE webapp_id = {} AND revoked_at IS NULL", webapp.id)).await;
    assert_eq!(live.len(), 1);
    assert_ne!(live[0], webapp.client_id);
    refused(&call(&app, Method::GET, "/v2/whoami", Some(&old_token), None).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let (action, via, reason): (String, String, String) = app.row("SELECT action, via, reason FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!((action.as_str(), via.as_str()), ("webapp.settings", "Guise"));
    assert!(reason.starts_with("credentials a day old replaced"), "{reason}");
}
