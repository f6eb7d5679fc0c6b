//! Timers fire: create → sweep → exactly one hit → the timer reads as fired; and the sweep's
//! promises under concurrency, gaps, late writes, failing and hanging targets.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use integration_tests::{Receiver, TestApp};
use serde_json::json;
use timers::domain::Minute;
use timers::store::dynamo::DUE_INDEX;
use timers::sweep::SweepReport;

const MINUTE: Duration = Duration::from_secs(60);

async fn sweep(app: &TestApp) -> SweepReport {
    app.sweeper()
        .sweep(None)
        .await
        .expect("the sweep lists due timers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_timer_fires_once_and_then_reads_as_fired() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let created = app
        .create(json!({"url": receiver.url("/ok/hook"), "seconds": 10}))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["time_left"], 10);
    assert_eq!(created["status"], "pending");

    app.clock.advance(Duration::from_secs(4));
    let early = sweep(&app).await;
    assert_eq!((early.found, receiver.hits().len()), (0, 0));
    assert_eq!(app.get(&id).await["time_left"], 6);

    app.clock.advance(Duration::from_secs(6));
    let report = sweep(&app).await;
    assert_eq!((report.found, report.fired), (1, 1), "{report:?}");

    let hits = receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].path, "/ok/hook");
    assert_eq!(hits[0].timer_id.as_deref(), Some(id.as_str()));
    assert_eq!(hits[0].attempt.as_deref(), Some("1"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&hits[0].body).unwrap(),
        json!({"id": id})
    );
    let view = app.get(&id).await;
    assert_eq!(view["status"], "fired");
    assert_eq!(view["time_left"], 0);
    assert_eq!(view["attempts"], 1);
    assert_eq!(view["last_status"], 200);
    assert!(view["fired_at"].is_string());

    app.clock.advance(MINUTE);
    let again = sweep(&app).await;
    assert_eq!(
        (again.found, receiver.hits().len()),
        (0, 1),
        "a fired timer left the index"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sweepers_at_once_fire_each_timer_once() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    for i in 0..200 {
        app.create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": i % 50}))
            .await;
    }
    app.clock.advance(MINUTE);

    let (a, b) = (app.sweeper(), app.sweeper());
    let (ra, rb) = tokio::join!(a.sweep(None), b.sweep(None));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());

    assert_eq!(ra.fired + rb.fired, 200, "{ra:?} {rb:?}");
    let counts = receiver.hits_by_timer();
    assert_eq!(counts.len(), 200);
    assert!(counts.values().all(|&n| n == 1), "a timer was hit twice");
}

