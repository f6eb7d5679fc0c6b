//! How sweeper invocations share their time: a run fires timers due now while its sweep works
//! through a backlog, overlapping runs call each timer once, a deadline in the middle of a
//! sweep leaves the rest for the next run, and a schedule that starts late still finds the
//! table's first timers.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::{Receiver, TestApp};
use serde_json::json;
use timers::config::Settings;
use timers::domain::Minute;

const HOUR: Duration = Duration::from_secs(60 * 60);

fn id_of(view: &serde_json::Value) -> String {
    view["id"].as_str().unwrap().to_owned()
}

fn due_at(view: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(view["due_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Calls one at a time, each giving up after a second (on `/hang` targets, exactly a second),
/// and retries an hour later, so that no retry comes back within the test.
fn one_slow_call_at_a_time(s: &mut Settings) {
    s.sweep.concurrency = 1;
    s.sweep.timeouts.total = Duration::from_secs(1);
    s.sweep.retry_base = HOUR;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_starts_hours_after_the_first_timers_still_fires_them() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let created = app.now();
    let mut ids = Vec::new();
    for i in 0..3 {
        let view = app
            .create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": 10}))
            .await;
        ids.push(id_of(&view));
    }
    assert_eq!(
        app.store.sweep_cursor().await.unwrap(),
        Some(Minute::of(created)),
        "the first create saves the cursor"
    );

    // The sweeper's first run comes three hours later, far beyond its first lookback.
    app.clock.advance(3 * HOUR);
    let report = app.sweeper().sweep(None).await.unwrap();

    assert_eq!(report.fired, 3, "{report:?}");
    for id in &ids {
        assert_eq!(app.get(id).await["status"], "fired");
    }
    assert_eq!(receiver.hits().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_create_does_not_move_a_saved_cursor() {
    let app = TestApp::start().await;
    let receiver = Receiver::start().await;
    let held = Minute::of(app.now()).plus(-30);
    app.store.set_sweep_cursor(held).await.unwrap();

    app.create(json!({"url": receiver.url("/ok/x"), "seconds": 5}))
        .await;

    assert_eq!(app.store.sweep_cursor().await.unwrap(), Some(held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_due_now_fire_while_the_runs_sweep_works_through_a_slow_backlog() {
    let app = TestApp::start_with(|s| {
        one_slow_call_at_a_time(s);
        s.sweep.poll = Duration::from_millis(200);
    })
    .await;
    let receiver = Receiver::start().await;
    // A backlog the sweep calls one at a time, each hanging for the whole call timeout.
    app.clock.set(Utc::now() - Duration::from_secs(120));
    for i in 0..6 {
        app.create(json!({"url": receiver.url(&format!("/hang/{i}"))}))
            .await;
    }

    let sweeper = app.sweeper_in_real_time();
    let until = Utc::now() + Duration::from_secs(15);
    let run = tokio::spawn(async move { sweeper.run(until).await });
    let mut fresh = Vec::new();
    for (i, seconds) in [1, 2].into_iter().enumerate() {
        app.clock.set(Utc::now());
        let view = app
            .create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": seconds}))
            .await;
        fresh.push((id_of(&view), due_at(&view)));
    }
    let report = run.await.unwrap().unwrap();

    let hits = receiver.hits();
    let last_backlog_call = hits
        .iter()
        .filter(|h| h.path.starts_with("/hang/"))
        .map(|h| h.at)
        .max()
        .expect("the backlog was called");
    for (id, due) in &fresh {
        let hit = hits
            .iter()
            .find(|h| h.timer_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} was not called: {report:?}"));
        assert!(hit.received >= *due, "{id} was called early");
        assert!(
            hit.at < last_backlog_call,
            "{id} waited for the backlog's sweep to finish: {report:?}"
        );
    }
    assert_eq!(report.fired, 2, "{report:?}");
    assert_eq!(
        hits.iter().filter(|h| h.path.starts_with("/hang/")).count(),
        6,
        "each backlog timer called once in this run: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_overlapping_runs_call_each_timer_once() {
    let app = TestApp::start_with(|s| s.sweep.poll = Duration::from_millis(200)).await;
    let receiver = Receiver::start().await;
    let mut ids = HashSet::new();
    app.clock.set(Utc::now() - Duration::from_secs(30));
    for i in 0..10 {
        let view = app
            .create(json!({"url": receiver.url(&format!("/ok/overdue-{i}"))}))
            .await;
        ids.insert(id_of(&view));
    }
    app.clock.set(Utc::now());
    for i in 0..20 {
        let view = app
            .create(json!({
                "url": receiver.url(&format!("/ok/soon-{i}")),
                "seconds": 1 + i % 4,
            }))
            .await;
        ids.insert(id_of(&view));
    }

    let until = Utc::now() + Duration::from_secs(8);
    let first = app.sweeper_in_real_time();
    let second = app.sweeper_in_real_time();
    let (a, b) = tokio::join!(first.run(until), second.run(until));
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(a.fired + b.fired, 30, "{a:?} {b:?}");
    let by_timer = receiver.hits_by_timer();
    assert_eq!(by_timer.keys().cloned().collect::<HashSet<_>>(), ids);
    assert!(by_timer.values().all(|&n| n == 1), "{by_timer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_in_the_middle_of_a_sweep_records_what_started_and_leaves_the_rest() {
    let app = TestApp::start_with(one_slow_call_at_a_time).await;
    let receiver = Receiver::start().await;
    app.clock.set(Utc::now() - Duration::from_secs(120));
    let mut ids = Vec::new();
    for i in 0..10 {
        let view = app
            .create(json!({"url": receiver.url(&format!("/hang/{i}"))}))
            .await;
        ids.push(id_of(&view));
    }

    // Each call takes the whole second of its timeout, one at a time: a deadline four seconds
    // away stops the sweep after a few of them.
    let stop = Utc::now() + Duration::from_secs(4);
    let report = app.sweeper_in_real_time().sweep(Some(stop)).await.unwrap();

    assert!(report.claimed >= 1, "{report:?}");
    assert!(report.left_for_next_run >= 1, "{report:?}");
    assert_eq!(report.claimed + report.left_for_next_run, 10, "{report:?}");
    assert_eq!(
        report.retried, report.claimed,
        "every call started was recorded"
    );
    assert_eq!(receiver.hits().len(), report.claimed);
    app.clock.set(Utc::now());
    let mut pending = 0;
    for id in &ids {
        let view = app.get(id).await;
        match view["attempts"].as_u64().unwrap() {
            0 => pending += 1,
            1 => assert_eq!(view["status"], "pending", "{view}"),
            n => panic!("{id} was called {n} times"),
        }
    }
    assert_eq!(pending, report.left_for_next_run);

    // The next run calls the ones that were left, and only those.
    let next = app.sweeper_in_real_time().sweep(None).await.unwrap();
    assert_eq!(next.claimed, report.left_for_next_run, "{next:?}");
    let by_timer = receiver.hits_by_timer();
    assert_eq!(by_timer.len(), 10, "every timer was called");
    assert!(by_timer.values().all(|&n| n == 1), "{by_timer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_does_not_try_again_and_again_to_claim_a_timer_another_run_is_calling() {
    let app = TestApp::start_with(|s| {
        s.sweep.poll = Duration::from_millis(100);
        s.sweep.timeouts.total = Duration::from_secs(3);
        s.sweep.retry_base = HOUR;
    })
    .await;
    let receiver = Receiver::start().await;
    app.clock.set(Utc::now());
    let view = app
        .create(json!({"url": receiver.url("/hang/slow"), "seconds": 1}))
        .await;

    // Both runs find the timer; one calls it (three seconds of hanging), the other must not
    // send a claim at each of its looks (every 100 ms) while that call lasts.
    let until = Utc::now() + Duration::from_secs(5);
    let first = app.sweeper_in_real_time();
    let second = app.sweeper_in_real_time();
    let (a, b) = tokio::join!(first.run(until), second.run(until));
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(a.claimed + b.claimed, 1, "{a:?} {b:?}");
    assert!(
        a.skipped + b.skipped <= 2,
        "claims tried again: {a:?} {b:?}"
    );
    assert_eq!(receiver.hits_by_timer().get(&id_of(&view)), Some(&1));
}
