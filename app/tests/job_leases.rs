//! Job leases, on both engines: a job whose server stops renewing its lease is queued again
//! once the lease runs out and runs once more, elsewhere; the server that lost it can no longer
//! record anything for it. On PostgreSQL, servers claiming at once never take the same job.
#![cfg(feature = "ssr")]

mod support;

use app::backend::audit::ChainKey;
use app::backend::domain::AccountType;
use app::backend::store::{self, jobs, jobs::Lease, params, Writer};
use app::model::{JobStatus, Via};

fn key() -> ChainKey {
    ChainKey::new([9; 32])
}

fn lease(owner: &str) -> Lease {
    Lease { owner: owner.into(), millis: 30_000 }
}

/// An engine's writer, a second server's writer on the same database (PostgreSQL; on SQLite,
/// which one server uses, the same writer), and the folder holding the SQLite file.
struct Engine {
    name: &'static str,
    writer: Writer,
    second: Writer,
    _dir: tempfile::TempDir,
}

/// Each engine this run can reach: SQLite always, PostgreSQL under `make test`.
async fn engines() -> Vec<Engine> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = store::open(&format!("sqlite://{}", dir.path().join("j.db").display()), key()).await.unwrap();
    let mut engines = vec![Engine { name: "SQLite", second: sqlite.writer.clone(), writer: sqlite.writer, _dir: dir }];
    if let Some(url) = support::fresh_postgres("leases").await {
        let writer = store::postgres::start_writer(&url, key()).await.unwrap();
        let second = store::postgres::start_writer(&url, key()).await.unwrap();
        engines.push(Engine { name: "PostgreSQL", writer, second, _dir: tempfile::tempdir().unwrap() });
    }
    engines
}

/// Queues `count` builds of one dataset by one user; returns their ids.
async fn queue_jobs(writer: &Writer, count: usize) -> Vec<i64> {
    let (tenant_id, user_id, dataset_id) = writer
        .run(|tx| {
            let tenant_id = store::tenants::insert(tx, "T")?;
            let user = store::users::NewUser {
                tenant_id,
                email: "u@t.example",
                display_name: "U",
                password_hash: None,
                is_admin: false,
                account_type: AccountType::User,
                price_group: None,
                region: None,
            };
            let user_id = store::users::insert(tx, &user)?;
            let project_id = store::projects::insert(tx, tenant_id, "P", "Project")?;
            let dataset = store::datasets::NewDataset { project_id, name: "d", recipe: Some("geo"), description: "", columns: &[] };
            Ok((tenant_id, user_id, store::datasets::insert(tx, &dataset)?))
        })
        .await
        .unwrap();
    let job = jobs::NewJob {
        tenant_id,
        dataset_id,
        run_as_user_id: user_id,
        triggered_by_user_id: user_id,
        impersonated_by_user_id: None,
        via: Via::Ui,
        webapp_id: None,
    };
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(jobs::insert(writer, &job, None, None).await.unwrap());
    }
    ids
}

