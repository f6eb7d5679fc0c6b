//! The end-to-end smoke test through the real local stack: `cargo lambda watch` serving the
//! functions, the scheduler loop invoking the sweeper, Dynoxide keeping the data. `tests/run.sh`
//! starts the stack and runs this with `TIMERS_BASE_URL` set; plain `cargo test` skips it.

use std::time::Duration;

use integration_tests::wait_until;
use serde_json::{json, Value};

#[tokio::test]
#[ignore = "needs the local stack; tests/run.sh starts it and runs this"]
async fn a_timer_created_over_http_fires_at_the_ping_target() {
    let base = std::env::var("TIMERS_BASE_URL").expect("TIMERS_BASE_URL names the local stack");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let ping_id = format!("smoke-{}", uuid::Uuid::new_v4().simple());
    let target = format!("{base}/timers/ping/{ping_id}");

    let created = http
        .post(format!("{base}/timers"))
        .json(&json!({"url": target, "seconds": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/timers/{id}"));
    assert!(created["time_left"].as_u64().unwrap() <= 2);

    let get = |http: reqwest::Client, url: String| async move {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json::<Value>().await.unwrap()
    };
    wait_until("the timer to fire", || {
        let (http, url) = (http.clone(), format!("{base}{location}"));
        async move { get(http, url).await["status"] == "fired" }
    })
    .await;

    let timer = get(http.clone(), format!("{base}{location}")).await;
    assert_eq!(timer["time_left"], 0);
    assert_eq!(timer["attempts"], 1);
    assert_eq!(timer["last_status"], 200);
    let hits = get(http.clone(), format!("{target}/hits")).await;
    assert_eq!(hits["count"], 1, "{hits}");
    assert_eq!(hits["hits"][0]["timer_id"], id.as_str());
    assert_eq!(hits["hits"][0]["method"], "POST");
}
