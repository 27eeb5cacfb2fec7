//! Which database `DATABASE_URL` names, through the `server` binary: SQLite and PostgreSQL
//! URLs are told apart, anything else is refused before a file is created, and a PostgreSQL
//! that cannot be reached is one clear line (engine, host, port, database) and a failed exit.
//! The PostgreSQL cluster is the one `make test` starts (GUISE_TEST_POSTGRES_URL).

mod common;

use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::process::Output;

fn server(dir: &Path, url: &str, args: &[&str]) -> Output {
    common::server_process(dir, url).args(args).output().expect("run the server binary")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_url_of_no_known_engine_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["mysql://guise@127.0.0.1/guise", "data/guise.db"] {
        for command in ["migrate", "serve"] {
            let output = server(dir.path(), url, &[command]);
            assert!(!output.status.success(), "{command} with {url}");
            let said = stderr(&output);
            assert!(said.contains("DATABASE_URL names no database Guise runs on"), "{said}");
            assert!(!said.contains("panicked"), "{said}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a file was created for a URL of no engine");
}

#[test]
fn an_unreachable_postgres_is_one_clear_line_and_a_failed_exit() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there.
    let output = server(dir.path(), "postgres://guise:secret-password@127.0.0.1:1/guise", &["migrate"]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains("cannot connect to PostgreSQL, database guise on 127.0.0.1:1 as guise"), "{said}");
    assert!(!said.contains("secret-password"), "the password was printed: {said}");
    assert!(!said.contains("panicked"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
}

/// Asks `/healthz` on `port` until the server answers (or gives up after 30 s).
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    for _ in 0..300 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

#[tokio::test]
async fn every_command_runs_on_postgres_and_serve_needs_the_shared_key() {
    let Some(url) = common::fresh_postgres("cli").await else { return };
    let dir = tempfile::tempdir().unwrap();

    for _ in 0..2 {
        let output = server(dir.path(), &url, &["migrate"]);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "database is up to date");
    }
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('users', 'jobs', 'audit_log', 'impersonations')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 4);

    // Without a key file every server would seal and sign with a key of its own.
    let output = server(dir.path(), &url, &["serve"]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains("DATABASE_URL names PostgreSQL: set GUISE_KEY_FILE"), "{said}");
    assert!(!said.contains("panicked"), "{said}");

    let key = dir.path().join("shared.key");
    let key_arg = key.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--key-file", key_arg];
        all.extend_from_slice(args);
        let output = server(dir.path(), &url, &all);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(run(&["seed-demo"]).contains("seeded the demo organisation"));
    assert!(run(&["seed-demo"]).contains("already has data"));
    let created = run(&["user", "create", "--email", "pat@tshirts.example", "--name", "Pat", "--password", "long-enough"]);
    assert!(created.contains("Pat <pat@tshirts.example>"), "{created}");
    let client = run(&["client", "create", "--name", "reports", "--owner", "pat@tshirts.example"]);
    assert!(client.contains("client_secret:"), "{client}");
    assert!(run(&["impersonation", "off"]).contains("impersonation is now off"));
    assert!(run(&["impersonation", "on"]).contains("impersonation is now on"));
    let verified = run(&["audit", "verify"]);
    assert!(verified.contains("audit chains intact"), "{verified}");

    // And it serves, from the same database with the same key.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut serving = common::server_process(dir.path(), &url)
        .args(["--key-file", key_arg, "serve"])
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let answered = healthy(port);
    let _ = serving.kill();
    let _ = serving.wait();
    assert!(answered, "the server on PostgreSQL answered /healthz");
}
