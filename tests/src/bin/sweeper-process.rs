//! A sweeper as a process of its own, for tests that kill it: it runs the same `Sweeper` as the
//! Lambda function, in a loop, against the store at `TIMERS_STORE_ENDPOINT`, with the function
//! settings from the environment and the system clock.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use timers::config::Settings;
use timers::store::dynamo::DynamoStore;
use timers::sweep::{Sweeper, SystemClock};
use timers::webhook::HttpWebhook;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    timers::telemetry::init();
    let settings = Settings::from_env()?;
    let endpoint = std::env::var("TIMERS_STORE_ENDPOINT").context("TIMERS_STORE_ENDPOINT")?;
    let pause = std::env::var("SWEEP_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(200), Duration::from_millis);
    let client = DynamoStore::client_for_endpoint(&endpoint);
    let sweeper = Sweeper::new(
        Arc::new(DynamoStore::new(client, &settings.table)),
        Arc::new(HttpWebhook::from_settings(&settings)?),
        Arc::new(SystemClock),
        settings.sweep,
        settings.shards,
    );
    loop {
        if let Err(e) = sweeper.sweep(None).await {
            tracing::error!(error = %e, "sweep failed");
        }
        tokio::time::sleep(pause).await;
    }
}
