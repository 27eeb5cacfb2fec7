//! A PostgreSQL restart while serving: every request meanwhile is refused cleanly (503 with
//! `Retry-After`, the API's `temporarily_unavailable`), none fails with a 500, and the server
//! answers again by itself once the database is back. The test runs a cluster of its own
//! (initdb into a temporary folder, `pg_ctl` on a free loopback port), since it stops it.

mod common;

use app::backend::seed::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use app::backend::store;
use axum::http::StatusCode;
use common::{form_request, Reply, TestApp};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A throwaway PostgreSQL cluster, stopped and removed when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// Creates and starts one; `None` (and the test says why) where PostgreSQL is not
    /// installed, outside `make test`.
    fn start() -> Option<Cluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(Result::ok).map(|v| v.path().join("bin")).filter(|b| b.join("initdb").exists()).max());
        let Some(bin) = bin else {
            assert!(std::env::var_os("CI").is_none(), "PostgreSQL is not installed: run the tests with `make test`");
            eprintln!("skipped: PostgreSQL is not installed (make test installs it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to the package's account.
            assert!(Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Cluster { bin, dir, port };
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-U", "guise", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
        cluster.start_again();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://guise@127.0.0.1:{}/postgres", self.port)
    }

    fn start_again(&self) {
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!("-c listen_addresses=127.0.0.1 -p {} -k {}", self.port, self.dir.path().display());
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-o", &options, "start"]);
    }

    /// A fast shutdown: sessions are told the server is going away, then cut.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program, args).output().expect("run a PostgreSQL program");
        assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// One of PostgreSQL's programs, run as the cluster's owner.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = if is_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            runuser
        } else {
            Command::new(self.bin.join(program))
        };
        command.args(args);
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

async fn client_credentials(app: &TestApp) -> Reply {
    let form = [("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)];
    app.request(form_request("/v2/auth/token", &form, None)).await
}

async fn me(app: &TestApp, cookie: &str) -> Reply {
    app.post("/api/me", &[], Some(cookie)).await
}

async fn start_impersonating(app: &TestApp, cookie: &str, user_id: i64) -> Reply {
    let form = [("user_id", user_id.to_string()), ("reason", "TICKET-7".to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post("/api/impersonation/start", &form, Some(cookie)).await
}

/// Sends a request until it is served, each refusal meanwhile a refusal for now.
async fn served_again<F, Answer>(send: F) -> Reply
where
    F: Fn() -> Answer,
    Answer: std::future::Future<Output = Reply>,
{
    for _ in 0..100 {
        let reply = send().await;
        if reply.status == StatusCode::OK {
            return reply;
        }
        assert_refused_for_now(&reply, "a request once the database is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not served again within 10 s of the database's return");
}

/// A refusal for now: 503, come back in a second.
fn assert_refused_for_now(reply: &Reply, what: &str) {
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{what} while the database is down: {}", reply.body);
    assert_eq!(reply.retry_after.as_deref(), Some("1"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_during_a_database_restart_are_refused_for_now_and_served_again_after() {
    let Some(cluster) = Cluster::start() else { return };
    let app = TestApp::serving_postgres(cluster.url()).await;
    let alice = app.login("alice@tshirts.example").await;
    let carol = app.user_id("carol@tshirts.example").await;
    assert_eq!(me(&app, &alice).await.status, StatusCode::OK);
    assert_eq!(client_credentials(&app).await.status, StatusCode::OK);

    cluster.stop();
    // Reads (the session, the page's data), writes (a token's audit row, an impersonation),
    // again and again: each one is a 503, never a 500, and none waits for the database.
    for _ in 0..3 {
        assert_refused_for_now(&me(&app, &alice).await, "a page's data");
        let token = client_credentials(&app).await;
        assert_refused_for_now(&token, "a token");
        assert_eq!(token.json()["error"], "temporarily_unavailable", "{}", token.body);
        assert_refused_for_now(&start_impersonating(&app, &alice, carol).await, "an impersonation");
    }

    cluster.start_again();
    // Back by itself: the readers and the writer open new connections as they need them (a
    // connection found dead on the way is one more 503, never a 500).
    served_again(|| me(&app, &alice)).await;
    served_again(|| client_credentials(&app)).await;
    let started = served_again(|| start_impersonating(&app, &alice, carol)).await;
    let as_carol = common::session_cookie(&started).expect("a new session id");
    assert_eq!(me(&app, &as_carol).await.json()["user"]["email"], "carol@tshirts.example");
    // Nothing refused meanwhile left a mark: the one impersonation is the one just started,
    // and the audit chain is whole.
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM impersonations").await, 1);
    let checked = store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap();
    checked.expect("the audit chains verify");
}
