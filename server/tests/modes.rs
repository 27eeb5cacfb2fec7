//! Impersonation modes through the real router: the mode each start gets, the modes a grant
//! allows, a grant switched under an ongoing impersonation, and whose permissions count.

mod common;

use axum::http::StatusCode;
use common::{session_cookie, TestApp, DEMO_FORM};

async fn start(app: &TestApp, cookie: &str, email: &str, form: &[(&str, &str)]) -> common::Reply {
    let id = app.user_id(email).await.to_string();
    let mut fields = vec![("user_id", id.as_str()), ("reason", "TICKET-11")];
    fields.extend_from_slice(form);
    app.post("/api/impersonation/start", &fields, Some(cookie)).await
}

/// Starts impersonating and returns the new session cookie.
async fn impersonate(app: &TestApp, cookie: &str, email: &str, form: &[(&str, &str)]) -> String {
    let reply = start(app, cookie, email, form).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    session_cookie(&reply).expect("a new session id")
}

async fn me(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.post("/api/me", &[], Some(cookie)).await.json()
}

/// (action, outcome, reason) of the newest audit row.
async fn last_audit(app: &TestApp) -> (String, String, String) {
    app.row("SELECT action, outcome, reason FROM audit_log ORDER BY id DESC LIMIT 1").await
}

async fn sam_s_grant(app: &TestApp) -> String {
    app.value::<i64>("SELECT id FROM impersonation_grants").await.to_string()
}

#[tokio::test]
async fn sam_acts_on_behalf_of_customers_and_may_not_ask_for_more() {
    let app = TestApp::new().await;
    let sam = app.login("sam@tshirts.example").await;
    let as_dave = impersonate(&app, &sam, "dave@tshirts.example", &[]).await;
    let who = me(&app, &as_dave).await;
    assert_eq!(who["user"]["email"], "dave@tshirts.example");
    assert_eq!(who["impersonation"]["mode"], "OnBehalfOf", "the grant's mode, with nothing asked");
    let (action, _, reason) = last_audit(&app).await;
    assert_eq!((action.as_str(), reason.as_str()), ("impersonation.start", "TICKET-11 (mode: On behalf of)"));
    let mode: String = app.value("SELECT mode FROM impersonations").await;
    assert_eq!(mode, "on_behalf_of");
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_dave)).await;
    let sam = session_cookie(&stop).expect("a new session id on stop");

    // Asking for more than the grant allows is refused, and audited.
    for asked in [&[("mode", "full")][..], &[("mode", "full"), ("use_impersonator_permissions", "on")]] {
        let refused = start(&app, &sam, "dave@tshirts.example", asked).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.error_message().contains("your grant does not allow this mode"), "{}", refused.body);
        let (action, outcome, reason) = last_audit(&app).await;
        assert_eq!((action.as_str(), outcome.as_str()), ("impersonation.start", "denied"));
        assert!(reason.contains("asked for Full"), "{reason}");
    }
    // Malformed modes are 400s.
    let unknown = start(&app, &sam, "dave@tshirts.example", &[("mode", "everything")]).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.error_message().contains("unknown impersonation mode"));
    let (action, outcome, reason) = last_audit(&app).await;
    assert_eq!((action.as_str(), outcome.as_str()), ("impersonation.start", "denied"), "a malformed start is audited too");
    assert!(reason.contains("unknown impersonation mode"), "{reason}");
    let flag = start(&app, &sam, "dave@tshirts.example", &[("mode", "on_behalf_of"), ("use_impersonator_permissions", "on")]).await;
    assert_eq!(flag.status, StatusCode::BAD_REQUEST);
    assert!(flag.error_message().contains("applies to full mode only"));
    let open: i64 = app.value("SELECT COUNT(*) FROM impersonations WHERE ended_at IS NULL").await;
    assert_eq!(open, 0, "no refused start began an impersonation");
}

#[tokio::test]
async fn an_admin_starts_full_and_may_choose_whose_permissions_count() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", &[]).await;
    let who = me(&app, &as_carol).await;
    assert_eq!(who["impersonation"]["mode"], "Full");
    assert_eq!(who["is_admin"], false, "Carol's permissions");
    let grants = app.post("/api/admin/grants", &[], Some(&as_carol)).await;
    assert_eq!(grants.status, StatusCode::FORBIDDEN);
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    let alice = session_cookie(&stop).unwrap();

    let with_mine = [("mode", "full"), ("use_impersonator_permissions", "on")];
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", &with_mine).await;
    let who = me(&app, &as_carol).await;
    assert_eq!(who["user"]["email"], "carol@tshirts.example", "still acting as Carol");
    assert_eq!(who["impersonation"]["mode"], "FullImpersonatorPermissions");
    // Administration is done as oneself, whatever the mode.
    assert_eq!(who["is_admin"], false);
    let grants = app.post("/api/admin/grants", &[], Some(&as_carol)).await;
    assert_eq!(grants.status, StatusCode::FORBIDDEN);
    assert!(grants.error_message().contains("not available while impersonating"), "{}", grants.body);
    let client = app.post("/api/admin/api_clients/create", &[("name", "as Carol"), ("policy", "strict")], Some(&as_carol)).await;
    assert_eq!(client.status, StatusCode::FORBIDDEN, "no credential for Carol from Alice's permissions");

    // Carol may not build; with Alice's permissions the build runs as Alice, for Carol.
    let built = app.post("/api/build_in_context", &DEMO_FORM, Some(&as_carol)).await;
    assert_eq!(built.status, StatusCode::OK, "{}", built.body);
    let jobs = app.post("/api/jobs", &[("only_mine", "false")], Some(&as_carol)).await.json();
    assert_eq!(jobs[0]["run_as"]["email"], "alice@tshirts.example");
    assert_eq!(jobs[0]["triggered_by"]["email"], "carol@tshirts.example");
    assert_eq!(jobs[0]["impersonated_by"]["email"], "alice@tshirts.example");

    // On behalf of, chosen by an admin.
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    let alice = session_cookie(&stop).unwrap();
    let as_dave = impersonate(&app, &alice, "dave@tshirts.example", &[("mode", "on_behalf_of")]).await;
    assert_eq!(me(&app, &as_dave).await["impersonation"]["mode"], "OnBehalfOf");
}

