//! `GET /timers/{id}`: a timer's state and the seconds left.

use lambda_http::{run, service_fn, Error, Request};
use timers::api::{self, Route};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let timers = http_edge::timers_from_env().await?;
    let timers = &timers;
    run(service_fn(move |request: Request| async move {
        let answer = match http_edge::route(&request) {
            Some(Route::Timer(id)) => api::get_timer(timers, id, chrono::Utc::now()).await,
            _ => api::not_found(http_edge::path(&request)),
        };
        Ok::<_, Error>(http_edge::respond(answer))
    }))
    .await
}
