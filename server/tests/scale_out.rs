//! Scale-out under failure. Two Guise servers (the real `server` binary) share one PostgreSQL
//! database; users work through both at once, building datasets, exchanging API tokens and
//! starting and stopping impersonations; a third of the way in, one server is killed with
//! SIGKILL. Requests reach the servers as through a load balancer: by turns while both are up,
//! and a request the dying server drops is sent again to the survivor.
//!
//! Afterwards: every job either server accepted has finished exactly once (none lost, none run
//! twice; only the builds the killed server was running start a second time), every job and
//! audit row names its own user and actor, the audit chains verify, and the surviving server
//! answered no 5xx. The cluster is the one `make test` starts (GUISE_TEST_POSTGRES_URL).

mod common;

use app::backend::seed::{
    CUSTOMER_DATASET_ROWS, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, DEMO_PROJECT, DEMO_WEBAPP, ORDER_ROWS, WEB_HISTORY_ROWS,
};
use app::backend::store::now_ms;
use app::backend::tokens::{TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT};
use serde_json::Value;
use server::api_v2::token::{CLIENT_CREDENTIALS, TOKEN_EXCHANGE};
use server::router::SESSION_COOKIE;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Users at work at once; each is an admin with a member of their own to act as.
const USERS: usize = 8;
/// How long they work. Server A is killed a third of the way in.
const LOAD: Duration = Duration::from_secs(9);
/// Each user asks for a build every BUILD_EVERY, this many in all: jobs keep coming before and
/// after the kill, but few enough for the survivor to run them all soon after.
const BUILDS_PER_USER: u32 = 6;
const BUILD_EVERY: Duration = Duration::from_millis(1500);
/// A pause between a user's steps, as people and scripts take.
const THINK: Duration = Duration::from_millis(50);
/// The long build (52,000 rows read), each even user's first: server A dies in the middle of one.
const LONG_BUILD: &str = "web_history_prepared";
/// The short build (22,000 rows read, one row per country written): all the others.
const SHORT_BUILD: &str = "orders_by_country";
/// Long enough for the killed server's leases to run out (30 s), be taken back (every 10 s)
/// and their jobs to run again on the survivor.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);
/// The longest a live server may take to answer one request.
const ANSWER_LIMIT: Duration = Duration::from_secs(60);
/// The line `store::jobs::requeue_expired` writes into the log of each job it takes back.
const REQUEUED: &str = "The server running this job stopped renewing its lease; it was queued again";

const A: usize = 0;
const B: usize = 1;
const NAMES: [&str; 2] = ["A", "B"];

fn admin_email(n: usize) -> String {
    format!("scale-admin-{n}@tshirts.example")
}

