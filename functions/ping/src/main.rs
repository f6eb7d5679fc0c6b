//! The built-in ping target: records every request to `/timers/ping/{ping_id}` and lists them.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let timers = http_edge::timers_from_env().await?;
    let timers = &timers;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(http_edge::ping(timers, &request, chrono::Utc::now()).await)
    }))
    .await
}
