//! A sweeper process killed with SIGKILL at random points, again and again, while 2,000 timers
//! are due: every timer is still called, and duplicates stay within one per kill.

use std::process::Stdio;

use std::time::Duration;

use integration_tests::{store_endpoint, wait_until_within, Receiver, TestApp};
use rand::Rng;
use serde_json::json;

const TIMERS: usize = 2000;
const KILLS: usize = 5;
/// One call at a time over 2,000 timers is slow on a slower store (moto): wait long enough.
const PATIENCE: Duration = Duration::from_secs(900);
/// Few shards: a sweep that finds nothing still reads every shard of its minutes, and moto's
/// query reads the whole table, so an idle sweeper's reads would crowd out the test's checks.
const SHARDS: u16 = 2;

/// A sweeper process that sweeps again `pause_ms` after each sweep.
fn sweeper_process(app: &TestApp, endpoint: &str, pause_ms: u64) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sweeper-process"))
        .env("TIMERS_STORE_ENDPOINT", endpoint)
        .env("TABLE_NAME", &app.settings.table)
        .env("PRIVATE_TARGETS", integration_tests::TEST_PRIVATE_TARGETS)
        .env("BUCKET_SHARDS", app.settings.shards.to_string())
        // One call in flight: a kill can then cut at most one call between its answer and
        // its record, which is the only way a duplicate arises.
        .env("FIRE_CONCURRENCY", "1")
        .env("CALL_TIMEOUT_MS", "2000")
        .env("LEASE_MARGIN_MS", "1000")
        .env("SWEEP_PAUSE_MS", pause_ms.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the sweeper process starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweeper_killed_five_times_still_calls_every_timer_with_at_most_one_duplicate_per_kill() {
    let endpoint = store_endpoint().await;
    let app = TestApp::on_endpoint(&endpoint, |s| s.shards = SHARDS).await;
    let receiver = Receiver::start().await;
    let mut ids = Vec::new();
    for i in 0..TIMERS {
        let created = app
            .create(json!({"url": receiver.url(&format!("/ok/{i}"))}))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }

    let mut rng = rand::rng();
    for kill in 0..KILLS {
        let mut child = sweeper_process(&app, &endpoint, 50);
        let target = receiver.hits().len() + rng.random_range(20..250);
        wait_until_within(PATIENCE, "the sweeper process to make progress", || {
            let hits = receiver.hits().len();
            async move { hits >= target }
        })
        .await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        println!("kill {}: after {} hits", kill + 1, receiver.hits().len());
    }

    // The last one fires all that is left in its first sweep; its later sweeps find nothing.
    let _last = sweeper_process(&app, &endpoint, 2000);
    wait_until_within(PATIENCE, "every timer to be called", || {
        let called = receiver.hits_by_timer().len();
        async move { called == TIMERS }
    })
    .await;

    wait_until_within(PATIENCE, "every timer to be recorded as fired", || async {
        for id in &ids {
            if app.get(id).await["status"] != "fired" {
                return false;
            }
        }
        true
    })
    .await;

    let hits = receiver.hits().len();
    let duplicates = hits - TIMERS;
    println!("{TIMERS} timers, {KILLS} kills: {hits} calls, {duplicates} duplicates");
    assert!(
        duplicates <= KILLS,
        "{duplicates} duplicates for {KILLS} kills"
    );
    let counts = receiver.hits_by_timer();
    assert!(counts.values().all(|n| (1..=2).contains(n)));
}
