//! The /v2 API through the real router: client credentials, token exchange and every rule on
//! subject and actor tokens, each refusal with its status, RFC 6749 error code and audit row.

mod common;

use app::backend::api_access::SUBJECT_REFUSED;
use app::backend::api_clients;
use app::backend::seed::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use app::backend::store;
use app::backend::tokens::{AccessClaims, SubjectPolicy, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT};
use app::model::JobStatus;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{form_body, Reply, TestApp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const TOKEN: &str = "/v2/auth/token";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TSHIRTS: i64 = 1;

fn now() -> i64 {
    store::now_ms() / 1000
}

async fn call(app: &TestApp, method: Method, path: &str, bearer: Option<&str>, form: Option<String>) -> Reply {
    app.api_request(method, path, bearer, form).await
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> Reply {
    call(app, Method::GET, path, Some(bearer), None).await
}

async fn token_request(app: &TestApp, form: &[(&str, &str)], bearer: Option<&str>) -> Reply {
    call(app, Method::POST, TOKEN, bearer, Some(form_body(form))).await
}

/// Asserts an RFC 6749 error answer and returns its description.
fn refused(reply: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"], code, "{}", reply.body);
    body["error_description"].as_str().expect("error_description").to_string()
}

/// A form post to the token endpoint with the demo client's credentials as HTTP Basic.
async fn basic_request(app: &TestApp, form: String) -> Reply {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}"));
    let req = Request::builder()
        .method(Method::POST)
        .uri(TOKEN)
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    app.request(req).await
}

async fn client_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let reply = token_request(app, &[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)], None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    body["access_token"].as_str().unwrap().to_string()
}

