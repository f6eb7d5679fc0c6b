//! End-to-end tests through the real local stack: `cargo lambda watch` serving the functions,
//! the scheduler loop invoking the sweeper, Dynoxide keeping the data. `tests/run.sh` starts
//! the stack and runs these with `TIMERS_BASE_URL` set; plain `cargo test` skips them.
//!
//! Two of them straddle a restart of the stack: `tests/run.sh` runs the first, stops the stack,
//! starts it again on the same data, then runs the second; `TIMERS_RESTART_FILE` carries the
//! timer from one to the other.

use std::time::Duration;

use integration_tests::wait_until;
use serde_json::{json, Value};

/// The local stack's API, as a client sees it.
struct Stack {
    base: String,
    http: reqwest::Client,
}

impl Stack {
    fn from_env() -> Self {
        let base = std::env::var("TIMERS_BASE_URL").expect("TIMERS_BASE_URL names the local stack");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap();
        Self { base, http }
    }

    /// A ping target of its own, so that no other test's hits are counted.
    fn ping_target(&self, prefix: &str) -> String {
        let ping_id = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
        format!("{}/timers/ping/{ping_id}", self.base)
    }

    /// POSTs a timer; answers the `Location` header and the body of the `201`.
    async fn create(&self, timer: Value) -> (String, Value) {
        let created = self
            .http
            .post(format!("{}/timers", self.base))
            .json(&timer)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        (location, created.json().await.unwrap())
    }

    /// GETs `url` (a path of the API, or a whole URL), which must answer `200`.
    async fn get(&self, url: &str) -> Value {
        let url = if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        };
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    async fn wait_until_fired(&self, location: &str) -> Value {
        wait_until("the timer to fire", || async {
            self.get(location).await["status"] == "fired"
        })
        .await;
        self.get(location).await
    }

    /// Checks that `target` was hit exactly once, by timer `id`.
    async fn assert_one_hit(&self, target: &str, id: &str) {
        let hits = self.get(&format!("{target}/hits")).await;
        assert_eq!(hits["count"], 1, "{hits}");
        assert_eq!(hits["hits"][0]["timer_id"], id);
        assert_eq!(hits["hits"][0]["method"], "POST");
    }
}

fn restart_file() -> String {
    std::env::var("TIMERS_RESTART_FILE").expect("TIMERS_RESTART_FILE carries the timer across")
}

#[tokio::test]
#[ignore = "needs the local stack; tests/run.sh starts it and runs this"]
async fn a_timer_created_over_http_fires_at_the_ping_target() {
    let stack = Stack::from_env();
    let target = stack.ping_target("smoke");

    let (location, created) = stack.create(json!({"url": target, "seconds": 2})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/timers/{id}"));
    assert!(created["time_left"].as_u64().unwrap() <= 2);

    let timer = stack.wait_until_fired(&location).await;
    assert_eq!(timer["time_left"], 0);
    assert_eq!(timer["attempts"], 1);
    assert_eq!(timer["last_status"], 200);
    stack.assert_one_hit(&target, &id).await;
}

/// Before the restart: a timer due well after the stack is stopped (45 s leaves a loaded
/// machine time to finish the first tests and stop the stack).
#[tokio::test]
#[ignore = "needs the local stack; tests/run.sh runs this, restarts the stack, then the next"]
async fn a_timer_is_set_to_fire_after_the_stack_restarts() {
    let stack = Stack::from_env();
    let target = stack.ping_target("restart");

    let (location, created) = stack.create(json!({"url": target, "seconds": 45})).await;
    assert_eq!(stack.get(&location).await["status"], "pending");

    let handover = json!({"location": location, "target": target, "id": created["id"]});
    std::fs::write(restart_file(), handover.to_string()).unwrap();
}

/// After the restart: the timer is still there, and fires once.
#[tokio::test]
#[ignore = "needs the local stack; tests/run.sh runs this after restarting it"]
async fn the_timer_set_before_the_restart_fires_after_it() {
    let stack = Stack::from_env();
    let handover: Value =
        serde_json::from_str(&std::fs::read_to_string(restart_file()).unwrap()).unwrap();
    let location = handover["location"].as_str().unwrap();

    let timer = stack.wait_until_fired(location).await;
    assert_eq!(
        (timer["attempts"].as_u64(), timer["time_left"].as_u64()),
        (Some(1), Some(0))
    );
    let time = |raw: &str| chrono::DateTime::parse_from_rfc3339(raw).expect(raw);
    let stopped_at = std::env::var("TIMERS_STACK_STOPPED_AT")
        .expect("TIMERS_STACK_STOPPED_AT says when the stack was stopped");
    assert!(
        time(timer["fired_at"].as_str().unwrap()) > time(&stopped_at),
        "fired after the restart, not before the stop at {stopped_at}: {timer}"
    );
    let id = handover["id"].as_str().unwrap();
    stack
        .assert_one_hit(handover["target"].as_str().unwrap(), id)
        .await;
}
