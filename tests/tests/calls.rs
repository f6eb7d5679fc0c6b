//! What a call looks like on the wire, and where it may not go: the client's method, headers
//! and body; Standard Webhooks signatures checked by the reference library from PyPI; and the
//! SSRF guard, at create time through the API and at fire time in the sweeper.

use std::time::Duration;

use integration_tests::{venv_python, Hit, Receiver, TestApp, TEST_WEBHOOK_SECRET};
use serde_json::{json, Value};
use timers::domain::{NewTimer, Timer};
use timers::target::TargetPolicy;

/// Moves the clock past every timer's due time and sweeps once.
async fn fire_all(app: &TestApp) {
    app.clock.advance(Duration::from_secs(120));
    app.sweeper()
        .sweep(None)
        .await
        .expect("the sweep lists due timers");
}

fn hit_for<'h>(hits: &'h [Hit], id: &Value) -> &'h Hit {
    let id = id.as_str().unwrap();
    hits.iter()
        .find(|h| h.timer_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no call for timer {id} in {hits:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_sends_the_method_headers_and_body_it_was_given() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let put = app
        .create(json!({
            "url": receiver.url("/ok/put"), "seconds": 1, "method": "PUT",
            "headers": {"Content-Type": "text/csv", "X-Tenant": "acme", "Authorization": "Bearer s3cret"},
            "body": "a,b\n1,2",
        }))
        .await;
    let get = app
        .create(json!({"url": receiver.url("/ok/get"), "seconds": 1, "method": "GET"}))
        .await;
    let delete = app
        .create(json!({"url": receiver.url("/ok/delete"), "seconds": 1, "method": "DELETE"}))
        .await;
    let text = app
        .create(json!({"url": receiver.url("/ok/text"), "seconds": 1, "body": "hello"}))
        .await;
    let empty = app
        .create(json!({"url": receiver.url("/ok/empty"), "seconds": 1, "body": ""}))
        .await;

    assert_eq!(put["method"], "PUT");
    assert_eq!(
        put["headers"],
        json!({"content-type": "text/csv", "x-tenant": "acme", "authorization": "***"})
    );
    assert_eq!(put["body_bytes"], 7);
    assert_eq!(get["method"], "GET");
    assert!(get.get("headers").is_none() && get.get("body_bytes").is_none());
    fire_all(&app).await;

    let hits = receiver.hits();
    let put_hit = hit_for(&hits, &put["id"]);
    assert_eq!(
        (put_hit.method.as_str(), put_hit.body.as_str()),
        ("PUT", "a,b\n1,2")
    );
    assert_eq!(put_hit.headers["content-type"], "text/csv");
    assert_eq!(put_hit.headers["x-tenant"], "acme");
    assert_eq!(put_hit.headers["authorization"], "Bearer s3cret");
    let get_hit = hit_for(&hits, &get["id"]);
    assert_eq!(
        (get_hit.method.as_str(), get_hit.body.as_str()),
        ("GET", "")
    );
    let delete_hit = hit_for(&hits, &delete["id"]);
    assert_eq!(delete_hit.method, "DELETE");
    assert_eq!(
        serde_json::from_str::<Value>(&delete_hit.body).unwrap(),
        json!({"id": delete["id"]})
    );
    assert_eq!(delete_hit.headers["content-type"], "application/json");
    let text_hit = hit_for(&hits, &text["id"]);
    assert_eq!(
        (text_hit.method.as_str(), text_hit.body.as_str()),
        ("POST", "hello")
    );
    assert_eq!(
        text_hit.headers["content-type"],
        "text/plain; charset=utf-8"
    );
    let empty_hit = hit_for(&hits, &empty["id"]);
    assert_eq!(
        (empty_hit.method.as_str(), empty_hit.body.as_str()),
        ("POST", "")
    );
    assert_eq!(empty["body_bytes"], 0);
    for timer in [&put, &get, &delete, &text, &empty] {
        let view = app.get(timer["id"].as_str().unwrap()).await;
        assert_eq!(view["status"], "fired", "{view}");
        assert_eq!(view["method"], timer["method"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_signed_and_verifies_with_the_standard_webhooks_library() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let mut ids = Vec::new();
    for extra in [
        json!({}),
        json!({"method": "PUT", "body": "{\"order\": 42}", "headers": {"Content-Type": "application/json"}}),
        json!({"method": "GET"}),
        json!({"body": "ünïcödé text"}),
    ] {
        let mut request = json!({"url": receiver.url("/ok/signed"), "seconds": 1});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        ids.push(app.create(request).await["id"].clone());
    }
    fire_all(&app).await;
    let hits = receiver.hits();
    let mut calls: Vec<Value> = ids
        .iter()
        .map(|id| {
            let hit = hit_for(&hits, id);
            assert_eq!(hit.headers["webhook-id"], id.as_str().unwrap());
            assert!(hit.headers["webhook-signature"].starts_with("v1,"));
            json!({"headers": hit.headers, "body": hit.body})
        })
        .collect();
    // The same call with its body changed must not verify: the check is real.
    let mut tampered = calls[0].clone();
    tampered["body"] = json!("{\"id\": \"someone-else\"}");
    calls.push(tampered);

    let verdicts = verify_with_reference_library(TEST_WEBHOOK_SECRET, &calls).await;
    let expected_verified = vec!["verified"; ids.len()];
    assert_eq!(
        &verdicts[..ids.len()],
        &expected_verified[..],
        "{verdicts:?}"
    );
    assert!(verdicts[ids.len()].starts_with("refused"), "{verdicts:?}");
}

async fn verify_with_reference_library(secret: &str, calls: &[Value]) -> Vec<String> {
    let file = std::env::temp_dir().join(format!("calls-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, json!({"secret": secret, "calls": calls}).to_string()).unwrap();
    let output = tokio::process::Command::new(venv_python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/verify_signatures.py"))
        .arg(&file)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "the verifier failed (is standardwebhooks installed? tests/run.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An app whose timers may call public addresses only, as in production.
async fn production_app() -> TestApp {
    TestApp::start_with(|s| s.targets = TargetPolicy::public_only()).await
}

#[tokio::test]
async fn targets_that_are_or_resolve_to_internal_addresses_are_refused_at_create() {
    let app = production_app().await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("http://localhost:{port}/ok/x"),
        format!("http://LocalHost.:{port}/ok/x"),
        format!("http://anything.localhost:{port}/ok/x"),
        "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/".to_owned(),
        "http://127.0.0.1/".to_owned(),
        "http://127.1.2.3:8080/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://172.16.5.4/".to_owned(),
        "http://192.168.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://255.255.255.255/".to_owned(),
        "http://224.0.0.1/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://[::]/".to_owned(),
        "http://[fd00::1]/".to_owned(),
        "http://[fe80::1]/".to_owned(),
        "http://[ff02::1]/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://[::ffff:a9fe:a9fe]/".to_owned(),
        "http://[::ffff:10.0.0.1]/".to_owned(),
    ] {
        assert_eq!(url_refusal(&app, &url).await, "forbidden_target", "{url}");
    }
    // Numeric and short IPv4 forms are refused before any lookup, as URLs a parser rewrites.
    for url in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.1/",
        "http://１２７.０.０.１/",
    ] {
        assert_eq!(url_refusal(&app, url).await, "invalid_url", "{url}");
    }
    assert!(receiver.hits().is_empty());
}

/// The error code of a create for `url`, which must be a 400 naming `url`.
async fn url_refusal(app: &TestApp, url: &str) -> String {
    let answer = timers::api::create_timer(
        &app.timers,
        Some("application/json"),
        None,
        json!({"url": url, "seconds": 5}).to_string().as_bytes(),
        app.now(),
    )
    .await;
    assert_eq!(answer.status, 400, "{url}: {}", answer.body);
    assert_eq!(answer.body["error"]["field"], "url", "{url}");
    answer.body["error"]["code"].as_str().unwrap().to_owned()
}

/// Stores a pending timer for `url` as if an earlier check had let it through (a name whose
/// DNS changed since, or a row written by an older version).
async fn store_unchecked(app: &TestApp, url: &str) -> String {
    let request = NewTimer {
        url: url.parse().unwrap(),
        due_at: app.now(),
        call: Default::default(),
    };
    let timer = Timer::new(&request, app.now(), app.settings.shards);
    app.store.insert_timer(&timer).await.unwrap();
    timer.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_checks_again_at_fire_time_and_never_calls_an_internal_address() {
    let app = production_app().await;
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let by_name = store_unchecked(&app, &format!("http://localhost:{port}/ok/name")).await;
    let by_address = store_unchecked(&app, &receiver.url("/ok/address")).await;
    fire_all(&app).await;

    assert!(receiver.hits().is_empty(), "{:?}", receiver.hits());
    for id in [by_name, by_address] {
        let view = app.get(&id).await;
        assert_eq!(view["status"], "failed", "{view}");
        assert_eq!(view["attempts"], 1, "a refused target is not retried");
        let error = view["last_error"].as_str().unwrap();
        assert!(
            error.contains("not called") && error.contains("loopback"),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_private_address_is_not_followed() {
    // 127.0.0.1 is allowed here, as for a local target; 127.0.0.2 is not.
    let app = TestApp::start_with(|s| {
        s.targets = TargetPolicy::parse("127.0.0.1/32").unwrap();
    })
    .await;
    let public = Receiver::start().await;
    let private = Receiver::start_on("127.0.0.2").await;
    let authority = private.base.trim_start_matches("http://").to_owned();
    let created = app
        .create(json!({"url": public.url(&format!("/redirect-to/{authority}/x")), "seconds": 1}))
        .await;
    fire_all(&app).await;

    assert_eq!(public.hits().len(), 1);
    assert!(private.hits().is_empty(), "{:?}", private.hits());
    let view = app.get(created["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["last_status"], 302);
}
