//! Code webapps with a real backend process (`fixtures/echo_backend.py`, Python's standard
//! library only): the supervisor starts it with its environment and nothing else, restarts it
//! when it exits and stops it for good on shutdown; the proxy lets only people who may open the
//! webapp through, never passes their cookies or credentials, and hands a ticket that the
//! backend exchanges for a token acting as them. Needs `python3`.

mod common;

use app::backend::services::webapps::{self, Registration};
use app::backend::store;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{Reply, TestApp};
use std::time::Duration;

const BACKEND: &str = "webapp-backend@tshirts.example";
const ECHO: &str = "/projects/TSHIRTS/webapps/echo";

/// The echo backend's command line: the Python interpreter itself (not a wrapper script that
/// would add variables of its own to the environment) and the script.
fn echo_command() -> Vec<String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/echo_backend.py");
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("these tests need python3 on PATH");
    vec![String::from_utf8(python.stdout).unwrap().trim().to_string(), script.display().to_string()]
}

/// A frontend folder with a page, a script and a file that must never be served.
fn frontend(app: &TestApp) -> std::path::PathBuf {
    let dir = app.dir.path().join("frontend");
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><html><head><title>Echo</title></head><body>echo</body></html>").unwrap();
    std::fs::write(dir.join("js/app.js"), "console.log('echo');").unwrap();
    std::fs::write(dir.join(".env"), "SECRET=1").unwrap();
    std::fs::write(app.dir.path().join("outside.txt"), "outside").unwrap();
    dir
}

/// Registers the echo webapp and waits until its backend answers.
async fn echo_webapp(app: &TestApp) -> i64 {
    let registration = Registration {
        project_key: "TSHIRTS".into(),
        slug: "echo".into(),
        name: "Echo".into(),
        run_as: BACKEND.into(),
        scopes: vec!["datasets:read".into(), "datasets:build".into()],
        frontend_dir: frontend(app),
        workdir: app.dir.path().to_path_buf(),
        command: echo_command(),
    };
    let (id, _) = webapps::register(&app.state, &registration).await.expect("registered");
    app.state.backends.reconcile();
    wait_until(|| app.state.backends.ready_port(id).is_some(), "the backend answers").await;
    id
}

async fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The processes whose process group is `group` (from /proc).
fn processes_in_group(group: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp …: comm may hold spaces, so read after its ')'.
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group) {
            found.push(pid);
        }
    }
    found
}

