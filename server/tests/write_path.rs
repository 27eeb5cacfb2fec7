//! Writes that clients cannot break: every kind of write dropped at each of its await points in
//! turn, and bursts of real HTTP clients that disconnect with requests in flight. Afterwards the
//! store keeps working, no transaction is left open, and each write happened whole (with its
//! audit row) or not at all. Pages whose clients hang up mid-render are rendered whole.

mod common;

use app::backend::seed::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use app::backend::store;
use app::backend::tokens::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{form_body, form_request, session_cookie, TestApp, DEMO_FORM};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::future::Future;
use std::pin::pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// Wakes a test that waits for a future's next step.
#[derive(Default)]
struct Step(tokio::sync::Notify);

impl Wake for Step {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
}

/// Runs `fut` until it has stopped at `stops` await points (resuming each only once what it
/// waits for is ready), then drops it there. `Some` when it finished before that.
async fn drop_at_await_point<F: Future>(fut: F, stops: usize) -> Option<F::Output> {
    let step = Arc::new(Step::default());
    let waker = Waker::from(step.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for stop in 0..=stops {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if stop == stops {
            break;
        }
        tokio::time::timeout(Duration::from_secs(10), step.0.notified()).await.expect("the future makes progress");
    }
    None
}

/// The kinds of write a client can start.
#[derive(Clone, Copy, Debug)]
enum Write {
    Login,
    StartImpersonation,
    StopImpersonation,
    ClientCredentials,
    TokenExchange,
    BuildInContext,
    AddGrant,
}

const ALL: [Write; 7] = [
    Write::Login,
    Write::StartImpersonation,
    Write::StopImpersonation,
    Write::ClientCredentials,
    Write::TokenExchange,
    Write::BuildInContext,
    Write::AddGrant,
];

/// Pairs of counts that each write of a kind changes together: the difference of each pair
/// never moves, whether the write happened or not.
fn together(kind: Write) -> &'static [(&'static str, &'static str)] {
    match kind {
        Write::Login | Write::ClientCredentials => &[],
        Write::StartImpersonation => &[(
            "SELECT COUNT(*) FROM impersonations WHERE via = 'UI'",
            "SELECT COUNT(*) FROM audit_log WHERE action = 'impersonation.start' AND outcome = 'allowed'",
        )],
        Write::StopImpersonation => &[(
            "SELECT COUNT(*) FROM impersonations WHERE end_reason = 'stopped'",
            "SELECT COUNT(*) FROM audit_log WHERE action = 'impersonation.stop'",
        )],
        Write::TokenExchange => &[
            (
                "SELECT COUNT(*) FROM used_subject_tokens",
                "SELECT COUNT(*) FROM audit_log WHERE action = 'api.token_exchange' AND outcome = 'allowed'",
            ),
            ("SELECT COUNT(*) FROM used_subject_tokens", "SELECT COUNT(*) FROM impersonations WHERE via <> 'UI'"),
        ],
        Write::BuildInContext => &[(
            "SELECT COUNT(*) FROM jobs",
            "SELECT COUNT(*) FROM job_log_lines WHERE message = 'Queued' OR message LIKE 'Refused:%'",
        )],
        Write::AddGrant => &[(
            "SELECT COUNT(*) FROM impersonation_grants",
            "SELECT COUNT(*) FROM audit_log WHERE action = 'grant.add'",
        )],
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.value(sql).await
}

async fn differences(app: &TestApp, kind: Write) -> Vec<i64> {
    let mut out = Vec::new();
    for (a, b) in together(kind) {
        // One statement, one snapshot: a write committing in between cannot skew it.
        out.push(count(app, &format!("SELECT ({a}) - ({b})")).await);
    }
    out
}

static JTI: AtomicU64 = AtomicU64::new(0);

fn subject_token(email: &str) -> String {
    let now = store::now_ms() / 1000;
    let jti = format!("write-path-{}", JTI.fetch_add(1, Ordering::Relaxed));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(DEMO_CLIENT_ID.to_string());
    let claims = serde_json::json!({ "sub": email, "jti": jti, "iat": now, "exp": now + 120 });
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(DEMO_CLIENT_SECRET.as_bytes())).unwrap()
}

