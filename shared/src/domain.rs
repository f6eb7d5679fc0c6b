//! The timer itself: ids, validated requests, stored records, and the time maths
//! (due-minute buckets, time left, retry backoff). Nothing here does I/O or reads a clock.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::InputError;
use crate::request::{CallShape, Method};

/// The longest delay a timer may have: 365 days.
pub const MAX_DELAY_SECONDS: u64 = 365 * 24 * 60 * 60;
/// The longest target URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

const MS_PER_MINUTE: i64 = 60_000;

/// A timer's id: a UUID (v7, so ids sort by creation time), shown in its hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(Uuid);

impl TimerId {
    /// A fresh id for a timer created at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            now.timestamp() as u64,
            now.timestamp_subsec_nanos(),
        );
        Self(Uuid::new_v7(ts))
    }

    /// Parses an id given by a client; anything that is not a UUID is refused.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        Uuid::try_parse(raw).map(Self).map_err(|_| {
            InputError::new(
                "invalid_id",
                "id",
                "the timer id must be a UUID such as 0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10",
            )
        })
    }

    /// Which of `shards` bucket shards this timer lives in: stable for the timer's life.
    pub fn shard(&self, shards: u16) -> u16 {
        // The low bits of a v7 UUID are random, so they spread timers evenly.
        (self.0.as_u128() % u128::from(shards.max(1))) as u16
    }
}

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where a timer is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerStatus {
    /// Waiting for its due time, or for its next attempt after a failed call.
    Pending,
    /// Claimed by a sweeper that is calling the URL now.
    Firing,
    /// The URL answered 2xx.
    Fired,
    /// Every attempt failed, or the target refused the call for good.
    Failed,
    /// Cancelled by the client before it fired.
    Cancelled,
}

impl TimerStatus {
    /// The status as stored and shown: `pending`, `firing`, `fired` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Fired => "fired",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether the timer will never be called again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Fired | Self::Failed | Self::Cancelled)
    }
}

/// A whole minute since the Unix epoch (UTC): the unit of the due-time index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minute(pub i64);

impl Minute {
    /// The minute that contains `ms` (epoch milliseconds).
    pub fn containing(ms: i64) -> Self {
        Self(ms.div_euclid(MS_PER_MINUTE))
    }

    /// The minute that contains `at`.
    pub fn of(at: DateTime<Utc>) -> Self {
        Self::containing(at.timestamp_millis())
    }

    /// The minute `n` minutes later (earlier when negative).
    pub fn plus(self, n: i64) -> Self {
        Self(self.0 + n)
    }

    /// The minute in UTC, e.g. `2026-12-03T13:45Z`.
    pub fn label(self) -> String {
        let start = Utc
            .timestamp_millis_opt(self.0.saturating_mul(MS_PER_MINUTE))
            .single()
            .unwrap_or_default();
        start.format("%Y-%m-%dT%H:%MZ").to_string()
    }

    /// The bucket key of this minute's `shard`, e.g. `2026-12-03T13:45Z#2`.
    pub fn bucket(self, shard: u16) -> String {
        format!("{}#{shard}", self.label())
    }
}

/// The bucket key a timer with this id is indexed under when it should fire at `fire_at_ms`.
pub fn bucket_for(id: &TimerId, fire_at_ms: i64, shards: u16) -> String {
    Minute::containing(fire_at_ms).bucket(id.shard(shards))
}

/// Whole seconds until `due_at_ms`, rounded up and never negative.
pub fn seconds_until(due_at_ms: i64, now: DateTime<Utc>) -> u64 {
    let left_ms = due_at_ms.saturating_sub(now.timestamp_millis());
    if left_ms <= 0 {
        0
    } else {
        (left_ms as u64).div_ceil(1000)
    }
}

