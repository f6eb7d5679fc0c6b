//! `POST /timers`: validates and stores a new timer.

use lambda_http::{run, service_fn, Error, Request};
use timers::api;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let timers = http_edge::timers_from_env().await?;
    let timers = &timers;
    run(service_fn(move |request: Request| async move {
        let answer = api::create_timer(
            timers,
            http_edge::content_type(&request),
            request.body().as_ref(),
            chrono::Utc::now(),
        )
        .await;
        Ok::<_, Error>(http_edge::respond(answer))
    }))
    .await
}
