//! The HTTP functions, driven in-process with the events API Gateway and `cargo lambda watch`
//! send, over the real store: status codes, JSON errors naming the field, routes, ping hits.

use base64::Engine;
use integration_tests::TestApp;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

/// An API Gateway HTTP API (payload 2.0) event.
fn event(method: &str, path: &str, headers: Value, body: Option<&str>, base64: bool) -> String {
    let body = body.map(|b| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_owned()
        }
    });
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "req",
            "routeKey": "$default",
            "stage": "$default",
            "time": "03/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1796300000000i64
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

fn request(json: &str) -> lambda_http::Request {
    lambda_http::request::from_str(json).expect("a valid API Gateway event")
}

fn parts(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "every answer is JSON"
    );
    let body = serde_json::from_slice(response.body().as_ref()).expect("a JSON body");
    (status, body)
}

async fn post(app: &TestApp, content_type: Option<&str>, body: &str) -> (u16, Value) {
    let headers = match content_type {
        Some(ct) => json!({"content-type": ct}),
        None => json!({}),
    };
    let req = request(&event("POST", "/timers", headers, Some(body), false));
    parts(http_edge::create_timer(&app.timers, &req, app.now()).await)
}

#[tokio::test]
async fn a_created_timer_answers_201_with_its_location_and_can_be_read_back() {
    let app = TestApp::start().await;
    let req = request(&event(
        "POST",
        "/timers",
        json!({"content-type": "application/json; charset=utf-8"}),
        Some(r#"{"url": "https://example.com/hook", "hours": 1, "minutes": 5, "seconds": 3}"#),
        false,
    ));
    let response = http_edge::create_timer(&app.timers, &req, app.now()).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let (status, created) = parts(response);
    assert_eq!(status, 201);
    assert_eq!(created["time_left"], 3903);
    assert_eq!(
        location,
        format!("/timers/{}", created["id"].as_str().unwrap())
    );
    let due = chrono::DateTime::parse_from_rfc3339(created["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due.offset().local_minus_utc(), 0, "due_at is UTC");

    // Behind API Gateway, with path parameters and a stage prefix.
    let mut get: Value = serde_json::from_str(&event(
        "GET",
        &format!("/prod{location}"),
        json!({}),
        None,
        false,
    ))
    .unwrap();
    get["pathParameters"] = json!({"id": created["id"]});
    let (status, read) =
        parts(http_edge::get_timer(&app.timers, &request(&get.to_string()), app.now()).await);
    assert_eq!(status, 200);
    assert_eq!(read["id"], created["id"]);
    assert_eq!(read["time_left"], 3903);
    assert_eq!(read["status"], "pending");
    assert_eq!(read["attempts"], 0);

    // As `cargo lambda watch` sends it through a function URL: no path parameters.
    app.clock.advance(std::time::Duration::from_millis(1500));
    let (_, read) = parts(
        http_edge::get_timer(
            &app.timers,
            &request(&event("GET", &location, json!({}), None, false)),
            app.now(),
        )
        .await,
    );
    assert_eq!(read["time_left"], 3902, "rounded up");
}

#[tokio::test]
async fn a_base64_encoded_body_is_decoded() {
    let app = TestApp::start().await;
    let req = request(&event(
        "POST",
        "/timers",
        json!({"content-type": "application/json"}),
        Some(r#"{"url": "http://example.com/", "seconds": 5}"#),
        true,
    ));
    let (status, body) = parts(http_edge::create_timer(&app.timers, &req, app.now()).await);
    assert_eq!(
        (status, body["time_left"].as_u64()),
        (201, Some(5)),
        "{body}"
    );
}

/// An API Gateway event whose body is `bytes`, base64-encoded as API Gateway sends a body
/// that is not UTF-8 text.
fn binary_event(method: &str, path: &str, headers: Value, bytes: &[u8]) -> String {
    let mut event: Value = serde_json::from_str(&event(method, path, headers, Some(""), true))
        .expect("an event is JSON");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    event.to_string()
}

#[tokio::test]
async fn non_ascii_header_values_and_bodies_that_are_not_utf8_get_answers_not_errors() {
    let app = TestApp::start().await;
    let json_ct = "application/json";
    let create = |headers: Value| {
        request(&event(
            "POST",
            "/timers",
            headers,
            Some(r#"{"url": "http://example.com/", "seconds": 5}"#),
            false,
        ))
    };
    let accented = create(json!({"content-type": json_ct, "user-agent": "Benoît's client"}));
    let (status, body) = parts(http_edge::create_timer(&app.timers, &accented, app.now()).await);
    assert_eq!(
        status, 201,
        "a header the service does not read is not judged: {body}"
    );
    let accented_key = create(json!({"content-type": json_ct, "idempotency-key": "clé-1"}));
    let (status, body) =
        parts(http_edge::create_timer(&app.timers, &accented_key, app.now()).await);
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("Idempotency-Key")),
        "{body}"
    );

    let not_utf8 = request(&binary_event(
        "POST",
        "/timers",
        json!({"content-type": json_ct}),
        b"{\"url\": \"http://example.com/\xff\xfe\", \"seconds\": 5}",
    ));
    let (status, body) = parts(http_edge::create_timer(&app.timers, &not_utf8, app.now()).await);
    assert_eq!(
        (status, &body["error"]["code"], &body["error"]["field"]),
        (400, &json!("invalid_json"), &json!("body")),
        "{body}"
    );

    let binary_hit = request(&binary_event(
        "PUT",
        "/timers/ping/binary",
        json!({"content-type": "application/octet-stream", "x-timer-id": "café"}),
        b"ok \xff\xfe",
    ));
    let (status, _) = parts(http_edge::ping(&app.timers, &binary_hit, app.now()).await);
    assert_eq!(status, 200);
    let list = request(&event(
        "GET",
        "/timers/ping/binary/hits",
        json!({}),
        None,
        false,
    ));
    let (_, hits) = parts(http_edge::ping(&app.timers, &list, app.now()).await);
    assert_eq!(hits["hits"][0]["body"], "ok \u{fffd}\u{fffd}", "{hits}");
    assert_eq!(
        hits["hits"][0]["timer_id"],
        Value::Null,
        "timer ids are ASCII: a header that is not is no timer id: {hits}"
    );
}

#[tokio::test]
async fn every_client_mistake_is_a_4xx_json_error_naming_the_field() {
    let app = TestApp::start().await;
    let json_ct = Some("application/json");
    let cases: &[(Option<&str>, &str, u16, &str, &str)] = &[
        (json_ct, "", 400, "empty_body", "body"),
        (json_ct, "{not json", 400, "invalid_json", "body"),
        (json_ct, "[]", 400, "invalid_body", "body"),
        (json_ct, r#"{"seconds": 5}"#, 400, "missing_field", "url"),
        (
            json_ct,
            r#"{"url": "http://a.b", "seconds": "5"}"#,
            400,
            "invalid_number",
            "seconds",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "seconds": 1.5}"#,
            400,
            "invalid_number",
            "seconds",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "minutes": -1}"#,
            400,
            "invalid_number",
            "minutes",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "hours": null}"#,
            400,
            "invalid_number",
            "hours",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "hours": false}"#,
            400,
            "invalid_number",
            "hours",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "hours": 9223372036854775807}"#,
            400,
            "delay_too_long",
            "hours",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "hours": 1e400}"#,
            400,
            "invalid_json",
            "body",
        ),
        (
            json_ct,
            r#"{"url": "example.com/x"}"#,
            400,
            "invalid_url",
            "url",
        ),
        (json_ct, r#"{"url": "http://"}"#, 400, "invalid_url", "url"),
        (
            json_ct,
            r#"{"url": "ftp://example.com/x"}"#,
            400,
            "invalid_url",
            "url",
        ),
        (
            json_ct,
            r#"{"url": "http://a.b", "sceonds": 5}"#,
            400,
            "unknown_field",
            "sceonds",
        ),
        (
            Some("text/plain"),
            r#"{"url": "http://a.b"}"#,
            415,
            "unsupported_media_type",
            "content-type",
        ),
    ];
    for (content_type, body, status, code, field) in cases {
        let (got, error) = post(&app, *content_type, body).await;
        assert_eq!(got, *status, "{body}: {error}");
        assert_eq!(error["error"]["code"], *code, "{body}");
        assert_eq!(error["error"]["field"], *field, "{body}");
        assert!(error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let long_url = format!(r#"{{"url": "http://a.b/{}"}}"#, "x".repeat(2048));
    let (status, error) = post(&app, json_ct, &long_url).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (400, &json!("url_too_long"))
    );

    let (status, _) = post(&app, None, r#"{"url": "http://a.b"}"#).await;
    assert_eq!(status, 201, "no Content-Type is read as JSON");
}

#[tokio::test]
async fn unknown_and_malformed_ids_answer_404_and_400() {
    let app = TestApp::start().await;
    let get = |path: &str| request(&event("GET", path, json!({}), None, false));
    let (status, body) = parts(
        http_edge::get_timer(
            &app.timers,
            &get("/timers/0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10"),
            app.now(),
        )
        .await,
    );
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    for bad in ["/timers/nope", "/timers/%00", "/timers/..%2F"] {
        let (status, body) = parts(http_edge::get_timer(&app.timers, &get(bad), app.now()).await);
        assert_eq!(
            (status, &body["error"]["field"]),
            (400, &json!("id")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_ping_target_records_hits_and_lists_them_without_counting_the_read() {
    let app = TestApp::start().await;
    let hit = request(&event(
        "POST",
        "/timers/ping/demo-1",
        json!({"x-timer-id": "abc", "x-timer-attempt": "2", "content-type": "application/json"}),
        Some(r#"{"id":"abc"}"#),
        false,
    ));
    let (status, _) = parts(http_edge::ping(&app.timers, &hit, app.now()).await);
    assert_eq!(status, 200);
    app.clock.advance(std::time::Duration::from_millis(1));
    let plain = request(&event("GET", "/timers/ping/demo-1", json!({}), None, false));
    parts(http_edge::ping(&app.timers, &plain, app.now()).await);

    let list = request(&event(
        "GET",
        "/timers/ping/demo-1/hits",
        json!({}),
        None,
        false,
    ));
    for _ in 0..2 {
        let (status, hits) = parts(http_edge::ping(&app.timers, &list, app.now()).await);
        assert_eq!(status, 200);
        assert_eq!(hits["count"], 2, "{hits}");
        assert_eq!(hits["hits"][0]["timer_id"], "abc");
        assert_eq!(hits["hits"][0]["attempt"], "2");
        assert_eq!(hits["hits"][0]["method"], "POST");
        assert_eq!(hits["hits"][0]["body"], r#"{"id":"abc"}"#);
        assert_eq!(hits["hits"][1]["method"], "GET");
    }
    let bad = request(&event("GET", "/timers/ping/a%20b", json!({}), None, false));
    let (status, body) = parts(http_edge::ping(&app.timers, &bad, app.now()).await);
    assert_eq!((status, &body["error"]["field"]), (400, &json!("ping_id")));
}

#[tokio::test]
async fn the_hit_list_shows_the_newest_thousand_and_says_when_older_ones_are_left_out() {
    let app = TestApp::start().await;
    for i in 0..1001 {
        let hit = request(&event(
            "POST",
            "/timers/ping/many",
            json!({}),
            Some(&format!("hit {i}")),
            false,
        ));
        parts(http_edge::ping(&app.timers, &hit, app.now()).await);
        app.clock.advance(std::time::Duration::from_millis(1));
    }
    let list = request(&event(
        "GET",
        "/timers/ping/many/hits",
        json!({}),
        None,
        false,
    ));
    let (_, hits) = parts(http_edge::ping(&app.timers, &list, app.now()).await);
    assert_eq!(
        (hits["count"].as_u64(), hits["truncated"].as_bool()),
        (Some(1000), Some(true))
    );
    assert_eq!(hits["hits"][0]["body"], "hit 1");
    assert_eq!(hits["hits"][999]["body"], "hit 1000");
}
