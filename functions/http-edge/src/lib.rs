//! The edge between `lambda_http` and the framework-free API in `timers::api`: it builds the
//! service from the environment, finds the route in an event, and turns answers into responses.
//! Both API Gateway HTTP API events and function-URL events (as `cargo lambda watch` sends
//! them, with empty path parameters) are understood.

use chrono::{DateTime, Utc};
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use timers::api::{self, ApiResponse, PingRequest, Route};
use timers::config::Settings;
use timers::idempotency::{self, KeyOf};
use timers::service::Timers;
use timers::store::dynamo::DynamoStore;
use timers::webhook::{ATTEMPT_HEADER, TIMER_ID_HEADER};

/// The create-timer function: `POST /timers`.
pub async fn create_timer(
    timers: &Timers,
    request: &Request,
    now: DateTime<Utc>,
) -> Response<Body> {
    let content_type = header(request, CONTENT_TYPE.as_str());
    let caller = caller(request);
    let key = request.headers().get(idempotency::HEADER).map(|v| KeyOf {
        caller: &caller,
        key: std::str::from_utf8(v.as_bytes()).unwrap_or("\u{fffd}"),
    });
    respond(api::create_timer(timers, content_type, key, request.body().as_ref(), now).await)
}

/// Who API Gateway authenticated: the IAM principal (`iam:<arn>`) or the JWT's issuer and
/// subject (`jwt:<iss> <sub>`); empty when the API is open.
pub fn caller(request: &Request) -> String {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return String::new();
    };
    let Some(authorizer) = &context.authorizer else {
        return String::new();
    };
    let iam = authorizer
        .iam
        .as_ref()
        .and_then(|iam| iam.user_arn.as_ref().or(iam.caller_id.as_ref()))
        .map(|principal| format!("iam:{principal}"));
    let jwt = || {
        let claims = &authorizer.jwt.as_ref()?.claims;
        Some(format!("jwt:{} {}", claims.get("iss")?, claims.get("sub")?))
    };
    iam.or_else(jwt).unwrap_or_default()
}

/// The get-timer function: `GET /timers/{id}`.
pub async fn get_timer(timers: &Timers, request: &Request, now: DateTime<Utc>) -> Response<Body> {
    respond(match route(request) {
        Some(Route::Timer(id)) => api::get_timer(timers, id, now).await,
        _ => api::not_found(request.uri().path()),
    })
}

/// The cancel-timer function: `DELETE /timers/{id}`.
pub async fn cancel_timer(
    timers: &Timers,
    request: &Request,
    now: DateTime<Utc>,
) -> Response<Body> {
    respond(match route(request) {
        Some(Route::Timer(id)) => api::cancel_timer(timers, id, now).await,
        _ => api::not_found(request.uri().path()),
    })
}

/// The retry-timer function: `POST /timers/{id}/retry`.
pub async fn retry_timer(timers: &Timers, request: &Request, now: DateTime<Utc>) -> Response<Body> {
    respond(match route(request) {
        Some(Route::Retry(id)) => api::retry_timer(timers, id, now).await,
        _ => api::not_found(request.uri().path()),
    })
}

/// The ping function: any method on `/timers/ping/{ping_id}` records a hit;
/// `GET /timers/ping/{ping_id}/hits` lists them without adding one.
pub async fn ping(timers: &Timers, request: &Request, now: DateTime<Utc>) -> Response<Body> {
    respond(match route(request) {
        Some(Route::Ping(ping_id)) => {
            let hit = PingRequest {
                method: request.method().as_str(),
                timer_id: header(request, TIMER_ID_HEADER),
                attempt: header(request, ATTEMPT_HEADER),
                body: request.body().as_ref(),
            };
            api::ping(timers, ping_id, hit, now).await
        }
        Some(Route::PingHits(ping_id)) => api::ping_hits(timers, ping_id).await,
        _ => api::not_found(request.uri().path()),
    })
}

/// Logging, settings and the store, once per cold start; fails fast on a bad setting.
pub async fn timers_from_env() -> Result<Timers, Error> {
    timers::telemetry::init();
    let settings = Settings::from_env()?;
    let store = DynamoStore::from_settings(&settings).await;
    Ok(Timers::new(store, settings.shards).with_targets(settings.targets))
}

/// The route of a request: the path parameters API Gateway fills in when present, the raw
/// path otherwise.
fn route(request: &Request) -> Option<Route<'_>> {
    let path = match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    };
    let params = request.path_parameters_ref();
    let param = |name: &str| params.and_then(|p| p.first(name)).filter(|v| !v.is_empty());
    Some(match Route::from_path(path)? {
        Route::Timer(raw) => Route::Timer(param("id").unwrap_or(raw)),
        Route::Retry(raw) => Route::Retry(param("id").unwrap_or(raw)),
        Route::Ping(raw) => Route::Ping(param("ping_id").unwrap_or(raw)),
        Route::PingHits(raw) => Route::PingHits(param("ping_id").unwrap_or(raw)),
    })
}

/// A request header as text, if present and printable.
fn header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Turns an API answer into a JSON HTTP response.
fn respond(answer: ApiResponse) -> Response<Body> {
    let mut response = Response::builder()
        .status(answer.status)
        .header(CONTENT_TYPE, "application/json");
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(answer.body.to_string()))
        .expect("a valid status and ASCII headers")
}