/// A job's status, attempts and lease holder, and its log lines.
async fn job_state(writer: &Writer, id: i64) -> (String, i64, Option<String>, Vec<String>) {
    writer
        .run(move |tx| {
            let (status, attempts, owner) = store::query_row(
                tx,
                "SELECT status, attempts, lease_owner FROM jobs WHERE id = ?",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let lines = store::query_map(tx, "SELECT message FROM job_log_lines WHERE job_id = ? ORDER BY id", params![id], |r| r.get(0))?;
            Ok((status, attempts, owner, lines))
        })
        .await
        .unwrap()
}

/// A build's successful end, publishing its one row.
fn ended(line: &str, dataset_id: i64) -> jobs::Finished {
    jobs::Finished {
        status: JobStatus::Succeeded,
        rows_in: Some(1),
        rows_out: Some(1),
        error: None,
        level: store::job_log::Level::Info,
        line: line.into(),
        published: Some(jobs::Published { dataset_id, row_count: 1, line: "Published 1 rows".into() }),
    }
}

#[tokio::test]
async fn a_job_whose_server_stops_renewing_is_queued_again_and_runs_once() {
    for Engine { name: engine, writer, .. } in engines().await {
        let (a, b) = (lease("server-a"), lease("server-b"));
        let [id] = queue_jobs(&writer, 1).await[..] else { panic!() };
        let claimed = jobs::claim_next(&writer, &a).await.unwrap().expect("a queued job");
        assert_eq!((claimed.id, claimed.attempts), (id, 1), "{engine}");
        assert!(jobs::renew_lease(&writer, id, &a).await.unwrap(), "{engine}");

        // While the lease runs, nobody takes the job back.
        assert!(jobs::requeue_expired(&writer, store::now_ms()).await.unwrap().is_empty(), "{engine}");
        // Server A stops renewing: once the lease has run out, the job is queued again.
        let later = store::now_ms() + a.millis + 1;
        assert_eq!(jobs::requeue_expired(&writer, later).await.unwrap(), vec![id], "{engine}");
        let (status, _, owner, lines) = job_state(&writer, id).await;
        assert_eq!((status.as_str(), owner), ("queued", None), "{engine}");
        assert!(lines.last().unwrap().contains("stopped renewing its lease; it was queued again"), "{engine}: {lines:?}");

        // Server A comes back: it can neither renew, nor write or publish rows, nor end the job.
        assert!(!jobs::renew_lease(&writer, id, &a).await.unwrap(), "{engine}");
        let late = [vec![serde_json::json!("late")]];
        let refused = store::datasets::append_rows(&writer, claimed.dataset_id, id, &a.owner, 0, &late).await.unwrap_err();
        assert!(refused.to_string().contains("no longer leased"), "{engine}: {refused}");
        let dataset_id = claimed.dataset_id;
        let refused = jobs::finish(&writer, id, &a, ended("Succeeded on A", dataset_id)).await.unwrap_err();
        assert!(refused.to_string().contains("no longer leased to this server"), "{engine}: {refused}");
        let generation = writer
            .run(move |tx| Ok(store::query_row(tx, "SELECT generation FROM datasets WHERE id = ?", params![dataset_id], |r| r.get::<i64>(0))?))
            .await
            .unwrap();
        assert_ne!(generation, id, "{engine}: nothing published");

        // Server B runs it, once, to its end.
        let again = jobs::claim_next(&writer, &b).await.unwrap().expect("the job, queued again");
        assert_eq!((again.id, again.attempts), (id, 2), "{engine}");
        store::datasets::append_rows(&writer, dataset_id, id, &b.owner, 0, &[vec![serde_json::json!("b")]]).await.unwrap();
        jobs::finish(&writer, id, &b, ended("Succeeded on B", dataset_id)).await.unwrap();
        let rows = writer
            .run(move |tx| Ok(store::query_map(tx, "SELECT data FROM dataset_rows WHERE dataset_id = ?", params![dataset_id], |r| r.get::<String>(0))?))
            .await
            .unwrap();
        assert_eq!(rows, [r#"["b"]"#], "{engine}: only B's rows are published");
        let (status, attempts, owner, lines) = job_state(&writer, id).await;
        assert_eq!((status.as_str(), attempts, owner), ("succeeded", 2, None), "{engine}");
        assert_eq!(lines.iter().filter(|l| l.starts_with("Succeeded")).collect::<Vec<_>>(), ["Succeeded on B"], "{engine}");
        assert!(jobs::claim_next(&writer, &a).await.unwrap().is_none(), "{engine}");
    }
}

#[tokio::test]
async fn servers_claiming_at_once_never_take_the_same_job() {
    for Engine { name: engine, writer, second, .. } in engines().await {
        let ids = queue_jobs(&writer, 40).await;
        let claims = (0..60).map(|i| {
            let (writer, lease) = if i % 2 == 0 { (writer.clone(), lease("a")) } else { (second.clone(), lease("b")) };
            async move { jobs::claim_next(&writer, &lease).await.unwrap().map(|job| job.id) }
        });
        let mut claimed: Vec<i64> = futures::future::join_all(claims).await.into_iter().flatten().collect();
        claimed.sort();
        assert_eq!(claimed, ids, "{engine}: every job claimed exactly once");
    }
}
