//! `docs/openapi.yaml` describes the API the code serves: real answers of the HTTP functions,
//! over the real store and with timers fired at real receivers, are checked against it by
//! `tests/openapi_check.py` (openapi-core), and its paths are exactly the routes served.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::{store_endpoint, Receiver, StoreProxy, TestApp};
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

const UNKNOWN_ID: &str = "0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10";
const MINUTE: Duration = Duration::from_secs(60);
/// The methods the document gives `/timers/ping/{ping_id}`, which the router serves for any.
const ANY: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn document() -> Yaml {
    let text = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The request/response pairs a test made, in the shape `openapi_check.py` reads.
struct Recorder<'a> {
    app: &'a TestApp,
    exchanges: Vec<Value>,
}

impl<'a> Recorder<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            exchanges: Vec::new(),
        }
    }

    /// Sends a request to the function the router gives it, records the exchange, checks the
    /// status is the one the scenario meant to produce, and returns the JSON answer.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
        expected: u16,
    ) -> Value {
        let mut request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request: Request = request
            .body(body.map_or(Body::Empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let response = dispatch(self.app, &request).await;
        let status = response.status().as_u16();
        let response_headers: serde_json::Map<String, Value> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap())))
            .collect();
        let answer: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(status, expected, "{method} {path}: {answer}");
        self.exchanges.push(json!({
            "method": method,
            "path": path,
            "request_headers": headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "request_body": body.map(|b| serde_json::from_str(b).unwrap_or_else(|_| json!(b))),
            "status": status,
            "response_headers": response_headers,
            "response_body": answer,
        }));
        answer
    }

    /// `POST /timers` with a JSON body.
    async fn create(&mut self, body: Value) -> Value {
        let json = [("content-type", "application/json")];
        self.send("POST", "/timers", &json, Some(&body.to_string()), 201)
            .await
    }

    /// `POST /timers` that must be refused with `status` and `code`.
    async fn refuse(&mut self, content_type: &str, body: &str, status: u16, code: &str) {
        let headers = [("content-type", content_type)];
        let answer = self
            .send("POST", "/timers", &headers, Some(body), status)
            .await;
        assert_eq!(answer["error"]["code"], code, "{body}");
    }

    async fn get(&mut self, id: &str, expected: u16) -> Value {
        self.send("GET", &format!("/timers/{id}"), &[], None, expected)
            .await
    }
}

/// The function the router sends a request to, as `[workspace.metadata.lambda.watch.router]`.
async fn dispatch(app: &TestApp, request: &Request) -> Response<Body> {
    let path = request.uri().path();
    let now = app.now();
    match (request.method().as_str(), path) {
        (_, p) if p.starts_with("/timers/ping/") => {
            http_edge::ping(&app.timers, request, now).await
        }
        ("POST", "/timers") => http_edge::create_timer(&app.timers, request, now).await,
        ("POST", p) if p.ends_with("/retry") => {
            http_edge::retry_timer(&app.timers, request, now).await
        }
        ("GET", _) => http_edge::get_timer(&app.timers, request, now).await,
        ("DELETE", _) => http_edge::cancel_timer(&app.timers, request, now).await,
        (method, p) => panic!("no route for {method} {p}"),
    }
}

async fn sweep(app: &TestApp) -> timers::sweep::SweepReport {
    app.sweeper()
        .sweep(None)
        .await
        .expect("the sweep lists due timers")
}

fn id(timer: &Value) -> String {
    timer["id"].as_str().unwrap().to_owned()
}

