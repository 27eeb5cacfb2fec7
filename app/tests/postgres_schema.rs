//! The PostgreSQL schema (`migrations/postgres`) says what the SQLite migrations say: the same
//! tables, columns, nullability, kinds of value and named indexes, so the same SQL serves both
//! engines. It also keeps the rules SQLite's triggers keep: audit rows are never changed, and
//! a change to what a principal is resolved from moves the access version.
//!
//! Runs on the cluster `make test` starts (scripts/with-postgres.sh), named by
//! GUISE_TEST_POSTGRES_URL.
#![cfg(feature = "ssr")]

use sqlx::{Connection, PgConnection, SqliteConnection};
use std::collections::BTreeMap;

/// A column: whether it may hold NULL, and its kind of value.
type Columns = BTreeMap<String, (bool, &'static str)>;
type Schema = BTreeMap<String, Columns>;

mod support;

/// A fresh database on the test cluster, with the PostgreSQL migrations applied.
async fn migrated_postgres() -> Option<PgConnection> {
    let url = support::fresh_postgres("schema").await?;
    Some(PgConnection::connect(&url).await.unwrap())
}

fn kind_of_sqlite(declared: &str) -> &'static str {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "integer",
        "TEXT" => "text",
        "REAL" => "real",
        other => panic!("a SQLite column declared {other}"),
    }
}

fn kind_of_postgres(declared: &str) -> &'static str {
    match declared {
        "bigint" => "integer",
        "text" | "citext" => "text",
        "double precision" => "real",
        other => panic!("a PostgreSQL column of type {other}: the SQLite schema has no such kind"),
    }
}

async fn sqlite_schema() -> (Schema, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate!("../migrations").run(&mut conn).await.unwrap();
    let columns: Vec<(String, String, String, bool, bool)> = sqlx::query_as(
        "SELECT t.name, c.name, c.type, c.\"notnull\", c.pk > 0 FROM sqlite_master t, pragma_table_info(t.name) c
         WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND t.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column, declared, not_null, in_key) in columns {
        // A key column holds no NULL on either engine, whatever SQLite's flag says.
        let nullable = !(not_null || in_key);
        schema.entry(table).or_default().insert(column, (nullable, kind_of_sqlite(&declared)));
    }
    let indexes = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    (schema, indexes)
}

async fn postgres_schema(conn: &mut PgConnection) -> (Schema, Vec<String>) {
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text,
                CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name::text ELSE c.data_type::text END,
                c.is_nullable = 'YES'
         FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut schema = Schema::new();
    for (table, column, declared, nullable) in columns {
        schema.entry(table).or_default().insert(column, (nullable, kind_of_postgres(&declared)));
    }
    // Indexes created by name; those behind PRIMARY KEY and UNIQUE constraints are SQLite's
    // automatic indexes, which have no name in its schema.
    let indexes = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'
           AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (schema, indexes)
}

#[tokio::test]
async fn both_engines_have_the_same_tables_columns_and_indexes() {
    let Some(mut postgres) = migrated_postgres().await else { return };
    let (sqlite_tables, sqlite_indexes) = sqlite_schema().await;
    let (postgres_tables, postgres_indexes) = postgres_schema(&mut postgres).await;
    assert_eq!(
        sqlite_tables.keys().collect::<Vec<_>>(),
        postgres_tables.keys().collect::<Vec<_>>(),
        "the engines have different tables"
    );
    for (table, columns) in &sqlite_tables {
        assert_eq!(columns, &postgres_tables[table], "table {table} differs (column: nullable, kind)");
    }
    assert_eq!(sqlite_indexes, postgres_indexes, "the engines have different named indexes");
}

#[tokio::test]
async fn audit_rows_are_never_changed_on_postgres() {
    let Some(mut conn) = migrated_postgres().await else { return };
    sqlx::query(
        "INSERT INTO audit_log (at, tenant_id, actor_user_id, action, target, outcome, reason, via, prev_hash, hash, seq)
         VALUES (1, 1, 1, 'test', 't', 'allowed', '', 'test', '', 'h', 1)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    for (change, word) in [
        ("UPDATE audit_log SET reason = 'changed'", "updated"),
        ("DELETE FROM audit_log", "deleted"),
        ("TRUNCATE audit_log", "deleted"),
    ] {
        let error = sqlx::query(change).execute(&mut conn).await.expect_err(change);
        assert!(error.to_string().contains(&format!("audit rows are never {word}")), "{change}: {error}");
    }
    // Its place in the tenant's chain is taken for good.
    let again = sqlx::query(
        "INSERT INTO audit_log (at, tenant_id, actor_user_id, action, target, outcome, reason, via, prev_hash, hash, seq)
         VALUES (2, 1, 1, 'test', 't', 'allowed', '', 'test', 'h', 'h2', 1)",
    )
    .execute(&mut conn)
    .await;
    assert!(again.is_err(), "a second row took seq 1 of tenant 1");
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM audit_log").fetch_all(&mut conn).await.unwrap();
    assert_eq!(reasons, vec![String::new()]);
}

async fn version(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT value FROM access_version WHERE id = 1").fetch_one(conn).await.unwrap()
}

#[tokio::test]
async fn changes_to_people_move_the_access_version_on_postgres() {
    let Some(mut conn) = migrated_postgres().await else { return };
    let start = version(&mut conn).await;
    sqlx::query("INSERT INTO tenants (name) VALUES ('T')").execute(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO users (tenant_id, email, display_name, created_at) VALUES (1, 'A@T.example', 'A', 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    let after_inserts = version(&mut conn).await;
    assert!(after_inserts >= start + 2, "{start} -> {after_inserts}");
    sqlx::query("UPDATE users SET disabled = 1 WHERE email = 'a@t.example'").execute(&mut conn).await.unwrap();
    assert!(version(&mut conn).await > after_inserts, "disabling a user left the version");
    // Emails compare without case, as on SQLite: the same address cannot be taken twice.
    let twin = sqlx::query("INSERT INTO users (tenant_id, email, display_name, created_at) VALUES (1, 'a@t.EXAMPLE', 'B', 0)")
        .execute(&mut conn)
        .await;
    assert!(twin.is_err(), "the same email in other letters was accepted");
    let disabled: i64 = sqlx::query_scalar("SELECT disabled FROM users WHERE email = 'a@T.example'").fetch_one(&mut conn).await.unwrap();
    assert_eq!(disabled, 1);
}
