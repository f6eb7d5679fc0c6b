//! The sweeper: invoked every minute (an EventBridge schedule on AWS, the scheduler loop in
//! `local/`), it fires every due timer, then keeps working for `SWEEP_RUN_SECONDS`, firing
//! each timer at its due time, and answers with a report of what it did.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use timers::config::Settings;
use timers::store::dynamo::{DynamoStore, OPERATION_TIMEOUT};
use timers::sweep::{stop_claiming_at, SweepReport, Sweeper, SystemClock};
use timers::webhook::HttpWebhook;

#[tokio::main]
async fn main() -> Result<(), Error> {
    timers::telemetry::init();
    let settings = Settings::from_env()?;
    let store = DynamoStore::from_settings(&settings).await;
    if settings.signing.is_empty() {
        tracing::warn!("WEBHOOK_SECRETS is not set: calls go out unsigned");
    }
    let webhook = Arc::new(HttpWebhook::from_settings(&settings)?);
    let sweeper = Sweeper::new(
        store,
        webhook,
        Arc::new(SystemClock),
        settings.sweep.clone(),
        settings.shards,
    );
    let sweeper = &sweeper;
    let keep_back = settings.sweep.wind_down(OPERATION_TIMEOUT);
    let run_for = settings.sweep.run_for;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let now = chrono::Utc::now();
            let deadline = stop_claiming_at(event.context.deadline, now, Duration::ZERO);
            let stop_at = deadline - keep_back;
            let sweeper = sweeper.finishing_by(deadline);
            if stop_at <= now {
                tracing::error!(
                    deadline_ms = event.context.deadline,
                    "the invocation's time is shorter than CALL_TIMEOUT_MS plus a margin, so no \
                     timer can be fired: raise the function timeout"
                );
            }
            let report: SweepReport = if run_for.is_zero() {
                sweeper.sweep(Some(stop_at)).await?
            } else {
                sweeper.run(stop_at.min(now + run_for)).await?
            };
            // CloudWatch reads metrics from this line of the log (embedded metric format).
            println!("{}", report.metrics(chrono::Utc::now()));
            if report.store_errors > 0 {
                return Err(Error::from(format!(
                    "the sweep stopped after {} store errors; the next run resumes",
                    report.store_errors
                )));
            }
            Ok::<_, Error>(report)
        },
    ))
    .await
}