/// Runs `tests/openapi_check.py` over the exchanges; panics with its output unless it passes.
fn check_against_the_document(exchanges: &[Value]) {
    let root = repo_root();
    let python = root.join(".venv/bin/python3");
    let install = "run tests/run.sh once, or: source local/tools.sh && ensure_tools \
                   openapi-core==$OPENAPI_CORE_VERSION \
                   openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION";
    let tools = Command::new(&python)
        .args(["-c", "import openapi_core, openapi_spec_validator, yaml"])
        .output();
    assert!(
        tools.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import openapi-core and openapi-spec-validator ({tools:?}): {install}",
        python.display()
    );
    let file =
        std::env::temp_dir().join(format!("openapi-exchanges-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec_pretty(exchanges).unwrap()).unwrap();
    let output = Command::new(&python)
        .current_dir(&root)
        .arg("tests/openapi_check.py")
        .arg("docs/openapi.yaml")
        .arg(&file)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(
        output.status.success(),
        "answers do not match docs/openapi.yaml (exchanges kept in {}):\n{report}",
        file.display()
    );
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_openapi_document() {
    let app = TestApp::start_with(|s| s.sweep.max_attempts = 2).await;
    let receiver = Receiver::start().await;
    let mut api = Recorder::new(&app);

    // Created: by delay, by absolute time.
    let later = api
        .create(json!({"url": receiver.url("/ok/later"), "hours": 1, "minutes": 5, "seconds": 3}))
        .await;
    let at = (app.now() + chrono::Duration::days(2)).to_rfc3339();
    api.create(json!({"url": receiver.url("/ok/at"), "at": at}))
        .await;
    let fires = api
        .create(json!({"url": receiver.url("/ok/fires"), "seconds": 1}))
        .await;
    let fails = api
        .create(json!({"url": receiver.url("/status/500/fails"), "seconds": 1}))
        .await;

    let shaped = api
        .create(json!({
            "url": receiver.url("/ok/shaped"), "minutes": 5, "method": "PUT",
            "headers": {"Content-Type": "text/plain", "Authorization": "Bearer x"},
            "body": "hello",
        }))
        .await;
    assert_eq!(
        api.get(&id(&shaped), 200).await["headers"]["authorization"],
        "***"
    );

    // Created under an Idempotency-Key, replayed, and refused when reused for another request.
    let keyed = json!({"url": receiver.url("/ok/keyed"), "minutes": 5}).to_string();
    let with_key = |key| {
        [
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ]
    };
    let first = api
        .send("POST", "/timers", &with_key("k-1"), Some(&keyed), 201)
        .await;
    let replay = api
        .send("POST", "/timers", &with_key("k-1"), Some(&keyed), 201)
        .await;
    assert_eq!(replay, first);
    let reused = api
        .send(
            "POST",
            "/timers",
            &with_key("k-1"),
            Some(r#"{"url": "http://a.b"}"#),
            409,
        )
        .await;
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    let bad_key = api
        .send("POST", "/timers", &with_key(""), Some(&keyed), 400)
        .await;
    assert_eq!(bad_key["error"]["field"], "Idempotency-Key");

    // Refused.
    let json_ct = "application/json";
    let long_url = format!(r#"{{"url": "http://a.b/{}"}}"#, "x".repeat(2048));
    for (body, code) in [
        ("", "empty_body"),
        ("{not json", "invalid_json"),
        ("[]", "invalid_body"),
        (r#"{"seconds": 5}"#, "missing_field"),
        (r#"{"url": 5}"#, "invalid_type"),
        (r#"{"url": "ftp://a.b/x"}"#, "invalid_url"),
        (&long_url, "url_too_long"),
        (r#"{"url": "http://a.b", "seconds": "5"}"#, "invalid_number"),
        (
            r#"{"url": "http://a.b", "hours": 9000000}"#,
            "delay_too_long",
        ),
        (r#"{"url": "http://a.b", "at": "tomorrow"}"#, "invalid_time"),
        (
            r#"{"url": "http://a.b", "at": "2026-12-03T14:05:03Z", "seconds": 1}"#,
            "conflicting_fields",
        ),
        (r#"{"url": "http://a.b", "secnds": 5}"#, "unknown_field"),
        (
            r#"{"url": "http://a.b", "method": "get"}"#,
            "invalid_method",
        ),
        (
            r#"{"url": "http://a.b", "headers": {"Host": "internal"}}"#,
            "reserved_header",
        ),
        (
            r#"{"url": "http://a.b", "method": "GET", "body": "x"}"#,
            "body_not_allowed",
        ),
        (
            r#"{"url": "http://169.254.169.254/latest/meta-data/"}"#,
            "forbidden_target",
        ),
        (
            r#"{"url": "http://a.b", "url": "http://c.d"}"#,
            "duplicate_field",
        ),
    ] {
        api.refuse(json_ct, body, 400, code).await;
    }
    api.refuse(
        "text/plain",
        r#"{"url": "http://a.b"}"#,
        415,
        "unsupported_media_type",
    )
    .await;

    // Read: pending, malformed, unknown.
    assert_eq!(api.get(&id(&later), 200).await["status"], "pending");
    api.get("nope", 400).await;
    api.get(UNKNOWN_ID, 404).await;

    // One fires; one is answered 500, waits for a retry, then fails.
    app.clock.advance(MINUTE);
    let first = sweep(&app).await;
    assert_eq!((first.fired, first.retried), (1, 1), "{first:?}");
    let fired = api.get(&id(&fires), 200).await;
    assert_eq!(fired["status"], "fired");
    let waiting = api.get(&id(&fails), 200).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["last_status"].as_u64()),
        (Some("pending"), Some(500))
    );
    assert!(waiting["next_attempt_at"].is_string(), "{waiting}");
    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.failed, 1);
    assert_eq!(api.get(&id(&fails), 200).await["status"], "failed");
    assert_eq!(receiver.hits().len(), 3, "one call fired, two failed");

    // Retry: a failed timer, not a pending one, not an unknown or malformed id.
    let retry = |id: &str| format!("/timers/{id}/retry");
    let again = api.send("POST", &retry(&id(&fails)), &[], None, 200).await;
    assert_eq!(again["status"], "pending");
    let not_failed = api.send("POST", &retry(&id(&later)), &[], None, 409).await;
    assert_eq!(not_failed["error"]["code"], "not_failed");
    api.send("POST", &retry(UNKNOWN_ID), &[], None, 404).await;
    api.send("POST", &retry("nope"), &[], None, 400).await;

    // Cancel: a pending timer (twice), not a fired one, not an unknown or malformed id.
    let timer = |id: &str| format!("/timers/{id}");
    for _ in 0..2 {
        let cancelled = api
            .send("DELETE", &timer(&id(&later)), &[], None, 200)
            .await;
        assert_eq!(cancelled["status"], "cancelled");
    }
    assert!(api.get(&id(&later), 200).await["cancelled_at"].is_string());
    let not_cancellable = api
        .send("DELETE", &timer(&id(&fires)), &[], None, 409)
        .await;
    assert_eq!(not_cancellable["error"]["code"], "not_cancellable");
    api.send("DELETE", &timer(UNKNOWN_ID), &[], None, 404).await;
    api.send("DELETE", &timer("nope"), &[], None, 400).await;

    // The ping target, with every documented method, and its hits.
    let hit_headers = [
        ("content-type", "application/json"),
        ("x-timer-id", UNKNOWN_ID),
        ("x-timer-attempt", "1"),
    ];
    for method in ANY {
        let body = (method != "GET").then_some(r#"{"id": "x"}"#);
        app.clock.advance(Duration::from_millis(1));
        let recorded = api
            .send(method, "/timers/ping/openapi", &hit_headers, body, 200)
            .await;
        assert_eq!(recorded["recorded"], true);
    }
    let hits = api
        .send("GET", "/timers/ping/openapi/hits", &[], None, 200)
        .await;
    assert_eq!(hits["count"], ANY.len());
    api.send("GET", "/timers/ping/-_-", &[], None, 400).await;
    api.send("GET", "/timers/ping/-_-/hits", &[], None, 400)
        .await;

    // The store is down: 503 with Retry-After.
    let proxy = StoreProxy::start(&store_endpoint().await).await;
    let cut = TestApp::on_endpoint(&proxy.endpoint, |_| {}).await;
    proxy.stop();
    let mut down = Recorder::new(&cut);
    let unavailable = down
        .send(
            "POST",
            "/timers",
            &[("content-type", json_ct)],
            Some(r#"{"url": "http://a.b", "seconds": 5}"#),
            503,
        )
        .await;
    assert_eq!(unavailable["error"]["code"], "unavailable");
    down.get(UNKNOWN_ID, 503).await;
    down.send("GET", "/timers/ping/openapi", &[], None, 503)
        .await;

    let mut exchanges = api.exchanges;
    exchanges.extend(down.exchanges);
    check_against_the_document(&exchanges);
}

/// `(METHOD, path)` for every route `cargo lambda watch` serves; `ANY` as the methods documented.
fn routed() -> BTreeSet<(String, String)> {
    let manifest: toml::Table = std::fs::read_to_string(repo_root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut routes = BTreeSet::new();
    for (path, target) in router {
        let methods: Vec<String> = match target {
            toml::Value::String(_) => ANY.iter().map(|m| m.to_string()).collect(),
            toml::Value::Array(entries) => entries
                .iter()
                .map(|e| e["method"].as_str().unwrap().to_owned())
                .collect(),
            other => panic!("unexpected router entry {other:?}"),
        };
        routes.extend(methods.into_iter().map(|m| (m, path.clone())));
    }
    routes
}

/// `(METHOD, path)` for every operation in the document.
fn documented() -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let document = document();
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_hash().unwrap() {
        for method in METHODS {
            if !item[method].is_badvalue() {
                operations.insert((
                    method.to_ascii_uppercase(),
                    path.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    operations
}

#[test]
fn the_document_describes_exactly_the_routes_served() {
    let routed = routed();
    let documented = documented();
    assert!(!routed.is_empty());
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed but not documented"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not routed"
    );
}
