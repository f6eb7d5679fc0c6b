//! The edge between `lambda_http` and the framework-free API in `timers::api`: it builds the
//! service from the environment, finds the route in an event, and turns answers into responses.
//! Both API Gateway HTTP API events and function-URL events (as `cargo lambda watch` sends
//! them, with empty path parameters) are understood.

use lambda_http::http::header::{CONTENT_TYPE, LOCATION};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use timers::api::{ApiResponse, Route};
use timers::config::Settings;
use timers::service::Timers;
use timers::store::dynamo::DynamoStore;

/// Logging, settings and the store, once per cold start; fails fast on a bad setting.
pub async fn timers_from_env() -> Result<Timers, Error> {
    timers::telemetry::init();
    let settings = Settings::from_env()?;
    let store = DynamoStore::from_settings(&settings).await;
    Ok(Timers::new(store, settings.shards))
}

/// The route of a request: the path parameters API Gateway fills in when present, the raw
/// path otherwise.
pub fn route(request: &Request) -> Option<Route<'_>> {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let params = request.path_parameters_ref();
    let param = |name: &str| params.and_then(|p| p.first(name)).filter(|v| !v.is_empty());
    Some(match Route::from_path(path)? {
        Route::Timer(raw) => Route::Timer(param("id").unwrap_or(raw)),
        Route::Ping(raw) => Route::Ping(param("ping_id").unwrap_or(raw)),
        Route::PingHits(raw) => Route::PingHits(param("ping_id").unwrap_or(raw)),
    })
}

/// A request header as text, if present and printable.
pub fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `Content-Type` header.
pub fn content_type(request: &Request) -> Option<&str> {
    header(request, CONTENT_TYPE.as_str())
}

/// The raw path, for error messages.
pub fn path(request: &Request) -> &str {
    request.uri().path()
}

/// Turns an API answer into a JSON HTTP response.
pub fn respond(answer: ApiResponse) -> Response<Body> {
    let mut response = Response::builder()
        .status(answer.status)
        .header(CONTENT_TYPE, "application/json");
    if let Some(location) = answer.location {
        response = response.header(LOCATION, location);
    }
    response
        .body(Body::from(answer.body.to_string()))
        .expect("a valid status and ASCII headers")
}
