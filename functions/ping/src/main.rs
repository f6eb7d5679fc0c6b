//! The built-in target: any request to `/timers/ping/{ping_id}` is recorded as a hit, and
//! `GET /timers/ping/{ping_id}/hits` lists the hits without adding one.

use lambda_http::{run, service_fn, Error, Request};
use timers::api::{self, PingRequest, Route};
use timers::webhook::{ATTEMPT_HEADER, TIMER_ID_HEADER};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let timers = http_edge::timers_from_env().await?;
    let timers = &timers;
    run(service_fn(move |request: Request| async move {
        let answer = match http_edge::route(&request) {
            Some(Route::Ping(ping_id)) => {
                let hit = PingRequest {
                    method: request.method().as_str(),
                    timer_id: http_edge::header(&request, TIMER_ID_HEADER),
                    attempt: http_edge::header(&request, ATTEMPT_HEADER),
                    body: request.body().as_ref(),
                };
                api::ping(timers, ping_id, hit, chrono::Utc::now()).await
            }
            Some(Route::PingHits(ping_id)) => api::ping_hits(timers, ping_id).await,
            _ => api::not_found(http_edge::path(&request)),
        };
        Ok::<_, Error>(http_edge::respond(answer))
    }))
    .await
}
