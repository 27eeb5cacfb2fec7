//! A real Guise server for tests: the production router over a temporary SQLite database
//! seeded with the demo organisation, driven through HTTP requests.
#![allow(dead_code)]

use app::backend::jobs::runner;
use app::backend::state::{AppState, Settings};
use app::model::JobStatus;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;

/// The demo database, seeded once per test binary and copied for every test.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let seeded = dir.join("seeded.db");
        let file = dir.join("template.db");
        let url = format!("sqlite://{}", seeded.display());
        // Its own runtime: each test has another, and the pool must not outlive this one.
        let snapshot = file.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let state = server::open_state(&url, Settings::default(), true).await.expect("seed");
                // A snapshot in a file of its own, whole and consistent whatever the seeded
                // database's own threads (writer, checkpoints) still do with it: copying the
                // seeded file itself could catch a checkpoint half-way.
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("connect");
                sqlx::query(&format!("VACUUM INTO '{}'", snapshot.display())).execute(&mut conn).await.expect("snapshot");
                conn.close().await.expect("close");
                state.db.close();
            });
        })
        .join()
        .expect("seeding thread");
        std::fs::copy(seeded.with_extension("key"), file.with_extension("key")).expect("copy the server key");
        file
    })
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// The database it serves (another app's, for a second server).
    url: String,
    /// The server key file, when named (PostgreSQL).
    key_file: Option<PathBuf>,
}

