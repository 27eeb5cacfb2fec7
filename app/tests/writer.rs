//! The one writer: group commit with a savepoint per unit, failures that stay with their own
//! unit, and a writer that keeps working after constraint errors, a full disk and a panic.
#![cfg(feature = "ssr")]

use app::backend::audit::{AuditEntry, ChainKey, Outcome};
use app::backend::store::{self, Database};

async fn open() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = store::open(&format!("sqlite://{}", dir.path().join("w.db").display()), key()).await.unwrap();
    db.writer
        .run(|tx| {
            store::batch(
                tx,
                "CREATE TABLE scratch (id INTEGER PRIMARY KEY, note TEXT NOT NULL);
                 INSERT INTO tenants (name) VALUES ('T');
                 INSERT INTO users (tenant_id, email, display_name, created_at) VALUES (1, 'a@t.example', 'A', 0);",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    (db, dir)
}

fn key() -> ChainKey {
    ChainKey::new([3; 32])
}

fn entry(note: &str) -> AuditEntry {
    AuditEntry {
        tenant_id: 1,
        actor_user_id: 1,
        subject_user_id: None,
        impersonation_id: None,
        action: "test.write".into(),
        target: note.into(),
        outcome: Outcome::Allowed,
        reason: String::new(),
        via: "test".into(),
    }
}

/// A unit that writes a row and its audit row, then fails on purpose when asked to.
async fn write(db: &Database, id: i64, fail: bool) -> Result<i64, sqlx::Error> {
    db.writer
        .run(move |tx| {
            store::execute(tx, "INSERT INTO scratch (id, note) VALUES (?, 'row')", store::params![id])?;
            store::audit::append(tx, &entry(&format!("row {id}")))?;
            if fail {
                // A constraint failure after the unit already wrote: all of it must go.
                store::execute(tx, "INSERT INTO scratch (id, note) VALUES (?, 'again')", store::params![id])?;
            }
            Ok(id)
        })
        .await
}

async fn row_exists(db: &Database, id: i64) -> bool {
    let n: i64 = db
        .read
        .read(move |c| store::query_row(c, "SELECT COUNT(*) FROM scratch WHERE id = ?", store::params![id], |r| r.get(0)))
        .await
        .unwrap();
    n == 1
}

async fn audit_rows(db: &Database) -> Vec<String> {
    db.read.read(|c| store::query_map(c, "SELECT target FROM audit_log ORDER BY id", store::params![], |r| r.get(0))).await.unwrap()
}

async fn assert_chain_intact(db: &Database) {
    store::audit::verify_all(&db.read, &key()).await.unwrap().expect("the audit chain verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_units_each_get_their_own_outcome() {
    let (db, _dir) = open().await;
    let tasks: Vec<_> = (1..=300)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move { (id, write(&db, id, id % 3 == 0).await) })
        })
        .collect();
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        if id % 3 == 0 {
            let error = outcome.expect_err("a failing unit reports its failure");
            assert!(error.to_string().contains("UNIQUE"), "its own error, not another's: {error}");
        } else {
            assert_eq!(outcome.unwrap(), id);
        }
        assert_eq!(row_exists(&db, id).await, id % 3 != 0, "row {id} is there exactly when its unit succeeded");
    }
    let audited = audit_rows(&db).await;
    assert_eq!(audited.len(), 200, "one audit row per successful unit, none for the failed ones");
    assert!(audited.iter().all(|t| t.strip_prefix("row ").and_then(|n| n.parse::<i64>().ok()).is_some_and(|n| n % 3 != 0)));
    assert_chain_intact(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_only_units_share_batches_with_failing_units() {
    let (db, _dir) = open().await;
    let tasks: Vec<_> = (1..=300)
        .map(|id| {
            let db = db.clone();
            tokio::spawn(async move {
                if id % 2 == 0 {
                    // Rows left for the end of the batch, without a savepoint of their own.
                    store::audit::append_alone(&db.writer, &entry(&format!("alone {id}")))
                        .await
                        .map(|_| id)
                } else {
                    write(&db, id, id % 3 == 0).await
                }
            })
        })
        .collect();
    for (id, task) in (1..=300).zip(tasks) {
        let outcome = task.await.unwrap();
        assert_eq!(
            outcome.is_ok(),
            id % 2 == 0 || id % 3 != 0,
            "unit {id}: {outcome:?}"
        );
    }
    let mut expected: Vec<String> = (1..=300)
        .filter_map(|id| match (id % 2, id % 3) {
            (0, _) => Some(format!("alone {id}")),
            (_, 0) => None,
            _ => Some(format!("row {id}")),
        })
        .collect();
    let mut audited = audit_rows(&db).await;
    expected.sort();
    audited.sort();
    assert_eq!(
        audited, expected,
        "every audit-only unit's row and every kept unit's row, none of a failed unit"
    );
    assert_chain_intact(&db).await;
}

#[tokio::test]
async fn a_full_disk_does_not_poison_the_writer() {
    let (db, _dir) = open().await;
    assert_eq!(write(&db, 1, false).await.unwrap(), 1);
    let full = db
        .writer
        .run(|tx| {
            let pages: i64 = store::query_row(tx, "PRAGMA page_count", store::params![], |r| r.get(0))?;
            store::batch(tx, &format!("PRAGMA max_page_count = {pages}"))?;
            let big = "x".repeat(1 << 20);
            let outcome = store::execute(tx, "INSERT INTO scratch (id, note) VALUES (2, ?)", store::params![big]);
            // Give the disk its room back for the units that follow; the failure stays.
            store::batch(tx, "PRAGMA max_page_count = 1073741823")?;
            outcome?;
            Ok(())
        })
        .await;
    let error = full.expect_err("the insert does not fit");
    assert!(error.to_string().contains("full"), "{error}");
    assert!(!row_exists(&db, 2).await);
    // The writer goes on: the next units commit, with their audit rows.
    assert_eq!(write(&db, 3, false).await.unwrap(), 3);
    assert!(row_exists(&db, 1).await && row_exists(&db, 3).await);
    assert_chain_intact(&db).await;
}

#[tokio::test]
async fn commits_reach_the_database_file_before_the_writer_checkpoints() {
    let (db, dir) = open().await;
    let file = dir.path().join("w.db");
    let size = || std::fs::metadata(&file).unwrap().len();
    let before = size();
    // About 150 pages: far below the writer's own checkpoint, so only the checkpoint thread
    // copies them from the WAL into the file.
    db.writer
        .run(|tx| {
            for id in 100..400 {
                store::execute(tx, "INSERT INTO scratch (id, note) VALUES (?, ?)", store::params![id, "x".repeat(2000)])?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while size() < before + 150 * 4096 {
        assert!(std::time::Instant::now() < deadline, "the file stayed at {} bytes", size());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(row_exists(&db, 399).await);
}

#[tokio::test]
async fn a_panicking_unit_rolls_back_alone() {
    let (db, _dir) = open().await;
    let panicked = db
        .writer
        .run(|tx| {
            store::execute(tx, "INSERT INTO scratch (id, note) VALUES (7, 'half')", store::params![])?;
            if std::hint::black_box(true) {
                panic!("a bug in the middle of a unit");
            }
            Ok(())
        })
        .await;
    assert!(panicked.is_err());
    assert!(!row_exists(&db, 7).await, "nothing of the panicking unit stays");
    assert_eq!(write(&db, 8, false).await.unwrap(), 8);
    assert_chain_intact(&db).await;
}

#[tokio::test]
async fn a_dropped_caller_cannot_cancel_its_unit() {
    let (db, _dir) = open().await;
    for id in 1..=20 {
        // Dropped as soon as it is queued: the unit runs to its end regardless.
        let caller = Box::pin(write(&db, id, false));
        let _ = futures::poll!(caller);
    }
    db.writer.run(|_| Ok(())).await.unwrap();
    for id in 1..=20 {
        assert!(row_exists(&db, id).await, "unit {id} committed whole");
    }
    assert_eq!(audit_rows(&db).await.len(), 20);
    assert_chain_intact(&db).await;
}

#[tokio::test]
async fn a_full_queue_answers_at_once_and_loses_nothing_accepted() {
    let (db, _dir) = open().await;
    // Hold the writer on one unit while the queue fills behind it.
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let held = tokio::spawn({
        let db = db.clone();
        async move {
            let unit = db.writer.run(move |_| {
                let _ = started.send(());
                Ok(hold.blocking_recv().map_err(|_| sqlx::Error::PoolClosed)?)
            });
            unit.await
        }
    });
    running.await.unwrap();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for id in 1..=(store::QUEUE_CAPACITY as i64 + 50) {
        let db2 = db.clone();
        let caller = tokio::spawn(async move { write(&db2, id, false).await });
        // Let the spawned caller reach the queue before the next one.
        tokio::task::yield_now().await;
        accepted.push((id, caller));
    }
    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    for (id, caller) in accepted {
        match caller.await.unwrap() {
            Ok(_) => assert!(row_exists(&db, id).await),
            Err(sqlx::Error::PoolTimedOut) => {
                refused += 1;
                assert!(!row_exists(&db, id).await);
            }
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert!(refused > 0, "a full queue turns writes away");
    assert_chain_intact(&db).await;
}

#[tokio::test]
async fn an_in_memory_database_is_refused_with_a_clear_message() {
    let error = store::open("sqlite::memory:", key()).await.unwrap_err();
    assert!(error.contains("in-memory") && error.contains("use a file"), "{error}");
}

#[tokio::test]
async fn only_the_writer_appends_audit_rows() {
    // Outside the writer there is no chain key to sign with: the append is refused.
    let (db, _dir) = open().await;
    let conn = store::Conn::sqlite(rusqlite::Connection::open(_dir.path().join("w.db")).unwrap());
    let refused = store::audit::append(&conn, &entry("outside")).unwrap_err();
    assert!(
        refused.to_string().contains("appended by the writer only"),
        "{refused}"
    );
    assert!(audit_rows(&db).await.is_empty());
}
