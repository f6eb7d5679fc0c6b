//! The outbound call: what a timer sends when it fires, behind a trait so the sweep can be
//! driven against anything that answers HTTP.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::request::Method;
use crate::signing::{self, SigningKeys};
use crate::target::{TargetError, TargetPolicy};

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
    pub method: Method,
    /// Extra headers, as the client gave them.
    pub headers: BTreeMap<String, String>,
    /// The client's body; without it, `{"id": "<timer id>"}` (nothing for `GET`).
    pub body: Option<String>,
    /// The most this call may take when that is less than `CALL_TIMEOUT_MS`: what is left of
    /// the claim's lease, so the call never outlives it.
    pub timeout: Option<Duration>,
}

impl WebhookCall {
    /// The bytes sent, and their default `Content-Type` (the client's own header wins).
    fn payload(&self) -> (Vec<u8>, Option<&'static str>) {
        match (&self.body, self.method) {
            (Some(body), _) => (body.clone().into_bytes(), Some("text/plain; charset=utf-8")),
            (None, Method::Get) => (Vec::new(), None),
            (None, _) => (
                serde_json::json!({ "id": self.timer_id })
                    .to_string()
                    .into_bytes(),
                Some("application/json"),
            ),
        }
    }
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
    /// Not called: the target is, or resolves to, an address timers may not call.
    Forbidden { error: String },
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

/// The real outbound call over HTTP(S), with reqwest: no redirects followed, no proxy, bounded
/// connect and total time, signed when secrets are configured, and only to allowed addresses:
/// host names are resolved once, checked, and the connection goes to the checked addresses.
#[derive(Clone)]
pub struct HttpWebhook {
    client: reqwest::Client,
    targets: TargetPolicy,
    signing: SigningKeys,
}

impl HttpWebhook {
    pub fn new(
        timeouts: CallTimeouts,
        targets: TargetPolicy,
        signing: SigningKeys,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckingResolver(targets.clone())))
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.total)
            .user_agent(concat!("webhook-timers/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            targets,
            signing,
        })
    }

    /// The client for the service's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, reqwest::Error> {
        Self::new(
            settings.sweep.timeouts,
            settings.targets.clone(),
            settings.signing.clone(),
        )
    }

    /// A URL whose host is an IP address is checked here: no lookup runs for it.
    fn forbidden_address(&self, url: &str) -> Option<String> {
        let url = url::Url::parse(url).ok()?;
        let ip = match url.host()? {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return None,
        };
        self.targets.check(ip).err().map(|r| r.to_string())
    }
}

/// Resolves host names for the HTTP client and lets through only allowed addresses, so the
/// client connects to exactly what was checked (no second lookup a rebinding name could change).
struct CheckingResolver(TargetPolicy);

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = targets.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[async_trait]
impl Webhook for HttpWebhook {
    async fn call(&self, call: &WebhookCall) -> CallResult {
        if let Some(error) = self.forbidden_address(&call.url) {
            return CallResult::Forbidden { error };
        }
        let (body, content_type) = call.payload();
        let method = reqwest::Method::from_bytes(call.method.as_str().as_bytes())
            .expect("every Method is a valid HTTP method");
        let mut request = self
            .client
            .request(method, &call.url)
            .header(TIMER_ID_HEADER, &call.timer_id)
            .header(ATTEMPT_HEADER, call.attempt.to_string());
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        if let Some(content_type) =
            content_type.filter(|_| !call.headers.contains_key("content-type"))
        {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let timestamp = Utc::now().timestamp();
        if let Some(signature) = self.signing.sign(&call.timer_id, timestamp, &body) {
            request = request
                .header(signing::ID_HEADER, &call.timer_id)
                .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
                .header(signing::SIGNATURE_HEADER, signature);
        }
        if call.method != Method::Get || !body.is_empty() {
            request = request.body(body);
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        match request.send().await {
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
            Err(e) => match forbidden_target(&e) {
                Some(target) => CallResult::Forbidden {
                    error: target.to_string(),
                },
                None => CallResult::NoAnswer {
                    error: describe(&e),
                },
            },
        }
    }
}

/// The refusal of the resolver, if that is why a call failed.
fn forbidden_target(e: &reqwest::Error) -> Option<&TargetError> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(target @ TargetError::Forbidden { .. }) = s.downcast_ref::<TargetError>() {
            return Some(target);
        }
        source = s.source();
    }
    None
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
