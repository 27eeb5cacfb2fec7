//! The writer and its units of work on PostgreSQL: the same units as on SQLite (the whole demo
//! seed), each caller its own outcome in a group commit, one audit chain per tenant while two
//! writers (two servers) append to it, and a writer that reconnects when its connection is cut.
#![cfg(feature = "ssr")]

mod support;

use app::backend::audit::{verify_chain, AuditEntry, AuditRecord, Chain, ChainKey, Outcome, GENESIS};
use app::backend::secrets::ServerKey;
use app::backend::store::{self, postgres, Writer};
use sqlx::{Connection, PgConnection};

fn key() -> ChainKey {
    ChainKey::new([5; 32])
}

async fn writer(url: &str) -> Writer {
    postgres::start_writer(url, key()).await.expect("the writer connects")
}

fn entry(tenant_id: i64, actor_user_id: i64, note: &str) -> AuditEntry {
    AuditEntry {
        tenant_id,
        actor_user_id,
        subject_user_id: None,
        impersonation_id: None,
        action: "test.write".into(),
        target: note.into(),
        outcome: Outcome::Allowed,
        reason: String::new(),
        via: "test".into(),
    }
}

type RecordRow = (i64, Option<i64>, i64, i64, i64, Option<i64>, Option<i64>, String, String, String, String, String, String, String);

/// A tenant's chain as stored, in order.
async fn chain(conn: &mut PgConnection, tenant_id: i64) -> Vec<AuditRecord> {
    let rows: Vec<RecordRow> = sqlx::query_as(
        "SELECT id, seq, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action, target, outcome,
                reason, via, prev_hash, hash
         FROM audit_log WHERE tenant_id = $1 ORDER BY seq",
    )
    .bind(tenant_id)
    .fetch_all(conn)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, seq, at, tenant_id, actor_user_id, subject_user_id, impersonation_id, action, target, outcome, reason, via, prev_hash, hash)| AuditRecord {
            id,
            seq,
            at,
            entry: AuditEntry {
                tenant_id,
                actor_user_id,
                subject_user_id,
                impersonation_id,
                action,
                target,
                outcome: Outcome::from_db(&outcome).expect("a stored outcome"),
                reason,
                via,
            },
            prev_hash,
            hash,
        })
        .collect()
}

async fn assert_chain_verifies(conn: &mut PgConnection, tenant_id: i64, rows: usize) {
    let records = chain(conn, tenant_id).await;
    assert_eq!(records.len(), rows, "audit rows of tenant {tenant_id}");
    let checked = verify_chain(Chain::Tenant { key: key(), anchor: GENESIS.into() }, &records);
    assert_eq!(checked, Ok(rows));
}

async fn count(conn: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(conn).await.unwrap()
}

#[tokio::test]
async fn the_demo_seeds_on_postgres_as_on_sqlite() {
    let Some(url) = support::fresh_postgres("seed").await else { return };
    let server_key = ServerKey::ephemeral();
    assert!(app::backend::seed::seed_demo_on(&writer(&url).await, &server_key).await.unwrap());
    // A second seed finds the tenants and writes nothing.
    assert!(!app::backend::seed::seed_demo_on(&writer(&url).await, &server_key).await.unwrap());

    let dir = tempfile::tempdir().unwrap();
    let sqlite = store::open(&format!("sqlite://{}", dir.path().join("s.db").display()), key()).await.unwrap();
    assert!(app::backend::seed::seed_demo(&sqlite, &server_key).await.unwrap());

    let mut pg = PgConnection::connect(&url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert!(tables.len() > 10, "{tables:?}");
    for table in &tables {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let on_sqlite: i64 = sqlite.read.read(move |c| store::query_row(c, &sql, store::params![], |r| r.get(0))).await.unwrap();
        assert_eq!(count(&mut pg, table).await, on_sqlite, "rows of {table}");
    }
    assert!(count(&mut pg, "dataset_rows").await > 1000);
    let tenants: Vec<i64> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM audit_log").fetch_all(&mut pg).await.unwrap();
    for tenant_id in tenants {
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1").bind(tenant_id).fetch_one(&mut pg).await.unwrap();
        assert_chain_verifies(&mut pg, tenant_id, rows as usize).await;
    }
}

#[tokio::test]
async fn each_caller_gets_its_own_outcome_in_a_group_commit() {
    let Some(url) = support::fresh_postgres("group").await else { return };
    let writer = writer(&url).await;
    // Forty users at once, every fourth with an email already taken: those fail alone.
    let creates = (0..40).map(|i| {
        let writer = writer.clone();
        let email = if i % 4 == 3 { format!("u{}@t.example", i - 1) } else { format!("u{i}@t.example") };
        async move {
            let audit = move |tenant_id, id| entry(tenant_id, id, &format!("created {i}"));
            store::users::create_with_tenant(&writer, "T", &email, "U", "hash", false, audit).await
        }
    });
    let outcomes = futures::future::join_all(creates).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(_) => assert_ne!(i % 4, 3, "create {i} should have been refused"),
            Err(e) => {
                assert_eq!(i % 4, 3, "create {i} failed: {e}");
                let kind = e.as_database_error().map(|d| d.kind());
                assert!(matches!(kind, Some(sqlx::error::ErrorKind::UniqueViolation)), "{e}");
            }
        }
    }
    let mut pg = PgConnection::connect(&url).await.unwrap();
    assert_eq!(count(&mut pg, "users").await, 30);
    assert_eq!(count(&mut pg, "tenants").await, 1);
    // Only the kept units' audit rows were written, chained without a gap.
    assert_chain_verifies(&mut pg, 1, 30).await;
}

