//! Runs the parts of the timer service that AWS would run, on one machine:
//! `store` serves the DynamoDB API from an SQLite file with Dynoxide and creates the table;
//! `scheduler` invokes the sweeper function every period, as the EventBridge schedule does.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use timers::store::dynamo::{create_table_if_missing, DynamoStore};

#[derive(Parser)]
#[command(about = "Run the webhook-timer service on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the DynamoDB API on 127.0.0.1 from an SQLite file, with the timers table created.
    Store {
        /// The SQLite file that keeps the data across restarts.
        #[arg(long, default_value = "local/data/timers.db")]
        db: PathBuf,
        #[arg(long, default_value_t = 8000)]
        port: u16,
        #[arg(long, env = "TABLE_NAME", default_value = "timers")]
        table: String,
    },
    /// Invoke the sweeper every period, like the minute schedule on AWS.
    Scheduler {
        /// The sweeper's Lambda invoke URL under `cargo lambda watch`.
        #[arg(
            long,
            default_value = "http://127.0.0.1:9000/2015-03-31/functions/sweeper/invocations"
        )]
        invoke_url: String,
        /// Seconds between invocations.
        #[arg(long, env = "SCHEDULER_PERIOD_SECONDS", default_value_t = 60)]
        every: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    timers::telemetry::init();
    match Cli::parse().command {
        Command::Store { db, port, table } => store(db, port, &table).await,
        Command::Scheduler { invoke_url, every } => scheduler(&invoke_url, every).await,
    }
}

async fn store(db: PathBuf, port: u16, table: &str) -> anyhow::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let path = db.to_str().context("the database path must be UTF-8")?;
    let database =
        dynoxide::Database::new(path).map_err(|e| anyhow::anyhow!("opening {path}: {e}"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let server = tokio::spawn(dynoxide::server::serve_with_shutdown(
        listener,
        database,
        stop_requested(),
    ));
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = DynamoStore::client_for_endpoint(&endpoint);
    create_table_if_missing(&client, table)
        .await
        .with_context(|| format!("creating table {table}"))?;
    tracing::info!(%endpoint, table, db = path, "store ready");
    server
        .await?
        .map_err(|e| anyhow::anyhow!("store server: {e}"))
}

async fn scheduler(invoke_url: &str, every: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()?;
    let mut ticks = tokio::time::interval(Duration::from_secs(every.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tracing::info!(invoke_url, every, "scheduler started");
    loop {
        ticks.tick().await;
        // Like the schedule on AWS, each trigger starts on time, whether the last run ended or not.
        let invocation = client.post(invoke_url).json(&scheduled_event()).send();
        tokio::spawn(async move {
            match invocation.await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    tracing::info!(status, report = %body, "sweeper invoked");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "sweeper invocation failed; the next period tries again")
                }
            }
        });
    }
}

/// Ctrl-C, or the SIGTERM `local/run.sh` sends its processes when it stops.
async fn stop_requested() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be handled");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("store stopping");
}

/// The event EventBridge sends on a schedule.
fn scheduled_event() -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": now,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/local-sweeper-schedule"],
        "detail": {}
    })
}
