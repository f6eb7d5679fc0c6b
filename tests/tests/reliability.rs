//! Never lose a timer, never fire one twice: dead sweepers' claims, deadlines, parallel
//! sweepers, a store that stops mid-sweep, a lagging index, and targets that misbehave.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use integration_tests::{
    start_drip_server, store_endpoint, wait_until, Receiver, StoreProxy, TestApp,
};
use serde_json::json;
use timers::domain::{Minute, Timer, TimerId};
use timers::error::StoreError;
use timers::idempotency::IdempotencyRecord;
use timers::ping::PingHit;
use timers::store::dynamo::DynamoStore;
use timers::store::{Claim, DueTimer, Outcome, TimerStore};
use timers::sweep::Sweeper;
use timers::webhook::HttpWebhook;

const MINUTE: Duration = Duration::from_secs(60);

fn id_of(view: &serde_json::Value) -> String {
    view["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sweepers_claim_is_taken_back_once_its_lease_runs_out() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let id = id_of(&app.create(json!({"url": receiver.url("/ok/x")})).await);
    app.clock.advance(MINUTE);
    let now = app.now().timestamp_millis();
    let lease = app.settings.sweep.lease().as_millis() as i64;
    // A sweeper claims it and dies before calling.
    let claim = Claim {
        now,
        lease_until: now + lease,
        token: "dead-sweeper".into(),
    };
    assert!(app.store.claim(&id, &claim).await.unwrap().is_some());

    let during = app.sweeper().sweep(None).await.unwrap();
    assert_eq!(
        (during.skipped, receiver.hits().len()),
        (1, 0),
        "{during:?}"
    );

    app.clock
        .advance(app.settings.sweep.lease() + Duration::from_secs(1));
    let after = app.sweeper().sweep(None).await.unwrap();
    assert_eq!(after.fired, 1, "{after:?}");
    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].attempt.as_deref(),
        Some("2"),
        "the dead claim counted as attempt 1"
    );
    // The dead sweeper cannot record an outcome over the new owner's.
    let late = Outcome::Failed {
        at: now,
        status: None,
        error: "late".into(),
    };
    assert!(!app.store.finish(&id, "dead-sweeper", &late).await.unwrap());
    assert_eq!(app.get(&id).await["status"], "fired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_past_its_deadline_claims_nothing_and_the_next_run_fires_everything() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    for i in 0..5 {
        app.create(json!({"url": receiver.url(&format!("/ok/{i}"))}))
            .await;
    }
    app.clock.advance(10 * MINUTE);

    let late = app.sweeper().sweep(Some(app.now())).await.unwrap();
    assert_eq!((late.claimed, late.left_for_next_run), (0, 5), "{late:?}");
    assert!(receiver.hits().is_empty());

    let next = app.sweeper().sweep(None).await.unwrap();
    assert_eq!(next.fired, 5, "{next:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sweepers_at_once_over_1000_due_timers_hit_each_exactly_once() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    for i in 0..1000 {
        app.create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": i % 120}))
            .await;
    }
    app.clock.advance(3 * MINUTE);

    let (a, b, c) = (app.sweeper(), app.sweeper(), app.sweeper());
    let (ra, rb, rc) = tokio::join!(a.sweep(None), b.sweep(None), c.sweep(None));
    let fired: usize = [ra, rb, rc].into_iter().map(|r| r.unwrap().fired).sum();

    let counts = receiver.hits_by_timer();
    println!(
        "3 sweepers: {fired} fired, {} hits, {} timers",
        receiver.hits().len(),
        counts.len()
    );
    assert_eq!(fired, 1000);
    assert_eq!(receiver.hits().len(), 1000);
    assert_eq!(counts.len(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_mid_sweep_loses_no_timer_and_marks_none_fired_without_a_call() {
    let proxy = StoreProxy::start(&store_endpoint().await).await;
    let app = TestApp::on_endpoint(&proxy.endpoint, |s| {
        s.sweep.concurrency = 4;
        // Outcomes are retried for the lease margin; keep it short, the store stays down.
        s.sweep.lease_margin = Duration::from_secs(2);
    })
    .await;
    let cut = proxy.clone();
    let receiver = Receiver::start_with_hook(Arc::new(move |hits| {
        if hits == 10 {
            cut.stop();
        }
    }))
    .await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(id_of(
            &app.create(json!({"url": receiver.url(&format!("/ok/{i}"))}))
                .await,
        ));
    }
    app.clock.advance(MINUTE);

    let broken = app.sweeper().sweep(None).await;
    let broken = broken.expect("listing happened before the cut");
    assert!(broken.store_errors > 0, "{broken:?}");
    assert!(
        broken.left_for_next_run > 0,
        "the sweep stopped claiming: {broken:?}"
    );

    proxy.restart();
    // Calls whose outcome could not be recorded are still claimed: their lease must run out.
    app.clock
        .advance(app.settings.sweep.lease() + Duration::from_secs(1));
    let mut runs = 0;
    loop {
        let report = app.sweeper().sweep(None).await.unwrap();
        runs += 1;
        if report.found == 0 {
            break;
        }
        assert!(runs < 5, "timers still due after {runs} sweeps: {report:?}");
    }

    let counts = receiver.hits_by_timer();
    let mut duplicates = 0;
    for id in &ids {
        let view = app.get(id).await;
        assert_eq!(view["status"], "fired", "{view}");
        let hits = counts.get(id).copied().unwrap_or(0);
        assert!(hits >= 1, "{id} marked fired without a call");
        duplicates += hits - 1;
    }
    println!(
        "store cut: {} store errors, {duplicates} duplicate calls",
        broken.store_errors
    );
    assert!(
        duplicates <= app.settings.sweep.concurrency,
        "a duplicate only for a call in flight when the store stopped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_blips_while_calls_are_in_flight_causes_no_duplicate() {
    let proxy = StoreProxy::start(&store_endpoint().await).await;
    let app = TestApp::on_endpoint(&proxy.endpoint, |s| s.sweep.concurrency = 8).await;
    let cut = proxy.clone();
    let receiver = Receiver::start_with_hook(Arc::new(move |hits| {
        if hits == 5 {
            cut.stop();
            let back = cut.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                back.restart();
            });
        }
    }))
    .await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(id_of(
            &app.create(json!({"url": receiver.url(&format!("/ok/{i}"))}))
                .await,
        ));
    }
    app.clock.advance(MINUTE);

    let mut report = app.sweeper().sweep(None).await.unwrap();
    for _ in 0..10 {
        if report.found == 0 {
            break;
        }
        app.clock.advance(MINUTE);
        report = app.sweeper().sweep(None).await.unwrap();
    }

    let counts = receiver.hits_by_timer();
    for id in &ids {
        assert_eq!(app.get(id).await["status"], "fired");
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} called {:?} times",
            counts.get(id)
        );
    }
}