#[tokio::test]
async fn two_writers_append_to_one_chain() {
    let Some(url) = support::fresh_postgres("chain").await else { return };
    let (a, b) = (writer(&url).await, writer(&url).await);
    let user = store::users::create_with_tenant(&a, "T", "a@t.example", "A", "hash", false, |t, id| entry(t, id, "created"))
        .await
        .unwrap();
    let appends = (0..200).map(|i| {
        let writer = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { store::audit::append_alone(&writer, &entry(1, user, &format!("row {i}"))).await }
    });
    for outcome in futures::future::join_all(appends).await {
        outcome.unwrap();
    }
    let mut pg = PgConnection::connect(&url).await.unwrap();
    assert_chain_verifies(&mut pg, 1, 201).await;
}

#[tokio::test]
async fn the_writer_reconnects_when_its_connection_is_cut() {
    let Some(url) = support::fresh_postgres("cut").await else { return };
    let writer = writer(&url).await;
    let create = |email: &'static str| {
        store::users::create_with_tenant(&writer, "T", email, "U", "hash", false, |t, id| entry(t, id, "created"))
    };
    create("before@t.example").await.unwrap();
    let mut pg = PgConnection::connect(&url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(postgres::WRITER_APPLICATION_NAME)
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert_eq!(cut, vec![true]);
    // The batch on the dead connection fails and tells its caller; the writer reconnects.
    let lost = create("lost@t.example").await.expect_err("the connection was cut");
    assert!(lost.to_string().contains("not saved"), "{lost}");
    assert!(store::is_connection_lost(&lost), "answered as a database away (503, try again): {lost:?}");
    create("after@t.example").await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users ORDER BY id").fetch_all(&mut pg).await.unwrap();
    assert_eq!(emails, ["before@t.example", "after@t.example"]);
    assert_chain_verifies(&mut pg, 1, 2).await;
}

