//! The impersonation context under load: many users building at once on a multi-thread
//! runtime, with awaits inside the context. Every job row must name its own user.
#![cfg(feature = "ssr")]

use app::backend::context::{self, Execution};
use app::backend::jobs::queue;
use app::backend::principal::Principal;
use app::backend::state::{AppState, Keys, Settings};
use app::backend::store::{self, datasets::NewDataset, projects::Grantee, users::NewUser};
use app::model::Via;
use std::time::Duration;

const USERS: usize = 50;
const BUILDS: usize = 500;

struct Fixture {
    state: AppState,
    project: store::projects::ProjectRow,
    backend: store::users::User,
    users: Vec<store::users::User>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = store::open(&format!("sqlite://{}", dir.path().join("t.db").display()), app::backend::audit::ChainKey::new([5; 32])).await.unwrap();
    let (tenant, backend, user_ids) = db
        .writer
        .run(|tx| {
            let tenant = store::tenants::insert(tx, "T")?;
            let project = store::projects::insert(tx, tenant, "P", "P")?;
            let new_user = |email: &'static str, name: &'static str, service| NewUser {
                        tenant_id: tenant,
                        email,
                        display_name: name,
                        password_hash: None,
                        is_admin: false,
                        account_type: if service { app::backend::domain::AccountType::Service } else { app::backend::domain::AccountType::User },
                        price_group: None,
                        region: None,
            };
            let backend = store::users::insert(tx, &new_user("backend@t.example", "Backend", true))?;
            store::projects::grant(tx, project, Grantee::User(backend), true)?;
            let mut user_ids = Vec::new();
            for i in 0..USERS {
                        let email: &'static str = Box::leak(format!("user{i}@t.example").into_boxed_str());
                        let name: &'static str = Box::leak(format!("User {i}").into_boxed_str());
                        let id = store::users::insert(tx, &new_user(email, name, false))?;
                        store::projects::grant(tx, project, Grantee::User(id), true)?;
                        user_ids.push(id);
            }
            let ds = NewDataset { project_id: project, name: "derived", recipe: Some("prepare_web_history"), description: "", columns: &[] };
            store::datasets::insert(tx, &ds)?;
            Ok((tenant, backend, user_ids))
        })
        .await
        .unwrap();
    let mut users = Vec::new();
    for id in user_ids {
        users.push(store::users::by_id(&db.read, id).await.unwrap().unwrap());
    }
    let backend = store::users::by_id(&db.read, backend).await.unwrap().unwrap();
    let project = store::projects::by_key(&db.read, tenant, "P").await.unwrap().unwrap();
    Fixture { state: AppState::new(db, Settings::default(), Keys::ephemeral()), project, backend, users, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_job_names_its_own_user_under_concurrency() {
    let f = fixture().await;
    let mut tasks = Vec::new();
    for n in 0..BUILDS {
        let user = f.users[n % USERS].clone();
        let (state, project, backend) = (f.state.clone(), f.project.clone(), f.backend.clone());
        let inside = n % 2 == 0;
        tasks.push(tokio::spawn(async move {
            let execution = Execution {
                run_as: backend,
                caller: Principal::signed_in(user.clone()),
                via: Via::Webapp { name: "W".into() },
                webapp_id: None,
            };
            let work = async {
                // Yield and sleep inside the context so tasks interleave across threads.
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis((n % 7) as u64)).await;
                let seen = context::current().expect("context").run_as.id;
                let started = queue::enqueue_build(&state, &project, "derived").await.expect("enqueue");
                tokio::task::yield_now().await;
                Ok((seen, started.job_id))
            };
            let (seen, job_id) = if inside {
                context::run_as(execution, context::impersonation_context(work)).await.unwrap()
            } else {
                context::run_as(execution, work).await.unwrap()
            };
            (user.id, inside, seen, job_id)
        }));
    }
    let mut expected = std::collections::HashMap::new();
    for task in tasks {
        let (user, inside, seen, job_id) = task.await.unwrap();
        expected.insert(job_id, (user, inside));
        let want = if inside { user } else { f.backend.id };
        assert_eq!(seen, want, "the context seen inside the task");
    }
    assert!(context::current().is_none(), "nothing leaks out of the scopes");

    let rows = store::jobs::all_identities(&f.state.db).await.unwrap();
    assert_eq!(rows.len(), BUILDS);
    for row in rows {
        let (user, inside) = expected[&row.id];
        assert_eq!(row.triggered_by_user_id, user, "job {} triggered by", row.id);
        let run_as = if inside { user } else { f.backend.id };
        assert_eq!(row.run_as_user_id, run_as, "job {} run as", row.id);
        assert_eq!(row.impersonated_by_user_id, None);
    }
}

#[tokio::test]
async fn the_impersonation_context_needs_a_backend_context() {
    let result = context::impersonation_context(async { Ok(()) }).await;
    assert!(result.is_err());
    assert!(context::current().is_none());
}