async fn send(app: &TestApp, method: Method, path: &str, cookie: Option<&str>, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut req = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:3000");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    app.request(req.body(Body::from(body.to_string())).unwrap()).await
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Reply {
    send(app, Method::GET, path, cookie, &[], "").await
}

#[tokio::test]
async fn the_backend_gets_its_environment_and_the_browser_user_but_never_their_credentials() {
    let app = TestApp::with_backends().await;
    let id = echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let headers = [
        ("authorization", "Bearer stolen"),
        ("x-guise-user-email", "alice@tshirts.example"),
        ("x-forwarded-for", "6.6.6.6"),
        ("connection", "x-hop"),
        ("x-hop", "1"),
        ("x-custom", "kept"),
        ("content-type", "application/json"),
    ];
    let reply = send(&app, Method::POST, &format!("{ECHO}/backend/echo/deep?x=1"), Some(&u1), &headers, "{\"a\":1}").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let echo = reply.json();
    assert_eq!((echo["method"].as_str(), echo["path"].as_str(), echo["body_length"].as_i64()), (Some("POST"), Some("/echo/deep?x=1"), Some(7)));
    let seen = &echo["headers"];
    for absent in ["cookie", "authorization", "x-hop", "connection"] {
        assert!(seen.get(absent).is_none(), "{absent} reached the backend: {seen}");
    }
    assert_eq!(seen["x-guise-user-email"], "u1@tshirts.example", "not the forged one");
    assert_eq!(seen["x-guise-webapp"], "echo");
    assert_eq!(seen["x-custom"], "kept");
    assert_eq!(seen["x-forwarded-prefix"], "/projects/TSHIRTS/webapps/echo/backend");
    assert!(seen["x-forwarded-for"].as_str().is_none_or(|v| !v.contains("6.6.6.6")), "{seen}");
    let mut env: Vec<String> = serde_json::from_value(echo["env"].clone()).unwrap();
    env.retain(|name| !["PATH", "LANG", "HOME", "TZ", "PYTHONUNBUFFERED", "LC_CTYPE"].contains(&name.as_str()));
    let expected = ["GUISE_BACKEND_HOST", "GUISE_BACKEND_PORT", "GUISE_CLIENT_ID", "GUISE_CLIENT_SECRET", "GUISE_PROJECT_KEY", "GUISE_URL", "GUISE_WEBAPP_BACKEND_PREFIX", "GUISE_WEBAPP_SLUG"];
    assert_eq!(env, expected, "nothing else of the server's environment (DATABASE_URL, GUISE_KEY_FILE …)");

    // The ticket the proxy handed over, exchanged by the backend with its own credentials,
    // acts as the browser user.
    let ticket = seen["x-guise-ticket"].as_str().unwrap().to_string();
    let credentials = get(&app, &format!("{ECHO}/backend/credentials"), Some(&u1)).await.json();
    let form = common::form_body(&[
        ("grant_type", "client_credentials"),
        ("client_id", credentials["client_id"].as_str().unwrap()),
        ("client_secret", credentials["client_secret"].as_str().unwrap()),
    ]);
    let token_reply = send(&app, Method::POST, "/v2/auth/token", None, &[("content-type", "application/x-www-form-urlencoded")], &form).await;
    let backend_token = token_reply.json()["access_token"].as_str().unwrap().to_string();
    let form = common::form_body(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", &ticket),
        ("subject_token_type", "urn:guise:params:oauth:token-type:webapp-ticket"),
        ("actor_token", &backend_token),
        ("actor_token_type", "urn:ietf:params:oauth:token-type:access_token"),
    ]);
    let exchanged = send(&app, Method::POST, "/v2/auth/token", None, &[("content-type", "application/x-www-form-urlencoded")], &form).await;
    assert_eq!(exchanged.status, StatusCode::OK, "{}", exchanged.body);
    let user_token = exchanged.json()["access_token"].as_str().unwrap().to_string();
    let me = send(&app, Method::GET, "/v2/whoami", None, &[("authorization", &format!("Bearer {user_token}"))], "").await.json();
    assert_eq!((me["email"].as_str(), me["webapp"].as_str()), (Some("u1@tshirts.example"), Some("Echo")));

    // What the backend printed is kept, its secret hidden.
    let secret = credentials["client_secret"].as_str().unwrap().to_string();
    let view = app.state.backends.view(id, 200).unwrap();
    assert_eq!(view.status, "Running");
    let log: Vec<&str> = view.log.iter().map(|l| l.text.as_str()).collect();
    assert!(log.iter().any(|l| l.contains("starting with secret [redacted]")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("Bearer [redacted]")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("stderr works")), "{log:?}");
    assert!(log.iter().all(|l| !l.contains(&secret) && !l.contains("eyJhbGciOiJFZERTQSJ9.") && !l.contains("abc123secretvalue")), "{log:?}");
}

