//! Dataset discussions through the real router: the author each mode shows, both people kept,
//! the other person shown to auditors only, and refusals that write nothing but their audit row.

mod common;

use axum::http::StatusCode;
use common::{session_cookie, TestApp};

const ORDERS: [(&str, &str); 2] = [("project", "TSHIRTS"), ("dataset", "orders")];

async fn comment(app: &TestApp, cookie: &str, body: &str) -> common::Reply {
    let form = [ORDERS[0], ORDERS[1], ("body", body)];
    app.post("/api/dataset/comment", &form, Some(cookie)).await
}

async fn page(app: &TestApp, cookie: &str) -> serde_json::Value {
    let reply = app.post("/api/dataset", &ORDERS, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn impersonate(app: &TestApp, cookie: &str, email: &str, form: &[(&str, &str)]) -> String {
    let id = app.user_id(email).await.to_string();
    let mut fields = vec![("user_id", id.as_str()), ("reason", "DISCUSS-1")];
    fields.extend_from_slice(form);
    let reply = app.post("/api/impersonation/start", &fields, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    session_cookie(&reply).expect("a new session id")
}

#[tokio::test]
async fn each_mode_shows_its_author_and_auditors_see_both_people() {
    let app = TestApp::new().await;
    let sam = app.login("sam@tshirts.example").await;
    let as_carol = impersonate(&app, &sam, "carol@tshirts.example", &[]).await;
    assert_eq!(comment(&app, &as_carol, "  Carol's order #20001 is late.  ").await.status, StatusCode::OK);
    let people: (String, String, Option<String>, Option<String>) = app
        .row("SELECT au.email, ac.email, su.email, k.mode FROM dataset_comments k JOIN users au ON au.id = k.author_user_id
              JOIN users ac ON ac.id = k.actor_user_id LEFT JOIN users su ON su.id = k.subject_user_id ORDER BY k.id DESC LIMIT 1")
        .await;
    let sam_email = "sam@tshirts.example".to_string();
    assert_eq!(people, (sam_email.clone(), sam_email.clone(), Some("carol@tshirts.example".into()), Some("on_behalf_of".into())));
    let audit: (String, String, Option<String>) = app
        .row("SELECT a.action, u.email, s.email FROM audit_log a JOIN users u ON u.id = a.actor_user_id
              LEFT JOIN users s ON s.id = a.subject_user_id ORDER BY a.id DESC LIMIT 1")
        .await;
    assert_eq!(audit, ("comment.add".into(), sam_email, Some("carol@tshirts.example".into())));

    // Full: the comment is Carol's.
    app.edit_database("UPDATE impersonation_grants SET mode = 'full'").await.unwrap();
    let as_carol = impersonate(&app, &as_carol, "carol@tshirts.example", &[]).await;
    assert_eq!(comment(&app, &as_carol, "Checked the totals.").await.status, StatusCode::OK);

    let alice = app.login("alice@tshirts.example").await;
    let seen = page(&app, &alice).await;
    let comments = seen["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["author"]["email"], "sam@tshirts.example");
    assert_eq!(comments[0]["body"], "Carol's order #20001 is late.");
    assert_eq!(comments[0]["other_person"], "on behalf of Carol Customer");
    assert_eq!(comments[1]["author"]["email"], "carol@tshirts.example");
    assert_eq!(comments[1]["other_person"], "written by Sam Sales while impersonating");
    assert_eq!(seen["preview"]["name"], "orders");

    let carol = app.login("carol@tshirts.example").await;
    let seen = page(&app, &carol).await;
    assert_eq!(seen["comments"][0]["author"]["email"], "sam@tshirts.example");
    assert_eq!(seen["comments"][0]["other_person"], serde_json::Value::Null, "members see what the mode shows");
    assert_eq!(seen["comments"][1]["other_person"], serde_json::Value::Null);
}

#[tokio::test]
async fn bad_or_refused_comments_write_nothing() {
    let app = TestApp::new().await;
    let carol = app.login("carol@tshirts.example").await;
    let blank = comment(&app, &carol, " \n ").await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(blank.error_message(), "a comment cannot be empty");
    assert_eq!(comment(&app, &carol, &"x".repeat(2001)).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(comment(&app, &carol, &"é".repeat(2000)).await.status, StatusCode::OK);
    let unknown = app.post("/api/dataset/comment", &[("project", "TSHIRTS"), ("dataset", "nope"), ("body", "hi")], Some(&carol)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad_name = app.post("/api/dataset/comment", &[("project", "TSHIRTS"), ("dataset", "a;b"), ("body", "hi")], Some(&carol)).await;
    assert_eq!(bad_name.status, StatusCode::BAD_REQUEST);
    let eve = app.login("eve@other.example").await;
    assert!(comment(&app, &eve, "hello").await.status.is_client_error(), "another tenant's project");

    let alice = app.login("alice@tshirts.example").await;
    let read_only = impersonate(&app, &alice, "carol@tshirts.example", &[("read_only", "on")]).await;
    let refused = comment(&app, &read_only, "changing things").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.error_message().contains("read-only impersonation"));
    let audit: (String, String) = app.row("SELECT action, outcome FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(audit, ("comment.add".to_string(), "denied".to_string()));
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM dataset_comments").await, 1);
}