/// The form of a token exchange for `email`, with a fresh subject token.
fn exchange_form(email: &str, actor: &str) -> String {
    let subject = subject_token(email);
    form_body(&[
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", TOKEN_TYPE_JWT),
        ("actor_token", actor),
        ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
    ])
}

fn token_request(body: String, bearer: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/v2/auth/token")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    req.body(Body::from(body)).unwrap()
}

const CLIENT_CREDENTIALS: [(&str, &str); 3] =
    [("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)];

async fn actor_token(app: &TestApp) -> String {
    let reply = app.request(token_request(form_body(&CLIENT_CREDENTIALS), None)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["access_token"].as_str().unwrap().to_string()
}

/// A fresh request of the kind, with whatever it needs set up beforehand (run to the end).
async fn prepare(app: &TestApp, kind: Write) -> Request<Body> {
    let login = [("email", "alice@tshirts.example"), ("password", "guise-demo")];
    match kind {
        Write::Login => form_request("/api/login", &login, None),
        Write::StartImpersonation => {
            let alice = app.login("alice@tshirts.example").await;
            let carol = app.user_id("carol@tshirts.example").await.to_string();
            form_request("/api/impersonation/start", &[("user_id", &carol), ("reason", "T-1")], Some(&alice))
        }
        Write::StopImpersonation => {
            let alice = app.login("alice@tshirts.example").await;
            let carol = app.user_id("carol@tshirts.example").await.to_string();
            let started = app.post("/api/impersonation/start", &[("user_id", &carol), ("reason", "T-2")], Some(&alice)).await;
            assert_eq!(started.status, StatusCode::OK, "{}", started.body);
            let as_carol = session_cookie(&started).expect("a new session id");
            form_request("/api/impersonation/stop", &[], Some(&as_carol))
        }
        Write::ClientCredentials => token_request(form_body(&CLIENT_CREDENTIALS), None),
        Write::TokenExchange => {
            let actor = actor_token(app).await;
            token_request(exchange_form("u1@tshirts.example", &actor), Some(&actor))
        }
        Write::BuildInContext => {
            let u1 = app.login("u1@tshirts.example").await;
            form_request("/api/build_in_context", &DEMO_FORM, Some(&u1))
        }
        Write::AddGrant => {
            let alice = app.login("alice@tshirts.example").await;
            let actor = format!("user:{}", app.user_id("u2@tshirts.example").await);
            let subject = format!("user:{}", app.user_id("dave@tshirts.example").await);
            form_request("/api/admin/grants/add", &[("actor", &actor), ("subject", &subject)], Some(&alice))
        }
    }
}

/// The store is healthy: the writer has finished what was queued, no transaction was left
/// open, and the audit chain verifies.
async fn assert_store_healthy(app: &TestApp) {
    app.state.writer.run(|_| Ok(())).await.expect("the writer answers");
    if app.is_postgres() {
        // Once requests still in flight are done, no session of the database sits in a
        // transaction.
        let open_transactions = || {
            app.value::<i64>(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            )
        };
        let mut open = open_transactions().await;
        for _ in 0..50 {
            if open == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            open = open_transactions().await;
        }
        assert_eq!(open, 0, "no transaction was left open");
    } else {
        // An outside connection gets SQLite's write lock: at once, or once requests still in
        // flight are done (a transaction left behind would hold it for good).
        let outside = SqliteConnectOptions::from_str(&app.database_url()).unwrap().busy_timeout(Duration::from_secs(5));
        let mut conn = outside.connect().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("no transaction was left open");
        sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let checked = store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap();
    checked.expect("the audit chains verify");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_dropped_at_each_await_point_leaves_the_store_whole() {
    let app = TestApp::new().await;
    for kind in ALL {
        let before = differences(&app, kind).await;
        let mut stops = 0;
        // A write whose only wait is for the writer can be answered before its first poll
        // returns (the writer thread commits while the caller is descheduled): such a run
        // drops nothing, so it is tried again.
        let mut finished_unpolled = 0;
        loop {
            let request = prepare(&app, kind).await;
            let finished = drop_at_await_point(app.router.clone().oneshot(request), stops).await;
            assert_store_healthy(&app).await;
            assert_eq!(differences(&app, kind).await, before, "{kind:?} dropped at await point {stops}: half written");
            if let Some(response) = finished {
                let response = response.expect("the router answers");
                assert!(response.status().is_success(), "{kind:?} ran to its end: {}", response.status());
                if stops == 0 && finished_unpolled < 20 {
                    finished_unpolled += 1;
                    continue;
                }
                break;
            }
            stops += 1;
            assert!(stops < 500, "{kind:?} never finished");
        }
        assert!(stops > 0, "{kind:?} had await points to drop at");
        eprintln!("{kind:?}: dropped at each of {stops} await points ({finished_unpolled} runs answered unpolled)");
        // And the next write of the kind, undisturbed, succeeds.
        let reply = app.request(prepare(&app, kind).await).await;
        assert!(reply.status.is_success(), "{kind:?} after the drops: {} {}", reply.status, reply.body);
    }
}

/// Sends `request` over a new connection and hangs up without reading the answer.
async fn send_and_hang_up(addr: std::net::SocketAddr, request: String, linger: Duration) {
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        let _ = stream.write_all(request.as_bytes()).await;
        tokio::time::sleep(linger).await;
    }
}

fn raw_post(path: &str, body: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_disconnecting_clients_leave_the_server_healthy() {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let actor = actor_token(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    let kinds = [Write::TokenExchange, Write::ClientCredentials, Write::BuildInContext];
    let mut before = Vec::new();
    for kind in kinds {
        before.push(differences(&app, kind).await);
    }
    for burst in 0..15u64 {
        let mut clients = Vec::new();
        for n in 0..32u64 {
            let request = match n % 4 {
                0 => raw_post("/v2/auth/token", &form_body(&CLIENT_CREDENTIALS), ""),
                3 => raw_post("/api/build_in_context", &form_body(&DEMO_FORM), &format!("Cookie: {u1}\r\n")),
                _ => raw_post(
                    "/v2/auth/token",
                    &exchange_form("u1@tshirts.example", &actor),
                    &format!("Authorization: Bearer {actor}\r\n"),
                ),
            };
            // Hang up at staggered moments: before, during and after the server's work.
            let linger = Duration::from_micros((burst * 32 + n) * 97 % 4000);
            clients.push(tokio::spawn(send_and_hang_up(addr, request, linger)));
        }
        for client in clients {
            client.await.unwrap();
        }
    }
    assert_store_healthy(&app).await;
    for (kind, before) in kinds.into_iter().zip(before) {
        assert_eq!(differences(&app, kind).await, before, "{kind:?}: a write of the bursts was half done");
        let reply = app.request(prepare(&app, kind).await).await;
        assert!(reply.status.is_success(), "{kind:?} after the bursts: {} {}", reply.status, reply.body);
        assert_eq!(differences(&app, kind).await, before);
    }
    assert_store_healthy(&app).await;
    server.abort();
}

/// Panics of the reactive system seen by this process: a page's render running on after its
/// reactive owner was disposed.
fn reactive_panics() -> Arc<std::sync::Mutex<Vec<String>>> {
    static SEEN: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<String>>>> = std::sync::OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let previous = std::panic::take_hook();
        let record = seen.clone();
        std::panic::set_hook(Box::new(move |info| {
            let message = info.to_string();
            if message.contains("disposed") || message.contains("expected context") {
                if let Ok(mut record) = record.try_lock() {
                    record.push(message);
                }
            }
            previous(info);
        }));
        seen
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_whose_clients_hang_up_mid_render_are_rendered_whole() {
    let panics = reactive_panics();
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let u1 = app.login("u1@tshirts.example").await;
    let alice = app.login("alice@tshirts.example").await;
    let pages = [("/projects/TSHIRTS/webapps/impersonation-demo", &u1), ("/jobs", &alice), ("/", &alice), ("/no-such-page", &u1)];
    for round in 0..100u64 {
        let mut clients = Vec::new();
        for (n, (path, cookie)) in pages.iter().enumerate() {
            let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n");
            // Hang up before, during and after the render.
            let linger = Duration::from_micros((round * 4 + n as u64) * 89 % 3000);
            clients.push(tokio::spawn(send_and_hang_up(addr, request, linger)));
        }
        for client in clients {
            client.await.unwrap();
        }
    }
    let page = app.request(Request::get(pages[0].0).header(header::COOKIE, u1.as_str()).body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Welcome: <!>U1 Analyst") && page.body.contains("</html>"), "the demo page, whole: {}", page.body);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = panics.lock().unwrap().clone();
    assert!(seen.is_empty(), "renders ran on after the reactive owner was dropped: {seen:#?}");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_queue_answers_503_with_retry_after_and_writes_nothing() {
    let app = TestApp::new().await;
    let actor = actor_token(&app).await;
    let u1 = app.login("u1@tshirts.example").await;
    // Hold the writer on one unit, then queue units behind it until the queue refuses one.
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let held = tokio::spawn({
        let writer = app.state.writer.clone();
        async move {
            let unit = writer.run(move |_| {
                let _ = started.send(());
                Ok(hold.blocking_recv().map_err(|_| sqlx::Error::PoolClosed)?)
            });
            unit.await
        }
    });
    running.await.unwrap();
    let mut full = false;
    for _ in 0..2 * store::QUEUE_CAPACITY {
        // Queued by its first poll; dropping the caller afterwards does not take it back.
        let mut caller = Box::pin(app.state.writer.run(|_| Ok(())));
        if let Poll::Ready(Err(sqlx::Error::PoolTimedOut)) = futures::poll!(&mut caller) {
            full = true;
            break;
        }
    }
    assert!(full, "the queue has a bound");
    let jobs = count(&app, "SELECT COUNT(*) FROM jobs").await;
    let exchanges = count(&app, "SELECT COUNT(*) FROM used_subject_tokens").await;

    let exchange = token_request(exchange_form("u1@tshirts.example", &actor), Some(&actor));
    let api = app.router.clone().oneshot(exchange).await.unwrap();
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(api.into_body(), 1 << 16).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");

    let page = app.router.clone().oneshot(form_request("/api/build_in_context", &DEMO_FORM, Some(&u1))).await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(page.into_body(), 1 << 16).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("the server is busy"), "{}", String::from_utf8_lossy(&body));

    // A login writes only its session: refused the same way, not with a bare 500.
    let login = form_request("/api/login", &[("email", "u2@tshirts.example"), ("password", "guise-demo")], None);
    let login = app.router.clone().oneshot(login).await.unwrap();
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(login.headers()[header::RETRY_AFTER], "1");
    assert!(login.headers().get(header::SET_COOKIE).is_none(), "no session was handed out");

    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    // The units queued behind it drain in batches after it: until then the queue may still
    // be full, and a new unit is refused like any other.
    let mut tries = 0;
    while let Err(sqlx::Error::PoolTimedOut) = app.state.writer.run(|_| Ok(())).await {
        tries += 1;
        assert!(tries < 1000, "the queue never drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_store_healthy(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM jobs").await, jobs, "a refused write wrote nothing");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM used_subject_tokens").await, exchanges);
    // Once the queue drains, the same requests go through.
    let reply = app.request(prepare(&app, Write::TokenExchange).await).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}
