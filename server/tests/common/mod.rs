//! A real Guise server for tests: the production router over a temporary database seeded with
//! the demo organisation, driven through HTTP requests. The database is SQLite, or PostgreSQL
//! when GUISE_TEST_ENGINE=postgres (`make test` runs the suite once on each engine).
#![allow(dead_code)]

use app::backend::jobs::runner;
use app::backend::state::{AppState, Settings};
use app::model::JobStatus;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;
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

/// Whether this run of the suite is the one on PostgreSQL.
pub fn postgres_suite() -> bool {
    std::env::var("GUISE_TEST_ENGINE").is_ok_and(|engine| engine == "postgres")
}

/// The demo seeded once per test binary into a PostgreSQL database that serves only as a
/// template: its name and the server key that sealed its secrets.
fn postgres_template() -> &'static (String, PathBuf) {
    static TEMPLATE: OnceLock<(String, PathBuf)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let key_file = tempfile::tempdir().expect("temp dir").keep().join("template.key");
        let key = key_file.clone();
        let name = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let url = fresh_postgres("template").await.expect("GUISE_TEST_ENGINE=postgres runs beside a cluster");
                let settings = Settings { key_file: Some(key), ..Settings::default() };
                let state = server::open_state(&url, settings, true).await.expect("seed on PostgreSQL");
                state.db.close();
                let name = url.rsplit('/').next().expect("a database name").to_string();
                // A database is copied only while no session is on it: the seeding server's
                // writer and listener are closed for good.
                let mut admin = cluster_connection().await;
                use sqlx::Executor;
                admin.execute(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false").as_str()).await.unwrap();
                admin
                    .execute(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'").as_str())
                    .await
                    .unwrap();
                name
            })
        })
        .join()
        .expect("seeding thread");
        (name, key_file)
    })
}

/// A fresh copy of the seeded PostgreSQL template: its URL, and its server key copied into `dir`.
async fn copy_postgres_template(dir: &Path) -> (String, PathBuf) {
    use sqlx::Executor;
    let (template, template_key) = postgres_template();
    let key_file = dir.join("guise.key");
    std::fs::copy(template_key, &key_file).expect("copy the server key");
    let name = format!("test_{}_{}", std::process::id(), rand::random::<u32>());
    // Copies of one template are made one at a time.
    static COPYING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = COPYING.lock().await;
    let mut admin = cluster_connection().await;
    admin.execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str()).await.expect("copy the template");
    (database_on_cluster(&name), key_file)
}

pub struct TestApp {
    /// First, so it is dropped first: no backend process outlives its test.
    _backends: KillBackendsOnDrop,
    pub router: Router,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    /// The database it serves (another app's, for a second server).
    url: String,
    /// The server key file, when named (PostgreSQL).
    key_file: Option<PathBuf>,
}

/// Kills every backend process a test's server started, however the test ends.
struct KillBackendsOnDrop(std::sync::Arc<app::backend::webapp_backends::Backends>);

impl Drop for KillBackendsOnDrop {
    fn drop(&mut self) {
        self.0.kill_all();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub set_cookie: Option<String>,
    pub location: Option<String>,
    pub retry_after: Option<String>,
    pub strict_transport_security: Option<String>,
    pub headers: axum::http::HeaderMap,
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
    pub async fn with_settings(mut settings: Settings) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = if postgres_suite() {
            let (url, key_file) = copy_postgres_template(dir.path()).await;
            settings.key_file = Some(key_file);
            url
        } else {
            let file = dir.path().join("guise.db");
            std::fs::copy(template(), &file).expect("copy template");
            // The server key that sealed the template's secrets goes with it.
            std::fs::copy(template().with_extension("key"), file.with_extension("key")).expect("copy server key");
            format!("sqlite://{}", file.display())
        };
        TestApp::serving(url, dir, settings).await
    }

    /// The production router over the database `url` (seeded with the demo if empty).
    async fn serving(url: String, dir: tempfile::TempDir, settings: Settings) -> TestApp {
        let key_file = settings.key_file.clone();
        let state = server::open_state(&url, settings, true).await.expect("open");
        let options = server::router::leptos_options("127.0.0.1:0".parse().unwrap()).expect("options");
        let sessions = server::router::session_store(&state);
        let router = server::router::build(state.clone(), options, sessions);
        TestApp { _backends: KillBackendsOnDrop(state.backends.clone()), router, state, dir, url, key_file }
    }

    /// A second server on the same database, as after a restart.
    pub async fn new_on(other: &TestApp) -> TestApp {
        let settings = Settings { key_file: other.key_file.clone(), ..Settings::default() };
        TestApp::serving(other.database_url(), tempfile::tempdir().expect("temp dir"), settings).await
    }

    /// A server on a fresh PostgreSQL database of the test cluster, seeded with the demo, its
    /// server key in a file of its own; `None` (the test says why) outside `make test`.
    pub async fn on_postgres(prefix: &str) -> Option<TestApp> {
        Some(TestApp::serving_postgres(fresh_postgres(prefix).await?).await)
    }

