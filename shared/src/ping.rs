//! The built-in ping target: every request to `/timers/ping/{ping_id}` is kept as a hit,
//! so anyone can check end to end that timers fire.

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// The most request body kept per hit; longer bodies are cut and marked truncated.
pub const MAX_KEPT_BODY_BYTES: usize = 16 * 1024;
/// The most hits returned by one read: the newest ones.
pub const MAX_HITS_LISTED: usize = 1000;
/// The most body bytes returned by one read, so the answer stays within Lambda's 6 MB.
pub const MAX_LISTED_BODY_BYTES: usize = 4 * 1024 * 1024;
const MAX_PING_ID_LEN: usize = 128;

/// A ping target's name, chosen by the client: 1 to 128 of `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingId(String);

impl PingId {
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let ok = raw.bytes().any(|b| b.is_ascii_alphanumeric())
            && raw.len() <= MAX_PING_ID_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InputError::new(
                "invalid_ping_id",
                "ping_id",
                format!(
                    "ping_id must be 1 to {MAX_PING_ID_LEN} characters of A-Z, a-z, 0-9, '-', '_' \
                     or '.', with at least one letter or digit"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One request received by the ping target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingHit {
    pub ping_id: String,
    /// When it arrived (epoch ms, UTC).
    pub received_at: i64,
    pub method: String,
    /// The `X-Timer-Id` header, when the hit came from a timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_id: Option<String>,
    /// The `X-Timer-Attempt` header, when the hit came from a timer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_KEPT_BODY_BYTES`].
    pub body: String,
    pub body_truncated: bool,
}

impl PingHit {
    /// Keeps `body`, cut at [`MAX_KEPT_BODY_BYTES`] without splitting a UTF-8 character.
    pub fn body_text(body: &[u8]) -> (String, bool) {
        let mut kept = &body[..body.len().min(MAX_KEPT_BODY_BYTES)];
        if kept.len() < body.len() {
            if let Err(e) = std::str::from_utf8(kept) {
                if e.error_len().is_none() {
                    kept = &kept[..e.valid_up_to()];
                }
            }
        }
        (
            String::from_utf8_lossy(kept).into_owned(),
            body.len() > MAX_KEPT_BODY_BYTES,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_ids_are_short_plain_names() {
        assert!(PingId::parse("demo-1_a.b").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "é", &"x".repeat(129)] {
            assert_eq!(PingId::parse(bad).unwrap_err().field, "ping_id", "{bad}");
        }
    }

    #[test]
    fn long_bodies_are_cut_and_marked() {
        let (text, cut) = PingHit::body_text(&vec![b'a'; MAX_KEPT_BODY_BYTES + 1]);
        assert_eq!((text.len(), cut), (MAX_KEPT_BODY_BYTES, true));
        assert_eq!(PingHit::body_text(b"{}"), ("{}".to_owned(), false));
        let mut split = vec![b'a'; MAX_KEPT_BODY_BYTES - 1];
        split.extend("éé".as_bytes());
        let (text, cut) = PingHit::body_text(&split);
        assert_eq!(
            (text.len(), cut),
            (MAX_KEPT_BODY_BYTES - 1, true),
            "no half character kept"
        );
    }
}