/// A store whose index lags, as a DynamoDB GSI may: it still lists `stale` timers (already
/// finished) and does not yet list `hidden` ones (just written), on its first listing.
struct LaggingIndex {
    inner: Arc<dyn TimerStore>,
    stale: Vec<DueTimer>,
    hidden: Mutex<HashSet<String>>,
}

#[async_trait]
impl TimerStore for LaggingIndex {
    async fn insert_timer_once(
        &self,
        timer: &Timer,
        record: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.insert_timer_once(timer, record).await
    }

    async fn insert_timer(&self, timer: &Timer) -> Result<(), StoreError> {
        self.inner.insert_timer(timer).await
    }
    async fn get_timer(&self, id: &TimerId) -> Result<Option<Timer>, StoreError> {
        self.inner.get_timer(id).await
    }
    async fn due_timers(&self, bucket: &str, now: i64) -> Result<Vec<DueTimer>, StoreError> {
        let mut listed = self.inner.due_timers(bucket, now).await?;
        let hidden = self.hidden.lock().unwrap().clone();
        listed.retain(|d| !hidden.contains(&d.id));
        listed.extend(
            self.stale
                .iter()
                .filter(|d| bucket.starts_with(&Minute::containing(d.fire_at).label()))
                .cloned(),
        );
        Ok(listed)
    }
    async fn claim(&self, id: &str, claim: &Claim) -> Result<Option<Timer>, StoreError> {
        self.inner.claim(id, claim).await
    }
    async fn finish(&self, id: &str, token: &str, outcome: &Outcome) -> Result<bool, StoreError> {
        self.inner.finish(id, token, outcome).await
    }
    async fn cancel(&self, id: &TimerId, at: i64) -> Result<Option<Timer>, StoreError> {
        self.inner.cancel(id, at).await
    }
    async fn retry_failed(
        &self,
        id: &TimerId,
        fire_at: i64,
        bucket: &str,
    ) -> Result<Option<Timer>, StoreError> {
        self.inner.retry_failed(id, fire_at, bucket).await
    }
    async fn sweep_cursor(&self) -> Result<Option<Minute>, StoreError> {
        self.inner.sweep_cursor().await
    }
    async fn set_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError> {
        self.inner.set_sweep_cursor(minute).await
    }

