//! The integration tests' harness: a real DynamoDB-API server (Dynoxide embedded on 127.0.0.1,
//! or any server named by `TIMERS_TEST_DYNAMODB_ENDPOINT`, such as moto), a fresh table per
//! test, real HTTP receivers on 127.0.0.1, a settable clock, and the service wired exactly as
//! the functions wire it.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use timers::config::{Settings, SweepSettings};
use timers::service::Timers;
use timers::store::dynamo::{create_table_if_missing, DynamoStore};
use timers::store::TimerStore;
use timers::sweep::{Clock, Sweeper};
use timers::webhook::{CallTimeouts, HttpWebhook, ATTEMPT_HEADER, TIMER_ID_HEADER};

/// How long any wait in a test may take before it fails: generous, for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Waits until `check` holds, polling; panics with `what` after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_until_within(DEADLINE, what, check).await;
}

/// Waits until `check` holds, polling; panics with `what` after `deadline`.
pub async fn wait_until_within<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A clock the test sets by hand.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(now)))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.0.lock().unwrap() = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The DynamoDB-API endpoint for this test: an external one if `TIMERS_TEST_DYNAMODB_ENDPOINT`
/// is set, else a Dynoxide server started in this process on a free port.
pub async fn store_endpoint() -> String {
    if let Ok(endpoint) = std::env::var("TIMERS_TEST_DYNAMODB_ENDPOINT") {
        return endpoint;
    }
    let db = dynoxide::Database::memory().expect("an in-memory Dynoxide database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(dynoxide::server::serve_with_shutdown(
        listener,
        db,
        std::future::pending(),
    ));
    endpoint
}

/// A Dynoxide server on 127.0.0.1 that keeps its data in an SQLite file, as the local stack's
/// store does, and can be stopped and started again on the same file.
pub struct FileStore {
    pub endpoint: String,
    path: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), String>>,
}

impl FileStore {
    /// Opens (or creates) the database at `path` and serves it on a free port.
    pub async fn start(path: &std::path::Path) -> Self {
        let db = dynoxide::Database::new(path.to_str().expect("a UTF-8 path"))
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(dynoxide::server::serve_with_shutdown(listener, db, async {
            let _ = stopped.await;
        }));
        Self {
            endpoint,
            path: path.to_owned(),
            stop,
            server,
        }
    }

    /// Stops the server and waits until the file is closed. Dynoxide keeps the database in
    /// WAL mode, and SQLite deletes the `-wal` file only when the last connection closes: so
    /// the log is there while the server runs and gone once the database is dropped.
    pub async fn stop(self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        assert!(wal.exists(), "{} is open in WAL mode", self.path.display());
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .expect("the store finishes its connections and stops")
            .expect("the store's task ends")
            .expect("the store ran without error");
        wait_until("the store to close its SQLite file", || {
            let closed = !wal.exists();
            async move { closed }
        })
        .await;
    }
}

/// The loopback networks tests allow as targets: every receiver listens on 127.0.0.1.
pub const TEST_PRIVATE_TARGETS: &str = "127.0.0.0/8,::1/128";
/// The Standard Webhooks secret test calls are signed with.
pub const TEST_WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The Python of the project's `.venv` (made by `tests/run.sh`), for checks run with
/// independent implementations from PyPI.
pub fn venv_python() -> std::path::PathBuf {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python3");
    assert!(
        python.exists(),
        "{} is missing: run tests/run.sh once, which installs the PyPI tools into .venv",
        python.display()
    );
    python
}

/// Settings for tests: the defaults, with short retries and calls, loopback targets allowed
/// and calls signed with [`TEST_WEBHOOK_SECRET`].
pub fn test_settings(table: &str) -> Settings {
    let mut settings = Settings::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.to_owned()),
        "PRIVATE_TARGETS" => Some(TEST_PRIVATE_TARGETS.to_owned()),
        "WEBHOOK_SECRETS" => Some(TEST_WEBHOOK_SECRET.to_owned()),
        _ => None,
    })
    .unwrap();
    settings.sweep.retry_base = Duration::from_secs(1);
    settings.sweep.timeouts = CallTimeouts {
        connect: Duration::from_secs(5),
        total: Duration::from_secs(5),
    };
    settings
}

/// One test's service: its own table, a manual clock, the real HTTP webhook client.
pub struct TestApp {
    /// A raw client for the test's store server, to look at items as stored.
    pub client: aws_sdk_dynamodb::Client,
    pub store: Arc<dyn TimerStore>,
    pub timers: Timers,
    pub clock: ManualClock,
    pub settings: Settings,
}

