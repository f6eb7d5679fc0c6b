//! Logging: JSON lines through `tracing`, one per decision that matters, filtered by `RUST_LOG`.

/// Installs the JSON log subscriber (idempotent: a second call does nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .try_init();
}