fn member_email(n: usize) -> String {
    format!("scale-member-{n}@tshirts.example")
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over real connections: no client crate is at hand, and a blocking one is enough.

/// A request as a browser's fetch or an API client sends it.
struct Request {
    method: &'static str,
    path: String,
    /// A form body (POST), or none (GET).
    form: Option<String>,
    cookie: Option<String>,
    bearer: Option<String>,
}

impl Request {
    /// A form POST, to a server function or the token endpoint.
    fn form(path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Request {
        let form = Some(common::form_body(form));
        Request { method: "POST", path: path.to_string(), form, cookie: cookie.map(str::to_string), bearer: None }
    }

    /// A call of the /v2 API with a bearer token: a POST without a body, or a GET.
    fn api(method: &'static str, path: String, token: &str) -> Request {
        let form = (method == "POST").then(String::new);
        Request { method, path, form, cookie: None, bearer: Some(token.to_string()) }
    }

    fn get(path: &str) -> Request {
        Request { method: "GET", path: path.to_string(), form: None, cookie: None, bearer: None }
    }

    /// The request on the wire. No `Origin` and no `Sec-Fetch-Site`: the same-origin guard
    /// (`middleware::is_cross_site`) lets such clients through, as it does the router tests'.
    fn bytes(&self, port: u16) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n",
            self.method, self.path
        );
        if let Some(cookie) = &self.cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        if let Some(token) = &self.bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = self.form.as_deref().unwrap_or_default();
        if self.form.is_some() {
            head.push_str(&format!("Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

/// What a server answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    set_cookies: Vec<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Done, or done and sent elsewhere (server functions answer JSON clients 200 with a
    /// redirect header, others 302).
    fn succeeded(&self) -> bool {
        (200..400).contains(&self.status)
    }

    /// The session cookie (`guise_session=…`) it set, if any.
    fn session_cookie(&self) -> Option<String> {
        let prefix = format!("{SESSION_COOKIE}=");
        self.set_cookies
            .iter()
            .map(|cookie| cookie.split(';').next().unwrap_or_default().trim())
            .find(|pair| pair.starts_with(&prefix))
            .map(str::to_string)
    }
}

/// A whole answer, or `None` when it was cut off (its server died while sending it).
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let (mut set_cookies, mut length, mut chunked) = (Vec::new(), None, false);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "set-cookie" => set_cookies.push(value.to_string()),
            "content-length" => length = Some(value.parse::<usize>().ok()?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = match (chunked, length) {
        (true, _) => dechunk(rest)?,
        (false, Some(length)) => rest.get(..length)?.to_vec(),
        // Neither: the body runs to the end of the connection.
        (false, None) => rest.to_vec(),
    };
    Some(Answer { status, set_cookies, body: String::from_utf8_lossy(&body).into_owned() })
}

/// The body of a chunked answer, or `None` when its last chunk never came.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// One request on a fresh connection (`Connection: close`), its answer read to the end.
fn round_trip(port: u16, request: &Request) -> std::io::Result<Answer> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(ANSWER_LIMIT))?;
    stream.set_write_timeout(Some(ANSWER_LIMIT))?;
    stream.write_all(&request.bytes(port))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let cut_off = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("a cut-off answer ({} bytes)", raw.len()));
    parse_answer(&raw).ok_or_else(cut_off)
}

async fn send_to(port: u16, request: Request) -> std::io::Result<Answer> {
    tokio::task::spawn_blocking(move || round_trip(port, &request)).await.expect("the request's thread")
}

// ---------------------------------------------------------------------------------------------
// The two servers, and the load balancer in front of them.

/// Runs a command of the `server` binary on the test's database and key; what it printed.
fn command(dir: &Path, url: &str, key: &Path, args: &[&str]) -> String {
    let output = common::server_process(dir, url)
        .arg("--key-file")
        .arg(key)
        .args(args)
        .output()
        .expect("run the server binary");
    assert!(output.status.success(), "server {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A `server serve` process on a port of its own, its output in a file; killed when dropped, so
/// that a failing test leaves no server behind.
struct Served {
    name: &'static str,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Served {
    fn start(name: &'static str, dir: &Path, url: &str, key: &Path) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join(format!("server-{name}.log"));
        let out = std::fs::File::create(&log).expect("the server's log file");
        let err = out.try_clone().expect("the server's log file");
        let child = common::server_process(dir, url)
            .arg("--key-file")
            .arg(key)
            .arg("serve")
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start the server binary");
        Served { name, port, child: Some(child), log }
    }

    /// Asks `/healthz` until the server answers (or gives up after a minute).
    async fn wait_until_healthy(&mut self) {
        for _ in 0..600 {
            if send_to(self.port, Request::get("/healthz")).await.is_ok_and(|answer| answer.status == 200) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                panic!("server {} stopped ({status}) before it served:\n{}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {} did not answer /healthz in a minute:\n{}", self.name, self.log_tail());
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, nothing handed over.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines the server logged, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One answer heard: which server gave it, to what, and whether A had been killed by then.
#[derive(Debug)]
struct Heard {
    server: usize,
    path: String,
    status: u16,
    after_kill: bool,
}

/// Both servers as a load balancer sees them.
struct Cluster {
    ports: [u16; 2],
    /// Set just before server A is killed: from then on every request goes to B.
    killed: AtomicBool,
    /// Set when the users are to stop.
    over: AtomicBool,
    heard: Mutex<Vec<Heard>>,
    /// Requests server A dropped while nobody was killing it.
    unexplained: Mutex<Vec<String>>,
}

/// What `Cluster::send` got: the answer, the server that gave it, and how many tries server A
/// dropped first (each may have done its work all the same, unheard).
struct Sent {
    answer: Answer,
    server: usize,
    dropped_by_a: usize,
}

impl Cluster {
    fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Sends a request as a load balancer does: to A and B by turns while A is up; one that A
    /// drops (it is being killed) goes to B. `request` makes each try afresh.
    async fn send(&self, turn: &mut usize, mut request: impl FnMut() -> Request) -> Sent {
        *turn += 1;
        let mut dropped_by_a = 0;
        if turn.is_multiple_of(2) && !self.killed() {
            let request = request();
            let path = request.path.clone();
            match send_to(self.ports[A], request).await {
                Ok(answer) => {
                    self.hear(A, &path, answer.status);
                    return Sent { answer, server: A, dropped_by_a };
                }
                Err(e) => {
                    // Read after the failure: the flag is set before the kill, so a request the
                    // kill cut off always finds it set.
                    if !self.killed() {
                        self.unexplained.lock().unwrap().push(format!("{path}: {e}"));
                    }
                    dropped_by_a = 1;
                }
            }
        }
        let request = request();
        let path = request.path.clone();
        let answer = send_to(self.ports[B], request).await.unwrap_or_else(|e| panic!("server B did not answer {path}: {e}"));
        self.hear(B, &path, answer.status);
        Sent { answer, server: B, dropped_by_a }
    }

    fn hear(&self, server: usize, path: &str, status: u16) {
        let path = path.split('?').next().unwrap_or_default().to_string();
        let after_kill = self.killed();
        self.heard.lock().unwrap().push(Heard { server, path, status, after_kill });
    }
}

// ---------------------------------------------------------------------------------------------
// The users.

#[derive(Clone, Debug)]
struct Person {
    id: i64,
    email: String,
}

/// Who a job names: the user it runs as, who asked for it, and who impersonated them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Names {
    run_as: i64,
    triggered_by: i64,
    impersonated_by: Option<i64>,
}

/// A job a server answered a build with.
struct Accepted {
    job: i64,
    names: Names,
    server: usize,
}

/// A token exchange a server answered: the subject token's id, the user the issued token acts
/// as, and the impersonation the exchange started.
struct Exchanged {
    jti: String,
    subject: i64,
    impersonation: i64,
}

/// An impersonation started in the UI, found again by its (unique) reason.
struct Cycle {
    reason: String,
    actor: i64,
    subject: i64,
    stopped: bool,
}

/// What a user did and heard.
#[derive(Default)]
struct Record {
    jobs: Vec<Accepted>,
    /// Build requests server A dropped: each may have queued a job nobody heard of.
    builds_dropped_by_a: usize,
    exchanges: Vec<Exchanged>,
    cycles: Vec<Cycle>,
    /// Sessions that went down with server A (the user logged in again).
    sessions_lost: usize,
    /// Answers no working server gives.
    unexpected: Vec<String>,
}

/// One user at work: an admin who builds as themselves; impersonates their member in the UI
/// and builds as them; and, through the demo API client (whose owner is Alice), exchanges a
/// token for that member and uses it.
struct Worker {
    n: usize,
    cluster: Arc<Cluster>,
    admin: Person,
    member: Person,
    alice: i64,
    turn: usize,
    cookie: String,
    /// Whether server A dropped a request of this user since they last logged in: their
    /// session may then have changed without their hearing of it.
    dropped_since_login: bool,
    builds: u32,
    started: Instant,
    record: Record,
}

fn build_form(dataset: &str) -> [(&str, &str); 3] {
    [("project", DEMO_PROJECT), ("webapp", DEMO_WEBAPP), ("dataset", dataset)]
}

/// A subject token as a client signs it: HS256 with its secret, `kid` = its id.
fn subject_token(email: &str, jti: &str) -> String {
    let now = now_ms() / 1000;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(DEMO_CLIENT_ID.into());
    let claims = serde_json::json!({ "sub": email, "jti": jti, "iat": now, "exp": now + 300 });
    let key = jsonwebtoken::EncodingKey::from_secret(DEMO_CLIENT_SECRET.as_bytes());
    jsonwebtoken::encode(&header, &claims, &key).expect("sign a subject token")
}

/// The claims of a token, read without checking it (the server's own checks are not at stake).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

impl Worker {
    fn new(n: usize, cluster: Arc<Cluster>, admin: Person, member: Person, alice: i64) -> Worker {
        // Half the users start on each server.
        let (turn, started) = (n, Instant::now());
        let record = Record::default();
        Worker { n, cluster, admin, member, alice, turn, cookie: String::new(), dropped_since_login: false, builds: 0, started, record }
    }

    async fn run(mut self, ready: Arc<tokio::sync::Barrier>) -> Record {
        self.log_in().await;
        ready.wait().await;
        self.started = Instant::now();
        // Users start at different steps, so that every kind of work meets every other.
        let mut step = self.n;
        while !self.cluster.over.load(Ordering::SeqCst) {
            match step % 3 {
                0 => self.build_as_oneself().await,
                1 => self.exchange_and_use_a_token().await,
                _ => self.impersonate_build_and_stop().await,
            }
            step += 1;
            tokio::time::sleep(THINK).await;
        }
        self.record
    }

    async fn send(&mut self, request: impl FnMut() -> Request) -> Sent {
        let sent = self.cluster.send(&mut self.turn, request).await;
        self.dropped_since_login |= sent.dropped_by_a > 0;
        sent
    }

    async fn log_in(&mut self) {
        let email = self.admin.email.clone();
        for _ in 0..10 {
            let sent = self.send(|| Request::form("/api/login", &[("email", email.as_str()), ("password", DEMO_PASSWORD)], None)).await;
            if let Some(cookie) = sent.answer.session_cookie().filter(|_| sent.answer.succeeded()) {
                self.cookie = cookie;
                self.dropped_since_login = false;
                return;
            }
            // Only other logins checked at the same moment may hold one up (429, for a second).
            assert_eq!(sent.answer.status, 429, "login of {email} on server {}: {}", NAMES[sent.server], sent.answer.body);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("{email} could not log in");
    }

    /// The dataset to build now, when this user's next build is due.
    fn build_due(&mut self) -> Option<&'static str> {
        if self.builds >= BUILDS_PER_USER || self.started.elapsed() < BUILD_EVERY * self.builds {
            return None;
        }
        self.builds += 1;
        Some(if self.builds == 1 && self.n.is_multiple_of(2) { LONG_BUILD } else { SHORT_BUILD })
    }

    /// Notes the job a build was answered with; false when there is none.
    fn accepted(&mut self, sent: &Sent, id_field: &str, names: Names) -> bool {
        self.record.builds_dropped_by_a += sent.dropped_by_a;
        let job = sent.answer.json()[id_field].as_i64().filter(|_| matches!(sent.answer.status, 200 | 202));
        if let Some(job) = job {
            self.record.jobs.push(Accepted { job, names, server: sent.server });
        }
        job.is_some()
    }

    fn unexpected(&mut self, what: &str, sent: &Sent) {
        let body: String = sent.answer.body.chars().take(300).collect();
        let server = NAMES[sent.server];
        self.record.unexpected.push(format!("{} ({what}): server {server} answered {} {body}", self.admin.email, sent.answer.status));
    }

    /// A browser request that did not do what it asked. A session no longer logged in (401) or
    /// no longer impersonating (409) is to be expected only once server A dropped a request of
    /// this user, which may have changed their session unheard; anything else is not. Either
    /// way the user logs in again, so that the next step starts from a known session.
    async fn refused(&mut self, what: &str, sent: &Sent) {
        if matches!(sent.answer.status, 401 | 409) && self.dropped_since_login {
            self.record.sessions_lost += 1;
        } else {
            self.unexpected(what, sent);
        }
        self.log_in().await;
    }

    /// The admin builds in the demo webapp as themselves.
    async fn build_as_oneself(&mut self) {
        let Some(dataset) = self.build_due() else { return };
        let cookie = self.cookie.clone();
        let sent = self.send(|| Request::form("/api/build_in_context", &build_form(dataset), Some(&cookie))).await;
        let names = Names { run_as: self.admin.id, triggered_by: self.admin.id, impersonated_by: None };
        if !self.accepted(&sent, "job_id", names) {
            self.refused("a build as oneself", &sent).await;
        }
    }

    /// Client credentials, then a token exchange for the member on the next server: a token
    /// one server signed works on the other. The token then builds or asks who it is.
    async fn exchange_and_use_a_token(&mut self) {
        let credentials = [("grant_type", CLIENT_CREDENTIALS), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)];
        let sent = self.send(|| Request::form("/v2/auth/token", &credentials, None)).await;
        let actor_token = sent.answer.json()["access_token"].as_str().filter(|_| sent.answer.status == 200).map(str::to_string);
        let Some(actor_token) = actor_token else {
            self.unexpected("client credentials", &sent);
            return;
        };
        // A subject token of its own for every try: one sent again to B is no replay.
        let (n, email) = (self.n, self.member.email.clone());
        let mut jti = String::new();
        let sent = self
            .send(|| {
                jti = format!("scale-out-{n}-{:016x}", rand::random::<u64>());
                let subject = subject_token(&email, &jti);
                let form = [
                    ("grant_type", TOKEN_EXCHANGE),
                    ("subject_token", subject.as_str()),
                    ("subject_token_type", TOKEN_TYPE_JWT),
                    ("actor_token", actor_token.as_str()),
                    ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
                ];
                Request::form("/v2/auth/token", &form, None)
            })
            .await;
        let token = sent.answer.json()["access_token"].as_str().filter(|_| sent.answer.status == 200).map(str::to_string);
        let Some(token) = token else {
            self.unexpected("a token exchange", &sent);
            return;
        };
        let claims = claims_of(&token);
        let names_them = claims["uid"].as_i64() == Some(self.member.id) && claims["act"]["uid"].as_i64() == Some(self.alice);
        let Some(impersonation) = claims["imp"].as_i64().filter(|_| names_them) else {
            let what = format!("an exchange for {} issued {claims}", self.member.email);
            self.unexpected(&what, &sent);
            return;
        };
        self.record.exchanges.push(Exchanged { jti, subject: self.member.id, impersonation });

        if let Some(dataset) = self.build_due() {
            let path = format!("/v2/datasets/{dataset}/build?project={DEMO_PROJECT}");
            let sent = self.send(|| Request::api("POST", path.clone(), &token)).await;
            let names = Names { run_as: self.member.id, triggered_by: self.member.id, impersonated_by: Some(self.alice) };
            if !self.accepted(&sent, "jobId", names) {
                self.unexpected("a build through the API", &sent);
            }
        } else {
            let sent = self.send(|| Request::api("GET", "/v2/whoami".to_string(), &token)).await;
            let me = sent.answer.json();
            let right = me["id"].as_i64() == Some(self.member.id) && me["impersonatedBy"]["id"].as_i64() == Some(self.alice);
            if sent.answer.status != 200 || !right {
                self.unexpected("asking who an exchanged token is", &sent);
            }
        }
    }

    /// The admin impersonates their member, builds as them when a build is due, and stops;
    /// each request on the next server.
    async fn impersonate_build_and_stop(&mut self) {
        let (n, member, cookie) = (self.n, self.member.id.to_string(), self.cookie.clone());
        // A reason of its own for every try, to find the impersonation by.
        let mut reason = String::new();
        let sent = self
            .send(|| {
                reason = format!("scale-out ticket {n}-{:08x}", rand::random::<u32>());
                Request::form("/api/impersonation/start", &[("user_id", member.as_str()), ("reason", reason.as_str())], Some(&cookie))
            })
            .await;
        let Some(acting) = sent.answer.session_cookie().filter(|_| sent.answer.succeeded()) else {
            self.refused("starting an impersonation", &sent).await;
            return;
        };
        self.record.cycles.push(Cycle { reason, actor: self.admin.id, subject: self.member.id, stopped: false });
        if let Some(dataset) = self.build_due() {
            let sent = self.send(|| Request::form("/api/build_in_context", &build_form(dataset), Some(&acting))).await;
            let names = Names { run_as: self.member.id, triggered_by: self.member.id, impersonated_by: Some(self.admin.id) };
            if !self.accepted(&sent, "job_id", names) {
                self.refused("a build while impersonating", &sent).await;
                return;
            }
        }
        let sent = self.send(|| Request::form("/api/impersonation/stop", &[], Some(&acting))).await;
        match sent.answer.session_cookie().filter(|_| sent.answer.succeeded()) {
            Some(back) => {
                self.cookie = back;
                self.record.cycles.last_mut().expect("the impersonation just started").stopped = true;
            }
            None => self.refused("stopping an impersonation", &sent).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the database says afterwards.

#[derive(Debug)]
struct Job {
    id: i64,
    dataset: String,
    status: String,
    names: Names,
    attempts: i64,
    rows_in: Option<i64>,
    rows_out: Option<i64>,
    error: Option<String>,
}

async fn read_jobs(db: &mut PgConnection) -> BTreeMap<i64, Job> {
    type Row = (i64, String, String, i64, i64, Option<i64>, i64, Option<i64>, Option<i64>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT j.id, d.name, j.status, j.run_as_user_id, j.triggered_by_user_id, j.impersonated_by_user_id, j.attempts,
                j.rows_in, j.rows_out, j.error
         FROM jobs j JOIN datasets d ON d.id = j.dataset_id ORDER BY j.id",
    )
    .fetch_all(&mut *db)
    .await
    .expect("read the jobs");
    rows.into_iter()
        .map(|(id, dataset, status, run_as, triggered_by, impersonated_by, attempts, rows_in, rows_out, error)| {
            let names = Names { run_as, triggered_by, impersonated_by };
            (id, Job { id, dataset, status, names, attempts, rows_in, rows_out, error })
        })
        .collect()
}

/// The lines of a job's log that tell how often it ran (their words are the runner's and the
/// job store's).
#[derive(Clone, Copy, Debug, Default)]
struct LogCounts {
    /// "Building … " of a first attempt, and of a second ("… (attempt 2)").
    first_starts: i64,
    second_starts: i64,
    /// "Published N rows as …", once the output is swapped in.
    published: i64,
    /// "Succeeded: …", written with the job's end in one transaction.
    succeeded: i64,
    /// `REQUEUED`, once per lease taken back.
    requeued: i64,
}

async fn log_counts(db: &mut PgConnection) -> HashMap<i64, LogCounts> {
    let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT job_id,
                COUNT(*) FILTER (WHERE message LIKE 'Building %' AND message NOT LIKE '% (attempt %)'),
                COUNT(*) FILTER (WHERE message LIKE 'Building % (attempt 2)'),
                COUNT(*) FILTER (WHERE message LIKE 'Published %'),
                COUNT(*) FILTER (WHERE message LIKE 'Succeeded: %'),
                COUNT(*) FILTER (WHERE message = $1)
         FROM job_log_lines GROUP BY job_id",
    )
    .bind(REQUEUED)
    .fetch_all(&mut *db)
    .await
    .expect("read the job logs");
    rows.into_iter()
        .map(|(id, first_starts, second_starts, published, succeeded, requeued)| {
            (id, LogCounts { first_starts, second_starts, published, succeeded, requeued })
        })
        .collect()
}

/// Whether a job ended once: succeeded in the expected number of attempts, started once per
/// attempt, taken back once per extra attempt, finished once.
fn ran_once(job: &Job, log: &LogCounts, attempts: i64) -> bool {
    // Output is published only as a job ends: once, whatever the attempts.
    let runs = if attempts == 1 {
        log.first_starts == 1 && log.second_starts == 0
    } else {
        // The killed server may have died before logging its start.
        log.first_starts <= 1 && log.second_starts == 1
    };
    let runs = runs && log.published == 1;
    job.status == "succeeded" && job.attempts == attempts && log.succeeded == 1 && log.requeued == attempts - 1 && runs
}

fn rows_read_by(dataset: &str) -> i64 {
    match dataset {
        LONG_BUILD => WEB_HISTORY_ROWS as i64,
        _ => (CUSTOMER_DATASET_ROWS + ORDER_ROWS) as i64,
    }
}

/// Waits (at most `limit`) until some job runs under a lease of `owner` (a `LIKE` pattern);
/// how many do.
async fn running_jobs(db: &mut PgConnection, owner: &str, limit: Duration) -> i64 {
    let deadline = Instant::now() + limit;
    loop {
        let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE status = 'running' AND lease_owner LIKE $1")
            .bind(owner)
            .fetch_one(&mut *db)
            .await
            .expect("count running jobs");
        if running > 0 || Instant::now() > deadline {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until_every_job_ended(db: &mut PgConnection, survivor: &Served) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        let open: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, status, lease_owner FROM jobs WHERE status IN ('queued', 'running') ORDER BY id")
                .fetch_all(&mut *db)
                .await
                .expect("read the open jobs");
        if open.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "jobs not ended after {DRAIN_LIMIT:?}: {open:?}\nserver B:\n{}", survivor.log_tail());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every job ended exactly once, as the users who asked for it; returns them.
async fn check_jobs(db: &mut PgConnection, records: &[Record], cut_off: &BTreeSet<i64>, may_ask: &HashSet<Names>) -> BTreeMap<i64, Job> {
    let jobs = read_jobs(db).await;
    let logs = log_counts(db).await;
    let mut wrong = Vec::new();
    for job in jobs.values() {
        let log = logs.get(&job.id).copied().unwrap_or_default();
        // Only what ran on the killed server starts again: a second attempt anywhere else is a
        // job run twice.
        let attempts = if cut_off.contains(&job.id) { 2 } else { 1 };
        if !ran_once(job, &log, attempts) {
            wrong.push(format!("{job:?} (expected {attempts} attempt(s)): error {:?}, log {log:?}", job.error));
        }
        if job.rows_in != Some(rows_read_by(&job.dataset)) {
            wrong.push(format!("{job:?} read other rows than its inputs hold"));
        }
        if !may_ask.contains(&job.names) {
            wrong.push(format!("{job:?} names people who never asked together"));
        }
    }
    assert!(wrong.is_empty(), "jobs that did not end exactly once as their own users:\n{}", wrong.join("\n"));
    for dataset in [LONG_BUILD, SHORT_BUILD] {
        let written: BTreeSet<Option<i64>> = jobs.values().filter(|j| j.dataset == dataset).map(|j| j.rows_out).collect();
        assert!(written.len() <= 1, "builds of {dataset} wrote different row counts: {written:?}");
    }

    // Each job a server answered with is there, naming exactly the user who asked.
    let accepted: Vec<&Accepted> = records.iter().flat_map(|r| &r.jobs).collect();
    for a in &accepted {
        let job = jobs.get(&a.job).unwrap_or_else(|| panic!("job {} that server {} accepted is gone", a.job, NAMES[a.server]));
        assert_eq!(job.names, a.names, "job {} names other people than the user who asked for it", a.job);
    }
    let heard: HashSet<i64> = accepted.iter().map(|a| a.job).collect();
    assert_eq!(heard.len(), accepted.len(), "two builds were answered with the same job");
    // Jobs nobody heard of can only be those whose answer server A took down with it.
    let unheard: Vec<i64> = jobs.keys().copied().filter(|id| !heard.contains(id)).collect();
    let dropped: usize = records.iter().map(|r| r.builds_dropped_by_a).sum();
    assert!(unheard.len() <= dropped, "jobs {unheard:?} nobody heard of, yet only {dropped} build request(s) went unanswered");
    for server in [A, B] {
        assert!(accepted.iter().any(|a| a.server == server), "server {} accepted no build", NAMES[server]);
    }
    jobs
}

/// Each derived dataset holds whole builds only: its published generation, complete, and no
/// rows half-written by a build cut off with server A.
async fn check_datasets(db: &mut PgConnection, jobs: &BTreeMap<i64, Job>) {
    let published: Vec<(String, i64, i64)> = sqlx::query_as("SELECT name, generation, row_count FROM datasets WHERE recipe IS NOT NULL")
        .fetch_all(&mut *db)
        .await
        .expect("read the datasets");
    let current: HashMap<String, i64> = published.iter().map(|(name, generation, _)| (name.clone(), *generation)).collect();
    for (name, generation, row_count) in published {
        if !jobs.values().any(|j| j.dataset == name) {
            continue;
        }
        // A generation is numbered by the job that wrote it.
        let job = jobs.get(&generation).filter(|j| j.dataset == name);
        let job = job.unwrap_or_else(|| panic!("{name} shows generation {generation}, which no build of it wrote"));
        assert_eq!(Some(row_count), job.rows_out, "{name} counts other rows than job {generation} wrote");
    }
    let stored: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT d.name, r.generation, COUNT(*) FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id
         WHERE d.recipe IS NOT NULL GROUP BY d.name, r.generation",
    )
    .fetch_all(&mut *db)
    .await
    .expect("read the dataset rows");
    for (name, generation, rows) in stored {
        // Every build has ended: each published generation replaced and dropped the one before.
        assert_eq!(current.get(&name), Some(&generation), "{name} still holds rows of generation {generation}, which is not its current one");
        let written = jobs.get(&generation).filter(|j| j.dataset == name).and_then(|j| j.rows_out);
        assert_eq!(written, Some(rows), "{name} holds {rows} rows of generation {generation}: not one whole build");
    }
}

#[derive(Debug)]
struct AuditRow {
    action: String,
    outcome: String,
    actor: i64,
    subject: Option<i64>,
    impersonation: Option<i64>,
    target: String,
}

struct Impersonation {
    actor: i64,
    subject: i64,
    reason: String,
    ended: bool,
    client: Option<String>,
}

/// The job an audit row's target names ("TSHIRTS/orders_by_country (job #12)").
fn job_of_target(target: &str) -> Option<i64> {
    target.rsplit_once("(job #")?.1.strip_suffix(')')?.parse().ok()
}

/// Every audit row of the load names its own people: the actor who did it, the user it was done
/// as, the impersonation joining exactly those two; and each start, stop, exchange and build
/// done while impersonating was audited once.
async fn check_audit(
    db: &mut PgConnection,
    since: i64,
    records: &[Record],
    jobs: &BTreeMap<i64, Job>,
    pairs: &HashSet<(i64, i64)>,
    alice: i64,
) {
    type Row = (String, String, i64, Option<i64>, Option<i64>, String);
    type ImpersonationRow = (i64, i64, i64, String, Option<i64>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT action, outcome, actor_user_id, subject_user_id, impersonation_id, target FROM audit_log WHERE id > $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(&mut *db)
    .await
    .expect("read the audit log");
    let rows: Vec<AuditRow> = rows
        .into_iter()
        .map(|(action, outcome, actor, subject, impersonation, target)| AuditRow { action, outcome, actor, subject, impersonation, target })
        .collect();
    let impersonations: Vec<ImpersonationRow> =
        sqlx::query_as("SELECT id, actor_user_id, subject_user_id, reason, ended_at, via_client_id FROM impersonations")
            .fetch_all(&mut *db)
            .await
            .expect("read the impersonations");
    let impersonations: HashMap<i64, Impersonation> = impersonations
        .into_iter()
        .map(|(id, actor, subject, reason, ended_at, client)| {
            (id, Impersonation { actor, subject, reason, ended: ended_at.is_some(), client })
        })
        .collect();
    let actors: HashSet<i64> = pairs.iter().map(|&(actor, _)| actor).collect();

    let mut wrong = Vec::new();
    for row in &rows {
        let people = match row.subject {
            Some(subject) => pairs.contains(&(row.actor, subject)),
            None => actors.contains(&row.actor),
        };
        let impersonation = row.impersonation.is_none_or(|id| {
            impersonations.get(&id).is_some_and(|i| i.actor == row.actor && Some(i.subject) == row.subject)
        });
        let job = row.action != "dataset.build"
            || job_of_target(&row.target)
                .and_then(|id| jobs.get(&id))
                .is_some_and(|j| j.names.impersonated_by == Some(row.actor) && Some(j.names.run_as) == row.subject);
        if row.outcome != "allowed" || !people || !impersonation || !job {
            wrong.push(format!("{row:?}"));
        }
    }
    assert!(wrong.is_empty(), "audit rows that do not name their own people:\n{}", wrong.join("\n"));

    let audited = |action: &str, impersonation: i64| {
        rows.iter().filter(|r| r.action == action && r.impersonation == Some(impersonation)).count()
    };
    for cycle in records.iter().flat_map(|r| &r.cycles) {
        let found: Vec<(&i64, &Impersonation)> = impersonations.iter().filter(|(_, i)| i.reason == cycle.reason).collect();
        assert_eq!(found.len(), 1, "impersonations with reason {:?}", cycle.reason);
        let (&id, impersonation) = found[0];
        assert_eq!((impersonation.actor, impersonation.subject), (cycle.actor, cycle.subject), "the people of impersonation {id}");
        assert_eq!(audited("impersonation.start", id), 1, "audit rows of the start of impersonation {id}");
        if cycle.stopped {
            assert!(impersonation.ended, "impersonation {id} was stopped and is not over");
            assert_eq!(audited("impersonation.stop", id), 1, "audit rows of the stop of impersonation {id}");
        }
    }
    for exchange in records.iter().flat_map(|r| &r.exchanges) {
        // The row's target: "subject EMAIL · jti JTI".
        let suffix = format!(" jti {}", exchange.jti);
        let found: Vec<&AuditRow> = rows.iter().filter(|r| r.action == "api.token_exchange" && r.target.ends_with(&suffix)).collect();
        assert_eq!(found.len(), 1, "audit rows of the exchange of {}: {found:?}", exchange.jti);
        let impersonation = &impersonations[&exchange.impersonation];
        assert_eq!((found[0].subject, found[0].impersonation), (Some(exchange.subject), Some(exchange.impersonation)), "{found:?}");
        // Alice owns the client: she acts, as the client, in every exchange.
        assert_eq!((found[0].actor, impersonation.actor), (alice, alice), "{found:?}");
        assert_eq!((impersonation.subject, impersonation.client.as_deref()), (exchange.subject, Some(DEMO_CLIENT_ID)));
    }
    for accepted in records.iter().flat_map(|r| &r.jobs).filter(|a| a.names.impersonated_by.is_some()) {
        let found = rows.iter().filter(|r| r.action == "dataset.build" && job_of_target(&r.target) == Some(accepted.job)).count();
        assert_eq!(found, 1, "audit rows of job {}, built while impersonating", accepted.job);
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_loses_no_job_and_the_survivor_answers_no_5xx() {
    let Some(url) = common::fresh_postgres("scale_out").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("shared.key");
    let run = |args: &[&str]| command(dir.path(), &url, &key, args);
    assert!(run(&["seed-demo"]).contains("seeded the demo organisation"));
    // Each user works as people of their own, so that a row naming someone else's shows.
    for n in 0..USERS {
        let (admin, admin_name) = (admin_email(n), format!("Scale Admin {n}"));
        let (member, member_name) = (member_email(n), format!("Scale Member {n}"));
        let create_admin = ["user", "create", "--admin", "--email", admin.as_str(), "--name", admin_name.as_str(), "--password", DEMO_PASSWORD];
        command(dir.path(), &url, &key, &create_admin);
        let create_member = ["user", "create", "--email", member.as_str(), "--name", member_name.as_str(), "--password", DEMO_PASSWORD];
        command(dir.path(), &url, &key, &create_member);
    }
    let mut db = PgConnection::connect(&url).await.expect("connect to the test database");
    // The command line grants no project rights. Members may build (as the demo's U1 may), so
    // that builds done while impersonating them run.
    let granted = sqlx::query(
        "INSERT INTO project_permissions (project_id, user_id, can_read, can_build)
         SELECT p.id, u.id, 1, 1 FROM projects p CROSS JOIN users u WHERE p.key = $1 AND u.email::text LIKE 'scale-member-%'",
    )
    .bind(DEMO_PROJECT)
    .execute(&mut db)
    .await
    .expect("grant the members the right to build");
    assert_eq!(granted.rows_affected(), USERS as u64);
    let ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>("SELECT email::text, id FROM users")
        .fetch_all(&mut db)
        .await
        .expect("read the users")
        .into_iter()
        .collect();
    let person = |email: String| Person { id: ids[&email], email };
    // Alice owns the demo API client: the actor of every token exchange.
    let alice = ids["alice@tshirts.example"];
    let mut may_ask = HashSet::new();
    let mut pairs = HashSet::new();
    for n in 0..USERS {
        let (admin, member) = (ids[&admin_email(n)], ids[&member_email(n)]);
        may_ask.insert(Names { run_as: admin, triggered_by: admin, impersonated_by: None });
        may_ask.insert(Names { run_as: member, triggered_by: member, impersonated_by: Some(admin) });
        may_ask.insert(Names { run_as: member, triggered_by: member, impersonated_by: Some(alice) });
        pairs.extend([(admin, member), (alice, member)]);
    }

    let mut a = Served::start("A", dir.path(), &url, &key);
    let mut b = Served::start("B", dir.path(), &url, &key);
    a.wait_until_healthy().await;
    b.wait_until_healthy().await;
    // The audit rows from here on are the load's.
    let audit_before: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetch_one(&mut db).await.expect("read the audit log");

    let cluster = Arc::new(Cluster {
        ports: [a.port, b.port],
        killed: AtomicBool::new(false),
        over: AtomicBool::new(false),
        heard: Mutex::default(),
        unexplained: Mutex::default(),
    });
    let ready = Arc::new(tokio::sync::Barrier::new(USERS + 1));
    let users: Vec<_> = (0..USERS)
        .map(|n| {
            let worker = Worker::new(n, cluster.clone(), person(admin_email(n)), person(member_email(n)), alice);
            tokio::spawn(worker.run(ready.clone()))
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(120), ready.wait()).await.expect("every user logged in");

    tokio::time::sleep(LOAD / 3).await;
    // Killed while it runs builds, so that some are cut off half-way. Its leases name it.
    let leased_to_a = format!("server-{}-%", a.pid());
    let running_on_a = running_jobs(&mut db, &leased_to_a, Duration::from_secs(20)).await;
    cluster.killed.store(true, Ordering::SeqCst);
    a.kill();
    let killed_at = Instant::now();
    eprintln!("killed server A with SIGKILL while it ran {running_on_a} job(s)");
    // A moment later, whatever A had sent the database is committed or rolled back for good.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cut_off: BTreeSet<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM jobs WHERE status = 'running' AND lease_owner LIKE $1")
        .bind(leased_to_a.as_str())
        .fetch_all(&mut db)
        .await
        .expect("read the jobs left running on A")
        .into_iter()
        .collect();
    assert!(!cut_off.is_empty(), "server A ran no job when it was killed: no build was cut off half-way");
    tokio::time::sleep((LOAD * 2 / 3).saturating_sub(killed_at.elapsed())).await;
    cluster.over.store(true, Ordering::SeqCst);
    let mut records = Vec::new();
    for user in users {
        records.push(user.await.expect("a user's task"));
    }

    wait_until_every_job_ended(&mut db, &b).await;

    let heard = std::mem::take(&mut *cluster.heard.lock().unwrap());
    let mut answers: BTreeMap<(&str, &str, u16), usize> = BTreeMap::new();
    for h in &heard {
        *answers.entry((NAMES[h.server], h.path.as_str(), h.status)).or_default() += 1;
    }
    let jobs_heard: usize = records.iter().map(|r| r.jobs.len()).sum();
    let exchanges: usize = records.iter().map(|r| r.exchanges.len()).sum();
    let cycles: usize = records.iter().map(|r| r.cycles.len()).sum();
    let sessions_lost: usize = records.iter().map(|r| r.sessions_lost).sum();
    eprintln!(
        "{jobs_heard} builds accepted, {} cut off on A and run again on B ({cut_off:?}); {exchanges} token exchanges; \
         {cycles} impersonations started in the UI; {sessions_lost} session(s) lost with A",
        cut_off.len()
    );
    for ((server, path, status), count) in &answers {
        eprintln!("  server {server}: {path} {status} x{count}");
    }

    let failed_on_b: Vec<&Heard> = heard.iter().filter(|h| h.server == B && h.status >= 500).collect();
    assert!(failed_on_b.is_empty(), "server B answered 5xx: {failed_on_b:?}\nserver B:\n{}", b.log_tail());
    assert!(heard.iter().any(|h| h.server == B && h.after_kill), "server B answered nothing after A was killed");
    let unexplained = std::mem::take(&mut *cluster.unexplained.lock().unwrap());
    assert!(unexplained.is_empty(), "server A dropped requests before it was killed: {unexplained:?}\nserver A:\n{}", a.log_tail());
    let unexpected: Vec<&String> = records.iter().flat_map(|r| &r.unexpected).collect();
    assert!(unexpected.is_empty(), "answers no working server gives:\n{unexpected:#?}");
    assert!(exchanges > 0 && records.iter().flat_map(|r| &r.cycles).any(|c| c.stopped), "tokens were exchanged and impersonations stopped");

    let jobs = check_jobs(&mut db, &records, &cut_off, &may_ask).await;
    check_datasets(&mut db, &jobs).await;
    check_audit(&mut db, audit_before, &records, &jobs, &pairs, alice).await;
    let verified = run(&["audit", "verify"]);
    assert!(verified.contains("audit chains intact"), "{verified}");
}