pub struct Reply {
    pub status: StatusCode,
    pub set_cookie: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub strict_transport_security: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// The message of an `AppError` body, whatever its variant.
    pub fn error_message(&self) -> String {
        match self.json() {
            // `{"Variant": "message"}`, or `{"Variant": {"message": …, …}}`.
            serde_json::Value::Object(map) => {
                let inner = map.values().next();
                let text = inner.and_then(|v| v.as_str().or_else(|| v["message"].as_str()));
                text.unwrap_or("").to_string()
            }
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

impl TestApp {
    /// A fresh copy of the demo database, without job workers.
    pub async fn new() -> TestApp {
        Self::with_settings(Settings::default()).await
    }

    /// The same, with settings of its own.
    pub async fn with_settings(settings: Settings) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("guise.db");
        std::fs::copy(template(), &file).expect("copy template");
        // The server key that sealed the template's secrets goes with it.
        std::fs::copy(template().with_extension("key"), file.with_extension("key")).expect("copy server key");
        let url = format!("sqlite://{}", file.display());
        let state = server::open_state(&url, settings, true).await.expect("open");
        let options = server::router::leptos_options("127.0.0.1:0".parse().unwrap()).expect("options");
        let sessions = server::router::session_store(&state);
        let router = server::router::build(state.clone(), options, sessions);
        TestApp { router, state, dir, url, key_file: None }
    }

    /// A second server on the same database, as after a restart.
    pub async fn new_on(other: &TestApp) -> TestApp {
        let url = other.database_url();
        let settings = Settings { key_file: other.key_file.clone(), ..Settings::default() };
        let state = server::open_state(&url, settings, true).await.expect("open");
        let options = server::router::leptos_options("127.0.0.1:0".parse().unwrap()).expect("options");
        let sessions = server::router::session_store(&state);
        let router = server::router::build(state.clone(), options, sessions);
        TestApp { router, state, dir: tempfile::tempdir().expect("temp dir"), url, key_file: other.key_file.clone() }
    }

    /// A server on a fresh PostgreSQL database of the test cluster, seeded with the demo, its
    /// server key in a file of its own; `None` (the test says why) outside `make test`.
    pub async fn on_postgres(prefix: &str) -> Option<TestApp> {
        let url = fresh_postgres(prefix).await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let key_file = Some(dir.path().join("guise.key"));
        let settings = Settings { key_file: key_file.clone(), ..Settings::default() };
        let state = server::open_state(&url, settings, true).await.expect("open on PostgreSQL");
        let options = server::router::leptos_options("127.0.0.1:0".parse().unwrap()).expect("options");
        let sessions = server::router::session_store(&state);
        let router = server::router::build(state.clone(), options, sessions);
        Some(TestApp { router, state, dir, url, key_file })
    }

    /// The same, with job workers running.
    pub async fn with_workers() -> TestApp {
        let app = TestApp::new().await;
        runner::spawn_workers(&app.state);
        app
    }

    /// A read-only pool on the database file, for tests that look at tables directly.
    pub fn sql(&self) -> sqlx::SqlitePool {
        let options: sqlx::sqlite::SqliteConnectOptions = self.database_url().parse().expect("database URL");
        sqlx::SqlitePool::connect_lazy_with(options.read_only(true))
    }

    pub fn database_url(&self) -> String {
        self.url.clone()
    }

    pub async fn request(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("router");
        let status = response.status();
        let headers = response.headers();
        let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (set_cookie, location) = (header_text(header::SET_COOKIE), header_text(header::LOCATION));
        let retry_after = header_text(header::RETRY_AFTER);
        let strict_transport_security = header_text(header::STRICT_TRANSPORT_SECURITY);
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Reply { status, set_cookie, location, retry_after, strict_transport_security, body }
    }

    /// POSTs a form to a server function, as the browser's fetch does.
    pub async fn post(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        self.request(form_request(path, form, cookie)).await
    }

    /// Logs in and returns the session cookie (`name=value`).
    pub async fn login(&self, email: &str) -> String {
        let reply = self.post("/api/login", &[("email", email), ("password", "guise-demo")], None).await;
        assert!(reply.status.is_success() || reply.status.is_redirection(), "login {email}: {} {}", reply.status, reply.body);
        session_cookie(&reply).expect("session cookie")
    }

    /// Runs a statement on the database file from outside the server (a test's fixture, or an
    /// attacker with the file), not through its writer.
    pub async fn edit_database(&self, sql: &str) -> Result<u64, sqlx::Error> {
        use sqlx::{ConnectOptions, Connection};
        let options: sqlx::sqlite::SqliteConnectOptions = self.database_url().parse()?;
        let mut conn = options.busy_timeout(Duration::from_secs(15)).connect().await?;
        let done = sqlx::query(sql).execute(&mut conn).await;
        conn.close().await?;
        done.map(|r| r.rows_affected())
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        app::backend::store::users::by_email(&self.state.db, email).await.unwrap().unwrap().id
    }

    /// Waits until the job reaches a final status and returns it.
    pub async fn wait_for_job(&self, id: i64) -> JobStatus {
        for _ in 0..600 {
            // Every job of the demo belongs to its one tenant.
            let job = app::backend::store::jobs::view(&self.state.db, 1, id).await.unwrap().expect("the job exists");
            let status = job.status;
            if status.is_finished() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} did not finish in 60 s");
    }
}

/// A form POST to a server function, as the browser's fetch sends it.
/// The request as if it came over a connection from `ip` (the server serves with the peer's
/// address; a test's requests otherwise have none).
pub fn from_address(mut request: Request<Body>, ip: &str) -> Request<Body> {
    let peer: std::net::SocketAddr = format!("{ip}:50000").parse().expect("an IPv4 address");
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

pub fn form_request(path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    req.body(Body::from(form_body(form))).unwrap()
}

pub fn form_body(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `guise_session=…` from a reply's Set-Cookie header.
pub fn session_cookie(reply: &Reply) -> Option<String> {
    let header = reply.set_cookie.as_deref()?;
    let pair = header.split(';').next()?.trim();
    pair.starts_with(&format!("{}=", server::router::SESSION_COOKIE)).then(|| pair.to_string())
}

pub const DEMO_FORM: [(&str, &str); 3] =
    [("project", "TSHIRTS"), ("webapp", "impersonation-demo"), ("dataset", "web_history_prepared")];

/// The URL of a fresh, empty database on the PostgreSQL cluster `make test` starts (named by
/// GUISE_TEST_POSTGRES_URL). `None` (and the test says why) outside `make test`, unless CI
/// asks for every test to run.
pub async fn fresh_postgres(prefix: &str) -> Option<String> {
    use sqlx::Connection;
    let Ok(cluster) = std::env::var("GUISE_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("CI").is_none(), "GUISE_TEST_POSTGRES_URL is unset: run the tests with `make test`");
        eprintln!("skipped: GUISE_TEST_POSTGRES_URL is unset (make test starts a PostgreSQL cluster)");
        return None;
    };
    let mut admin = sqlx::PgConnection::connect(&cluster).await.expect("the test cluster answers");
    let name = format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let (base, _) = cluster.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}
