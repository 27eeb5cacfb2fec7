//! The shop through the real router: orders in each impersonation mode (customer, placed by,
//! price group, both people kept), prices and stock decided on the server, read-only refusals,
//! who sees which orders, and orders feeding the `orders` dataset.

mod common;

use axum::http::StatusCode;
use common::{session_cookie, TestApp};

const CLASSIC: &str = "classic-tee";
const LONG_SLEEVE: &str = "long-sleeve-tee";

async fn product(app: &TestApp, slug: &str) -> String {
    app.value::<i64>(&format!("SELECT id FROM products WHERE slug = '{slug}'")).await.to_string()
}

async fn add(app: &TestApp, cookie: &str, slug: &str, quantity: &str) -> common::Reply {
    let id = product(app, slug).await;
    app.post("/api/shop/cart/add", &[("product_id", id.as_str()), ("quantity", quantity)], Some(cookie)).await
}

async fn order(app: &TestApp, cookie: &str) -> common::Reply {
    app.post("/api/shop/order", &[], Some(cookie)).await
}

/// Starts impersonating (with extra form fields) and returns the new session cookie.
async fn impersonate(app: &TestApp, cookie: &str, email: &str, form: &[(&str, &str)]) -> String {
    let id = app.user_id(email).await.to_string();
    let mut fields = vec![("user_id", id.as_str()), ("reason", "ORDER-1")];
    fields.extend_from_slice(form);
    let reply = app.post("/api/impersonation/start", &fields, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    session_cookie(&reply).expect("a new session id")
}

/// (customer, placed by, impersonated by, mode, price group, total) of the newest order.
type OrderRow = (String, String, Option<String>, Option<String>, String, i64);

async fn newest_order(app: &TestApp) -> OrderRow {
    app.row(
        "SELECT c.email, p.email, i.email, o.mode, o.price_group, o.total_cents
         FROM orders o JOIN users c ON c.id = o.customer_user_id JOIN users p ON p.id = o.placed_by_user_id
         LEFT JOIN users i ON i.id = o.impersonated_by_user_id
         ORDER BY o.id DESC LIMIT 1",
    )
    .await
}

async fn orders_count(app: &TestApp) -> i64 {
    app.value("SELECT COUNT(*) FROM orders").await
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[tokio::test]
async fn each_mode_places_the_order_for_the_customer_as_it_says() {
    let app = TestApp::new().await;
    // On behalf of (the seeded grant): Sam places Carol's order at his Staff prices.
    let sam = app.login("sam@tshirts.example").await;
    let as_carol = impersonate(&app, &sam, "carol@tshirts.example", &[]).await;
    let shop = app.post("/api/shop", &[], Some(&as_carol)).await.json();
    assert_eq!(shop["shopper"]["price_group"], "Staff");
    assert_eq!(shop["shopper"]["placed_by"]["email"], "sam@tshirts.example");
    let classic = shop["products"].as_array().unwrap().iter().find(|p| p["slug"] == CLASSIC).unwrap().clone();
    assert_eq!(classic["unit_price_cents"], 1330);
    assert_eq!(add(&app, &as_carol, CLASSIC, "2").await.status, StatusCode::OK);
    let cart = app.post("/api/shop/cart", &[], Some(&as_carol)).await.json();
    assert_eq!(cart["total_cents"], 2660);
    let placed = order(&app, &as_carol).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    let sam_on_behalf = ("carol@tshirts.example".into(), "sam@tshirts.example".into(), some("sam@tshirts.example"), some("on_behalf_of"), "Staff".into(), 2660);
    assert_eq!(newest_order(&app).await, sam_on_behalf);
    let audit: (String, String, Option<String>, String) = app
        .row("SELECT a.action, u.email, s.email, a.target FROM audit_log a JOIN users u ON u.id = a.actor_user_id
              LEFT JOIN users s ON s.id = a.subject_user_id ORDER BY a.id DESC LIMIT 1")
        .await;
    assert_eq!((audit.0.as_str(), audit.1.as_str(), audit.2.as_deref()), ("order.place", "sam@tshirts.example", Some("carol@tshirts.example")));
    assert!(audit.3.starts_with("order #20001 for carol@tshirts.example"), "{}", audit.3);
    let cart = app.post("/api/shop/cart", &[], Some(&as_carol)).await.json();
    assert_eq!(cart["lines"].as_array().unwrap().len(), 0, "the order emptied the cart");

    // Full: everything as Carol — her Retail prices, placed by her; Sam is still recorded.
    app.edit_database("UPDATE impersonation_grants SET mode = 'full'").await.unwrap();
    let stop = app.post("/api/impersonation/stop", &[], Some(&as_carol)).await;
    let sam = session_cookie(&stop).unwrap_or(as_carol);
    let as_carol = impersonate(&app, &sam, "carol@tshirts.example", &[]).await;
    add(&app, &as_carol, CLASSIC, "2").await;
    assert_eq!(order(&app, &as_carol).await.status, StatusCode::OK);
    let sam_full = ("carol@tshirts.example".into(), "carol@tshirts.example".into(), some("sam@tshirts.example"), some("full"), "Retail".into(), 3800);
    assert_eq!(newest_order(&app).await, sam_full);

    // Full with the impersonator's permissions prices as Full does.
    let alice = app.login("alice@tshirts.example").await;
    let with_mine = [("mode", "full"), ("use_impersonator_permissions", "on")];
    let as_dave = impersonate(&app, &alice, "dave@tshirts.example", &with_mine).await;
    add(&app, &as_dave, CLASSIC, "1").await;
    assert_eq!(order(&app, &as_dave).await.status, StatusCode::OK);
    let alice_full = ("dave@tshirts.example".into(), "dave@tshirts.example".into(), some("alice@tshirts.example"), some("full_impersonator_permissions"), "Wholesale".into(), 1520);
    assert_eq!(newest_order(&app).await, alice_full);

    // Carol as herself: no impersonation, no audit row of it.
    let audit_rows: i64 = app.value("SELECT COUNT(*) FROM audit_log").await;
    let carol = app.login("carol@tshirts.example").await;
    add(&app, &carol, CLASSIC, "1").await;
    assert_eq!(order(&app, &carol).await.status, StatusCode::OK);
    assert_eq!(newest_order(&app).await, ("carol@tshirts.example".into(), "carol@tshirts.example".into(), None, None, "Retail".into(), 1900));
    assert_eq!(app.value::<i64>("SELECT COUNT(*) FROM audit_log").await, audit_rows);

    // Who sees what: Carol her orders; Sam those he placed; Dave his own; Alice all, with the
    // person really behind each.
    let numbers = |reply: common::Reply| -> Vec<i64> {
        reply.json().as_array().unwrap().iter().map(|o| o["order_no"].as_i64().unwrap()).collect()
    };
    assert_eq!(numbers(app.post("/api/orders", &[], Some(&carol)).await), vec![20004, 20002, 20001]);
    let sam = app.login("sam@tshirts.example").await;
    assert_eq!(numbers(app.post("/api/orders", &[], Some(&sam)).await), vec![20001]);
    let dave = app.login("dave@tshirts.example").await;
    assert_eq!(numbers(app.post("/api/orders", &[], Some(&dave)).await), vec![20003]);
    let alice = app.login("alice@tshirts.example").await;
    let all = app.post("/api/orders", &[], Some(&alice)).await.json();
    assert_eq!(all.as_array().unwrap().len(), 4);
    assert_eq!(all[2]["impersonated_by"]["email"], "sam@tshirts.example", "order 20002, placed by Carol in full mode");
    let carol_view = app.post("/api/orders", &[], Some(&carol)).await.json();
    assert_eq!(carol_view[1]["impersonated_by"], serde_json::Value::Null, "members see what the mode shows");
}

#[tokio::test]
async fn prices_and_stock_are_decided_on_the_server_when_the_order_is_placed() {
    let app = TestApp::new().await;
    let carol = app.login("carol@tshirts.example").await;
    // A price sent by the client is not a field of the cart: it is ignored.
    let id = product(&app, CLASSIC).await;
    let form = [("product_id", id.as_str()), ("quantity", "1"), ("unit_price_cents", "1")];
    assert_eq!(app.post("/api/shop/cart/add", &form, Some(&carol)).await.status, StatusCode::OK);
    // The price list changes between the cart and the order: the order takes the new price.
    app.edit_database(&format!("UPDATE product_prices SET unit_price_cents = 2000 WHERE product_id = {id} AND price_group = 'Retail'"))
        .await
        .unwrap();
    assert_eq!(order(&app, &carol).await.status, StatusCode::OK);
    assert_eq!(newest_order(&app).await.5, 2000);

    // Only 3 Long Sleeve Tees are left: 4 are refused and nothing changes; 3 are sold.
    assert_eq!(add(&app, &carol, LONG_SLEEVE, "4").await.status, StatusCode::OK);
    let refused = order(&app, &carol).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.error_message(), "only 3 of Long Sleeve Tee left");
    assert_eq!(orders_count(&app).await, 1);
    let stock = || app.value::<i64>("SELECT stock FROM products WHERE slug = 'long-sleeve-tee'");
    assert_eq!(stock().await, 3);
    let long_sleeve = product(&app, LONG_SLEEVE).await;
    let set = [("product_id", long_sleeve.as_str()), ("quantity", "3")];
    assert_eq!(app.post("/api/shop/cart/set", &set, Some(&carol)).await.status, StatusCode::OK);
    assert_eq!(order(&app, &carol).await.status, StatusCode::OK);
    assert_eq!(stock().await, 0);

    // Bad carts get precise 4xx answers.
    assert_eq!(add(&app, &carol, CLASSIC, "0").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(add(&app, &carol, CLASSIC, "100").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(add(&app, &carol, CLASSIC, "two").await.status, StatusCode::BAD_REQUEST);
    let unknown = app.post("/api/shop/cart/add", &[("product_id", "999999"), ("quantity", "1")], Some(&carol)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let empty = order(&app, &carol).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.error_message(), "the cart is empty");
}

#[tokio::test]
async fn two_customers_racing_for_the_last_item_get_one_order() {
    let app = TestApp::new().await;
    app.edit_database("UPDATE products SET stock = 1 WHERE slug = 'long-sleeve-tee'").await.unwrap();
    let carol = app.login("carol@tshirts.example").await;
    let dave = app.login("dave@tshirts.example").await;
    add(&app, &carol, LONG_SLEEVE, "1").await;
    add(&app, &dave, LONG_SLEEVE, "1").await;
    let (a, b) = tokio::join!(order(&app, &carol), order(&app, &dave));
    let mut statuses = vec![a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
    assert_eq!(orders_count(&app).await, 1);
    assert_eq!(app.value::<i64>("SELECT stock FROM products WHERE slug = 'long-sleeve-tee'").await, 0);
}

#[tokio::test]
async fn an_order_appends_its_lines_to_the_orders_dataset() {
    let app = TestApp::new().await;
    let rows = || app.value::<i64>("SELECT row_count FROM datasets WHERE name = 'orders'");
    let before = rows().await;
    let dave = app.login("dave@tshirts.example").await;
    add(&app, &dave, CLASSIC, "2").await;
    add(&app, &dave, "v-neck-tee", "1").await;
    assert_eq!(order(&app, &dave).await.status, StatusCode::OK);
    assert_eq!(rows().await, before + 2);
    let last: String = app
        .value("SELECT r.data FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id AND r.generation = d.generation
                WHERE d.name = 'orders' ORDER BY r.row_no DESC LIMIT 1")
        .await;
    let row: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!((row[0].as_i64(), row[2].as_i64(), row[3].as_str(), row[4].as_i64()), (Some(20001), Some(2002), Some("V-Neck Tee"), Some(1)));
    assert_eq!(row[5].as_f64(), Some(16.8), "Dave's Wholesale price");
}

#[tokio::test]
async fn refused_orders_write_nothing_but_their_audit_row() {
    let app = TestApp::new().await;
    // Read-only impersonation: the cart fills, the order is refused and audited.
    let alice = app.login("alice@tshirts.example").await;
    let as_carol = impersonate(&app, &alice, "carol@tshirts.example", &[("read_only", "on")]).await;
    assert_eq!(add(&app, &as_carol, CLASSIC, "1").await.status, StatusCode::OK);
    let refused = order(&app, &as_carol).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.error_message().contains("read-only impersonation"), "{}", refused.body);
    let audit: (String, String) = app.row("SELECT action, outcome FROM audit_log ORDER BY id DESC LIMIT 1").await;
    assert_eq!(audit, ("order.place".to_string(), "denied".to_string()));

    // Sam alone is not a customer: he orders on behalf of one.
    let sam = app.login("sam@tshirts.example").await;
    add(&app, &sam, CLASSIC, "1").await;
    let refused = order(&app, &sam).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.error_message().contains("act on behalf of a customer"), "{}", refused.body);

    // Other Co. has no shop.
    let eve = app.login("eve@other.example").await;
    assert_eq!(app.post("/api/shop", &[], Some(&eve)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.post("/api/orders", &[], Some(&eve)).await.status, StatusCode::NOT_FOUND);

    assert_eq!(orders_count(&app).await, 0);
    assert_eq!(app.value::<i64>("SELECT MIN(stock) FROM products WHERE slug = 'classic-tee'").await, 500);
}

/// Builds `orders_by_country` with the demo API client (Alice) and returns the FR row.
async fn france_totals(app: &TestApp) -> serde_json::Value {
    use axum::body::Body;
    use axum::http::{header, Method, Request};
    let form = common::form_body(&[
        ("grant_type", "client_credentials"),
        ("client_id", app::backend::seed::DEMO_CLIENT_ID),
        ("client_secret", app::backend::seed::DEMO_CLIENT_SECRET),
    ]);
    let request = Request::post("/v2/auth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let token = app.request(request).await.json()["access_token"].as_str().unwrap().to_string();
    let build = Request::builder()
        .method(Method::POST)
        .uri("/v2/datasets/orders_by_country/build")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let reply = app.request(build).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let job = reply.json()["jobId"].as_i64().unwrap();
    assert_eq!(app.wait_for_job(job).await, app::model::JobStatus::Succeeded);
    let rows: Vec<String> = app
        .values("SELECT r.data FROM dataset_rows r JOIN datasets d ON d.id = r.dataset_id AND r.generation = d.generation
                 WHERE d.name = 'orders_by_country'")
        .await;
    rows.iter().map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()).find(|r| r[0] == "FR").expect("an FR row")
}

#[tokio::test]
async fn the_next_build_of_orders_by_country_counts_a_new_order() {
    let app = TestApp::with_workers().await;
    let before = france_totals(&app).await;
    let carol = app.login("carol@tshirts.example").await;
    add(&app, &carol, CLASSIC, "3").await;
    assert_eq!(order(&app, &carol).await.status, StatusCode::OK);
    let after = france_totals(&app).await;
    assert_eq!(after[1].as_i64().unwrap(), before[1].as_i64().unwrap() + 1, "one more order from France (Carol)");
    assert_eq!(after[2].as_i64().unwrap(), before[2].as_i64().unwrap() + 3, "three more units");
}

#[tokio::test]
async fn a_cart_is_ordered_once_and_belongs_to_one_person() {
    let app = TestApp::new().await;
    let carol = app.login("carol@tshirts.example").await;
    add(&app, &carol, CLASSIC, "1").await;
    // A double click: two Place order of the same cart at once.
    let (a, b) = tokio::join!(order(&app, &carol), order(&app, &carol));
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert_eq!(orders_count(&app).await, 1, "{} / {}", a.body, b.body);

    // Someone else signing in on Carol's browser does not get her cart.
    add(&app, &carol, CLASSIC, "2").await;
    let login = app.post("/api/login", &[("email", "dave@tshirts.example"), ("password", "guise-demo")], Some(&carol)).await;
    let dave = session_cookie(&login).unwrap_or(carol);
    let cart = app.post("/api/shop/cart", &[], Some(&dave)).await.json();
    assert_eq!(cart["shopper"]["customer"]["email"], "dave@tshirts.example");
    assert_eq!(cart["lines"].as_array().unwrap().len(), 0);
    // A product that is not in the shop cannot be put in the cart another way either.
    let unknown = app.post("/api/shop/cart/set", &[("product_id", "999999"), ("quantity", "1")], Some(&dave)).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