/// What the read side answers about the seeded demo, without the times (each seed has its own).
async fn demo_reads(db: &store::Db) -> Vec<String> {
    use store::{audit, datasets, grants, groups, impersonations, jobs, projects, settings, tenants, users, webapps};
    let mut seen = Vec::new();
    let mut note = |what: &str, value: String| seen.push(format!("{what}: {value}"));
    let alice = users::by_email(db, "alice@tshirts.example").await.unwrap().expect("alice");
    let sam = users::by_email(db, "sam@tshirts.example").await.unwrap().expect("sam");
    let carol = users::by_email(db, "carol@tshirts.example").await.unwrap().expect("carol");
    note("alice", format!("{alice:?}"));
    note("by id", format!("{:?}", users::by_id(db, sam.id).await.unwrap()));
    note("in tenant", format!("{:?}", users::in_tenant(db, alice.tenant_id + 100, alice.id).await.unwrap()));
    note("enabled", format!("{:?}", users::list_enabled(db, alice.tenant_id).await.unwrap()));
    note("all", format!("{:?}", users::list_all(db, alice.tenant_id).await.unwrap()));
    note("tenant", tenants::name_of(db, alice.tenant_id).await.unwrap());
    note("switch", settings::impersonation_enabled(db).await.unwrap().to_string());
    note("sam on carol", format!("{:?}", grants::modes(db, sam.tenant_id, sam.id, carol.id).await.unwrap()));
    note("sam on alice", format!("{:?}", grants::modes(db, sam.tenant_id, sam.id, alice.id).await.unwrap()));
    let picker = grants::enabled_users_granted_to(db, sam.tenant_id, sam.id).await.unwrap();
    note("picker", format!("{:?}", picker.iter().map(|(u, granted)| (&u.email, granted)).collect::<Vec<_>>()));
    for grant in grants::list(db, alice.tenant_id).await.unwrap() {
        note("grant", format!("{} {:?} {:?} {:?} {:?}", grant.id, grant.actor, grant.subject, grant.mode, grant.created_by));
    }
    for (id, name) in groups::list(db, alice.tenant_id).await.unwrap() {
        let members: Vec<String> = groups::members(db, id).await.unwrap().into_iter().map(|u| u.email).collect();
        note("group", format!("{id} {name} {members:?}"));
    }
    note("sam's groups", format!("{:?} {:?}", groups::names_of(db, sam.id).await.unwrap(), groups::ids_of(db, sam.id).await.unwrap()));
    for project in projects::list(db, alice.tenant_id).await.unwrap() {
        note("project", format!("{project:?} {:?}", projects::by_key(db, alice.tenant_id, &project.key).await.unwrap().map(|p| p.id)));
        let grants = projects::grants_of(db, project.id, sam.id).await.unwrap();
        note("sam's grants", format!("{} {}", grants.can_read, grants.can_build));
        for webapp in webapps::list(db, project.id).await.unwrap() {
            note("webapp", format!("{webapp:?} {:?}", webapps::by_slug(db, project.id, &webapp.slug).await.unwrap().map(|w| w.id)));
        }
        for ds in datasets::list(db, project.id).await.unwrap() {
            let by_name = datasets::by_name(db, project.id, &ds.name).await.unwrap().map(|d| d.id);
            let by_id = datasets::by_id(db, ds.id).await.unwrap().map(|d| d.name);
            let (first, page) = (datasets::first_rows(db, &ds, 3).await.unwrap(), datasets::read_page(db, &ds, 2, 2).await.unwrap());
            note("dataset", format!("{} {} {} {} {by_name:?} {by_id:?} {first:?} {page:?}", ds.id, ds.name, ds.kind, ds.row_count));
        }
    }
    let filter = audit::AuditFilter { limit: 1000, ..Default::default() };
    for row in audit::list(db, alice.tenant_id, &filter).await.unwrap() {
        note("audit", format!("{} {:?} {:?} {} {} {} {}", row.id, row.actor, row.subject, row.action, row.target, row.outcome, row.via));
    }
    note("actions", format!("{:?}", audit::actions(db, alice.tenant_id).await.unwrap()));
    note("chains", format!("{:?}", audit::verify_all(db, &key()).await.unwrap()));
    note("chain", format!("{:?}", audit::verify_tenant(db, &key(), alice.tenant_id).await.unwrap()));
    note("jobs", format!("{:?}", jobs::list(db, alice.tenant_id, &jobs::JobFilter { limit: 10, ..Default::default() }).await.unwrap()));
    note("queued", jobs::count_with_status(db, app::model::JobStatus::Queued).await.unwrap().to_string());
    note("impersonations of carol", format!("{}", impersonations::of_subject(db, carol.id).await.unwrap().len()));
    note("empty", store::is_empty(db).await.unwrap().to_string());
    seen
}

#[tokio::test]
async fn reads_answer_on_postgres_as_on_sqlite() {
    let Some(url) = support::fresh_postgres("reads").await else { return };
    let server_key = ServerKey::ephemeral();
    let pg_writer = writer(&url).await;
    assert!(app::backend::seed::seed_demo_on(&pg_writer, &server_key).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let sqlite = store::open(&format!("sqlite://{}", dir.path().join("s.db").display()), key()).await.unwrap();
    assert!(app::backend::seed::seed_demo(&sqlite, &server_key).await.unwrap());
    for note in ["first", "second", "third"] {
        for writer in [&pg_writer, &sqlite.writer] {
            store::audit::append_alone(writer, &entry(1, 3, note)).await.unwrap();
        }
    }

    let reader = postgres::reader(&url, 2).unwrap();
    let on_postgres = demo_reads(&reader).await;
    let on_sqlite = demo_reads(&sqlite.read).await;
    for db in [&reader, &sqlite.read] {
        let write = db.read(|c| store::execute(c, "DELETE FROM settings", store::params![])).await;
        assert!(write.is_err(), "{db:?} refuses writes");
    }
    assert!(on_sqlite.len() > 30, "{on_sqlite:#?}");
    for (pg, lite) in on_postgres.iter().zip(&on_sqlite) {
        assert_eq!(pg, lite);
    }
    assert_eq!(on_postgres.len(), on_sqlite.len());
}
