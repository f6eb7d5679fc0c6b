//! The outbound call: what a timer sends when it fires, behind a trait so the sweep can be
//! driven against anything that answers HTTP.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The header carrying the timer id: the same on every attempt, so receivers can drop duplicates.
pub const TIMER_ID_HEADER: &str = "x-timer-id";
/// The header carrying the attempt number, starting at 1.
pub const ATTEMPT_HEADER: &str = "x-timer-attempt";

/// One call to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookCall {
    pub url: String,
    pub timer_id: String,
    pub attempt: u32,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The target answered; any status, 2xx or not.
    Answered {
        status: u16,
        /// The `Retry-After` header's wait, when given (in seconds or as an HTTP date).
        retry_after: Option<Duration>,
    },
    /// No answer: refused, reset, timed out, or a bad address.
    NoAnswer { error: String },
}

/// Something that can make a [`WebhookCall`].
#[async_trait]
pub trait Webhook: Send + Sync {
    async fn call(&self, call: &WebhookCall) -> CallResult;
}

/// Timeouts of the outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// The real outbound call over HTTP(S), with reqwest: `POST` with `{"id": ...}`, no redirects
/// followed, bounded connect and total time.
#[derive(Clone)]
pub struct HttpWebhook {
    client: reqwest::Client,
}

impl HttpWebhook {
    pub fn new(timeouts: CallTimeouts) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(concat!("webhook-timers/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Webhook for HttpWebhook {
    async fn call(&self, call: &WebhookCall) -> CallResult {
        let sent = self
            .client
            .post(&call.url)
            .header(TIMER_ID_HEADER, &call.timer_id)
            .header(ATTEMPT_HEADER, call.attempt.to_string())
            .json(&serde_json::json!({ "id": call.timer_id }))
            .send()
            .await;
        match sent {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, Utc::now()));
                CallResult::Answered {
                    status: response.status().as_u16(),
                    retry_after,
                }
            }
            Err(e) => CallResult::NoAnswer {
                error: describe(&e),
            },
        }
    }
}

/// A short, client-safe description of why a call got no answer.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_request() {
        "request failed"
    } else {
        "call failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Reads a `Retry-After` value: whole seconds, or an HTTP date (a date in the past means 0).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
