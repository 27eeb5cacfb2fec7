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
    assert_eq!(hers["note"], "Only rows of your region (EU) are shown.");
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
    assert!(his["note"].as_str().unwrap().contains("your account has none"));

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
