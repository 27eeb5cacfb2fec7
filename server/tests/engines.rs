//! Which database `DATABASE_URL` names, through the `server` binary: SQLite and PostgreSQL
//! URLs are told apart, anything else is refused before a file is created, and a PostgreSQL
//! that cannot be reached is one clear line (engine, host, port, database) and a failed exit.
//! The PostgreSQL cluster is the one `make test` starts (GUISE_TEST_POSTGRES_URL).

use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::process::{Command, Output};

fn server(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env_remove("GUISE_DEMO")
        .output()
        .expect("run the server binary")
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

#[tokio::test]
async fn migrate_prepares_a_postgres_database_and_serve_refuses_it_plainly() {
    let Ok(cluster) = std::env::var("GUISE_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("CI").is_none(), "GUISE_TEST_POSTGRES_URL is unset: run the tests with `make test`");
        eprintln!("skipped: GUISE_TEST_POSTGRES_URL is unset (make test starts a PostgreSQL cluster)");
        return;
    };
    let mut admin = PgConnection::connect(&cluster).await.unwrap();
    let name = format!("cli_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let (base, _) = cluster.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
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

    let output = server(dir.path(), &url, &["serve"]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(said.contains(&format!("DATABASE_URL names PostgreSQL (database {name} on 127.0.0.1:")), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}