#[tokio::test]
async fn only_people_who_may_open_the_webapp_reach_it() {
    let app = TestApp::with_backends().await;
    echo_webapp(&app).await;
    let anonymous = get(&app, &format!("{ECHO}/"), None).await;
    assert_eq!((anonymous.status, anonymous.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
    assert_eq!(get(&app, &format!("{ECHO}/backend/echo"), None).await.status, StatusCode::UNAUTHORIZED);
    let cli = app.cli(&["user", "create", "--email", "pat@tshirts.example", "--name", "Pat", "--password", "long-enough"]);
    server::cli::run(cli).await.expect("user create");
    let login = app.post("/api/login", &[("email", "pat@tshirts.example"), ("password", "long-enough")], None).await;
    let pat = common::session_cookie(&login).expect("pat logs in");
    assert_eq!(get(&app, &format!("{ECHO}/backend/echo"), Some(&pat)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(get(&app, &format!("{ECHO}/"), Some(&pat)).await.status, StatusCode::FORBIDDEN);
    let eve = app.login("eve@other.example").await;
    assert_eq!(get(&app, &format!("{ECHO}/backend/echo"), Some(&eve)).await.status, StatusCode::NOT_FOUND);
    // A cross-site form post never reaches the backend.
    let u1 = app.login("u1@tshirts.example").await;
    let cross = send(&app, Method::POST, &format!("{ECHO}/backend/echo"), Some(&u1), &[("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")], "").await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_backend_cannot_set_cookies_or_framing_and_limits_hold() {
    let app = TestApp::with_backends().await;
    echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let reply = get(&app, &format!("{ECHO}/backend/cookie"), Some(&u1)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "cookie"));
    assert!(reply.set_cookie.is_none(), "the backend set a cookie on Guise's origin");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert!(reply.headers.get("access-control-allow-origin").is_none() && reply.headers.get("x-secret-hop").is_none());
    assert_eq!(reply.headers["x-kept"], "yes");
    assert!(reply.headers.get_all("content-security-policy").iter().any(|v| v == "frame-ancestors 'none'"));

    let big = "x".repeat(70 * 1024);
    assert_eq!(send(&app, Method::POST, &format!("{ECHO}/backend/echo"), Some(&u1), &[], &big).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("x-h{i}"), "v".to_string())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(send(&app, Method::GET, &format!("{ECHO}/backend/echo"), Some(&u1), &many, "").await.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let upgrade = send(&app, Method::GET, &format!("{ECHO}/backend/echo"), Some(&u1), &[("upgrade", "websocket")], "").await;
    assert_eq!(upgrade.status, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn frontend_files_get_the_script_and_never_hidden_files_or_what_lies_outside() {
    let app = TestApp::with_backends().await;
    echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let page = get(&app, &format!("{ECHO}/"), Some(&u1)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<head><script src=\"/projects/TSHIRTS/webapps/echo/__guise/webapp.js\"></script><title>Echo</title>"), "{}", page.body);
    let script = get(&app, &format!("{ECHO}/__guise/webapp.js"), Some(&u1)).await;
    assert!(script.body.contains("\"/projects/TSHIRTS/webapps/echo/backend\"") && script.body.contains("getWebAppBackendUrl"));
    assert_eq!(get(&app, &format!("{ECHO}/js/app.js"), Some(&u1)).await.headers["content-type"], "text/javascript; charset=utf-8");
    for hidden in [".env", "js/../.env", "%2e%2e/outside.txt", "..%2foutside.txt", "missing.html"] {
        assert_eq!(get(&app, &format!("{ECHO}/{hidden}"), Some(&u1)).await.status, StatusCode::NOT_FOUND, "{hidden}");
    }
    // The built-in webapp keeps its page; its address with a slash leads there.
    let builtin = get(&app, "/projects/TSHIRTS/webapps/impersonation-demo/", Some(&u1)).await;
    assert_eq!((builtin.status, builtin.location.as_deref()), (StatusCode::PERMANENT_REDIRECT, Some("/projects/TSHIRTS/webapps/impersonation-demo")));
    let alice = app.login("alice@tshirts.example").await;
    let settings = get(&app, "/projects/TSHIRTS/webapps/impersonation-demo/settings", Some(&alice)).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.body.contains("Run backend as"), "the settings page still renders");
}

#[tokio::test]
async fn a_backend_that_exits_is_restarted_and_shutdown_leaves_no_process() {
    let app = TestApp::with_backends().await;
    let id = echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let first_pid = app.state.backends.view(id, 0).unwrap().pid.unwrap();
    assert_eq!(send(&app, Method::POST, &format!("{ECHO}/backend/crash"), Some(&u1), &[], "").await.body, "bye");
    wait_until(|| app.state.backends.view(id, 0).is_some_and(|v| v.restarts >= 1 && v.status == "Running"), "the backend runs again").await;
    let view = app.state.backends.view(id, 200).unwrap();
    assert_eq!(view.last_exit.as_deref(), Some("exited with code 3"));
    assert!(view.log.iter().any(|l| l.stream == "guise" && l.text == "backend exited with code 3"));
    let pid = view.pid.unwrap();
    assert_ne!(pid, first_pid);
    assert_eq!(get(&app, &format!("{ECHO}/backend/healthz"), Some(&u1)).await.body, "ok");

    app.state.backends.shutdown().await;
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "the backend is gone");
    assert_eq!(processes_in_group(pid), Vec::<u32>::new(), "so is everything it started");
    assert_eq!(app.state.backends.view(id, 0).unwrap().status, "Stopped");
    assert_eq!(get(&app, &format!("{ECHO}/backend/healthz"), Some(&u1)).await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn disabling_a_webapp_stops_its_backend_and_its_address() {
    let app = TestApp::with_backends().await;
    let id = echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    webapps::disable(&app.state, "TSHIRTS", "echo").await.unwrap();
    app.state.backends.reconcile();
    wait_until(|| app.state.backends.view(id, 0).is_none(), "the backend is gone").await;
    assert_eq!(get(&app, &format!("{ECHO}/backend/healthz"), Some(&u1)).await.status, StatusCode::NOT_FOUND);
    let (action, via): (String, String) = app.row("SELECT action, via FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!((action.as_str(), via.as_str()), ("webapp.disable", "command line"));
    assert!(store::webapps::list_runnable(&app.state.db).await.unwrap().is_empty());
}

#[tokio::test]
async fn admins_set_scopes_rotate_credentials_and_read_the_log_without_secrets() {
    let app = TestApp::with_backends().await;
    let id = echo_webapp(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let secret = get(&app, &format!("{ECHO}/backend/credentials"), Some(&u1)).await.json()["client_secret"].as_str().unwrap().to_string();
    let ids = [("project", "TSHIRTS"), ("webapp", "echo")];

    // Members may not; admins see the backend and its log, secrets hidden.
    assert_eq!(app.post("/api/webapp_settings", &ids, Some(&u1)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/set_webapp_scopes", &ids, Some(&u1)).await.status, StatusCode::FORBIDDEN);
    let alice = app.login("alice@tshirts.example").await;
    let settings = app.post("/api/webapp_settings", &ids, Some(&alice)).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    assert!(!settings.body.contains(&secret) && settings.body.contains("[redacted]"), "{}", settings.body);
    let backend = &settings.json()["backend"];
    assert_eq!(backend["status"], "Running");
    assert_eq!(settings.json()["webapp"]["code"]["scopes"], serde_json::json!(["datasets:read", "datasets:build"]));

    // The built-in webapp's buttons do not build as a code webapp's account.
    let built = app.post("/api/build_as_backend", &[("project", "TSHIRTS"), ("webapp", "echo"), ("dataset", "web_history_prepared")], Some(&u1)).await;
    assert_eq!(built.status, StatusCode::BAD_REQUEST, "{}", built.body);

    // Scopes: only what is ticked stays.
    let saved = app.post("/api/set_webapp_scopes", &[("project", "TSHIRTS"), ("webapp", "echo"), ("read", "on")], Some(&alice)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(app.value::<String>("SELECT scopes FROM webapps WHERE slug = 'echo'").await, "datasets:read");
    let (action, reason): (String, String) = app.row("SELECT action, reason FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!((action.as_str(), reason.as_str()), ("webapp.settings", "was [datasets:read datasets:build], now [datasets:read]"));

    // New credentials: the backend restarts with them, the old secret no longer works.
    let first_pid = app.state.backends.view(id, 0).unwrap().pid;
    assert_eq!(app.post("/api/rotate_backend_credentials", &ids, Some(&alice)).await.status, StatusCode::OK);
    wait_until(|| app.state.backends.view(id, 0).is_some_and(|v| v.status == "Running" && v.pid != first_pid), "the backend restarts").await;
    let fresh = get(&app, &format!("{ECHO}/backend/credentials"), Some(&u1)).await.json();
    assert_ne!(fresh["client_secret"].as_str(), Some(secret.as_str()));
    let old = common::form_body(&[("grant_type", "client_credentials"), ("client_id", fresh["client_id"].as_str().unwrap()), ("client_secret", &secret)]);
    let refused = send(&app, Method::POST, "/v2/auth/token", None, &[("content-type", "application/x-www-form-urlencoded")], &old).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // A new "Run backend as": the backend restarts acting as it.
    let u1_id = app.user_id("u1@tshirts.example").await.to_string();
    let moved = app.post("/api/set_run_as", &[("project", "TSHIRTS"), ("webapp", "echo"), ("user_id", &u1_id)], Some(&alice)).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let now = store::api_clients::active_id_of_webapp(&app.state.db, id).await.unwrap();
    assert!(now.is_some_and(|client| client != fresh["client_id"].as_str().unwrap()), "a new client");
    wait_until(|| app.state.backends.ready_port(id).is_some(), "the backend answers again").await;
    let owner: String = app
        .value(&format!("SELECT u.email FROM api_clients c JOIN users u ON u.id = c.owner_user_id WHERE c.webapp_id = {id} AND c.revoked_at IS NULL"))
        .await;
    assert_eq!(owner, "u1@tshirts.example");
}


#[tokio::test]
async fn an_impersonator_is_audited_through_a_webapp_and_read_only_sends_no_changes() {
    let app = TestApp::with_backends().await;
    echo_webapp(&app).await;
    let alice = app.login("alice@tshirts.example").await;
    let u1_id = app.user_id("u1@tshirts.example").await.to_string();
    let form = [("user_id", u1_id.as_str()), ("reason", "TICKET-12"), ("read_only", "on")];
    let started = app.post("/api/impersonation/start", &form, Some(&alice)).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let alice = common::session_cookie(&started).unwrap();

    let seen = get(&app, &format!("{ECHO}/backend/echo/a%3Fb"), Some(&alice)).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
    assert_eq!(seen.json()["path"], "/echo/a%3Fb", "the path as the browser sent it");
    assert_eq!(seen.json()["headers"]["x-guise-user-email"], "u1@tshirts.example");
    let row: (String, String, String, String) = app
        .row("SELECT a.action, a.outcome, u.email, s.email FROM audit_log a JOIN users u ON u.id = a.actor_user_id JOIN users s ON s.id = a.subject_user_id ORDER BY a.id DESC LIMIT 1")
        .await;
    assert_eq!(row, ("webapp.request".into(), "allowed".into(), "alice@tshirts.example".into(), "u1@tshirts.example".into()));

    let posted = send(&app, Method::POST, &format!("{ECHO}/backend/echo"), Some(&alice), &[], "{}").await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN, "{}", posted.body);
    let (action, outcome): (String, String) = app.row("SELECT action, outcome FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!((action.as_str(), outcome.as_str()), ("webapp.request", "denied"));

    // A link followed from another site gets no ticket.
    let u1 = app.login("u1@tshirts.example").await;
    let cross = send(&app, Method::GET, &format!("{ECHO}/backend/echo"), Some(&u1), &[("sec-fetch-site", "cross-site")], "").await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
}

/// Sends raw bytes to the server over TCP and returns what it answers (until it closes or a
/// second passes).
async fn raw_exchange(address: &str, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn conflicting_framing_is_refused_and_a_smuggled_request_stays_a_body() {
    let app = TestApp::with_backends().await;
    echo_webapp(&app).await;
    let address = app.listen().await.trim_start_matches("http://").to_string();
    let u1 = app.login("u1@tshirts.example").await;
    let path = format!("{ECHO}/backend/echo");

    // Two lengths: refused. Content-Length with chunked: the chunked body counts (here empty),
    // the connection closes, and what followed is never read as a request (RFC 9112 §6.3).
    let tail = "GET /projects/TSHIRTS/webapps/echo/backend/echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for framing in ["Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5\r\nTransfer-Encoding: chunked"] {
        let request = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {u1}\r\n{framing}\r\n\r\n0\r\n\r\n{tail}");
        let answer = raw_exchange(&address, request.as_bytes()).await;
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{framing}: one answer only: {answer}");
        assert!(!answer.contains("smuggled"), "{framing}: {answer}");
        assert!(answer.starts_with("HTTP/1.1 400") || answer.contains("\"body_length\": 0"), "{framing}: {answer}");
    }

    // A request hidden in a body reaches the backend as that body, inside one request.
    let hidden = "GET /echo/admin HTTP/1.1\r\nHost: x\r\n\r\n";
    let request = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {u1}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{hidden}", hidden.len());
    let answer = raw_exchange(&address, request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(&format!("\"body_length\": {}", hidden.len())) || answer.contains(&format!("\"body_length\":{}", hidden.len())), "{answer}");
    assert_eq!(answer.matches("\"method\"").count(), 1, "{answer}");
}