impl TestApp {
    /// A new table on the test's store server, with settings changed by `tune`.
    pub async fn start_with(tune: impl FnOnce(&mut Settings)) -> Self {
        Self::on_endpoint(&store_endpoint().await, tune).await
    }

    /// A new table on the store server at `endpoint`.
    pub async fn on_endpoint(endpoint: &str, tune: impl FnOnce(&mut Settings)) -> Self {
        let table = format!("timers-{}", uuid::Uuid::new_v4().simple());
        let mut settings = test_settings(&table);
        tune(&mut settings);
        Self::on_table(endpoint, settings).await
    }

    /// An app over `settings.table` on the store server at `endpoint`, creating the table only
    /// if it is missing (as the local stack does at each start), e.g. after a store restart.
    pub async fn on_table(endpoint: &str, settings: Settings) -> Self {
        let client = DynamoStore::client_for_endpoint(endpoint);
        create_table_if_missing(&client, &settings.table)
            .await
            .unwrap();
        let store = Self::dynamo_store(&client, &settings);
        Self::over(client, settings, store)
    }

    /// This app with a store that reads due buckets at most `limit` timers a query, so every
    /// sweep follows `LastEvaluatedKey` over pages.
    pub fn with_page_limit(self, limit: i32) -> Self {
        let store = Self::dynamo_store(&self.client, &self.settings).with_page_limit(limit);
        Self {
            clock: self.clock,
            ..Self::over(self.client, self.settings, store)
        }
    }

    fn dynamo_store(client: &aws_sdk_dynamodb::Client, settings: &Settings) -> DynamoStore {
        DynamoStore::new(client.clone(), &settings.table).with_retention(settings.retention)
    }

    fn over(client: aws_sdk_dynamodb::Client, settings: Settings, store: DynamoStore) -> Self {
        let store: Arc<dyn TimerStore> = Arc::new(store);
        Self {
            client,
            timers: Timers::new(store.clone(), settings.shards)
                .with_targets(settings.targets.clone()),
            store,
            clock: ManualClock::new(Utc::now()),
            settings,
        }
    }

    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A sweeper over this app's store and clock, with the real HTTP client.
    pub fn sweeper(&self) -> Sweeper {
        self.sweeper_with(self.settings.sweep.clone())
    }

    /// A sweeper over this app's store on the system clock, for runs that sleep until due times.
    pub fn sweeper_in_real_time(&self) -> Sweeper {
        Sweeper::new(
            self.store.clone(),
            Arc::new(HttpWebhook::from_settings(&self.settings).unwrap()),
            Arc::new(timers::sweep::SystemClock),
            self.settings.sweep.clone(),
            self.settings.shards,
        )
    }

    pub fn sweeper_with(&self, sweep: SweepSettings) -> Sweeper {
        let webhook = HttpWebhook::new(
            sweep.timeouts,
            self.settings.targets.clone(),
            self.settings.signing.clone(),
        )
        .unwrap();
        Sweeper::new(
            self.store.clone(),
            Arc::new(webhook),
            Arc::new(self.clock.clone()),
            sweep,
            self.settings.shards,
        )
    }