async fn demo_token(app: &TestApp) -> String {
    client_token(app, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await
}

fn subject_jwt(alg: Algorithm, kid: &str, secret: &str, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn demo_subject(email: &str) -> String {
    subject_jwt(Algorithm::HS256, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, json!({ "sub": email }))
}

async fn exchange_typed(app: &TestApp, actor: &str, subject_token: &str, subject_type: &str) -> Reply {
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", subject_type),
        ("actor_token", actor),
        ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
    ];
    token_request(app, &form, Some(actor)).await
}

async fn exchange(app: &TestApp, actor: &str, subject_token: &str) -> Reply {
    exchange_typed(app, actor, subject_token, TOKEN_TYPE_JWT).await
}

async fn impersonation_token(app: &TestApp, actor: &str, subject_token: &str) -> String {
    let reply = exchange(app, actor, subject_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["issued_token_type"], TOKEN_TYPE_ACCESS_TOKEN);
    assert_eq!(body["token_type"], "bearer");
    body["access_token"].as_str().unwrap().to_string()
}

/// The claims of a token, read without checking (the tests check what the server put in).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine;
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[derive(Debug)]
struct AuditRow {
    action: String,
    outcome: String,
    actor: String,
    subject: Option<String>,
    target: String,
    reason: String,
    via: String,
}

async fn last_audit(app: &TestApp) -> AuditRow {
    let filter = store::audit::AuditFilter { limit: 1, ..Default::default() };
    let row = store::audit::list(&app.state.db, TSHIRTS, &filter).await.unwrap().remove(0);
    AuditRow {
        action: row.action,
        outcome: row.outcome,
        actor: row.actor.email,
        subject: row.subject.map(|s| s.email),
        target: row.target,
        reason: row.reason,
        via: row.via,
    }
}

async fn audit_count(app: &TestApp) -> i64 {
    app.value("SELECT COUNT(*) FROM audit_log").await
}

/// A client created as an admin would, owned by `owner`.
async fn new_client(app: &TestApp, owner: &str, policy: SubjectPolicy) -> (String, String) {
    let owner = store::users::by_email(&app.state.db, owner).await.unwrap().unwrap();
    let created = api_clients::create(&app.state, &owner, "Test client", policy, "test").await.unwrap();
    (created.client_id, created.secret)
}

#[tokio::test]
async fn client_credentials_give_a_signed_token_for_the_owner() {
    let app = TestApp::new().await;
    let token = demo_token(&app).await;
    // The token verifies with the published key set, and names the owner and the client.
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&call(&app, Method::GET, "/.well-known/jwks.json", None, None).await.body).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the signing key is published");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["guise-api"]);
    let verified = jsonwebtoken::decode::<AccessClaims>(&token, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_eq!(verified.claims.sub, "alice@tshirts.example");
    assert_eq!(verified.claims.client_id, DEMO_CLIENT_ID);
    assert_eq!(verified.claims.exp - verified.claims.iat, 3600);
    assert!(verified.claims.act.is_none());
    let row = last_audit(&app).await;
    assert_eq!((row.action.as_str(), row.outcome.as_str(), row.actor.as_str()), ("api.token", "allowed", "alice@tshirts.example"));

    // HTTP Basic works too (RFC 6749 §2.3.1).
    let reply = basic_request(&app, "grant_type=client_credentials".into()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let whoami = get(&app, "/v2/whoami", &token).await.json();
    assert_eq!(whoami["email"], "alice@tshirts.example");
    assert_eq!(whoami["tenant"], "TShirts Co.");
    assert_eq!(whoami["impersonatedBy"], Value::Null);
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_refused_precisely() {
    let app = TestApp::new().await;
    let wrong = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", "nope")], None).await;
    let told = refused(&wrong, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(wrong.body.contains("wrong client secret") || told.contains("wrong client secret"));
    let row = last_audit(&app).await;
    assert_eq!((row.action.as_str(), row.outcome.as_str()), ("api.token", "denied"));
    assert_eq!(row.reason, "wrong client secret (from 0.0.0.0)");
    // An unknown client gets the same answer as a wrong secret.
    let unknown = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "nope")], None).await;
    assert_eq!(refused(&unknown, StatusCode::UNAUTHORIZED, "invalid_client"), told);

    // Ten wrong secrets from one address: the client is told to slow down there, even with
    // the right one, and the wait grows.
    for _ in 1..app::backend::throttle::ONE_CLIENT_SOURCE.free {
        let wrong = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", "nope")], None).await;
        refused(&wrong, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    assert!(last_audit(&app).await.reason.ends_with("that address now waits 4 s"));
    let before = audit_count(&app).await;
    let right_form = form_body(&[("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)]);
    let right = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID), ("client_secret", DEMO_CLIENT_SECRET)], None).await;
    assert!(refused(&right, StatusCode::TOO_MANY_REQUESTS, "slow_down").contains("try again"));
    assert!(matches!(right.retry_after.as_deref(), Some("4" | "3")), "{:?}", right.retry_after);
    assert_eq!(audit_count(&app).await, before, "throttled attempts write nothing");
    // Whoever guessed cannot lock the client out: from its own address it still gets a token.
    let elsewhere = Request::builder()
        .method(Method::POST)
        .uri(TOKEN)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(right_form))
        .unwrap();
    let elsewhere = app.request(common::from_address(elsewhere, "192.0.2.9")).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.body);
    // An unknown client id is slowed down alike: the 429 does not tell that a client exists.
    let unknown = [("grant_type", "client_credentials"), ("client_id", "nobody-else"), ("client_secret", "nope")];
    for _ in 0..app::backend::throttle::ONE_CLIENT_SOURCE.free {
        refused(&token_request(&app, &unknown, None).await, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    refused(&token_request(&app, &unknown, None).await, StatusCode::TOO_MANY_REQUESTS, "slow_down");

    let missing = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", DEMO_CLIENT_ID)], None).await;
    assert_eq!(refused(&missing, StatusCode::BAD_REQUEST, "invalid_request"), "missing parameter: client_secret");
    let no_grant = token_request(&app, &[("client_id", DEMO_CLIENT_ID)], None).await;
    assert_eq!(refused(&no_grant, StatusCode::BAD_REQUEST, "invalid_request"), "missing parameter: grant_type");
    let unsupported = token_request(&app, &[("grant_type", "password")], None).await;
    assert!(refused(&unsupported, StatusCode::BAD_REQUEST, "unsupported_grant_type").contains("\"password\""));
    let repeated = call(&app, Method::POST, TOKEN, None, Some("grant_type=client_credentials&grant_type=password".into())).await;
    assert_eq!(refused(&repeated, StatusCode::BAD_REQUEST, "invalid_request"), "parameter grant_type is repeated");
    let json_body = app
        .request(Request::builder().method(Method::POST).uri(TOKEN).header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).unwrap())
        .await;
    assert!(refused(&json_body, StatusCode::BAD_REQUEST, "invalid_request").contains("x-www-form-urlencoded"));
    let huge = call(&app, Method::POST, TOKEN, None, Some(format!("grant_type=client_credentials&pad={}", "x".repeat(20_000)))).await;
    refused(&huge, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    // Garbage never makes a 500.
    for body in ["%", "grant_type=%FF%FE", "&&&=", "grant_type"] {
        let reply = call(&app, Method::POST, TOKEN, None, Some(body.into())).await;
        assert!(reply.status.is_client_error(), "{body}: {} {}", reply.status, reply.body);
    }
}

#[tokio::test]
async fn the_whole_flow_answers_as_the_subject_with_both_identities() {
    let app = TestApp::with_workers().await;
    let actor = demo_token(&app).await;
    let token = impersonation_token(&app, &actor, &demo_subject("u1@tshirts.example")).await;
    let c = claims(&token);
    assert_eq!(c["sub"], "u1@tshirts.example");
    assert_eq!(c["act"], json!({"sub": "alice@tshirts.example", "uid": app.user_id("alice@tshirts.example").await, "client_id": DEMO_CLIENT_ID, "cv": 1}));
    let row = last_audit(&app).await;
    assert_eq!(row.action, "api.token_exchange");
    assert_eq!((row.actor.as_str(), row.subject.as_deref()), ("alice@tshirts.example", Some("u1@tshirts.example")));
    assert_eq!(row.via, format!("API client {DEMO_CLIENT_ID}"));

    let whoami = get(&app, "/v2/whoami", &token).await.json();
    assert_eq!(whoami["email"], "u1@tshirts.example");
    assert_eq!(whoami["name"], "U1 Analyst");
    assert_eq!(whoami["accountType"], "user");
    assert_eq!(whoami["impersonatedBy"]["email"], "alice@tshirts.example");
    assert_eq!(whoami["clientId"], DEMO_CLIENT_ID);
    // Reads with an impersonation token are audited with both people.
    let row = last_audit(&app).await;
    assert_eq!((row.action.as_str(), row.target.as_str()), ("api.request", "GET /v2/whoami"));
    assert_eq!((row.actor.as_str(), row.subject.as_deref()), ("alice@tshirts.example", Some("u1@tshirts.example")));

    let files = get(&app, "/v2/files?typeFilters=dataset", &token).await.json();
    let names: Vec<&str> = files["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(names.contains(&"TSHIRTS/web_history_prepared"), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("OTHER/")), "tenants never mix: {names:?}");
    assert_eq!(files["nextPage"], Value::Null);
    let page = get(&app, "/v2/files?typeFilters=dataset&pageSize=2", &token).await.json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["nextPage"].as_str().unwrap().to_string();
    let page2 = get(&app, &format!("/v2/files?typeFilters=dataset&pageSize=2&page={next}"), &token).await.json();
    assert_eq!(page2["entries"][0]["path"].as_str().unwrap(), names[2]);
    refused(&get(&app, "/v2/files?typeFilters=folder", &token).await, StatusCode::BAD_REQUEST, "invalid_request");
    refused(&get(&app, "/v2/files?pageSize=0", &token).await, StatusCode::BAD_REQUEST, "invalid_request");
    let far = get(&app, "/v2/files?pageSize=500&page=18446744073709551615", &token).await.json();
    assert_eq!((far["entries"].clone(), far["nextPage"].clone()), (json!([]), Value::Null));

    let build = call(&app, Method::POST, "/v2/datasets/web_history_prepared/build", Some(&token), None).await;
    assert_eq!(build.status, StatusCode::ACCEPTED, "{}", build.body);
    let job_id = build.json()["jobId"].as_i64().unwrap();
    assert_eq!(app.wait_for_job(job_id).await, JobStatus::Succeeded);
    let job = get(&app, &format!("/v2/jobs/{job_id}"), &token).await.json();
    assert_eq!(job["runAs"]["email"], "u1@tshirts.example");
    assert_eq!(job["triggeredBy"]["email"], "u1@tshirts.example");
    assert_eq!(job["impersonatedBy"]["email"], "alice@tshirts.example");
    assert_eq!(job["via"], format!("API client {DEMO_CLIENT_ID}"));
    assert!(!job["log"].as_array().unwrap().is_empty());
    let jobs = get(&app, "/v2/jobs?onlyMine=true", &token).await.json();
    assert_eq!(jobs["jobs"][0]["id"], job_id);
    // My activity (the impersonations of u1's account) lists the exchange and what was done.
    let records = store::impersonations::of_subject(&app.state.db, app.user_id("u1@tshirts.example").await).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor.email, "alice@tshirts.example");
    assert_eq!(records[0].via, format!("API client {DEMO_CLIENT_ID}"));
    let done: Vec<(String, String)> =
        app.rows(&format!("SELECT action, target FROM audit_log WHERE impersonation_id = {} ORDER BY id", records[0].id)).await;
    let actions: Vec<&str> = done.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(&actions[..3], ["api.token_exchange", "api.request", "api.request"], "{done:?}");
    assert!(actions.contains(&"dataset.build"), "{done:?}");
    let build_rows: Vec<(i64, Option<i64>, String)> =
        app.rows("SELECT actor_user_id, subject_user_id, outcome FROM audit_log WHERE action = 'dataset.build'").await;
    assert_eq!(build_rows, vec![(app.user_id("alice@tshirts.example").await, Some(app.user_id("u1@tshirts.example").await), "allowed".into())]);

    // As u2, who may only read, the build is refused and recorded as such.
    let u2 = impersonation_token(&app, &actor, &demo_subject("u2@tshirts.example")).await;
    let denied = call(&app, Method::POST, "/v2/datasets/web_history_prepared/build", Some(&u2), None).await;
    assert!(refused(&denied, StatusCode::FORBIDDEN, "access_denied").contains("may not build"));
    let missing = call(&app, Method::POST, "/v2/datasets/no_such/build", Some(&u2), None).await;
    refused(&missing, StatusCode::NOT_FOUND, "not_found");
    refused(&get(&app, "/v2/jobs/999999", &u2).await, StatusCode::NOT_FOUND, "not_found");
    refused(&get(&app, "/v2/jobs/abc", &u2).await, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn files_list_what_the_subject_may_read() {
    let app = TestApp::new().await;
    let insert_nora = app.state.writer.run(|tx| {
        let new = store::users::NewUser {
            tenant_id: TSHIRTS,
            email: "nora@tshirts.example",
            display_name: "Nora New",
            password_hash: None,
            is_admin: false,
            account_type: app::backend::domain::AccountType::User,
            price_group: None,
            region: None,
        };
        Ok(store::users::insert(tx, &new)?)
    });
    insert_nora.await.unwrap();
    let actor = demo_token(&app).await;
    let alice_files = get(&app, "/v2/files?typeFilters=dataset", &actor).await.json();
    assert_eq!(alice_files["entries"].as_array().unwrap().len(), 5);
    let nora = impersonation_token(&app, &actor, &demo_subject("nora@tshirts.example")).await;
    let nora_files = get(&app, "/v2/files?typeFilters=dataset", &nora).await.json();
    assert_eq!(nora_files["entries"], json!([]), "Nora may read no project");
}

#[tokio::test]
async fn every_malformed_subject_token_is_refused_and_audited() {
    let app = TestApp::new().await;
    let (strict_id, strict_secret) = new_client(&app, "alice@tshirts.example", SubjectPolicy::Strict).await;
    let (other_id, other_secret) = new_client(&app, "bob@tshirts.example", SubjectPolicy::Compatible).await;
    let actor = client_token(&app, &strict_id, &strict_secret).await;
    let good = || json!({"sub": "carol@tshirts.example", "exp": now() + 120, "iat": now(), "jti": format!("j-{}", rand_id())});
    let signed = |claims: Value| subject_jwt(Algorithm::HS256, &strict_id, &strict_secret, claims);
    let with = |key: &str, value: Value| {
        let mut c = good();
        c[key] = value;
        signed(c)
    };
    let without = |key: &str| {
        let mut c = good();
        c.as_object_mut().unwrap().remove(key);
        signed(c)
    };
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "kid": strict_id})), b64(&good()));
    let rs256 = format!("{}.{}.c2lnbmF0dXJl", b64(&json!({"alg": "RS256", "kid": strict_id})), b64(&good()));

    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", alg_none, "alg none"),
        ("HS512", subject_jwt(Algorithm::HS512, &strict_id, &strict_secret, good()), "HS512"),
        ("RS256 header", rs256, "RS256"),
        ("wrong secret", subject_jwt(Algorithm::HS256, &strict_id, "not-the-secret", good()), "does not match"),
        ("kid of another client", subject_jwt(Algorithm::HS256, &other_id, &other_secret, good()), "kid does not name"),
        ("string exp", with("exp", json!((now() + 120).to_string())), "exp must be a number"),
        ("expired", with("exp", json!(now() - 600)), "expired"),
        ("exp too far ahead", with("exp", json!(now() + 3600)), "too far ahead"),
        ("future iat", with("iat", json!(now() + 600)), "future"),
        ("missing sub", without("sub"), "no sub"),
        ("missing jti", without("jti"), "no jti"),
        ("missing iat", without("iat"), "no iat"),
        ("not a JWT", "abc".to_string(), "not a JWT"),
    ];
    for (case, token, expected) in cases {
        let before = audit_count(&app).await;
        let reply = exchange(&app, &actor, &token).await;
        let told = refused(&reply, StatusCode::BAD_REQUEST, "invalid_request");
        assert!(told.contains(expected), "{case}: {told}");
        assert_eq!(audit_count(&app).await, before + 1, "{case}: one audit row");
        let row = last_audit(&app).await;
        assert_eq!((row.action.as_str(), row.outcome.as_str(), row.actor.as_str()), ("api.token_exchange", "denied", "alice@tshirts.example"), "{case}");
        assert_eq!(row.via, format!("API client {strict_id}"), "{case}");
    }

    // A 1 MB token: refused before it is read, still audited for the client named by bearer.
    let big = "a".repeat(1 << 20);
    let before = audit_count(&app).await;
    let reply = exchange(&app, &actor, &big).await;
    refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    assert_eq!(audit_count(&app).await, before + 1);
    assert!(last_audit(&app).await.reason.contains("over"));
}

