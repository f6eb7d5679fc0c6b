//! `DELETE /timers/{id}`: cancels a pending timer.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let timers = http_edge::timers_from_env().await?;
    let timers = &timers;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(http_edge::cancel_timer(timers, &request, chrono::Utc::now()).await)
    }))
    .await
}
