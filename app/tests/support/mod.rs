//! What the tests of the PostgreSQL engine share: a fresh database on the cluster `make test`
//! starts (scripts/with-postgres.sh), named by GUISE_TEST_POSTGRES_URL.

use sqlx::{Connection, PgConnection};

/// The URL of a fresh database on the test cluster, with the PostgreSQL migrations applied.
/// `None` (and the test says why) outside `make test`, unless CI asks for every test to run.
pub async fn fresh_postgres(prefix: &str) -> Option<String> {
    let Ok(url) = std::env::var("GUISE_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("CI").is_none(), "GUISE_TEST_POSTGRES_URL is unset: run the tests with `make test`");
        eprintln!("skipped: GUISE_TEST_POSTGRES_URL is unset (make test starts a PostgreSQL cluster)");
        return None;
    };
    let mut admin = PgConnection::connect(&url).await.expect("the test cluster answers");
    let name = format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let fresh = format!("{base}/{name}");
    let mut conn = PgConnection::connect(&fresh).await.unwrap();
    sqlx::migrate!("../migrations/postgres").run(&mut conn).await.expect("the PostgreSQL migrations apply");
    Some(fresh)
}