#[tokio::test]
async fn switching_a_grant_s_mode_ends_what_it_allowed_before() {
    let app = TestApp::new().await;
    let alice = app.login("alice@tshirts.example").await;
    let grants = app.post("/api/admin/grants", &[], Some(&alice)).await.json();
    assert_eq!(grants["grants"][0]["mode"], "OnBehalfOf", "the seeded grant Sam → Customers");
    let grant = sam_s_grant(&app).await;

    let sam = app.login("sam@tshirts.example").await;
    let as_dave = impersonate(&app, &sam, "dave@tshirts.example", &[]).await;
    let switched = app.post("/api/admin/grants/mode", &[("id", grant.as_str()), ("mode", "full")], Some(&alice)).await;
    assert_eq!(switched.status, StatusCode::OK, "{}", switched.body);
    let (action, _, reason) = last_audit(&app).await;
    assert_eq!((action.as_str(), reason.as_str()), ("grant.mode", "mode: On behalf of → Full"));

    // Sam's on-behalf impersonation ends on his next request.
    let who = me(&app, &as_dave).await;
    assert_eq!(who["user"]["email"], "sam@tshirts.example");
    assert_eq!(who["impersonation"], serde_json::Value::Null);
    let (action, _, reason) = last_audit(&app).await;
    assert_eq!(action, "impersonation.ended");
    assert!(reason.contains("your grant does not allow this mode (On behalf of)"), "{reason}");

    // Now his starts are Full, and On behalf of is refused.
    let as_dave = impersonate(&app, &as_dave, "dave@tshirts.example", &[]).await;
    assert_eq!(me(&app, &as_dave).await["impersonation"]["mode"], "Full");
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_dave)).await;
    let sam = session_cookie(&stop).unwrap();
    let refused = start(&app, &sam, "dave@tshirts.example", &[("mode", "on_behalf_of")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // With the impersonator's permissions.
    let form = [("id", grant.as_str()), ("mode", "full"), ("use_impersonator_permissions", "on")];
    assert_eq!(app.post("/api/admin/grants/mode", &form, Some(&alice)).await.status, StatusCode::OK);
    let as_dave = impersonate(&app, &sam, "dave@tshirts.example", &[]).await;
    assert_eq!(me(&app, &as_dave).await["impersonation"]["mode"], "FullImpersonatorPermissions");
}

#[tokio::test]
async fn only_an_admin_switches_a_grant_to_a_mode_that_exists() {
    let app = TestApp::new().await;
    let grant = sam_s_grant(&app).await;
    let sam = app.login("sam@tshirts.example").await;
    let refused = app.post("/api/admin/grants/mode", &[("id", grant.as_str()), ("mode", "full")], Some(&sam)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let alice = app.login("alice@tshirts.example").await;
    let unknown = app.post("/api/admin/grants/mode", &[("id", grant.as_str()), ("mode", "all")], Some(&alice)).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let flag = [("id", grant.as_str()), ("mode", "on_behalf_of"), ("use_impersonator_permissions", "on")];
    assert_eq!(app.post("/api/admin/grants/mode", &flag, Some(&alice)).await.status, StatusCode::BAD_REQUEST);
    let missing = app.post("/api/admin/grants/mode", &[("id", "999999"), ("mode", "full")], Some(&alice)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let mode: String = app.value("SELECT mode FROM impersonation_grants").await;
    assert_eq!(mode, "on_behalf_of", "nothing changed");

    // Nobody changes a grant while impersonating, even with the impersonator's permissions.
    let with_mine = [("mode", "full"), ("use_impersonator_permissions", "on")];
    let as_u2 = impersonate(&app, &alice, "u2@tshirts.example", &with_mine).await;
    let refused = app.post("/api/admin/grants/mode", &[("id", grant.as_str()), ("mode", "full")], Some(&as_u2)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_u2)).await;
    let alice = session_cookie(&stop).unwrap();

    // A new grant gets the mode its form names.
    let carol = app.user_id("carol@tshirts.example").await;
    let u1 = app.user_id("u1@tshirts.example").await;
    let (actor, subject) = (format!("user:{u1}"), format!("user:{carol}"));
    let form = [("actor", actor.as_str()), ("subject", subject.as_str()), ("mode", "full")];
    let added = app.post("/api/admin/grants/add", &form, Some(&alice)).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    let mode: String = app.value("SELECT mode FROM impersonation_grants ORDER BY id DESC LIMIT 1").await;
    assert_eq!(mode, "full");
}