    /// A server on the empty PostgreSQL database `url`, seeded with the demo, its server key in
    /// a file of its own.
    pub async fn serving_postgres(url: String) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings { key_file: Some(dir.path().join("guise.key")), ..Settings::default() };
        TestApp::serving(url, dir, settings).await
    }

    /// Serves the router on a loopback port, for programs that call the server (a code webapp's
    /// backend); returns its URL.
    pub async fn listen(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let service = self.router.clone().into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        format!("http://{address}")
    }

    /// A fresh server that runs its code webapps' backends (restarting them after a twentieth
    /// of the production back-off), listening on loopback for them to call.
    pub async fn with_backends() -> TestApp {
        let app = TestApp::new().await;
        let url = app.listen().await;
        let policy = app::backend::webapp_supervisor::BackoffPolicy { unit: Duration::from_millis(50) };
        app::backend::webapp_supervisor::start(&app.state, url, policy);
        app
    }

    /// The same, with job workers running.
    pub async fn with_workers() -> TestApp {
        let app = TestApp::new().await;
        runner::spawn_workers(&app.state);
        app
    }

    pub fn database_url(&self) -> String {
        self.url.clone()
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    /// The command line `server ARGS…` on this server's database (and its key file).
    pub fn cli(&self, args: &[&str]) -> server::config::Cli {
        use clap::Parser;
        let mut all = vec!["server".to_string(), "--database-url".to_string(), self.url.clone()];
        if let Some(key_file) = &self.key_file {
            all.extend(["--key-file".to_string(), key_file.display().to_string()]);
        }
        all.extend(args.iter().map(|arg| arg.to_string()));
        server::config::Cli::parse_from(all)
    }

    /// The server binary, pointed at this server's database (and its key file).
    pub fn server_binary(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        command.env("DATABASE_URL", &self.url);
        if let Some(key_file) = &self.key_file {
            command.env("GUISE_KEY_FILE", key_file);
        }
        command
    }

    /// The rows of a query run on the database from outside the server, whichever its engine
    /// (columns of types both engines share: integers, text, their nulls).
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        use sqlx::{ConnectOptions, Connection};
        let rows = if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
            let rows = sqlx::query_as(sql).fetch_all(&mut conn).await;
            conn.close().await.expect("close");
            rows
        } else {
            let options: sqlx::sqlite::SqliteConnectOptions = self.url.parse().expect("database URL");
            let mut conn = options.read_only(true).connect().await.expect("connect");
            let rows = sqlx::query_as(sql).fetch_all(&mut conn).await;
            conn.close().await.expect("close");
            rows
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one row of a query (see `rows`).
    pub async fn row<T>(&self, sql: &str) -> T
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut rows = self.rows::<T>(sql).await;
        assert_eq!(rows.len(), 1, "one row from {sql}");
        rows.remove(0)
    }

    /// The first column of a query's rows (see `rows`).
    pub async fn values<T>(&self, sql: &str) -> Vec<T>
    where
        (T,): for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.rows::<(T,)>(sql).await.into_iter().map(|(value,)| value).collect()
    }

    /// The one value of a query (see `rows`).
    pub async fn value<T>(&self, sql: &str) -> T
    where
        (T,): for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.row::<(T,)>(sql).await.0
    }

    /// Lets statements change or remove audit rows, as someone who can write the database can.
    pub async fn allow_audit_edits(&self) {
        let sql = if self.is_postgres() {
            "DROP TRIGGER audit_log_never_changed ON audit_log"
        } else {
            "DROP TRIGGER audit_log_never_updated"
        };
        self.edit_database(sql).await.expect("drop the append-only trigger");
    }

    /// Makes every insert into the audit log fail from now on.
    pub async fn fail_audit_inserts(&self) {
        if self.is_postgres() {
            self.edit_database("CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'forced'; END $$")
                .await
                .unwrap();
            self.edit_database("CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fails()")
                .await
                .unwrap();
        } else {
            self.edit_database("CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'forced'); END")
                .await
                .unwrap();
        }
    }

    pub async fn request(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("router");
        let status = response.status();
        let headers = response.headers();
        let header_text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (set_cookie, location) = (header_text(header::SET_COOKIE), header_text(header::LOCATION));
        let retry_after = header_text(header::RETRY_AFTER);
        let strict_transport_security = header_text(header::STRICT_TRANSPORT_SECURITY);
        let headers = headers.clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Reply { status, set_cookie, location, retry_after, strict_transport_security, headers, body }
    }

    /// A request to the /v2 API: with a bearer token, and a form body when given.
    pub async fn api_request(&self, method: Method, path: &str, bearer: Option<&str>, form: Option<String>) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:3000");
        if let Some(token) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match form {
            Some(form) => {
                req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(form)
            }
            None => Body::empty(),
        };
        self.request(req.body(body).unwrap()).await
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
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            let done = sqlx::raw_sql(sql).execute(&mut conn).await;
            conn.close().await?;
            return done.map(|r| r.rows_affected());
        }
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
    Some(database_on_cluster(&name))
}

/// A connection to the test cluster's own database, to create and drop others.
async fn cluster_connection() -> sqlx::PgConnection {
    use sqlx::Connection;
    let cluster = std::env::var("GUISE_TEST_POSTGRES_URL").expect("GUISE_TEST_POSTGRES_URL: run the tests with `make test`");
    sqlx::PgConnection::connect(&cluster).await.expect("the test cluster answers")
}

/// The URL of database `name` on the test cluster.
fn database_on_cluster(name: &str) -> String {
    let cluster = std::env::var("GUISE_TEST_POSTGRES_URL").expect("GUISE_TEST_POSTGRES_URL");
    let (base, _) = cluster.rsplit_once('/').expect("a cluster URL names a database");
    format!("{base}/{name}")
}

/// The `server` binary run in `dir` on the database `url`: no demo seeding, listening (if it
/// serves) on a free loopback port unless LEPTOS_SITE_ADDR is set again.
pub fn server_process(dir: &std::path::Path, url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env_remove("GUISE_DEMO");
    command
}
