//! Signed calls, following Standard Webhooks (standardwebhooks.com): each call carries
//! `webhook-id` (the timer id, the same on every attempt), `webhook-timestamp` (Unix seconds)
//! and `webhook-signature`, `v1,` + base64 of HMAC-SHA256 over `id.timestamp.body`, once for
//! each configured secret, so that receivers keep verifying while a secret is rotated.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The header carrying the message id.
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the time of signing, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// The secrets calls are signed with; none means calls go unsigned.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SigningKeys(Vec<Vec<u8>>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} secret(s))", self.0.len())
    }
}

impl SigningKeys {
    /// Reads secrets in the Standard Webhooks form `whsec_<base64 of 24 to 64 random bytes>`,
    /// separated by commas or spaces. Every call is signed with each of them.
    pub fn parse(list: &str) -> Result<Self, String> {
        let keys = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, secret)| {
                let nth = i + 1;
                let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
                    format!("secret {nth} must start with '{SECRET_PREFIX}' followed by base64")
                })?;
                let key = BASE64
                    .decode(encoded)
                    .map_err(|_| format!("secret {nth} is not valid base64 after '{SECRET_PREFIX}'"))?;
                if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
                    return Err(format!(
                        "secret {nth} holds {} bytes; use {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes",
                        key.len()
                    ));
                }
                Ok(key)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(keys))
    }

    /// Whether calls are signed at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `webhook-signature` value for a message, or `None` with no secret configured.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let signatures: Vec<String> = self
            .0
            .iter()
            .map(|key| {
                let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
            })
            .collect();
        Some(signatures.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference_example() {
        // The example in the Standard Webhooks reference libraries' tests.
        let keys = SigningKeys::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = keys.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn every_secret_signs_so_that_rotation_keeps_receivers_working() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = format!("whsec_{}", BASE64.encode([7u8; 32]));
        let both = SigningKeys::parse(&format!("{old}, {new}")).unwrap();
        let signature = both.sign("id", 1, b"{}").unwrap();
        let parts: Vec<&str> = signature.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[0],
            SigningKeys::parse(old)
                .unwrap()
                .sign("id", 1, b"{}")
                .unwrap()
        );
        assert!(parts[1].starts_with("v1,") && parts[1] != parts[0]);
    }

    #[test]
    fn no_secret_means_unsigned_and_bad_secrets_are_named() {
        assert_eq!(SigningKeys::parse("").unwrap().sign("id", 1, b""), None);
        assert!(SigningKeys::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap_err()
            .contains("whsec_"));
        assert!(SigningKeys::parse("whsec_!!!")
            .unwrap_err()
            .contains("base64"));
        assert!(SigningKeys::parse("whsec_c2hvcnQ=")
            .unwrap_err()
            .contains("24 to 64"));
    }
}