/// Converts epoch milliseconds to a UTC time (saturating at the representable range).
pub fn utc_from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A timer as stored: one item of the table, written by create and updated by the sweeper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    pub id: String,
    pub url: String,
    /// The call's method; `POST` when not stored.
    #[serde(default, skip_serializing_if = "Method::is_default")]
    pub method: Method,
    /// Extra headers of the call, names in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The call's body; without it, `{"id": "<timer id>"}` (none for `GET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub status: TimerStatus,
    /// When the client created it (epoch ms, UTC).
    pub created_at: i64,
    /// When it is due (epoch ms, UTC).
    pub due_at: i64,
    /// When the next attempt may start: `due_at` at first, later after a backoff.
    pub fire_at: i64,
    /// Calls started so far.
    pub attempts: u32,
    /// The due-minute bucket: present while the timer still has to fire, so the sweeper finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// While firing: until when the claiming sweeper owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    /// While firing: the claim's token, so only its owner records the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// The HTTP status of the last answer, if the last call got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Why the last call failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last call ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<i64>,
    /// When the URL answered 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<i64>,
    /// When it was given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<i64>,
    /// When the client cancelled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<i64>,
}

impl Timer {
    /// A pending timer for `request`, created at `now`, indexed over `shards` shards.
    /// A due time in the past is indexed under the current minute, so the next sweep fires it.
    pub fn new(request: &NewTimer, now: DateTime<Utc>, shards: u16) -> Self {
        let id = TimerId::new(now);
        let created_at = now.timestamp_millis();
        let due_at = request.due_at.timestamp_millis();
        let fire_at = due_at.max(created_at);
        Self {
            id: id.to_string(),
            url: request.url.to_string(),
            method: request.call.method,
            headers: request.call.headers.clone(),
            body: request.call.body.clone(),
            status: TimerStatus::Pending,
            created_at,
            due_at,
            fire_at,
            attempts: 0,
            bucket: Some(bucket_for(&id, fire_at, shards)),
            lease_until: None,
            claim_token: None,
            last_status: None,
            last_error: None,
            last_attempt_at: None,
            fired_at: None,
            failed_at: None,
            cancelled_at: None,
        }
    }

    /// Whole seconds until the timer is due: 0 once due, fired or failed.
    pub fn time_left(&self, now: DateTime<Utc>) -> u64 {
        if self.status.is_final() {
            0
        } else {
            seconds_until(self.due_at, now)
        }
    }
}

/// A validated request to create a timer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    pub url: url::Url,
    /// When it is due, in UTC.
    pub due_at: DateTime<Utc>,
    /// How the call is made.
    pub call: CallShape,
}

const CREATE_FIELDS: [&str; 8] = [
    "url", "hours", "minutes", "seconds", "at", "method", "headers", "body",
];

impl NewTimer {
    /// Parses and validates a create request body received at `now`. The due time is either
    /// `at` (RFC 3339 with an offset) or `hours`/`minutes`/`seconds` after `now`, never both.
    /// Every refusal names the field at fault.
    pub fn from_json(body: &[u8], now: DateTime<Utc>) -> Result<Self, InputError> {
        let fields = json_object(body)?;
        if let Some(unknown) = fields.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
            return Err(InputError::new(
                "unknown_field",
                unknown.clone(),
                format!(
                    "unknown field '{unknown}': the accepted fields are {}",
                    CREATE_FIELDS.join(", ")
                ),
            ));
        }
        let url = parse_url(fields.get("url"))?;
        let due_at = match fields.get("at") {
            Some(at) => {
                if let Some(both) = ["hours", "minutes", "seconds"]
                    .into_iter()
                    .find(|f| fields.contains_key(*f))
                {
                    return Err(InputError::new(
                        "conflicting_fields",
                        both,
                        format!(
                            "give either at or hours/minutes/seconds, not both ('at' and '{both}')"
                        ),
                    ));
                }
                parse_at(at, now)?
            }
            None => {
                let hours = parse_count(&fields, "hours")?;
                let minutes = parse_count(&fields, "minutes")?;
                let seconds = parse_count(&fields, "seconds")?;
                // At most MAX_DELAY_SECONDS, so this cannot overflow.
                now + std::time::Duration::from_secs(total_delay(hours, minutes, seconds)?)
            }
        };
        let call = CallShape::from_fields(&fields)?;
        Ok(Self { url, due_at, call })
    }

    /// Seconds from `now` until this request's due time (0 if it is in the past).
    pub fn delay_seconds(&self, now: DateTime<Utc>) -> u64 {
        seconds_until(self.due_at.timestamp_millis(), now)
    }
}

