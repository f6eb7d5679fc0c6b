//! The HTTP API without any HTTP framework: each handler takes the parts of a request it
//! needs and always answers with an [`ApiResponse`] (JSON, errors included). The Lambda
//! functions only translate their events to and from these.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::domain::{seconds_until, utc_from_ms, NewTimer, Timer, TimerId, TimerStatus};
use crate::error::Error;
use crate::idempotency::{self, KeyOf};
use crate::ping::{PingHit, PingId};
use crate::request::is_sensitive_header;
use crate::service::Timers;

/// A JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    /// Headers beyond `Content-Type`: `Location` for a created timer, `Retry-After` on a 503.
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl ApiResponse {
    fn ok(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn error(error: &Error) -> Self {
        if let Error::Store(cause) = error {
            tracing::error!(error = %cause, source = ?std::error::Error::source(cause), "store request failed");
        }
        let mut response = Self::ok(error.status(), error.body());
        if error.status() == 503 {
            response.headers.push(("retry-after", "1".to_owned()));
        }
        response
    }

    fn from_result(result: Result<Self, Error>) -> Self {
        result.unwrap_or_else(|e| Self::error(&e))
    }
}

/// Which resource a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/timers/{id}`
    Timer(&'a str),
    /// `/timers/{id}/retry`
    Retry(&'a str),
    /// `/timers/ping/{ping_id}`
    Ping(&'a str),
    /// `/timers/ping/{ping_id}/hits`
    PingHits(&'a str),
}

impl<'a> Route<'a> {
    /// Reads the route from a raw path, for when the event carries no path parameters
    /// (function-URL emulation). A stage prefix such as `/prod` is skipped.
    pub fn from_path(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let start = segments.iter().position(|s| *s == "timers")?;
        match &segments[start + 1..] {
            ["ping", ping_id] => Some(Self::Ping(ping_id)),
            ["ping", ping_id, "hits"] => Some(Self::PingHits(ping_id)),
            [id] => Some(Self::Timer(id)),
            [id, "retry"] => Some(Self::Retry(id)),
            _ => None,
        }
    }
}

/// Whether a `Content-Type` value is JSON (`application/json`, `+json`, any parameters).
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn rfc3339(ms: i64) -> String {
    utc_from_ms(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The URL with any password replaced by `***`: anyone with the id may read the timer.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

/// A timer's headers with the values of those that may carry credentials shown as `***`.
fn shown_headers(headers: &BTreeMap<String, String>) -> Value {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_sensitive_header(name) {
                "***"
            } else {
                value
            };
            (name.clone(), Value::from(shown))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A timer as the API shows it.
pub fn timer_view(timer: &Timer, now: DateTime<Utc>) -> Value {
    let mut view = json!({
        "id": timer.id,
        "url": redacted(&timer.url),
        "method": timer.method,
        "status": timer.status,
        "due_at": rfc3339(timer.due_at),
        "time_left": timer.time_left(now),
        "created_at": rfc3339(timer.created_at),
        "attempts": timer.attempts,
        "last_status": timer.last_status,
    });
    let extra = [
        (
            "headers",
            (!timer.headers.is_empty()).then(|| shown_headers(&timer.headers)),
        ),
        (
            "body_bytes",
            timer.body.as_ref().map(|body| Value::from(body.len())),
        ),
        ("last_error", timer.last_error.clone().map(Value::from)),
        (
            "last_attempt_at",
            timer.last_attempt_at.map(rfc3339).map(Value::from),
        ),
        ("fired_at", timer.fired_at.map(rfc3339).map(Value::from)),
        ("failed_at", timer.failed_at.map(rfc3339).map(Value::from)),
        (
            "cancelled_at",
            timer.cancelled_at.map(rfc3339).map(Value::from),
        ),
        (
            "next_attempt_at",
            (timer.status == TimerStatus::Pending && timer.attempts > 0)
                .then(|| Value::from(rfc3339(timer.fire_at))),
        ),
        (
            "next_attempt_in",
            (timer.status == TimerStatus::Pending && timer.attempts > 0)
                .then(|| Value::from(seconds_until(timer.fire_at, now))),
        ),
    ];
    for (key, value) in extra {
        if let Some(value) = value {
            view[key] = value;
        }
    }
    view
}

/// `POST /timers`, with an optional `Idempotency-Key` of the caller.
pub async fn create_timer(
    timers: &Timers,
    content_type: Option<&str>,
    idempotency_key: Option<KeyOf<'_>>,
    body: &[u8],
    now: DateTime<Utc>,
) -> ApiResponse {
    ApiResponse::from_result(
        async {
            if let Some(ct) = content_type.filter(|ct| !is_json(ct)) {
                return Err(Error::UnsupportedMediaType(ct.to_owned()));
            }
            let request = NewTimer::from_json(body, now)?;
            let Some(raw) = idempotency_key else {
                let timer = timers.create(&request, now).await?;
                return Ok(created(&timer.id, timer_view(&timer, now), false));
            };
            let key = KeyOf {
                key: idempotency::parse_key(raw.key)?,
                ..raw
            };
            let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let fingerprint = idempotency::fingerprint(&parsed);
            let created_once = timers
                .create_once(&request, key, fingerprint, now, |timer| {
                    timer_view(timer, now)
                })
                .await?;
            Ok(created(
                &created_once.timer_id,
                created_once.answer,
                created_once.replayed,
            ))
        }
        .await,
    )
}

/// The `201 Created` answer for a timer; a replayed one says so.
fn created(id: &str, view: Value, replayed: bool) -> ApiResponse {
    let mut headers = vec![("location", format!("/timers/{id}"))];
    if replayed {
        headers.push(("idempotent-replayed", "true".to_owned()));
    }
    ApiResponse {
        status: 201,
        headers,
        body: view,
    }
}

/// `GET /timers/{id}`
pub async fn get_timer(timers: &Timers, raw_id: &str, now: DateTime<Utc>) -> ApiResponse {
    ApiResponse::from_result(
        async {
            let id = TimerId::parse(raw_id)?;
            let timer = timers.get(&id).await?;
            Ok(ApiResponse::ok(200, timer_view(&timer, now)))
        }
        .await,
    )
}

/// `DELETE /timers/{id}`: cancels a pending timer.
pub async fn cancel_timer(timers: &Timers, raw_id: &str, now: DateTime<Utc>) -> ApiResponse {
    ApiResponse::from_result(
        async {
            let id = TimerId::parse(raw_id)?;
            let timer = timers.cancel(&id, now).await?;
            Ok(ApiResponse::ok(200, timer_view(&timer, now)))
        }
        .await,
    )
}

/// `POST /timers/{id}/retry`: sends a failed timer again, due now.
pub async fn retry_timer(timers: &Timers, raw_id: &str, now: DateTime<Utc>) -> ApiResponse {
    ApiResponse::from_result(
        async {
            let id = TimerId::parse(raw_id)?;
            let timer = timers.retry(&id, now).await?;
            Ok(ApiResponse::ok(200, timer_view(&timer, now)))
        }
        .await,
    )
}

/// The parts of a request to the ping target that are kept.
#[derive(Debug, Clone, Copy)]
pub struct PingRequest<'a> {
    pub method: &'a str,
    pub timer_id: Option<&'a str>,
    pub attempt: Option<&'a str>,
    pub body: &'a [u8],
}

/// Any method on `/timers/ping/{ping_id}`: records the hit.
pub async fn ping(
    timers: &Timers,
    raw_ping_id: &str,
    request: PingRequest<'_>,
    now: DateTime<Utc>,
) -> ApiResponse {
    ApiResponse::from_result(async {
        let ping_id = PingId::parse(raw_ping_id)?;
        let (body, body_truncated) = PingHit::body_text(request.body);
        let hit = PingHit {
            ping_id: ping_id.as_str().to_owned(),
            received_at: now.timestamp_millis(),
            method: request.method.to_owned(),
            timer_id: request.timer_id.map(str::to_owned),
            attempt: request.attempt.map(str::to_owned),
            body,
            body_truncated,
        };
        timers.record_hit(&hit).await?;
        Ok(ApiResponse::ok(
            200,
            json!({"ping_id": hit.ping_id, "recorded": true, "received_at": rfc3339(hit.received_at)}),
        ))
    }
    .await)
}

/// `GET /timers/ping/{ping_id}/hits`: lists the hits without recording one.
pub async fn ping_hits(timers: &Timers, raw_ping_id: &str) -> ApiResponse {
    ApiResponse::from_result(
        async {
            let ping_id = PingId::parse(raw_ping_id)?;
            let (hits, truncated) = timers.hits(&ping_id).await?;
            let listed: Vec<Value> = hits
                .iter()
                .map(|h| {
                    json!({
                        "received_at": rfc3339(h.received_at),
                        "method": h.method,
                        "timer_id": h.timer_id,
                        "attempt": h.attempt,
                        "body": h.body,
                        "body_truncated": h.body_truncated,
                    })
                })
                .collect();
            Ok(ApiResponse::ok(
                200,
                json!({
                    "ping_id": ping_id.as_str(),
                    "count": listed.len(),
                    "truncated": truncated,
                    "hits": listed,
                }),
            ))
        }
        .await,
    )
}

/// The answer for a path that names no resource this function serves.
pub fn not_found(path: &str) -> ApiResponse {
    ApiResponse::ok(
        404,
        json!({"error": {"code": "not_found", "message": format!("no route for {path}"), "field": null}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_from_raw_paths_with_or_without_a_stage() {
        assert_eq!(Route::from_path("/timers/abc"), Some(Route::Timer("abc")));
        assert_eq!(
            Route::from_path("/prod/timers/abc/"),
            Some(Route::Timer("abc"))
        );
        assert_eq!(Route::from_path("/timers/ping/p1"), Some(Route::Ping("p1")));
        assert_eq!(
            Route::from_path("/timers/ping/p1/hits"),
            Some(Route::PingHits("p1"))
        );
        assert_eq!(Route::from_path("/timers"), None);
        assert_eq!(Route::from_path("/other/abc"), None);
        assert_eq!(
            Route::from_path("/timers/abc/retry"),
            Some(Route::Retry("abc"))
        );
        assert_eq!(Route::from_path("/timers/a/b/c"), None);
    }

    #[test]
    fn passwords_in_urls_are_not_shown() {
        assert_eq!(redacted("https://u:secret@a.b/x"), "https://u:***@a.b/x");
        assert_eq!(redacted("https://a.b/x"), "https://a.b/x");
    }

    #[test]
    fn json_content_types_are_recognised_with_parameters() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