    /// Creates a timer through the API, as `POST /timers` does; returns its JSON view.
    pub async fn create(&self, body: serde_json::Value) -> serde_json::Value {
        let answer = timers::api::create_timer(
            &self.timers,
            Some("application/json"),
            None,
            body.to_string().as_bytes(),
            self.now(),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body
    }

    /// Reads a timer through the API, as `GET /timers/{id}` does.
    pub async fn get(&self, id: &str) -> serde_json::Value {
        let answer = timers::api::get_timer(&self.timers, id, self.now()).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Every header, names in lower case (the last value of a repeated one).
    pub headers: HashMap<String, String>,
    /// When it arrived, in UTC.
    pub received: DateTime<Utc>,
    pub timer_id: Option<String>,
    pub attempt: Option<String>,
    pub body: String,
    pub at: Instant,
}

/// Called with the number of hits so far, after each hit is recorded.
pub type HitHook = Arc<dyn Fn(usize) + Send + Sync>;

#[derive(Default)]
struct Received {
    hits: Mutex<Vec<Hit>>,
    hook: Option<HitHook>,
    hangs_ended: Mutex<Vec<Instant>>,
}

/// Notes when a `/hang/..` request ends: the server drops its handler once the caller hangs up.
struct HangEnd(Arc<Received>);

impl Drop for HangEnd {
    fn drop(&mut self) {
        self.0.hangs_ended.lock().unwrap().push(Instant::now());
    }
}

/// A real HTTP server on 127.0.0.1 that records every request. What it answers depends on
/// the path's first segment:
/// `/ok/..` 200; `/status/{code}/..` that status; `/retry-after/{secs}/..` 503 with
/// `Retry-After`; `/retry-at/{epoch secs}/..` 429 with `Retry-After` as that HTTP date;
/// `/redirect/..` 302 to `/ok/..`; `/redirect-to/{host:port}/..` 302 to
/// `http://{host:port}/ok/..`; `/hang/..` never answers (see [`Receiver::hangs_ended`]).
pub struct Receiver {
    pub base: String,
    received: Arc<Received>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_with(Received::default()).await
    }

    /// A receiver on another loopback address, such as 127.0.0.2.
    pub async fn start_on(ip: &str) -> Self {
        Self::listen(Received::default(), ip).await
    }

    /// A receiver that calls `hook` after recording each hit.
    pub async fn start_with_hook(hook: HitHook) -> Self {
        Self::start_with(Received {
            hook: Some(hook),
            ..Received::default()
        })
        .await
    }

    async fn start_with(received: Received) -> Self {
        Self::listen(received, "127.0.0.1").await
    }

    async fn listen(received: Received, ip: &str) -> Self {
        let received = Arc::new(received);
        let app = Router::new()
            .route("/{*path}", any(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, received }
    }

    /// The full URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.received.hits.lock().unwrap().clone()
    }

    /// When each `/hang/..` request ended because its caller gave up and closed the
    /// connection, in order.
    pub fn hangs_ended(&self) -> Vec<Instant> {
        self.received.hangs_ended.lock().unwrap().clone()
    }

    /// How many requests each timer id sent.
    pub fn hits_by_timer(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for hit in self.hits() {
            *counts.entry(hit.timer_id.unwrap_or_default()).or_insert(0) += 1;
        }
        counts
    }
}

async fn receive(
    State(received): State<Arc<Received>>,
    Path(path): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: String,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let count = {
        let mut hits = received.hits.lock().unwrap();
        hits.push(Hit {
            method: method.to_string(),
            path: format!("/{path}"),
            headers: headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
            received: Utc::now(),
            timer_id: header(TIMER_ID_HEADER),
            attempt: header(ATTEMPT_HEADER),
            body,
            at: Instant::now(),
        });
        hits.len()
    };
    if let Some(hook) = &received.hook {
        hook(count);
    }
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["status", code, ..] => StatusCode::from_u16(code.parse().unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        ["retry-after", secs, ..] => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        ["retry-at", epoch_seconds, ..] => {
            let at = epoch_seconds
                .parse()
                .ok()
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
                .unwrap_or_default();
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    "retry-after",
                    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                )],
            )
                .into_response()
        }
        ["redirect-to", authority, rest @ ..] => (
            StatusCode::FOUND,
            [(
                "location",
                format!("http://{authority}/ok/{}", rest.join("/")),
            )],
        )
            .into_response(),
        ["redirect", rest @ ..] => (
            StatusCode::FOUND,
            [("location", format!("/ok/{}", rest.join("/")))],
        )
            .into_response(),
        ["hang", ..] => {
            let _end = HangEnd(received.clone());
            std::future::pending().await
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// A TCP proxy on 127.0.0.1 in front of the store that can be cut and restored, to stop the
/// store in the middle of a sweep whatever server is behind it.
#[derive(Clone)]
pub struct StoreProxy {
    pub endpoint: String,
    up: Arc<tokio::sync::watch::Sender<bool>>,
}

impl StoreProxy {
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (up, _) = tokio::sync::watch::channel(true);
        let up = Arc::new(up);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watch = state.subscribe();
                if !*watch.borrow() {
                    continue; // dropped: the store is down
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { endpoint, up }
    }

    /// Cuts every connection and refuses new ones.
    pub fn stop(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restart(&self) {
        self.up.send_replace(true);
    }
}

/// A server on 127.0.0.1 that reads each request, then answers it one byte a second, forever.
pub async fn start_drip_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                    .iter()
                    .cycle()
                {
                    if socket.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    base
}