fn parse_at(value: &serde_json::Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, InputError> {
    let invalid = |what: &str| {
        InputError::new(
            "invalid_time",
            "at",
            format!("at must be an RFC 3339 time with an offset, such as 2026-12-03T14:05:03Z or 2026-12-03T15:05:03+01:00; {what}"),
        )
    };
    let serde_json::Value::String(raw) = value else {
        return Err(invalid("not a string"));
    };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|e| invalid(&format!("'{raw}' is not one ({e})")))?
        .with_timezone(&Utc);
    let latest = now + std::time::Duration::from_secs(MAX_DELAY_SECONDS);
    if at > latest {
        return Err(InputError::new(
            "delay_too_long",
            "at",
            format!(
                "at must be at most 365 days from now (before {})",
                latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(at)
}

/// A JSON object's members in order, duplicates kept, each with the first member given twice
/// inside its value (at any depth), so that both can be refused.
struct Members(Vec<(String, Option<String>)>);

/// The first object member given twice anywhere in a JSON value.
struct FirstDuplicate(Option<String>);

struct DuplicateFinder;

impl<'de> serde::de::Visitor<'de> for DuplicateFinder {
    type Value = FirstDuplicate;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut first = None;
        while let Some(key) = map.next_key::<String>()? {
            let FirstDuplicate(inner) = map.next_value()?;
            let twice = !seen.insert(key.clone());
            if first.is_none() {
                first = if twice { Some(key) } else { inner };
            }
        }
        Ok(FirstDuplicate(first))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut first = None;
        while let Some(FirstDuplicate(inner)) = seq.next_element()? {
            first = first.or(inner);
        }
        Ok(FirstDuplicate(first))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FirstDuplicate(None))
    }
}

impl<'de> serde::Deserialize<'de> for FirstDuplicate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DuplicateFinder)
    }
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((key, FirstDuplicate(inner))) = map.next_entry()? {
                    members.push((key, inner));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Parses a body that must be one JSON object with no member given twice, at any depth.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, InputError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::new(
            "empty_body",
            "body",
            "the request body is empty: send a JSON object such as {\"url\": \"https://example.com/hook\", \"seconds\": 10}",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        InputError::new(
            "invalid_json",
            "body",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let serde_json::Value::Object(fields) = value else {
        return Err(InputError::new(
            "invalid_body",
            "body",
            "the request body must be a JSON object",
        ));
    };
    let Members(members) = serde_json::from_slice(body).map_err(|e| {
        InputError::new(
            "invalid_json",
            "body",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let mut seen = std::collections::HashSet::new();
    for (key, inner) in members {
        if !seen.insert(key.clone()) {
            return Err(InputError::new(
                "duplicate_field",
                key.clone(),
                format!("'{key}' is given more than once"),
            ));
        }
        if let Some(twice) = inner {
            return Err(InputError::new(
                "duplicate_field",
                key.clone(),
                format!("'{twice}' is given more than once in {key}"),
            ));
        }
    }
    Ok(fields)
}

fn invalid_url(message: impl Into<String>) -> InputError {
    InputError::new("invalid_url", "url", message)
}

fn parse_url(value: Option<&serde_json::Value>) -> Result<url::Url, InputError> {
    let raw = match value {
        None | Some(serde_json::Value::Null) => {
            return Err(InputError::new("missing_field", "url", "url is required"))
        }
        Some(serde_json::Value::String(s)) => s,
        Some(_) => {
            return Err(InputError::new(
                "invalid_type",
                "url",
                "url must be a string",
            ))
        }
    };
    if raw.len() > MAX_URL_BYTES {
        return Err(url_too_long());
    }
    // The URL is taken as written: anything a parser would silently drop or rewrite is refused.
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err(invalid_url(
            "url must not contain spaces, control characters or backslashes",
        ));
    }
    let lower = raw.to_ascii_lowercase();
    let Some(after_scheme) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    else {
        return Err(invalid_url(
            "url must be an absolute URL starting with http:// or https://",
        ));
    };
    let url = url::Url::parse(raw)
        .map_err(|e| invalid_url(format!("url must be an absolute http or https URL ({e})")))?;
    let written_host = written_host(after_scheme);
    match url.host() {
        None => return Err(invalid_url("url must name a host")),
        Some(url::Host::Domain(domain)) => {
            let labels: Vec<&str> = domain
                .strip_suffix('.')
                .unwrap_or(domain)
                .split('.')
                .collect();
            if written_host.is_empty() || labels.iter().any(|l| l.is_empty()) {
                return Err(invalid_url("url must name a host with no empty labels"));
            }
        }
        Some(url::Host::Ipv4(address)) => {
            if written_host != address.to_string() {
                return Err(invalid_url(format!(
                    "write an IPv4 host as four decimal numbers: {address}, not {written_host}"
                )));
            }
        }
        Some(url::Host::Ipv6(_)) => {}
    }
    if url.port() == Some(0) {
        return Err(invalid_url("url must not use port 0"));
    }
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(url_too_long());
    }
    Ok(url)
}

fn url_too_long() -> InputError {
    InputError::new(
        "url_too_long",
        "url",
        format!("url must be at most {MAX_URL_BYTES} bytes, once percent-encoded"),
    )
}

/// The host as the client wrote it: between `scheme://` (already removed) and the path,
/// without user info and port.
fn written_host(after_scheme: &str) -> &str {
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.split(']').next().unwrap_or_default();
    }
    host_port.split(':').next().unwrap_or_default()
}

fn parse_count(
    fields: &serde_json::Map<String, serde_json::Value>,
    name: &'static str,
) -> Result<u64, InputError> {
    let refuse = |what: &str| {
        InputError::new(
            "invalid_number",
            name,
            format!("{name} must be a non-negative whole number, {what}"),
        )
    };
    match fields.get(name) {
        None => Ok(0),
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(v), _, _) => Ok(v),
            (None, Some(_), _) => Err(refuse("not a negative one")),
            (None, None, Some(f)) if f >= 18_446_744_073_709_551_616.0 => Err(delay_too_long(name)),
            (None, None, Some(f)) if f < 0.0 => Err(refuse("not a negative one")),
            (None, None, Some(f)) if f.fract() != 0.0 => Err(refuse("not a fraction")),
            _ => Err(refuse(
                "written as a plain integer, with no sign, decimal point or exponent: 10, not \
                 10.0, 1e1 or -0",
            )),
        },
        Some(serde_json::Value::String(_)) => Err(refuse("not a string: send 5, not \"5\"")),
        Some(serde_json::Value::Null) => Err(refuse("not null: leave the field out for 0")),
        Some(serde_json::Value::Bool(_)) => Err(refuse("not a boolean")),
        Some(_) => Err(refuse("not an array or object")),
    }
}

