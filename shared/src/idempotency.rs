//! `Idempotency-Key` on `POST /timers`: a client that is not sure its create went through
//! sends it again with the same key and gets the same timer and the same answer, never a
//! second timer. The key is stored beside the timer it created, in one transaction, and kept
//! for [`KEY_LIFETIME`]; the same key with a different request is refused. Keys belong to the
//! caller the API authenticated (an IAM principal or a JWT subject), so callers cannot see or
//! block each other's keys.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::InputError;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// How long a key is remembered (at least: the table's TTL deletes it some time after).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest key accepted.
pub const MAX_KEY_CHARS: usize = 255;

/// An `Idempotency-Key` as received, with the caller it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOf<'a> {
    /// Who sent it, as the API authenticated them (`iam:<arn>`, `jwt:<issuer> <subject>`);
    /// empty on an open API, where every caller shares one space of keys.
    pub caller: &'a str,
    pub key: &'a str,
}

/// A create request's idempotency key, as stored beside the timer it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The caller the key belongs to (see [`KeyOf::caller`]).
    #[serde(default)]
    pub caller: String,
    pub key: String,
    /// Tells a retry (same request) from a different request that reuses the key.
    pub fingerprint: String,
    pub timer_id: String,
    /// The first answer's body (JSON text), given again to every retry.
    pub answer: String,
    /// When the key was first used (epoch ms, UTC).
    pub created_at: i64,
    /// When the key is forgotten (epoch seconds: the table's TTL attribute).
    pub expires_at: i64,
}

/// Checks a raw `Idempotency-Key` value: 1 to 255 printable ASCII characters.
pub fn parse_key(raw: &str) -> Result<&str, InputError> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_KEY_CHARS
        && raw.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if valid {
        Ok(raw)
    } else {
        Err(InputError::new(
            "invalid_idempotency_key",
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters, such as a UUID"),
        ))
    }
}

/// Where a caller's key is stored: the caller as a hash, so that any caller name fits.
pub fn storage_name(caller: &str, key: &str) -> String {
    let caller = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(caller));
    format!("{caller}#{key}")
}

/// The fingerprint of a create request's JSON body: SHA-256 of its canonical form, so that
/// the same request with its members in another order or other spacing is the same request.
pub fn fingerprint(body: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(body, &mut canonical);
    BASE64.encode(Sha256::digest(canonical.as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(name.as_str()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_request_written_differently_has_the_same_fingerprint() {
        let a: Value = serde_json::from_str(
            r#"{"url": "http://a.b", "headers": {"x": "1", "y": "2"}, "seconds": 5}"#,
        )
        .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"seconds":5,"headers":{"y":"2","x":"1"},"url":"http://a.b"}"#)
                .unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(
            fingerprint(&a),
            fingerprint(
                &json!({"url": "http://a.b", "headers": {"x": "1", "y": "2"}, "seconds": 6})
            )
        );
    }

    #[test]
    fn the_same_key_of_two_callers_is_stored_apart() {
        assert_ne!(
            storage_name("iam:arn:aws:iam::1:user/a", "k"),
            storage_name("iam:arn:aws:iam::1:user/b", "k")
        );
        assert_eq!(storage_name("", "k"), storage_name("", "k"));
        assert!(storage_name("", "order-42").ends_with("#order-42"));
    }

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        assert_eq!(parse_key("order-42 retry"), Ok("order-42 retry"));
        assert!(parse_key(&"k".repeat(MAX_KEY_CHARS)).is_ok());
        for bad in ["", "é", "a\nb", &"k".repeat(MAX_KEY_CHARS + 1)] {
            let e = parse_key(bad).unwrap_err();
            assert_eq!(e.field, "Idempotency-Key", "{bad:?}");
        }
    }
}