/// Timers a due-bucket query returns at most in the paging test.
const PAGE: i32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_bucket_read_over_many_pages_fires_every_timer_once() {
    // 25 ends on a part page; 24 ends on a full one (some servers then send no
    // LastEvaluatedKey, DynamoDB sends one and an empty page after it).
    for count in [25, 24] {
        let app = TestApp::start_with(|s| s.shards = 1)
            .await
            .with_page_limit(PAGE);
        let receiver = Receiver::start().await;
        let minute_start = app.now().duration_trunc(TimeDelta::minutes(1)).unwrap();
        app.clock.set(minute_start);
        // Five timers share each due time, so pages also end between equal `fire_at`s.
        let mut created = BTreeSet::new();
        for i in 0..count {
            let t = app
                .create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": i % 5}))
                .await;
            created.insert(t["id"].as_str().unwrap().to_owned());
        }
        app.clock.advance(MINUTE);
        let bucket = Minute::of(minute_start).bucket(0);

        let first_page = app
            .client
            .query()
            .table_name(&app.settings.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("#bucket = :bucket")
            .expression_attribute_names("#bucket", "bucket")
            .expression_attribute_values(":bucket", AttributeValue::S(bucket.clone()))
            .limit(PAGE)
            .send()
            .await
            .unwrap();
        assert_eq!(first_page.items().len(), PAGE as usize, "the server pages");
        assert!(first_page.last_evaluated_key.is_some(), "the server pages");

        let listed = app
            .store
            .due_timers(&bucket, app.now().timestamp_millis())
            .await
            .unwrap();
        let mut listed: Vec<String> = listed.into_iter().map(|d| d.id).collect();
        listed.sort();
        assert_eq!(
            listed,
            created.iter().cloned().collect::<Vec<_>>(),
            "every page read once, count {count}"
        );

        let report = sweep(&app).await;
        assert_eq!(
            (report.found, report.fired, report.skipped),
            (count as usize, count as usize, 0),
            "{report:?}"
        );
        let counts = receiver.hits_by_timer();
        assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), created);
        assert!(counts.values().all(|&n| n == 1), "a timer was hit twice");
        app.clock.advance(MINUTE);
        assert_eq!(sweep(&app).await.found, 0, "every timer left the index");
        assert_eq!(receiver.hits().len(), count as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_after_a_long_gap_fires_every_overdue_timer() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    sweep(&app).await; // the sweeper ran once, then was down
    let mut ids = Vec::new();
    for minutes in [1, 7, 59, 61, 120, 179] {
        let t = app
            .create(json!({"url": receiver.url("/ok/x"), "minutes": minutes}))
            .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }

    app.clock.advance(3 * 60 * MINUTE);
    let report = sweep(&app).await;

    assert_eq!(report.fired, ids.len(), "{report:?}");
    for id in &ids {
        assert_eq!(receiver.hits_by_timer().get(id), Some(&1), "{id}");
        assert_eq!(app.get(id).await["status"], "fired");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backlog_is_caught_up_over_runs_without_making_recent_timers_wait() {
    let app = TestApp::start_with(|s| s.sweep.catchup_minutes = 30).await;
    let receiver = Receiver::start().await;
    sweep(&app).await;
    let old = app
        .create(json!({"url": receiver.url("/ok/old"), "minutes": 100}))
        .await;
    app.clock.advance(180 * MINUTE);
    let recent = app
        .create(json!({"url": receiver.url("/ok/recent"), "seconds": 0}))
        .await;

    let first = sweep(&app).await;
    assert_eq!(first.fired, 1, "only the recent timer: {first:?}");
    assert_eq!(
        app.get(recent["id"].as_str().unwrap()).await["status"],
        "fired"
    );

    let mut runs = 1;
    while app.get(old["id"].as_str().unwrap()).await["status"] != "fired" {
        runs += 1;
        assert!(runs <= 10, "the backlog never reached the old timer");
        sweep(&app).await;
    }
    assert_eq!(receiver.hits().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_written_into_an_already_swept_minute_fires_on_the_next_sweep() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    app.clock.advance(10 * MINUTE);
    sweep(&app).await;
    sweep(&app).await;

    // A create that read its clock before the sweeps, and wrote after them.
    let late = timers::domain::Timer::new(
        &timers::domain::NewTimer {
            url: receiver.url("/ok/late").parse().unwrap(),
            due_at: app.now() - 2 * MINUTE,
            call: Default::default(),
        },
        app.now() - 2 * MINUTE,
        app.settings.shards,
    );
    app.store.insert_timer(&late).await.unwrap();

    let report = sweep(&app).await;
    assert_eq!(report.fired, 1, "{report:?}");
    assert_eq!(receiver.hits_by_timer().get(&late.id), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_created_in_the_current_minute_after_it_was_swept_fires_on_the_next_sweep() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let minute_start = app.now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    app.clock.set(minute_start + Duration::from_secs(20));
    assert_eq!(
        sweep(&app).await.found,
        0,
        "this minute was swept while empty"
    );

    // Created through the API ten seconds later, due five seconds after that: the same minute.
    app.clock.advance(Duration::from_secs(10));
    let view = app
        .create(json!({"url": receiver.url("/ok/now"), "seconds": 5}))
        .await;
    let id = view["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(6));
    assert_eq!(Minute::of(app.now()), Minute::of(minute_start));

    let report = sweep(&app).await;
    assert_eq!((report.found, report.fired), (1, 1), "{report:?}");
    assert_eq!(receiver.hits_by_timer().get(&id), Some(&1));
    let view = app.get(&id).await;
    assert_eq!(
        (view["status"].as_str(), view["time_left"].as_u64()),
        (Some("fired"), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_answering_500_is_retried_and_failed_after_the_maximum() {
    let app = TestApp::start_with(|s| s.sweep.max_attempts = 3).await;
    let receiver = Receiver::start().await;
    let t = app
        .create(json!({"url": receiver.url("/status/500/x"), "seconds": 1}))
        .await;
    let id = t["id"].as_str().unwrap();

    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.retried, 1);
    let view = app.get(id).await;
    assert_eq!(
        (view["status"].as_str(), view["attempts"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(view["last_status"], 500);
    assert!(view["next_attempt_at"].is_string(), "{view}");

    // Not before its backoff.
    assert_eq!(sweep(&app).await.claimed, 0);

    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.retried, 1);
    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.failed, 1);

    let view = app.get(id).await;
    assert_eq!(view["status"], "failed");
    assert_eq!(view["attempts"], 3);
    assert_eq!(view["time_left"], 0);
    assert!(view["failed_at"].is_string());
    let attempts: Vec<_> = receiver
        .hits()
        .iter()
        .map(|h| h.attempt.clone().unwrap())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    app.clock.advance(60 * MINUTE);
    assert_eq!((sweep(&app).await.found, receiver.hits().len()), (0, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_a_retry_after_date_is_not_called_again_before_that_date() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    // HTTP dates have whole seconds. The webhook turns the date into a wait with the system
    // clock, so the call is made by a sweeper on the system clock, as in production.
    let retry_at = DateTime::from_timestamp((Utc::now() + 10 * MINUTE).timestamp(), 0).unwrap();
    let t = app
        .create(json!({"url": receiver.url(&format!("/retry-at/{}/x", retry_at.timestamp()))}))
        .await;
    let id = t["id"].as_str().unwrap();

    let first = app.sweeper_in_real_time().sweep(None).await.unwrap();
    assert_eq!((first.claimed, first.retried), (1, 1), "{first:?}");
    let view = app.get(id).await;
    assert_eq!(
        (view["status"].as_str(), view["attempts"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(view["last_status"], 429);
    let next_attempt = DateTime::parse_from_rfc3339(view["next_attempt_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert!(
        retry_at <= next_attempt && next_attempt < retry_at + MINUTE,
        "waits until {retry_at}, not until {next_attempt}"
    );
    let stored = app
        .store
        .get_timer(&timers::domain::TimerId::parse(id).unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.unwrap().fire_at,
        next_attempt.timestamp_millis(),
        "the view shows the stored retry time"
    );

    app.clock.set(retry_at - Duration::from_secs(1));
    let early = sweep(&app).await;
    assert_eq!((early.found, early.claimed), (0, 0), "{early:?}");
    assert_eq!(receiver.hits().len(), 1, "not called again before the date");

    app.clock.set(next_attempt);
    assert_eq!(sweep(&app).await.claimed, 1);
    let attempts: Vec<_> = receiver
        .hits()
        .into_iter()
        .map(|h| h.attempt.unwrap())
        .collect();
    assert_eq!(attempts, ["1", "2"], "called again once the date came");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_or_redirect_fails_at_once_without_following_it() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let gone = app
        .create(json!({"url": receiver.url("/status/404/x")}))
        .await;
    let moved = app
        .create(json!({"url": receiver.url("/redirect/x")}))
        .await;
    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.failed, 2);

    for (t, status) in [(gone, 404), (moved, 302)] {
        let view = app.get(t["id"].as_str().unwrap()).await;
        assert_eq!(view["status"], "failed");
        assert_eq!(view["last_status"], status);
    }
    let paths: Vec<_> = receiver.hits().into_iter().map(|h| h.path).collect();
    assert!(
        !paths.iter().any(|p| p.starts_with("/ok")),
        "redirect followed: {paths:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried() {
    let app = TestApp::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x", closed.local_addr().unwrap());
    drop(closed);
    let t = app.create(json!({"url": url})).await;
    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.retried, 1);
    let view = app.get(t["id"].as_str().unwrap()).await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["last_status"], serde_json::Value::Null);
    assert!(
        view["last_error"].as_str().unwrap().contains("connect"),
        "{view}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shard_of_a_busy_minute_is_swept() {
    let app = TestApp::start_with(|s| s.shards = 8).await;
    let receiver = Receiver::start().await;
    let minute_start = app.now().duration_trunc(TimeDelta::minutes(1)).unwrap();
    app.clock.set(minute_start);
    for i in 0..64 {
        app.create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": 30}))
            .await;
    }
    app.clock.advance(MINUTE);

    // The minute's timers are spread over its shards' bucket keys, not piled into one.
    let mut per_shard = Vec::new();
    for shard in 0..8 {
        let bucket = Minute::of(minute_start).bucket(shard);
        let listed = app.store.due_timers(&bucket, app.now().timestamp_millis());
        per_shard.push(listed.await.unwrap().len());
    }
    assert_eq!(per_shard.iter().sum::<usize>(), 64, "{per_shard:?}");
    assert!(
        per_shard.iter().filter(|&&n| n > 0).count() > 4 && per_shard.iter().all(|&n| n <= 32),
        "one shard holds most of the minute: {per_shard:?}"
    );
    assert_eq!(sweep(&app).await.fired, 64);
    assert_eq!(receiver.hits_by_timer().len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_timer_can_be_sent_again_and_only_a_failed_one() {
    let app = TestApp::start_with(|s| s.sweep.max_attempts = 1).await;
    let receiver = Receiver::start().await;
    let t = app
        .create(json!({"url": receiver.url("/status/500/x")}))
        .await;
    let id = t["id"].as_str().unwrap();
    let retry = |id: String| {
        let timers = app.timers.clone();
        let now = app.now();
        async move { timers::api::retry_timer(&timers, &id, now).await }
    };

    let early = retry(id.to_owned()).await;
    assert_eq!(
        (early.status, &early.body["error"]["code"]),
        (409, &json!("not_failed"))
    );

    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.failed, 1);
    let again = retry(id.to_owned()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        (
            again.body["status"].as_str(),
            again.body["attempts"].as_u64()
        ),
        (Some("pending"), Some(0))
    );

    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.failed, 1, "called again, failed again");
    assert_eq!(receiver.hits().len(), 2);
    let unknown = retry("0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10".to_owned()).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_timers_carry_an_expiry_for_the_tables_time_to_live() {
    let app = TestApp::start_with(|s| s.retention = Duration::from_secs(2 * 24 * 3600)).await;
    let receiver = Receiver::start().await;
    let t = app.create(json!({"url": receiver.url("/ok/x")})).await;
    let raw = |id: String| {
        let (client, table) = (app.client.clone(), app.settings.table.clone());
        async move {
            let item = client
                .get_item()
                .table_name(table)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("timer#{id}")),
                )
                .key(
                    "sk",
                    aws_sdk_dynamodb::types::AttributeValue::S("timer".into()),
                )
                .send()
                .await
                .unwrap()
                .item
                .unwrap();
            item.get("expires_at")
                .map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
        }
    };
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(raw(id.clone()).await, None, "a pending timer never expires");

    app.clock.advance(MINUTE);
    sweep(&app).await;
    let fired_at = app.now().timestamp();
    let expires = raw(id).await.expect("a fired timer expires");
    assert!(
        (fired_at + 2 * 24 * 3600 - expires).abs() <= 1,
        "{expires} vs {fired_at}"
    );
    let ttl = app
        .client
        .describe_time_to_live()
        .table_name(&app.settings.table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires_at")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_timer_never_fires_and_a_fired_one_cannot_be_cancelled() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let cancel = |id: String| {
        let timers = app.timers.clone();
        let now = app.now();
        async move { timers::api::cancel_timer(&timers, &id, now).await }
    };
    let doomed = app
        .create(json!({"url": receiver.url("/ok/doomed"), "seconds": 30}))
        .await;
    let kept = app
        .create(json!({"url": receiver.url("/ok/kept"), "seconds": 30}))
        .await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();

    let first = cancel(doomed_id.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        (
            first.body["status"].as_str(),
            first.body["time_left"].as_u64()
        ),
        (Some("cancelled"), Some(0))
    );
    assert!(first.body["cancelled_at"].is_string());
    let again = cancel(doomed_id.clone()).await;
    assert_eq!(
        (again.status, &again.body),
        (200, &first.body),
        "cancelling twice answers the same"
    );

    app.clock.advance(MINUTE);
    assert_eq!(sweep(&app).await.fired, 1);
    assert_eq!(receiver.hits().len(), 1);
    assert_eq!(receiver.hits()[0].path, "/ok/kept");
    assert_eq!(app.get(&doomed_id).await["status"], "cancelled");

    let late = cancel(kept["id"].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (late.status, &late.body["error"]["code"]),
        (409, &json!("not_cancellable"))
    );
    let unknown = cancel("0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10".to_owned()).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_at_an_absolute_time_fires_then_and_one_in_the_past_fires_at_once() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let at = (app.now() + Duration::from_secs(90)).to_rfc3339();
    let later = app
        .create(json!({"url": receiver.url("/ok/later"), "at": at}))
        .await;
    assert_eq!(later["time_left"], 90);
    let past = app
        .create(json!({"url": receiver.url("/ok/past"), "at": "2001-01-01T00:00:00+01:00"}))
        .await;
    assert_eq!(past["due_at"], "2000-12-31T23:00:00.000Z");
    assert_eq!(past["time_left"], 0);

    let now = sweep(&app).await;
    assert_eq!(
        now.fired, 1,
        "the past one fires on the next sweep: {now:?}"
    );
    app.clock.advance(Duration::from_secs(90));
    assert_eq!(sweep(&app).await.fired, 1);
    assert_eq!(
        app.get(later["id"].as_str().unwrap()).await["status"],
        "fired"
    );
}