fn delay_too_long(field: &'static str) -> InputError {
    InputError::new(
        "delay_too_long",
        field,
        format!("the total delay must be at most {MAX_DELAY_SECONDS} seconds (365 days)"),
    )
}

fn total_delay(hours: u64, minutes: u64, seconds: u64) -> Result<u64, InputError> {
    let parts = [
        ("hours", u128::from(hours) * 3600),
        ("minutes", u128::from(minutes) * 60),
        ("seconds", u128::from(seconds)),
    ];
    let total: u128 = parts.iter().map(|(_, s)| s).sum();
    if total > u128::from(MAX_DELAY_SECONDS) {
        // The field that adds the most is the one to fix.
        let (field, _) = parts
            .into_iter()
            .max_by_key(|(_, s)| *s)
            .expect("three parts");
        return Err(delay_too_long(field));
    }
    Ok(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2026-12-03T10:00:00Z")
    }

    fn parse(body: &str) -> Result<NewTimer, InputError> {
        NewTimer::from_json(body.as_bytes(), now())
    }

    fn refusal(body: &str) -> InputError {
        parse(body).expect_err(body)
    }

    #[test]
    fn accepts_a_full_request_and_adds_up_the_delay() {
        let t = parse(
            r#"{"url": "https://example.com/hook?a=1", "hours": 1, "minutes": 5, "seconds": 3}"#,
        )
        .unwrap();
        assert_eq!(t.delay_seconds(now()), 3600 + 300 + 3);
        assert_eq!(t.url.as_str(), "https://example.com/hook?a=1");
    }

    #[test]
    fn a_url_is_kept_in_its_standard_form() {
        for (written, kept) in [
            ("HTTP://EXAMPLE.COM/X", "http://example.com/X"),
            (
                "https://example.com:443/a/./b/../c",
                "https://example.com/a/c",
            ),
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
        ] {
            let t = parse(&format!(r#"{{"url": "{written}"}}"#)).unwrap();
            assert_eq!(t.url.as_str(), kept, "{written}");
        }
    }

    #[test]
    fn missing_parts_of_the_delay_count_as_zero() {
        let t = parse(r#"{"url": "http://example.com", "minutes": 2}"#).unwrap();
        assert_eq!(t.delay_seconds(now()), 120);
        let t = parse(r#"{"url": "http://example.com"}"#).unwrap();
        assert_eq!(t.delay_seconds(now()), 0);
    }

    #[test]
    fn each_bad_delay_value_is_refused_naming_its_field() {
        for (body, field) in [
            (r#"{"url":"http://a.b","seconds":"5"}"#, "seconds"),
            (r#"{"url":"http://a.b","seconds":1.5}"#, "seconds"),
            (r#"{"url":"http://a.b","minutes":-1}"#, "minutes"),
            (r#"{"url":"http://a.b","hours":null}"#, "hours"),
            (r#"{"url":"http://a.b","hours":true}"#, "hours"),
            (r#"{"url":"http://a.b","hours":[1]}"#, "hours"),
        ] {
            let e = refusal(body);
            assert_eq!(e.field, field, "{body}");
            assert_eq!(e.code, "invalid_number", "{body}");
        }
    }

    #[test]
    fn huge_values_are_refused_without_overflow() {
        for (body, field) in [
            (
                r#"{"url":"http://a.b","hours":9223372036854775807}"#,
                "hours",
            ),
            (
                r#"{"url":"http://a.b","hours":18446744073709551615}"#,
                "hours",
            ),
            (
                r#"{"url":"http://a.b","minutes":18446744073709551615}"#,
                "minutes",
            ),
            (
                r#"{"url":"http://a.b","seconds":18446744073709551615,"minutes":1}"#,
                "seconds",
            ),
            (r#"{"url":"http://a.b","seconds":1e30}"#, "seconds"),
            (
                r#"{"url":"http://a.b","seconds":18446744073709551616}"#,
                "seconds",
            ),
            (r#"{"url":"http://a.b","hours":8761}"#, "hours"),
            // The field that adds the most is the one named.
            (
                r#"{"url":"http://a.b","hours":5124095576030431,"minutes":1}"#,
                "hours",
            ),
            (
                r#"{"url":"http://a.b","hours":1,"minutes":18446744073709551615}"#,
                "minutes",
            ),
            (
                r#"{"url":"http://a.b","minutes":1,"seconds":31536000}"#,
                "seconds",
            ),
        ] {
            let e = refusal(body);
            assert_eq!(
                (e.code, e.field.as_str()),
                ("delay_too_long", field),
                "{body}"
            );
        }
    }

    #[test]
    fn whole_numbers_in_float_or_exponent_form_are_refused_as_notation_not_size() {
        for body in [
            r#"{"url":"http://a.b","seconds":1e3}"#,
            r#"{"url":"http://a.b","seconds":10.0}"#,
            r#"{"url":"http://a.b","seconds":-0}"#,
            r#"{"url":"http://a.b","seconds":0.0}"#,
        ] {
            let e = refusal(body);
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_number", "seconds"),
                "{body}"
            );
            assert!(e.message.contains("decimal point"), "{body}: {}", e.message);
        }
        let e = refusal(r#"{"url":"http://a.b","seconds":-9223372036854775809}"#);
        assert!(e.message.contains("negative"), "{}", e.message);
    }

    #[test]
    fn an_absolute_time_is_taken_in_any_offset_and_kept_in_utc() {
        let t = parse(r#"{"url":"http://a.b","at":"2026-12-03T12:30:00+02:00"}"#).unwrap();
        assert_eq!(t.due_at, at("2026-12-03T10:30:00Z"));
        assert_eq!(t.delay_seconds(now()), 1800);
    }

    #[test]
    fn a_past_absolute_time_is_due_now_and_indexed_in_the_current_minute() {
        let t = parse(r#"{"url":"http://a.b","at":"2020-01-01T00:00:00Z"}"#).unwrap();
        let timer = Timer::new(&t, now(), 4);
        assert_eq!(timer.due_at, at("2020-01-01T00:00:00Z").timestamp_millis());
        assert_eq!(timer.fire_at, now().timestamp_millis());
        assert!(timer
            .bucket
            .as_deref()
            .unwrap()
            .starts_with("2026-12-03T10:00Z#"));
        assert_eq!(timer.time_left(now()), 0);
    }

    #[test]
    fn bad_absolute_times_are_refused() {
        for (body, code, field) in [
            (
                r#"{"url":"http://a.b","at":"2026-12-03T12:30:00"}"#,
                "invalid_time",
                "at",
            ),
            (
                r#"{"url":"http://a.b","at":"tomorrow"}"#,
                "invalid_time",
                "at",
            ),
            (
                r#"{"url":"http://a.b","at":1796300000}"#,
                "invalid_time",
                "at",
            ),
            (
                r#"{"url":"http://a.b","at":"2028-01-01T00:00:00Z"}"#,
                "delay_too_long",
                "at",
            ),
            (
                r#"{"url":"http://a.b","at":"2026-12-03T12:30:00Z","seconds":5}"#,
                "conflicting_fields",
                "seconds",
            ),
        ] {
            let e = refusal(body);
            assert_eq!((e.code, e.field.as_str()), (code, field), "{body}");
        }
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let e = refusal(r#"{"url":"http://a.b","seconds":1000,"seconds":0}"#);
        assert_eq!((e.code, e.field.as_str()), ("duplicate_field", "seconds"));
        let e = refusal(r#"{"url":"http://evil.example","url":"http://a.b"}"#);
        assert_eq!((e.code, e.field.as_str()), ("duplicate_field", "url"));
        for nested in [
            r#"{"url":"http://a.b","headers":{"x-a":"1","x-a":"2"}}"#,
            r#"{"url":"http://a.b","headers":{"x-a":"1","x-\u0061":"2"}}"#,
        ] {
            let e = refusal(nested);
            assert_eq!(
                (e.code, e.field.as_str()),
                ("duplicate_field", "headers"),
                "{nested}"
            );
            assert!(e.message.contains("'x-a'"), "{}", e.message);
        }
        let deep = r#"{"url":"http://a.b","x":[{"a":{"b":1,"b":2}}]}"#;
        assert_eq!(refusal(deep).field, "x");
    }

    #[test]
    fn urls_a_parser_would_rewrite_are_refused() {
        for raw in [
            "http://exa\tmple.com/",
            "http://a.b/x\ny",
            "http://a.b/\u{0}",
            " http://a.b/",
            "http:///x",
            "http:x",
            "http:/x",
            "http:\\\\a.b\\x",
            "http://\u{200b}.com/",
            "http://a..b/",
            "http://.a.b/",
            "http://1.2.3/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "https://a.b:0/",
        ] {
            let body = serde_json::json!({ "url": raw }).to_string();
            let e = refusal(&body);
            assert_eq!(
                (e.code, e.field.as_str()),
                ("invalid_url", "url"),
                "{raw:?}"
            );
        }
        for good in [
            "http://127.0.0.1:9000/timers/ping/x",
            "https://user:pw@example.com:8443/a?b=c#d",
            "http://[::1]:8080/",
            "HTTPS://Example.COM/",
            "http://example.com./",
            "http://bücher.example/",
        ] {
            let body = serde_json::json!({ "url": good }).to_string();
            assert!(parse(&body).is_ok(), "{good}");
        }
    }

    #[test]
    fn the_url_limit_holds_after_percent_encoding() {
        let raw = format!("http://a.b/{}", "é".repeat(1000));
        assert!(raw.len() <= MAX_URL_BYTES);
        let e = refusal(&serde_json::json!({ "url": raw }).to_string());
        assert_eq!(e.code, "url_too_long");
    }

    #[test]
    fn exactly_the_maximum_delay_is_accepted() {
        let body = format!(r#"{{"url":"http://a.b","seconds":{MAX_DELAY_SECONDS}}}"#);
        assert_eq!(
            parse(&body).unwrap().delay_seconds(now()),
            MAX_DELAY_SECONDS
        );
        let body = format!(
            r#"{{"url":"http://a.b","seconds":{}}}"#,
            MAX_DELAY_SECONDS + 1
        );
        assert_eq!(refusal(&body).code, "delay_too_long");
    }

    #[test]
    fn bad_urls_are_refused() {
        let long = format!(r#"{{"url":"http://a.b/{}"}}"#, "x".repeat(MAX_URL_BYTES));
        for (body, code) in [
            (r#"{"seconds":1}"#, "missing_field"),
            (r#"{"url":null}"#, "missing_field"),
            (r#"{"url":5}"#, "invalid_type"),
            (r#"{"url":"example.com/hook"}"#, "invalid_url"),
            (r#"{"url":"/hook"}"#, "invalid_url"),
            (r#"{"url":"ftp://example.com/x"}"#, "invalid_url"),
            (r#"{"url":"file:///etc/passwd"}"#, "invalid_url"),
            (r#"{"url":"http://"}"#, "invalid_url"),
            (long.as_str(), "url_too_long"),
        ] {
            let e = refusal(body);
            assert_eq!((e.code, e.field.as_str()), (code, "url"), "{body}");
        }
    }

    #[test]
    fn bodies_that_are_not_a_json_object_are_refused() {
        assert_eq!(refusal("").code, "empty_body");
        assert_eq!(refusal("  \n").code, "empty_body");
        assert_eq!(refusal("{").code, "invalid_json");
        assert_eq!(refusal("[1]").code, "invalid_body");
        assert_eq!(refusal("\"x\"").code, "invalid_body");
    }

    #[test]
    fn unknown_fields_are_refused_so_typos_do_not_fire_early() {
        let e = refusal(r#"{"url":"http://a.b","secnds":10}"#);
        assert_eq!((e.code, e.field.as_str()), ("unknown_field", "secnds"));
    }

    #[test]
    fn time_left_rounds_up_and_never_goes_negative() {
        let now = at("2026-12-03T10:00:00Z");
        let ms = now.timestamp_millis();
        assert_eq!(seconds_until(ms + 10_000, now), 10);
        assert_eq!(seconds_until(ms + 9_001, now), 10);
        assert_eq!(seconds_until(ms + 1, now), 1);
        assert_eq!(seconds_until(ms, now), 0);
        assert_eq!(seconds_until(ms - 5_000, now), 0);
    }

    #[test]
    fn time_left_is_zero_once_fired_even_if_early() {
        let now = at("2026-12-03T10:00:00Z");
        let mut t = Timer::new(
            &NewTimer::from_json(br#"{"url":"http://a.b","seconds":30}"#, now).unwrap(),
            now,
            4,
        );
        assert_eq!(t.time_left(now), 30);
        t.status = TimerStatus::Fired;
        assert_eq!(t.time_left(now), 0);
    }

    #[test]
    fn buckets_are_the_due_minute_in_utc_plus_a_stable_shard() {
        let due = at("2026-12-03T13:45:59.999Z").timestamp_millis();
        let id = TimerId::parse("0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e13").unwrap();
        let bucket = bucket_for(&id, due, 4);
        assert_eq!(bucket, format!("2026-12-03T13:45Z#{}", id.shard(4)));
        assert_eq!(id.shard(4), 3);
        assert_eq!(id.shard(1), 0);
        assert_eq!(
            Minute::containing(due).plus(1),
            Minute::of(at("2026-12-03T13:46:00Z"))
        );
    }

    #[test]
    fn minutes_before_the_epoch_round_down() {
        assert_eq!(Minute::containing(-1), Minute(-1));
        assert_eq!(Minute::containing(0), Minute(0));
    }

    #[test]
    fn ids_parse_in_any_uuid_form_and_print_hyphenated() {
        let id = TimerId::parse("0190C6F83E577A519F1C7D2B6F7A9E10").unwrap();
        assert_eq!(id.to_string(), "0190c6f8-3e57-7a51-9f1c-7d2b6f7a9e10");
        assert_eq!(TimerId::parse("nope").unwrap_err().field, "id");
    }

    #[test]
    fn a_new_timer_is_pending_in_its_due_bucket() {
        let now = at("2026-12-03T13:59:30Z");
        let t = Timer::new(
            &NewTimer::from_json(br#"{"url":"http://a.b","seconds":45}"#, now).unwrap(),
            now,
            2,
        );
        assert_eq!(t.status, TimerStatus::Pending);
        assert_eq!(t.due_at, now.timestamp_millis() + 45_000);
        assert!(t
            .bucket
            .as_deref()
            .unwrap()
            .starts_with("2026-12-03T14:00Z#"));
    }
}
