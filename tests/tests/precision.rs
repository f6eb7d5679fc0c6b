//! A running sweeper fires each timer at its due time, not when the next trigger comes:
//! timers created while it runs are found by its polls and fired on the dot, never early.

use std::time::Duration;

use chrono::{DateTime, Utc};
use integration_tests::{Receiver, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sweeper_fires_timers_created_during_its_run_at_their_due_time() {
    let app = TestApp::start_with(|s| s.sweep.poll = Duration::from_millis(200)).await;
    let receiver = Receiver::start().await;
    let sweeper = app.sweeper_in_real_time();
    // Long past the last due time, so that slow creates on a loaded machine still leave the
    // run time to fire them.
    let until = Utc::now() + Duration::from_secs(20);
    let run = tokio::spawn(async move { sweeper.run(until).await });

    let mut due = Vec::new();
    for (i, seconds) in [1, 2, 2, 3, 4].into_iter().enumerate() {
        app.clock.set(Utc::now());
        let t = app
            .create(json!({"url": receiver.url(&format!("/ok/{i}")), "seconds": seconds}))
            .await;
        let due_at = DateTime::parse_from_rfc3339(t["due_at"].as_str().unwrap()).unwrap();
        due.push((
            t["id"].as_str().unwrap().to_owned(),
            due_at.with_timezone(&Utc),
        ));
    }
    let report = run.await.unwrap().unwrap();

    assert_eq!(report.fired, 5, "{report:?}");
    let hits = receiver.hits();
    for (id, due_at) in &due {
        let hit = hits
            .iter()
            .find(|h| h.timer_id.as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{id} was not called"));
        assert!(hit.received >= *due_at, "{id} called before it was due");
    }
    assert_eq!(receiver.hits().len(), 5, "each once");
    println!("lateness (ms): {:?}", report.lateness_ms);
}
