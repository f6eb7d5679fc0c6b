//! `Idempotency-Key` on `POST /timers`, against the real store: a retried create gets the same
//! timer and the same answer, concurrent duplicates make one timer, a reused key with another
//! request is refused, and a key is forgotten after 24 hours.

use std::time::Duration;

use futures::future::join_all;
use integration_tests::{Receiver, TestApp};
use serde_json::{json, Value};
use timers::api::ApiResponse;
use timers::idempotency::KeyOf;

async fn create(app: &TestApp, key: &str, body: &str) -> ApiResponse {
    timers::api::create_timer(
        &app.timers,
        Some("application/json"),
        Some(KeyOf { caller: "", key }),
        body.as_bytes(),
        app.now(),
    )
    .await
}

fn header<'a>(answer: &'a ApiResponse, name: &str) -> Option<&'a str> {
    answer
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Fires everything due within two minutes; returns how many calls the receiver got.
async fn fire_all(app: &TestApp, receiver: &Receiver) -> usize {
    app.clock.advance(Duration::from_secs(120));
    app.sweeper().sweep(None).await.unwrap();
    receiver.hits().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_gets_the_same_timer_and_the_same_answer() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url("/ok/once"), "seconds": 30}).to_string();
    let first = create(&app, "order-42", &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(header(&first, "idempotent-replayed"), None);

    app.clock.advance(Duration::from_secs(10));
    let again = create(&app, "order-42", &body).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        again.body, first.body,
        "the first answer, time_left included"
    );
    assert_eq!(header(&again, "location"), header(&first, "location"));
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));

    // The same request with its members in another order and other spacing is the same request.
    let reordered = format!(
        "{{ \"seconds\" : 30 , \"url\" : \"{}\" }}",
        receiver.url("/ok/once")
    );
    let third = create(&app, "order-42", &reordered).await;
    assert_eq!((third.status, &third.body), (201, &first.body));

    assert_eq!(fire_all(&app, &receiver).await, 1, "one timer, one call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_with_a_different_request_is_refused_and_creates_nothing() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let first = create(
        &app,
        "k-1",
        &json!({"url": receiver.url("/ok/a"), "seconds": 5}).to_string(),
    )
    .await;
    assert_eq!(first.status, 201);
    let other = create(
        &app,
        "k-1",
        &json!({"url": receiver.url("/ok/a"), "seconds": 6}).to_string(),
    )
    .await;
    assert_eq!(other.status, 409, "{}", other.body);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");
    assert_eq!(fire_all(&app, &receiver).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_create_one_timer() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url("/ok/dup"), "seconds": 5}).to_string();
    let answers = join_all((0..12).map(|_| create(&app, "same-key", &body))).await;

    let ids: std::collections::HashSet<Value> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.body);
            a.body["id"].clone()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let replayed = answers
        .iter()
        .filter(|a| header(a, "idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, answers.len() - 1);
    assert_eq!(fire_all(&app, &receiver).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_kept_for_24_hours_and_then_forgotten() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let body = |path: &str| json!({"url": receiver.url(path), "seconds": 1}).to_string();
    let first = create(&app, "daily", &body("/ok/day-1")).await;

    app.clock.advance(Duration::from_secs(23 * 3600));
    let within = create(&app, "daily", &body("/ok/day-2")).await;
    assert_eq!(within.status, 409, "still remembered after 23 hours");

    app.clock.advance(Duration::from_secs(2 * 3600));
    let after = create(&app, "daily", &body("/ok/day-2")).await;
    assert_eq!(after.status, 201, "{}", after.body);
    assert_ne!(after.body["id"], first.body["id"]);
    assert_eq!(header(&after, "idempotent-replayed"), None);
}

#[tokio::test]
async fn a_malformed_key_is_refused_naming_the_header() {
    let app = TestApp::start().await;
    let body = json!({"url": "https://example.com/hook", "seconds": 5}).to_string();
    for key in ["", "ключ", &"k".repeat(256)] {
        let answer = create(&app, key, &body).await;
        assert_eq!(answer.status, 400, "{key:?}");
        assert_eq!(answer.body["error"]["field"], "Idempotency-Key");
        assert_eq!(answer.body["error"]["code"], "invalid_idempotency_key");
    }
}

/// A `POST /timers` as API Gateway passes it on, from the IAM principal `arn` or the JWT
/// subject `sub`.
fn request_from(caller: Caller, key: &str, body: &str) -> lambda_http::Request {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
    };
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;

    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    match caller {
        Caller::Iam(arn) => {
            let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
            iam.user_arn = Some(arn.to_owned());
            authorizer.iam = Some(iam);
        }
        Caller::Jwt(sub) => {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims
                .insert("iss".into(), "https://issuer.example".into());
            jwt.claims.insert("sub".into(), sub.into());
            authorizer.jwt = Some(jwt);
        }
    }
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/timers")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(lambda_http::Body::from(body.to_owned()))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

#[derive(Clone, Copy)]
enum Caller {
    Iam(&'static str),
    Jwt(&'static str),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_authenticated_caller_has_its_own_keys() {
    let app = TestApp::start().await;
    let body = json!({"url": "https://example.com/hook", "minutes": 5}).to_string();
    let create = |caller| {
        let request = request_from(caller, "shared-key", &body);
        let timers = app.timers.clone();
        let now = app.now();
        async move {
            let response = http_edge::create_timer(&timers, &request, now).await;
            assert_eq!(response.status().as_u16(), 201);
            let replayed = response.headers().contains_key("idempotent-replayed");
            let answer: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
            (answer["id"].clone(), replayed)
        }
    };
    let alice = Caller::Iam("arn:aws:iam::111122223333:user/alice");
    let bob = Caller::Iam("arn:aws:iam::111122223333:user/bob");
    let (alices, _) = create(alice).await;
    let (bobs, bob_replayed) = create(bob).await;
    let (jwt_users, _) = create(Caller::Jwt("user-7")).await;
    let (alices_again, alice_replayed) = create(alice).await;

    assert_ne!(alices, bobs, "bob's key is his own");
    assert!(!bob_replayed);
    assert_ne!(jwt_users, alices);
    assert_ne!(jwt_users, bobs);
    assert_eq!((alices_again, alice_replayed), (alices, true));
}