fn rand_id() -> String {
    app::backend::tokens::new_jti()
}

#[tokio::test]
async fn subjects_that_may_not_be_impersonated_are_indistinguishable() {
    let app = TestApp::new().await;
    store::users::set_disabled(&app.state.writer, app.user_id("dave@tshirts.example").await, true).await.unwrap();
    let actor = demo_token(&app).await;
    let cases = [
        ("unknown", json!({"sub": "nobody@tshirts.example"}), "no such user"),
        ("disabled", json!({"sub": "dave@tshirts.example"}), "disabled"),
        ("admin", json!({"sub": "bob@tshirts.example"}), "administrators"),
        ("self", json!({"sub": "alice@tshirts.example"}), "yourself"),
        ("service account", json!({"sub": "webapp-backend@tshirts.example"}), "service accounts"),
        ("other tenant's user", json!({"sub": "eve@other.example"}), "no such user in the client's tenant"),
        ("other tenant claim", json!({"sub": "carol@tshirts.example", "tenant": "Other Co."}), "not the client's tenant"),
        ("wildcard tenant", json!({"sub": "carol@tshirts.example", "tenant": "*"}), "not the client's tenant"),
    ];
    for (case, claims, audited_reason) in cases {
        let token = subject_jwt(Algorithm::HS256, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, claims);
        let reply = exchange(&app, &actor, &token).await;
        assert_eq!(refused(&reply, StatusCode::BAD_REQUEST, "invalid_request"), SUBJECT_REFUSED, "{case}");
        let row = last_audit(&app).await;
        assert_eq!((row.action.as_str(), row.outcome.as_str()), ("api.token_exchange", "denied"), "{case}");
        assert!(row.reason.contains(audited_reason), "{case}: the audit row says why: {}", row.reason);
        if case == "other tenant's user" || case == "unknown" {
            assert_eq!(row.subject, None, "{case}: nobody outside the tenant is named");
        }
    }
    // The client's own tenant, named exactly, is fine.
    let named = subject_jwt(Algorithm::HS256, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, json!({"sub": "carol@tshirts.example", "tenant": "TShirts Co."}));
    impersonation_token(&app, &actor, &named).await;
}

