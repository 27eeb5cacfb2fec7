//! Administration through the real router: grants edited from the grants page, groups, the
//! audit page and its chain check, and many admins impersonating at once.

mod common;

use app::backend::{auth, store};
use axum::http::StatusCode;
use common::{session_cookie, TestApp, DEMO_FORM};

const TSHIRTS: i64 = 1;

async fn group_id(app: &TestApp, name: &str) -> i64 {
    app.value(&format!("SELECT id FROM groups WHERE name = '{name}' AND tenant_id = {TSHIRTS}")).await
}

fn emails(reply: common::Reply) -> Vec<String> {
    reply.json().as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn admins_grant_and_revoke_and_members_cannot() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let u1 = app.login("u1@tshirts.example").await;
    let actor = format!("user:{}", app.user_id("u1@tshirts.example").await);
    let customers = format!("group:{}", group_id(&app, "Customers").await);
    assert!(emails(app.post("/api/impersonation/candidates", &[], Some(&u1)).await).is_empty());

    let reply = app.post("/api/admin/grants/add", &[("actor", &actor), ("subject", &customers)], Some(&u1)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.error_message().contains("only administrators may do this"));

    let reply = app.post("/api/admin/grants/add", &[("actor", &actor), ("subject", &customers)], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        emails(app.post("/api/impersonation/candidates", &[], Some(&u1)).await),
        vec!["carol@tshirts.example", "dave@tshirts.example"]
    );
    let page = app.post("/api/admin/grants", &[], Some(&alice)).await.json();
    let grants = page["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 2, "the seeded grant for Sam and the new one");
    let new_id = grants[1]["id"].as_i64().unwrap().to_string();

    // Both sides show on the profiles.
    let carol = app.user_id("carol@tshirts.example").await.to_string();
    let profile = app.post("/api/users/profile", &[("id", &carol)], Some(&alice)).await.json();
    assert_eq!(profile["may_be_impersonated_by"].as_array().unwrap().len(), 2);
    let u1_id = app.user_id("u1@tshirts.example").await.to_string();
    let profile = app.post("/api/users/profile", &[("id", &u1_id)], Some(&alice)).await.json();
    assert_eq!(profile["may_impersonate"].as_array().unwrap().len(), 1);

    let reply = app.post("/api/admin/grants/remove", &[("id", &new_id)], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(emails(app.post("/api/impersonation/candidates", &[], Some(&u1)).await).is_empty());
    let reply = app.post("/api/admin/grants/remove", &[("id", &new_id)], Some(&alice)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    let filter = store::audit::AuditFilter { limit: 100, ..Default::default() };
    let rows = store::audit::list(&app.state.db, TSHIRTS, &filter).await.unwrap();
    let actions: Vec<&str> = rows.iter().rev().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, vec!["grant.add", "grant.remove"]);
    assert!(rows[0].target.contains("U1 Analyst (u1@tshirts.example) may impersonate group Customers"));
}

#[tokio::test]
async fn grants_with_bad_parties_are_refused() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let u1 = format!("user:{}", app.user_id("u1@tshirts.example").await);
    let bob = format!("user:{}", app.user_id("bob@tshirts.example").await);
    let eve = format!("user:{}", app.user_id("eve@other.example").await);
    let cases = [
        (u1.as_str(), "user:999999", "must be a user or group of this tenant"),
        (u1.as_str(), eve.as_str(), "must be a user or group of this tenant"),
        (u1.as_str(), "group:abc", "must be a user or group of this tenant"),
        (u1.as_str(), "team:1", "must be a user or group of this tenant"),
        (u1.as_str(), u1.as_str(), "nobody may impersonate themselves"),
        (u1.as_str(), bob.as_str(), "cannot be granted: administrators cannot be impersonated"),
    ];
    for (actor, subject, message) in cases {
        let reply = app.post("/api/admin/grants/add", &[("actor", actor), ("subject", subject)], Some(&alice)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{subject}: {}", reply.body);
        assert!(reply.error_message().contains(message), "{subject}: {}", reply.body);
    }
    let count: i64 = app.value("SELECT COUNT(*) FROM impersonation_grants").await;
    assert_eq!(count, 1, "only the seeded grant");
}

#[tokio::test]
async fn the_audit_page_filters_and_verifies() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let carol = app.user_id("carol@tshirts.example").await.to_string();
    let started = app.post("/api/impersonation/start", &[("user_id", &carol), ("reason", "T-1")], Some(&alice)).await;
    let as_carol = session_cookie(&started).unwrap();
    app.post("/api/build_as_backend", &DEMO_FORM, Some(&as_carol)).await;
    let stopped = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    let alice = session_cookie(&stopped).unwrap();

    let all = app.post("/api/admin/audit", &[], Some(&alice)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.json()["rows"].as_array().unwrap().len(), 3);
    assert_eq!(all.json()["actions"], serde_json::json!(["dataset.build", "impersonation.start", "impersonation.stop"]));
    let builds = app.post("/api/admin/audit", &[("action", "dataset.build")], Some(&alice)).await.json();
    assert_eq!(builds["rows"].as_array().unwrap().len(), 1);
    assert_eq!(builds["rows"][0]["subject"]["email"], "carol@tshirts.example");
    let bob = app.user_id("bob@tshirts.example").await.to_string();
    let by_bob = app.post("/api/admin/audit", &[("actor", &bob)], Some(&alice)).await.json();
    assert!(by_bob["rows"].as_array().unwrap().is_empty());
    let future = app.post("/api/admin/audit", &[("from", "2999-01-01")], Some(&alice)).await.json();
    assert!(future["rows"].as_array().unwrap().is_empty());
    let today = app.post("/api/admin/audit", &[("from", "2020-01-01"), ("to", "2999-12-31")], Some(&alice)).await.json();
    assert_eq!(today["rows"].as_array().unwrap().len(), 3);
    let bad = app.post("/api/admin/audit", &[("from", "yesterday")], Some(&alice)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = app.post("/api/admin/audit", &[("actor", "alice")], Some(&alice)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let report = app.post("/api/admin/audit/verify", &[], Some(&alice)).await.json();
    assert_eq!(report["intact"], true);
    assert_eq!(report["rows_checked"], 3);
    app.allow_audit_edits().await;
    app.edit_database("UPDATE audit_log SET target = 'elsewhere' WHERE id = 2").await.unwrap();
    let report = app.post("/api/admin/audit/verify", &[], Some(&alice)).await.json();
    assert_eq!(report["intact"], false);
    assert_eq!(report["message"], "The audit chain is broken at audit row 2: its content does not match its hash.");

    let u1 = app.login("u1@tshirts.example").await;
    assert_eq!(app.post("/api/admin/audit", &[], Some(&u1)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/admin/audit/verify", &[], Some(&u1)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/admin/groups", &[], Some(&u1)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post("/api/admin/users", &[], Some(&u1)).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn groups_list_members_with_their_impersonate_button() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let groups = app.post("/api/admin/groups", &[], Some(&alice)).await.json();
    let customers = groups.as_array().unwrap().iter().find(|g| g["name"] == "Customers").unwrap();
    let members = customers["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m["impersonation_refusal"].is_null()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_admins_impersonating_at_once_keep_every_pair_straight() {
    const PAIRS: usize = 8;
    let app = TestApp::with_workers().await;
    let hash = auth::hash_password("guise-demo".into()).await.unwrap();
    let analysts = group_id(&app, "Analysts").await;
    let mut pairs = Vec::new();
    for i in 0..PAIRS {
        let admin = format!("admin{i}@tshirts.example");
        let member = format!("member{i}@tshirts.example");
        let writer = &app.state.writer;
        store::users::create_with_tenant(writer, "TShirts Co.", &admin, &format!("Admin {i}"), &hash, true, created).await.unwrap();
        let member_name = format!("Member {i}");
        let member_id =
            store::users::create_with_tenant(writer, "TShirts Co.", &member, &member_name, &hash, false, created).await.unwrap();
        app.edit_database(&format!("INSERT INTO group_members (group_id, user_id) VALUES ({analysts}, {member_id})"))
            .await
            .unwrap();
        pairs.push((admin, member, member_id));
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for (admin, member, member_id) in pairs.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let cookie = app.login(&admin).await;
            let id = member_id.to_string();
            let reply = app.post("/api/impersonation/start", &[("user_id", &id), ("reason", &member)], Some(&cookie)).await;
            assert_eq!(reply.status, StatusCode::OK, "{admin}: {}", reply.body);
            let as_member = session_cookie(&reply).unwrap();
            for _ in 0..3 {
                app.post("/api/build_in_context", &DEMO_FORM, Some(&as_member)).await;
                let reply = app.post("/api/build_as_backend", &DEMO_FORM, Some(&as_member)).await;
                assert_eq!(reply.status, StatusCode::OK, "{admin}: {}", reply.body);
                let me = app.post("/api/me", &[], Some(&as_member)).await.json();
                assert_eq!(me["user"]["email"], member.as_str());
                assert_eq!(me["impersonation"]["actor"]["email"], admin.as_str());
            }
            app.post("/api/impersonation/stop", &[], Some(&as_member)).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let admin_of = |member_id: i64| {
        let i = pairs.iter().position(|p| p.2 == member_id).expect("a known member");
        pairs[i].0.clone()
    };
    let jobs = store::jobs::list(&app.state.db, TSHIRTS, &store::jobs::JobFilter { limit: 1000, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(jobs.len(), PAIRS * 6);
    for j in &jobs {
        let impersonator = j.impersonated_by.as_ref().expect("impersonated").email.clone();
        assert_eq!(impersonator, admin_of(j.triggered_by.id), "job #{}", j.id);
        let expected_run_as = if j.status == app::model::JobStatus::Refused { j.triggered_by.email.clone() } else { "webapp-backend@tshirts.example".into() };
        assert_eq!(j.run_as.email, expected_run_as, "job #{}", j.id);
    }
    let filter = store::audit::AuditFilter { limit: 1000, ..Default::default() };
    let rows = store::audit::list(&app.state.db, TSHIRTS, &filter).await.unwrap();
    let rows: Vec<_> = rows.into_iter().filter(|r| r.action != "user.create").collect();
    assert_eq!(rows.len(), PAIRS * 8, "start, six builds and stop per pair");
    for r in &rows {
        let subject = r.subject.as_ref().expect("names the subject");
        assert_eq!(r.actor.email, admin_of(subject.id), "audit row {}", r.id);
    }
    let checked = store::audit::verify_all(&app.state.db, &app.state.keys.server.chain_key()).await.unwrap();
    assert_eq!(checked, Ok(PAIRS * 10), "and the two accounts' creation");
}

/// The audit row of an account a test creates.
fn created(tenant_id: i64, user_id: i64) -> app::backend::audit::AuditEntry {
    app::backend::audit::AuditEntry {
        tenant_id,
        actor_user_id: user_id,
        subject_user_id: None,
        impersonation_id: None,
        action: app::backend::audit::AuditAction::UserCreate.as_str().into(),
        target: format!("user {user_id}"),
        outcome: app::backend::audit::Outcome::Allowed,
        reason: "created by the test".into(),
        via: "test".into(),
    }
}

#[tokio::test]
async fn only_its_owner_obtains_a_client_secret_and_any_admin_may_revoke() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let bob = app.login("bob@tshirts.example").await;
    let created = app.post("/api/admin/api_clients/create", &[("name", "Bob's reports"), ("policy", "strict")], Some(&bob)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let client_id = created.json()["client_id"].as_str().unwrap().to_string();
    let secret_version = || async {
        app.value::<i64>(&format!("SELECT secret_version FROM api_clients WHERE client_id = '{client_id}'")).await
    };
    let version = secret_version().await;

    // Alice would act as Bob (an admin) with his secret: refused, audited, nothing changed.
    let stolen = app.post("/api/admin/api_clients/rotate", &[("client_id", &client_id)], Some(&alice)).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN, "{}", stolen.body);
    assert!(stolen.error_message().contains("only the client's owner may obtain its secret"), "{}", stolen.body);
    assert!(!stolen.body.contains("secret\":"), "no secret in the answer: {}", stolen.body);
    assert_eq!(secret_version().await, version);
    let (actor, outcome): (String, String) = app
        .row(
            "SELECT u.email, a.outcome FROM audit_log a JOIN users u ON u.id = a.actor_user_id
             WHERE a.action = 'api_client.rotate' ORDER BY a.id DESC LIMIT 1",
        )
        .await;
    assert_eq!((actor.as_str(), outcome.as_str()), ("alice@tshirts.example", "denied"));

    // The list offers Rotate only on one's own clients.
    let listed = app.post("/api/admin/api_clients", &[], Some(&alice)).await.json();
    let row = listed.as_array().unwrap().iter().find(|c| c["client_id"] == client_id.as_str()).unwrap().clone();
    assert_eq!(row["yours"], false);

    // Bob rotates his own; Alice may revoke it.
    let rotated = app.post("/api/admin/api_clients/rotate", &[("client_id", &client_id)], Some(&bob)).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(secret_version().await, version + 1);
    let revoked = app.post("/api/admin/api_clients/revoke", &[("client_id", &client_id)], Some(&alice)).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
}