    async fn start_sweep_cursor(&self, minute: Minute) -> Result<(), StoreError> {
        self.inner.start_sweep_cursor(minute).await
    }
    async fn record_hit(&self, hit: &PingHit) -> Result<(), StoreError> {
        self.inner.record_hit(hit).await
    }
    async fn hits(&self, ping_id: &str, limit: usize) -> Result<Vec<PingHit>, StoreError> {
        self.inner.hits(ping_id, limit).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claim_protects_against_a_stale_index() {
    let app = TestApp::start_with(|s| s.shards = 1).await;
    let receiver = Receiver::start().await;
    let fired = app.create(json!({"url": receiver.url("/ok/fired")})).await;
    app.clock.advance(MINUTE);
    assert_eq!(app.sweeper().sweep(None).await.unwrap().fired, 1);
    let fresh = app.create(json!({"url": receiver.url("/ok/fresh")})).await;
    let fired_at = app.now().timestamp_millis() - MINUTE.as_millis() as i64;

    let lagging = Arc::new(LaggingIndex {
        inner: app.store.clone(),
        stale: vec![DueTimer {
            id: id_of(&fired),
            fire_at: fired_at,
        }],
        hidden: Mutex::new(HashSet::from([id_of(&fresh)])),
    });
    let sweeper = Sweeper::new(
        lagging.clone(),
        Arc::new(HttpWebhook::from_settings(&app.settings).unwrap()),
        Arc::new(app.clock.clone()),
        app.settings.sweep.clone(),
        app.settings.shards,
    );
    app.clock.advance(Duration::from_secs(1));
    let first = sweeper.sweep(None).await.unwrap();
    assert_eq!(
        (first.skipped, first.fired),
        (1, 0),
        "the fired timer is not fired again: {first:?}"
    );

    lagging.hidden.lock().unwrap().clear(); // the index caught up
    app.clock.advance(MINUTE);
    let second = sweeper.sweep(None).await.unwrap();
    assert_eq!(second.fired, 1, "{second:?}");
    assert_eq!(receiver.hits_by_timer().get(&id_of(&fired)), Some(&1));
    assert_eq!(receiver.hits_by_timer().get(&id_of(&fresh)), Some(&1));
}

/// Calls before a timer whose target keeps failing is failed, in the misbehaving-targets test.
const FEW_ATTEMPTS: u32 = 3;

/// A timer as `GET /timers/{id}` shows it: status, attempts, last status, last error.
async fn state(app: &TestApp, timer: &serde_json::Value) -> (String, u64, Option<u64>, String) {
    let view = app.get(&id_of(timer)).await;
    (
        view["status"].as_str().unwrap().to_owned(),
        view["attempts"].as_u64().unwrap(),
        view["last_status"].as_u64(),
        view["last_error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn time_of(view: &serde_json::Value, field: &str) -> DateTime<Utc> {
    let at = view[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field}: {view}"));
    DateTime::parse_from_rfc3339(at).unwrap().to_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_targets_end_in_their_documented_state_and_healthy_ones_fire() {
    let app = TestApp::start_with(|s| {
        s.shards = 1;
        s.sweep.max_attempts = FEW_ATTEMPTS;
    })
    .await;
    let receiver = Receiver::start().await;
    // The redirect points at another address (127.0.0.2), which is never called.
    let elsewhere = Receiver::start_on("127.0.0.2").await;
    let drip = start_drip_server().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);

    let hang = app.create(json!({"url": receiver.url("/hang/x")})).await;
    let dripping = app.create(json!({"url": format!("{drip}/x")})).await;
    let error = app
        .create(json!({"url": receiver.url("/status/500/x")}))
        .await;
    let busy = app
        .create(json!({"url": receiver.url("/retry-after/120/x")}))
        .await;
    let authority = elsewhere.base.trim_start_matches("http://");
    let moved = app
        .create(json!({"url": receiver.url(&format!("/redirect-to/{authority}/x"))}))
        .await;
    let nobody = app.create(json!({"url": refused})).await;
    let mut healthy = Vec::new();
    for i in 0..20 {
        healthy.push(id_of(
            &app.create(json!({"url": receiver.url(&format!("/ok/{i}"))}))
                .await,
        ));
    }
    app.clock.advance(MINUTE);

    // The first sweep waits long for the hanging calls, so that the healthy ones have ample
    // time to arrive while those are open however slow the store is (moto takes one request
    // at a time).
    let mut patient = app.settings.sweep.clone();
    patient.timeouts.total = Duration::from_secs(20);
    let first = app.sweeper_with(patient.clone()).sweep(None).await.unwrap();
    assert_eq!(
        (first.fired, first.retried, first.failed),
        (20, 5, 1),
        "{first:?}"
    );
    // Fired by this sweep, at its clock: each exactly the minute after it was due.
    assert_eq!(first.lateness_ms, vec![60_000; 20], "{first:?}");
    for id in &healthy {
        let view = app.get(id).await;
        assert_eq!(view["status"], "fired");
        assert_eq!(
            time_of(&view, "fired_at").timestamp_millis(),
            app.now().timestamp_millis()
        );
    }
    // And while the hanging call was still open: before the sweeper gave up on it.
    wait_until("the sweeper to give up on the hanging target", || {
        let ended = receiver.hangs_ended().len();
        async move { ended == 1 }
    })
    .await;
    let hang_ended = receiver.hangs_ended()[0];
    let hits = receiver.hits();
    let hang_started = hits
        .iter()
        .find(|h| h.path.starts_with("/hang"))
        .unwrap()
        .at;
    let timeout = patient.timeouts.total;
    let healthy_arrivals: Vec<_> = hits
        .iter()
        .filter(|h| h.path.starts_with("/ok"))
        .map(|h| h.at)
        .collect();
    assert_eq!(healthy_arrivals.len(), 20);
    assert!(
        healthy_arrivals
            .iter()
            .all(|&at| at < hang_started + timeout && at < hang_ended),
        "a healthy call waited for a misbehaving one"
    );

    let (status, attempts, code, err) = state(&app, &moved).await;
    assert_eq!((status.as_str(), attempts, code), ("failed", 1, Some(302)));
    assert!(err.contains("redirect"), "{err}");
    let busy_view = app.get(&id_of(&busy)).await;
    assert!(
        busy_view["next_attempt_in"].as_u64().unwrap() >= 120,
        "Retry-After honoured: {busy_view}"
    );
    assert_eq!(
        app.sweeper().sweep(None).await.unwrap().claimed,
        0,
        "nothing is called again before its retry time"
    );

    // The retryable ones, with what each attempt leaves, are called until they fail.
    let retryable = [
        (&hang, None, "timed out"),
        (&dripping, None, "timed out"),
        (&error, Some(500), "target answered 500"),
        (&busy, Some(503), "target answered 503"),
        (&nobody, None, "connect"),
    ];
    assert_after_attempt(&app, &retryable, 1).await;
    for attempt in 2..=FEW_ATTEMPTS {
        let mut retry_times = Vec::new();
        for (timer, ..) in retryable {
            retry_times.push(time_of(&app.get(&id_of(timer)).await, "next_attempt_at"));
        }
        app.clock.set(retry_times.into_iter().max().unwrap());
        let report = app.sweeper().sweep(None).await.unwrap();
        let settled = if attempt < FEW_ATTEMPTS {
            (0, 5, 0)
        } else {
            (0, 0, 5)
        };
        assert_eq!(
            (report.fired, report.retried, report.failed),
            settled,
            "attempt {attempt}: {report:?}"
        );
        assert_after_attempt(&app, &retryable, attempt).await;
    }

    let calls = receiver.hits_by_timer();
    for timer in [&hang, &error, &busy] {
        assert_eq!(calls.get(&id_of(timer)), Some(&(FEW_ATTEMPTS as usize)));
    }
    assert_eq!(calls.get(&id_of(&moved)), Some(&1), "a redirect is final");
    assert!(healthy.iter().all(|id| calls.get(id) == Some(&1)));
    assert!(
        elsewhere.hits().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.hits()
    );
    let calls_so_far = receiver.hits().len();
    app.clock.advance(60 * MINUTE);
    let later = app.sweeper().sweep(None).await.unwrap();
    assert_eq!(
        (later.found, receiver.hits().len()),
        (0, calls_so_far),
        "every timer is settled"
    );
}

/// Checks each of `timers` (with the last status and error its target leaves) after call
/// number `attempt`: pending before the last attempt, failed after it, giving up.
async fn assert_after_attempt(
    app: &TestApp,
    timers: &[(&serde_json::Value, Option<u64>, &str)],
    attempt: u32,
) {
    let last = attempt == FEW_ATTEMPTS;
    for (timer, last_status, last_error) in timers {
        let (status, attempts, code, err) = state(app, timer).await;
        assert_eq!(
            (status.as_str(), attempts, code),
            (
                if last { "failed" } else { "pending" },
                u64::from(attempt),
                *last_status
            ),
            "{err}"
        );
        assert!(err.contains(last_error), "{err}");
        let gave_up = format!("gave up after {FEW_ATTEMPTS} attempts");
        assert_eq!(err.contains(&gave_up), last, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stops_answering_gets_a_503_not_a_hung_request() {
    // A "store" that accepts connections and never answers, like a frozen server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((connection, _)) = listener.accept().await {
            held.push(connection);
        }
    });
    let client = DynamoStore::client_for_endpoint(&endpoint);
    let bounded = client
        .config()
        .to_builder()
        .timeout_config(DynamoStore::timeouts())
        .build();
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(bounded),
        "timers",
    ));
    let timers = timers::service::Timers::new(store, 4);

    let answer = tokio::time::timeout(
        Duration::from_secs(120),
        timers::api::create_timer(
            &timers,
            Some("application/json"),
            None,
            br#"{"url": "https://example.com/hook", "seconds": 5}"#,
            chrono::Utc::now(),
        ),
    )
    .await
    .expect("the store's time limits end the request");
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "unavailable");
    assert!(answer.headers.contains(&("retry-after", "1".to_owned())));
}