#[tokio::test]
async fn a_strict_jti_is_single_use_even_under_concurrent_duplicates() {
    let app = TestApp::new().await;
    let (id, secret) = new_client(&app, "alice@tshirts.example", SubjectPolicy::Strict).await;
    let actor = client_token(&app, &id, &secret).await;
    let token = subject_jwt(Algorithm::HS256, &id, &secret, json!({"sub": "carol@tshirts.example", "exp": now() + 120, "iat": now(), "jti": "once"}));
    let attempts = (0..8).map(|_| {
        let (app, actor, token) = (&app, actor.clone(), token.clone());
        async move { exchange(app, &actor, &token).await }
    });
    let replies = futures::future::join_all(attempts).await;
    let ok = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one exchange succeeds");
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert!(refused(reply, StatusCode::BAD_REQUEST, "invalid_request").contains("already used"));
    }
    let replays: i64 = app.value("SELECT COUNT(*) FROM audit_log WHERE action = 'api.token_exchange' AND outcome = 'denied' AND reason LIKE '%already used%'").await;
    assert_eq!(replays, 7);
    // Later, too.
    refused(&exchange(&app, &actor, &token).await, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn actor_tokens_must_be_a_live_client_token() {
    let app = TestApp::new().await;
    let actor = demo_token(&app).await;
    let subject = demo_subject("carol@tshirts.example");

    let form = [("grant_type", EXCHANGE), ("subject_token", subject.as_str()), ("subject_token_type", TOKEN_TYPE_JWT)];
    let missing = token_request(&app, &form, None).await;
    assert!(refused(&missing, StatusCode::BAD_REQUEST, "invalid_request").contains("actor_token"));

    let mut expired_claims: AccessClaims = serde_json::from_value(claims(&actor)).unwrap();
    expired_claims.exp = now() - 600;
    expired_claims.iat = now() - 4200;
    expired_claims.nbf = expired_claims.iat;
    let expired = app.state.keys.tokens.issue(&expired_claims).unwrap();
    let told = refused(&exchange(&app, &expired, &subject).await, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(told.contains("expired"), "{told}");

    let forged = app::backend::tokens::TokenKeys::ephemeral().issue(&serde_json::from_value(claims(&actor)).unwrap()).unwrap();
    refused(&exchange(&app, &forged, &subject).await, StatusCode::UNAUTHORIZED, "invalid_client");
    // Alice's token edited to name Bob keeps Alice's signature, which no longer matches.
    use base64::Engine;
    let mut edited = claims(&actor);
    edited["sub"] = json!("bob@tshirts.example");
    edited["uid"] = json!(app.user_id("bob@tshirts.example").await);
    let edited = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(edited.to_string());
    let mut tampered: Vec<&str> = actor.split('.').collect();
    tampered[1] = &edited;
    let told = refused(&exchange(&app, &tampered.join("."), &subject).await, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(told.contains("signature"), "{told}");

    // A subject token is no actor token.
    refused(&exchange(&app, &subject, &subject).await, StatusCode::UNAUTHORIZED, "invalid_client");

    // An impersonation token cannot impersonate someone else.
    let carol = impersonation_token(&app, &actor, &subject).await;
    let before = audit_count(&app).await;
    let nested = exchange(&app, &carol, &demo_subject("u1@tshirts.example")).await;
    assert!(refused(&nested, StatusCode::BAD_REQUEST, "invalid_request").contains("impersonation token"));
    assert_eq!(audit_count(&app).await, before + 1, "the nesting attempt is audited");

    // The bearer header and actor_token must agree.
    let other = demo_token(&app).await;
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", subject.as_str()),
        ("subject_token_type", TOKEN_TYPE_JWT),
        ("actor_token", actor.as_str()),
        ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN),
    ];
    assert!(refused(&token_request(&app, &form, Some(&other)).await, StatusCode::BAD_REQUEST, "invalid_request").contains("differ"));
    // The bearer header alone is enough.
    let fresh = subject_jwt(Algorithm::HS256, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, json!({"sub": "carol@tshirts.example", "jti": "bearer-only"}));
    let form = [("grant_type", EXCHANGE), ("subject_token", fresh.as_str()), ("subject_token_type", TOKEN_TYPE_JWT)];
    assert_eq!(token_request(&app, &form, Some(&actor)).await.status, StatusCode::OK);
    let form = [("grant_type", EXCHANGE), ("subject_token", subject.as_str()), ("subject_token_type", "urn:x")];
    assert!(refused(&token_request(&app, &form, Some(&actor)).await, StatusCode::BAD_REQUEST, "invalid_request").contains("subject_token_type"));
    let form = [("grant_type", EXCHANGE), ("subject_token_type", TOKEN_TYPE_JWT)];
    let before = audit_count(&app).await;
    assert_eq!(refused(&token_request(&app, &form, Some(&actor)).await, StatusCode::BAD_REQUEST, "invalid_request"), "missing parameter: subject_token");
    assert_eq!(audit_count(&app).await, before + 1, "refusals of a known client are audited");
    // HTTP Basic does not authenticate an exchange.
    let form = form_body(&[("grant_type", EXCHANGE), ("subject_token", &subject), ("subject_token_type", TOKEN_TYPE_JWT), ("actor_token", &actor), ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN)]);
    assert!(refused(&basic_request(&app, form).await, StatusCode::BAD_REQUEST, "invalid_request").contains("not HTTP Basic"));
}

