//! Row- and column-level security of previews through the real router: each person sees their
//! region's rows, emails masked but for admins and Sales, impersonating shows exactly the
//! subject's rows, and admins change the attributes that decide it.

mod common;

use axum::http::StatusCode;
use common::{session_cookie, TestApp};
use serde_json::Value;

async fn preview(app: &TestApp, cookie: &str, dataset: &str) -> Value {
    let reply = app.post("/api/dataset_preview", &[("project", "TSHIRTS"), ("dataset", dataset)], Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

fn column(p: &Value, name: &str) -> Vec<String> {
    let at = p["columns"].as_array().unwrap().iter().position(|c| c == name).unwrap();
    p["rows"].as_array().unwrap().iter().map(|r| r[at].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn each_person_sees_their_region_and_impersonating_shows_exactly_theirs() {
    let app = TestApp::new().await;
    let carol = app.login("carol@tshirts.example").await;
    let hers = preview(&app, &carol, "customers").await;
    assert_eq!(hers["rows"].as_array().unwrap().len(), 20);
    assert!(column(&hers, "region").iter().all(|r| r == "EU"));
    assert!(column(&hers, "email").iter().all(|e| e == "••••••"));
    assert_eq!(hers["masked"], serde_json::json!(["email"]));
    assert_eq!(hers["note"], "Only rows of the EU region are shown.");
    let visible = hers["total_rows"].as_i64().unwrap();

    let mut alice = app.login("alice@tshirts.example").await;
    let all = preview(&app, &alice, "customers").await;
    assert_eq!(all["total_rows"], 2002);
    assert!(visible > 0 && visible < 2002);
    assert!(column(&all, "region").iter().any(|r| r != "EU"));
    assert!(column(&all, "email").iter().all(|e| e.contains('@')));
    assert_eq!(all["note"], Value::Null);

    // Sam is in Sales (emails shown) but has no region: no row.
    let sam = app.login("sam@tshirts.example").await;
    let his = preview(&app, &sam, "customers").await;
    assert_eq!(his["total_rows"], 0);
    assert_eq!(his["masked"], serde_json::json!([]));
    assert!(his["note"].as_str().unwrap().contains("this account has none"));

    // Alice impersonating Carol sees exactly Carol's rows, in either mode that uses Carol's.
    for mode in ["full", "on_behalf_of"] {
        let id = app.user_id("carol@tshirts.example").await.to_string();
        let form = [("user_id", id.as_str()), ("reason", "RLS-CHECK"), ("mode", mode)];
        let started = app.post("/api/impersonation/start", &form, Some(&alice)).await;
        assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        let as_carol = session_cookie(&started).unwrap();
        let seen = preview(&app, &as_carol, "customers").await;
        assert_eq!(seen["rows"], hers["rows"], "{mode}");
        assert_eq!(seen["total_rows"], hers["total_rows"]);
        let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
        alice = session_cookie(&stop).unwrap();
    }

    // Datasets without regions are open to every reader.
    let web = preview(&app, &carol, "web_history").await;
    assert_eq!(web["total_rows"], 52_000);
    // Orders follow their customer's region; web history its country's.
    let dave = app.login("dave@tshirts.example").await;
    let orders = preview(&app, &dave, "orders").await;
    assert!(orders["total_rows"].as_i64().unwrap() > 0 && orders["total_rows"].as_i64().unwrap() < 20_000);
}

#[tokio::test]
async fn admins_set_the_attributes_that_decide_what_people_see() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let carol_id = app.user_id("carol@tshirts.example").await.to_string();
    let set = |region: &'static str, group: &'static str| {
        let id = carol_id.clone();
        let alice = alice.clone();
        let app = &app;
        async move {
            app.post("/api/admin/users/attributes", &[("user_id", id.as_str()), ("region", region), ("price_group", group)], Some(&alice)).await
        }
    };
    let reply = set("US", "Staff").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let profile = app.post("/api/users/profile", &[("id", carol_id.as_str())], Some(&alice)).await.json();
    assert_eq!((profile["region"].as_str(), profile["price_group"].as_str()), (Some("US"), Some("Staff")));
    let audit: (String, String) = app.row("SELECT action, reason FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(audit, ("user.attributes".into(), "region EU → US; price group Retail → Staff".into()));
    let carol = app.login("carol@tshirts.example").await;
    assert!(column(&preview(&app, &carol, "customers").await, "region").iter().all(|r| r == "US"));
    let shop = app.post("/api/shop", &[], Some(&carol)).await.json();
    assert_eq!(shop["shopper"]["price_group"], "Staff");

    assert_eq!(set("APAC", "").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(set("", "Gold").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(set("", "").await.status, StatusCode::OK);
    let none = preview(&app, &carol, "customers").await;
    assert_eq!(none["total_rows"], 0, "no region: no row");
    let refused = app.post("/api/admin/users/attributes", &[("user_id", carol_id.as_str()), ("region", "EU"), ("price_group", "")], Some(&carol)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_views_a_dataset_as_a_member_sees_it_and_it_is_audited() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let carol_id = app.user_id("carol@tshirts.example").await.to_string();
    let page = |cookie: String, view_as: String| {
        let app = &app;
        async move {
            let form = [("project", "TSHIRTS"), ("dataset", "customers"), ("view_as", view_as.as_str())];
            app.post("/api/dataset", &form, Some(&cookie)).await
        }
    };
    let reply = page(alice.clone(), carol_id.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["preview"]["total_rows"], 2002, "her own view beside it");
    let seen = &body["view_as"];
    assert_eq!(seen["user"]["email"], "carol@tshirts.example");
    let carol = app.login("carol@tshirts.example").await;
    let hers = preview(&app, &carol, "customers").await;
    assert_eq!(seen["preview"]["rows"], hers["rows"], "exactly what Carol sees");
    assert_eq!(seen["hidden_rows"].as_i64().unwrap(), 2002 - hers["total_rows"].as_i64().unwrap());
    let candidates: Vec<&str> = body["view_as_candidates"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert!(candidates.contains(&"carol@tshirts.example") && !candidates.contains(&"bob@tshirts.example"));
    let audit: (String, String, Option<i64>) =
        app.row("SELECT action, outcome, subject_user_id FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(audit, ("dataset.view_as".into(), "allowed".into(), Some(carol_id.parse().unwrap())));
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM impersonations").await, 0, "no impersonation started");

    // Members may not; nobody views as an admin; refusals are audited.
    let refused = page(carol.clone(), carol_id.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bob = app.user_id("bob@tshirts.example").await.to_string();
    assert_eq!(page(alice.clone(), bob).await.status, StatusCode::FORBIDDEN);
    let audit: (String, String) = app.row("SELECT action, outcome FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(audit, ("dataset.view_as".into(), "denied".into()));
    assert_eq!(page(alice.clone(), "999999".into()).await.status, StatusCode::NOT_FOUND);
    let eve = app.user_id("eve@other.example").await.to_string();
    assert_eq!(page(alice, eve).await.status, StatusCode::NOT_FOUND, "another tenant's user is no user");
}