#[tokio::test]
async fn a_compatible_subject_token_without_jti_or_exp_is_single_use() {
    let app = TestApp::new().await;
    let actor = demo_token(&app).await;
    // The demo client is compatible: `sub` alone is accepted — once.
    let bare = demo_subject("carol@tshirts.example");
    assert_eq!(exchange(&app, &actor, &bare).await.status, StatusCode::OK);
    let replayed = exchange(&app, &actor, &bare).await;
    assert!(refused(&replayed, StatusCode::BAD_REQUEST, "invalid_request").contains("single-use"));
    assert_eq!(last_audit(&app).await.outcome, "denied");
    // A token issued long ago is refused whatever it carries.
    let old = subject_jwt(
        Algorithm::HS256,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        json!({"sub": "carol@tshirts.example", "iat": now() - 3600, "jti": "old-one"}),
    );
    assert!(refused(&exchange(&app, &actor, &old).await, StatusCode::BAD_REQUEST, "invalid_request").contains("issued too long ago"));
    // Another token for the same user is another key.
    let other = subject_jwt(Algorithm::HS256, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, json!({"sub": "carol@tshirts.example", "iat": now()}));
    assert_eq!(exchange(&app, &actor, &other).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoking_or_rotating_a_client_stops_its_tokens() {
    let app = TestApp::new().await;
    let (id, secret) = new_client(&app, "alice@tshirts.example", SubjectPolicy::Compatible).await;
    let actor = client_token(&app, &id, &secret).await;
    let subject = subject_jwt(Algorithm::HS256, &id, &secret, json!({"sub": "carol@tshirts.example"}));
    let carol = impersonation_token(&app, &actor, &subject).await;
    let alice = app::backend::principal::Principal::signed_in(store::users::by_email(&app.state.db, "alice@tshirts.example").await.unwrap().unwrap());

    let rotated = api_clients::rotate(&app.state, &alice, &id).await.unwrap();
    for token in [&actor, &carol] {
        assert!(refused(&get(&app, "/v2/whoami", token).await, StatusCode::UNAUTHORIZED, "invalid_token").contains("rotated"));
    }
    let old_secret = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret)], None).await;
    refused(&old_secret, StatusCode::UNAUTHORIZED, "invalid_client");
    let actor = client_token(&app, &id, &rotated.secret).await;
    let carol = impersonation_token(&app, &actor, &subject_jwt(Algorithm::HS256, &id, &rotated.secret, json!({"sub": "carol@tshirts.example"}))).await;

    api_clients::revoke(&app.state, &alice, &id).await.unwrap();
    for token in [&actor, &carol] {
        let reply = get(&app, "/v2/whoami", token).await;
        assert!(refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token").contains("revoked"));
        assert!(reply.body.contains("revoked"));
    }
    let again = token_request(&app, &[("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &rotated.secret)], None).await;
    assert_eq!(refused(&again, StatusCode::UNAUTHORIZED, "invalid_client"), "the client is revoked");
    // Carol's My activity shows both impersonations ended with their client.
    let records = store::impersonations::of_subject(&app.state.db, app.user_id("carol@tshirts.example").await).await.unwrap();
    let ends: Vec<Option<&str>> = records.iter().map(|r| r.end_reason.as_deref()).collect();
    assert_eq!(ends, [Some("the client was revoked"), Some("the client's secret was rotated")]);
}

#[tokio::test]
async fn exchanging_an_impersonation_token_nests_the_chain() {
    let app = TestApp::new().await;
    let alice_actor = demo_token(&app).await;
    let carol_via_alice = impersonation_token(&app, &alice_actor, &demo_subject("carol@tshirts.example")).await;
    let (bob_client, bob_secret) = new_client(&app, "bob@tshirts.example", SubjectPolicy::Strict).await;
    let bob_actor = client_token(&app, &bob_client, &bob_secret).await;

    let reply = exchange_typed(&app, &bob_actor, &carol_via_alice, TOKEN_TYPE_ACCESS_TOKEN).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let nested = reply.json()["access_token"].as_str().unwrap().to_string();
    let c = claims(&nested);
    assert_eq!(c["sub"], "carol@tshirts.example");
    assert_eq!(c["act"]["sub"], "bob@tshirts.example");
    assert_eq!(c["act"]["client_id"], bob_client.as_str());
    assert_eq!(c["act"]["act"]["sub"], "alice@tshirts.example");
    assert_eq!(c["act"]["act"]["client_id"], DEMO_CLIENT_ID);
    assert!(c["exp"].as_i64() <= claims(&carol_via_alice)["exp"].as_i64(), "never outlives the token it came from");
    let whoami = get(&app, "/v2/whoami", &nested).await.json();
    assert_eq!(whoami["impersonatedBy"]["email"], "bob@tshirts.example");
    let chain: Vec<&str> = whoami["delegationChain"].as_array().unwrap().iter().map(|l| l["email"].as_str().unwrap()).collect();
    assert_eq!(chain, ["bob@tshirts.example", "alice@tshirts.example"]);
    // Bob's client is strict: the same impersonation token is exchanged once.
    let again = exchange_typed(&app, &bob_actor, &carol_via_alice, TOKEN_TYPE_ACCESS_TOKEN).await;
    assert!(refused(&again, StatusCode::BAD_REQUEST, "invalid_request").contains("already used"));
    // Only impersonation tokens name a subject this way; a client's own token does not.
    let plain = exchange_typed(&app, &bob_actor, &alice_actor, TOKEN_TYPE_ACCESS_TOKEN).await;
    assert!(refused(&plain, StatusCode::BAD_REQUEST, "invalid_request").contains("must be an impersonation token"));

    // Rotating, or revoking, the first client breaks every token derived from it.
    let alice = app::backend::principal::Principal::signed_in(store::users::by_email(&app.state.db, "alice@tshirts.example").await.unwrap().unwrap());
    api_clients::rotate(&app.state, &alice, DEMO_CLIENT_ID).await.unwrap();
    assert!(refused(&get(&app, "/v2/whoami", &nested).await, StatusCode::UNAUTHORIZED, "invalid_token").contains("delegation chain"));
    api_clients::revoke(&app.state, &alice, DEMO_CLIENT_ID).await.unwrap();
    assert!(refused(&get(&app, "/v2/whoami", &nested).await, StatusCode::UNAUTHORIZED, "invalid_token").contains("delegation chain"));
}

#[tokio::test]
async fn the_rules_module_decides_as_in_the_ui() {
    let app = TestApp::new().await;
    // Sam holds a grant on the Customers group: Carol yes, U1 no.
    let (sam_client, sam_secret) = new_client(&app, "sam@tshirts.example", SubjectPolicy::Compatible).await;
    let actor = client_token(&app, &sam_client, &sam_secret).await;
    let sign = |email: &str| subject_jwt(Algorithm::HS256, &sam_client, &sam_secret, json!({"sub": email}));
    let carol = impersonation_token(&app, &actor, &sign("carol@tshirts.example")).await;
    let denied = exchange(&app, &actor, &sign("u1@tshirts.example")).await;
    assert_eq!(refused(&denied, StatusCode::BAD_REQUEST, "invalid_request"), SUBJECT_REFUSED);
    assert!(last_audit(&app).await.reason.contains("no grant"));

    // Removing the grant ends the impersonation token on its next use.
    app.edit_database("DELETE FROM impersonation_grants").await.unwrap();
    let reply = get(&app, "/v2/whoami", &carol).await;
    assert!(refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token").contains("no longer allowed"));
    let row = last_audit(&app).await;
    assert_eq!((row.action.as_str(), row.actor.as_str(), row.subject.as_deref()), ("impersonation.ended", "sam@tshirts.example", Some("carol@tshirts.example")));
    // Ended for good, even if the grant came back.
    let reply = get(&app, "/v2/whoami", &carol).await;
    assert!(refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token").contains("ended"));

    // The global switch stops exchanges and live impersonation tokens alike.
    let alice_actor = demo_token(&app).await;
    let carol_via_alice = impersonation_token(&app, &alice_actor, &demo_subject("carol@tshirts.example")).await;
    app::backend::services::settings::switch_impersonation(&app.state.writer, false, "test").await.unwrap();
    refused(&get(&app, "/v2/whoami", &carol_via_alice).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let off = exchange(&app, &alice_actor, &demo_subject("carol@tshirts.example")).await;
    assert_eq!(refused(&off, StatusCode::BAD_REQUEST, "invalid_request"), SUBJECT_REFUSED);
    assert!(last_audit(&app).await.reason.contains("switched off"));
}

#[tokio::test]
async fn an_exchange_gets_its_grant_s_mode_and_ends_when_the_grant_switches() {
    let app = TestApp::new().await;
    let (sam_client, sam_secret) = new_client(&app, "sam@tshirts.example", SubjectPolicy::Compatible).await;
    let actor = client_token(&app, &sam_client, &sam_secret).await;
    let subject = subject_jwt(Algorithm::HS256, &sam_client, &sam_secret, json!({"sub": "carol@tshirts.example"}));
    let carol = impersonation_token(&app, &actor, &subject).await;
    assert!(last_audit(&app).await.reason.contains("(mode: On behalf of)"));
    let mode: String = app.value("SELECT mode FROM impersonations").await;
    assert_eq!(mode, "on_behalf_of");
    let whoami = get(&app, "/v2/whoami", &carol).await.json();
    assert_eq!(whoami["mode"], "on_behalf_of", "Sam's grant on the customers");
    let alice = demo_token(&app).await;
    let grants = get(&app, "/v2/admin/grants", &alice).await.json();
    assert_eq!(grants["grants"][0]["mode"], "on_behalf_of");

    // An admin's exchange acts fully; a token for oneself has no mode.
    let as_u1 = impersonation_token(&app, &alice, &demo_subject("u1@tshirts.example")).await;
    assert_eq!(get(&app, "/v2/whoami", &as_u1).await.json()["mode"], "full");
    assert_eq!(get(&app, "/v2/whoami", &alice).await.json()["mode"], Value::Null);

    // The grant switched to Full: the on-behalf token ends on its next use.
    app.edit_database("UPDATE impersonation_grants SET mode = 'full'").await.unwrap();
    let reply = get(&app, "/v2/whoami", &carol).await;
    assert!(refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token").contains("your grant does not allow this mode"));
    let subject = subject_jwt(Algorithm::HS256, &sam_client, &sam_secret, json!({"sub": "carol@tshirts.example", "n": 2}));
    let again = impersonation_token(&app, &actor, &subject).await;
    assert_eq!(get(&app, "/v2/whoami", &again).await.json()["mode"], "full");
}

/// Every row of a dataset a token may read, page by page; each row seen once.
async fn all_rows(app: &TestApp, token: &str, dataset: &str) -> (Vec<Value>, Value) {
    let mut rows = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &page {
            None => format!("/v2/datasets/{dataset}/rows?pageSize=500"),
            Some(p) => format!("/v2/datasets/{dataset}/rows?pageSize=500&page={p}"),
        };
        let reply = get(app, &path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let body = reply.json();
        rows.extend(body["rows"].as_array().unwrap().iter().cloned());
        pages += 1;
        assert!(pages < 100, "paging ends");
        match body["nextPage"].as_str() {
            Some(next) => page = Some(next.to_string()),
            None => return (rows, body),
        }
    }
}

#[tokio::test]
async fn dataset_rows_are_filtered_and_masked_for_every_token() {
    let app = TestApp::new().await;
    let alice = demo_token(&app).await;
    let (everyone, body) = all_rows(&app, &alice, "customers").await;
    assert_eq!(everyone.len(), app::backend::seed::CUSTOMER_DATASET_ROWS, "admins read every row");
    assert_eq!(body["masked"], json!([]));
    let email = body["columns"].as_array().unwrap().iter().position(|c| c == "email").unwrap();
    assert!(everyone.iter().all(|r| r[email].as_str().unwrap().contains('@')));
    let ids: std::collections::HashSet<i64> = everyone.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), everyone.len(), "no row twice");

    // An impersonation token reads exactly what Carol reads: EU rows, emails masked.
    let as_carol = impersonation_token(&app, &alice, &demo_subject("carol@tshirts.example")).await;
    let (carols, body) = all_rows(&app, &as_carol, "customers").await;
    let eu = everyone.iter().filter(|r| r[3] == "EU").count();
    assert_eq!(carols.len(), eu);
    assert!(carols.iter().all(|r| r[3] == "EU" && r[email] == "••••••"));
    assert_eq!(body["masked"], json!(["email"]));
    // Orders are Dave's region's only: their customers are all in the US.
    let as_dave = impersonation_token(&app, &alice, &demo_subject("dave@tshirts.example")).await;
    let region_of: std::collections::HashMap<i64, String> =
        everyone.iter().map(|r| (r[0].as_i64().unwrap(), r[3].as_str().unwrap().to_string())).collect();
    let (daves, _) = all_rows(&app, &as_dave, "orders").await;
    assert!(!daves.is_empty());
    assert!(daves.iter().all(|o| region_of[&o[2].as_i64().unwrap()] == "US"));
    // Datasets without regions are read whole; bad pages are precise 400s.
    let reply = get(&app, "/v2/datasets/web_history/rows?pageSize=5", &as_carol).await;
    assert_eq!(reply.json()["rows"].as_array().unwrap().len(), 5);
    assert_eq!(get(&app, "/v2/datasets/customers/rows?page=-1", &as_carol).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&app, "/v2/datasets/customers/rows?pageSize=0", &as_carol).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&app, "/v2/datasets/nope/rows", &as_carol).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/v2/datasets/customers/rows?page=12", &as_carol).await.status, StatusCode::BAD_REQUEST);

    // A rebuild between two pages is told, not papered over with skipped or repeated rows.
    let first = get(&app, "/v2/datasets/customers/rows?pageSize=10", &alice).await.json();
    let next = first["nextPage"].as_str().unwrap().to_string();
    app.edit_database("UPDATE datasets SET generation = generation + 1000 WHERE name = 'customers'").await.unwrap();
    let stale = get(&app, &format!("/v2/datasets/customers/rows?pageSize=10&page={next}"), &alice).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
}

#[tokio::test]
async fn a_change_written_outside_the_server_stops_tokens_on_their_next_use() {
    let app = TestApp::new().await;
    let actor = demo_token(&app).await;
    let as_carol = impersonation_token(&app, &actor, &demo_subject("carol@tshirts.example")).await;
    let as_u1 = impersonation_token(&app, &actor, &demo_subject("u1@tshirts.example")).await;
    for _ in 0..3 {
        // What the checks read is cached now.
        assert_eq!(get(&app, "/v2/whoami", &as_carol).await.status, StatusCode::OK);
        assert_eq!(get(&app, "/v2/whoami", &as_u1).await.status, StatusCode::OK);
    }
    // As the command line writes: straight into the file.
    app.edit_database("UPDATE users SET disabled = 1 WHERE email = 'carol@tshirts.example'").await.unwrap();
    refused(&get(&app, "/v2/whoami", &as_carol).await, StatusCode::UNAUTHORIZED, "invalid_token");
    let again = exchange(&app, &actor, &demo_subject("carol@tshirts.example")).await;
    assert_eq!(refused(&again, StatusCode::BAD_REQUEST, "invalid_request"), SUBJECT_REFUSED);

    // The actor loses the right to impersonate: her token for U1 stops at once.
    app.edit_database("UPDATE users SET is_admin = 0 WHERE email = 'alice@tshirts.example'").await.unwrap();
    let reply = get(&app, "/v2/whoami", &as_u1).await;
    assert!(refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token").contains("no longer allowed"));
}

#[tokio::test]
async fn administration_endpoints_refuse_impersonation_tokens() {
    let app = TestApp::new().await;
    let actor = demo_token(&app).await;
    let carol = impersonation_token(&app, &actor, &demo_subject("carol@tshirts.example")).await;
    for path in ["/v2/admin/clients", "/v2/admin/grants", "/v2/admin/audit"] {
        let own = get(&app, path, &actor).await;
        assert_eq!(own.status, StatusCode::OK, "{path}: {}", own.body);
        let told = refused(&get(&app, path, &carol).await, StatusCode::FORBIDDEN, "insufficient_scope");
        assert!(told.contains("refuses impersonation tokens"), "{path}: {told}");
        let row = last_audit(&app).await;
        assert_eq!((row.action.as_str(), row.outcome.as_str(), row.target.as_str()), ("api.request", "denied", &*format!("GET {path}")));
        assert_eq!((row.actor.as_str(), row.subject.as_deref()), ("alice@tshirts.example", Some("carol@tshirts.example")));
    }
    let revoke = call(&app, Method::POST, &format!("/v2/admin/clients/{DEMO_CLIENT_ID}/revoke"), Some(&carol), None).await;
    refused(&revoke, StatusCode::FORBIDDEN, "insufficient_scope");
    let clients = get(&app, "/v2/admin/clients", &actor).await.json();
    assert_eq!(clients["clients"][0]["clientId"], DEMO_CLIENT_ID);
    assert!(!clients.to_string().contains(DEMO_CLIENT_SECRET), "secrets never leave the server");
    // A member's own client may not administer.
    let (sam_client, sam_secret) = new_client(&app, "sam@tshirts.example", SubjectPolicy::Compatible).await;
    let sam = client_token(&app, &sam_client, &sam_secret).await;
    refused(&get(&app, "/v2/admin/audit", &sam).await, StatusCode::FORBIDDEN, "access_denied");
}

#[tokio::test]
async fn requests_without_a_valid_bearer_token_get_401_with_a_challenge() {
    let app = TestApp::new().await;
    let reply = call(&app, Method::GET, "/v2/whoami", None, None).await;
    refused(&reply, StatusCode::UNAUTHORIZED, "invalid_token");
    let req = Request::builder().uri("/v2/whoami").header(header::AUTHORIZATION, "Bearer nonsense").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with("Bearer realm=\"guise\", error=\"invalid_token\""), "{challenge}");
    let basic = Request::builder().uri("/v2/whoami").header(header::AUTHORIZATION, "Basic abc").body(Body::empty()).unwrap();
    assert_eq!(app.request(basic).await.status, StatusCode::UNAUTHORIZED);
    let unknown = call(&app, Method::GET, "/v2/nothing-here", None, None).await;
    refused(&unknown, StatusCode::NOT_FOUND, "not_found");
    let doc = call(&app, Method::GET, "/v2/openapi.json", None, None).await.json();
    for path in ["/v2/auth/token", "/v2/whoami", "/v2/files", "/v2/datasets/{name}/build", "/v2/jobs/{id}", "/v2/admin/audit"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
}

#[tokio::test]
async fn the_command_line_creates_a_client_whose_secret_works() {
    let app = TestApp::new().await;
    let run = |args: &[&str]| {
        app.server_binary()
            .args(args)
            .env("GUISE_DEMO", "false")
            .output()
            .expect("run the server binary")
    };
    let output = run(&["client", "create", "--name", "Nightly reports", "--owner", "sam@tshirts.example"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let value = |label: &str| stdout.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().to_string()).expect(label);
    let (id, secret) = (value("client_id:"), value("client_secret:"));
    assert!(id.starts_with("nightly-reports-"), "{id}");
    let token = client_token(&app, &id, &secret).await;
    assert_eq!(get(&app, "/v2/whoami", &token).await.json()["email"], "sam@tshirts.example");
    let clients = store::api_clients::list(&app.state.db, TSHIRTS, 0).await.unwrap();
    assert_eq!(clients.iter().find(|c| c.client_id == id).unwrap().subject_policy, "strict", "strict unless asked");

    let unknown = run(&["client", "create", "--name", "x", "--owner", "nobody@tshirts.example"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user with email nobody@tshirts.example"));
}
