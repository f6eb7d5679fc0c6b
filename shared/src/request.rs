//! How a timer's call is shaped: the optional `method`, `headers` and `body` of a create
//! request, validated with documented limits. Without them a timer sends `POST` with
//! `{"id": "<timer id>"}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::InputError;

/// The most headers a timer may send.
pub const MAX_HEADERS: usize = 32;
/// The longest header name, in bytes.
pub const MAX_HEADER_NAME_BYTES: usize = 256;
/// The longest header value, in bytes.
pub const MAX_HEADER_VALUE_BYTES: usize = 4096;
/// The most bytes of header names and values together.
pub const MAX_HEADERS_BYTES: usize = 16 * 1024;
/// The largest body, in bytes of UTF-8.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Headers a client may not set: hop-by-hop headers, those the HTTP client computes, and the
/// service's own (signatures and timer headers), which receivers must be able to trust.
pub const RESERVED_HEADERS: [&str; 16] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-timer-id",
    "x-timer-attempt",
];

/// The HTTP method of a timer's call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// Whether this is the default `POST`, which is not stored.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The validated `method`, `headers` and `body` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallShape {
    pub method: Method,
    /// Header names in lower case, as HTTP/2 sends them.
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

impl CallShape {
    /// Reads the three optional fields of a create request.
    pub fn from_fields(fields: &serde_json::Map<String, Value>) -> Result<Self, InputError> {
        let method = parse_method(fields.get("method"))?;
        let headers = parse_headers(fields.get("headers"))?;
        let body = parse_body(fields.get("body"), method)?;
        Ok(Self {
            method,
            headers,
            body,
        })
    }
}

fn parse_method(value: Option<&Value>) -> Result<Method, InputError> {
    let names = Method::ALL.map(Method::as_str).join(", ");
    match value {
        None => Ok(Method::default()),
        Some(Value::String(raw)) => Method::ALL
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| {
                InputError::new(
                    "invalid_method",
                    "method",
                    format!("method must be one of {names} (in capitals), not '{raw}'"),
                )
            }),
        Some(_) => Err(InputError::new(
            "invalid_method",
            "method",
            format!("method must be a string, one of {names}"),
        )),
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn parse_headers(value: Option<&Value>) -> Result<BTreeMap<String, String>, InputError> {
    let refuse = |code, message: String| InputError::new(code, "headers", message);
    let members = match value {
        None => return Ok(BTreeMap::new()),
        Some(Value::Object(members)) => members,
        Some(_) => {
            return Err(refuse(
                "invalid_headers",
                "headers must be an object of header names to string values".to_owned(),
            ))
        }
    };
    if members.len() > MAX_HEADERS {
        return Err(refuse(
            "too_many_headers",
            format!("at most {MAX_HEADERS} headers, not {}", members.len()),
        ));
    }
    let mut headers = BTreeMap::new();
    let mut total = 0;
    for (name, value) in members {
        if name.is_empty() || name.len() > MAX_HEADER_NAME_BYTES || !name.chars().all(is_token_char)
        {
            return Err(refuse(
                "invalid_header",
                format!("'{name}' is not a header name: use 1 to {MAX_HEADER_NAME_BYTES} letters, digits or !#$%&'*+-.^_`|~"),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(refuse(
                "reserved_header",
                format!("the header '{name}' is set by the service or the HTTP connection and cannot be given"),
            ));
        }
        let Value::String(value) = value else {
            return Err(refuse(
                "invalid_header",
                format!("the value of header '{name}' must be a string"),
            ));
        };
        if value.len() > MAX_HEADER_VALUE_BYTES {
            return Err(refuse(
                "header_too_long",
                format!(
                    "the value of header '{name}' must be at most {MAX_HEADER_VALUE_BYTES} bytes"
                ),
            ));
        }
        if !value
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
        {
            return Err(refuse(
                "invalid_header",
                format!(
                    "the value of header '{name}' must be printable ASCII, with no line breaks"
                ),
            ));
        }
        total += name.len() + value.len();
        if headers.insert(lower, value.clone()).is_some() {
            return Err(refuse(
                "duplicate_header",
                format!("the header '{name}' is given more than once (names ignore case)"),
            ));
        }
    }
    if total > MAX_HEADERS_BYTES {
        return Err(refuse(
            "headers_too_large",
            format!("header names and values must add up to at most {MAX_HEADERS_BYTES} bytes, not {total}"),
        ));
    }
    Ok(headers)
}

fn parse_body(value: Option<&Value>, method: Method) -> Result<Option<String>, InputError> {
    let body = match value {
        None => return Ok(None),
        Some(Value::String(body)) => body,
        Some(_) => {
            return Err(InputError::new(
                "invalid_body_field",
                "body",
                "body must be a string: to send JSON, give it as text, e.g. \"{\\\"a\\\": 1}\"",
            ))
        }
    };
    if method == Method::Get {
        return Err(InputError::new(
            "body_not_allowed",
            "body",
            "a GET call cannot carry a body: leave body out or use another method",
        ));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(InputError::new(
            "body_too_large",
            "body",
            format!(
                "body must be at most {MAX_BODY_BYTES} bytes of UTF-8, not {}",
                body.len()
            ),
        ));
    }
    Ok(Some(body.clone()))
}

/// Whether a header's value may be secret, and so is not shown back.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "authorization" | "cookie")
        || [
            "token",
            "secret",
            "key",
            "auth",
            "signature",
            "password",
            "session",
        ]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(fields: Value) -> Result<CallShape, InputError> {
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        CallShape::from_fields(&fields)
    }

    fn refused(fields: Value) -> (&'static str, String) {
        let e = shape(fields).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn without_the_fields_the_call_is_the_default_post() {
        assert_eq!(shape(json!({})).unwrap(), CallShape::default());
        assert_eq!(Method::default(), Method::Post);
    }

    #[test]
    fn method_headers_and_body_are_kept_with_header_names_in_lower_case() {
        let shaped = shape(json!({
            "method": "PUT",
            "headers": {"Content-Type": "text/csv", "X-Trace": "a b\tc"},
            "body": "a,b\n1,2"
        }))
        .unwrap();
        assert_eq!(shaped.method, Method::Put);
        assert_eq!(
            shaped.headers,
            BTreeMap::from([
                ("content-type".to_owned(), "text/csv".to_owned()),
                ("x-trace".to_owned(), "a b\tc".to_owned())
            ])
        );
        assert_eq!(shaped.body.as_deref(), Some("a,b\n1,2"));
    }

    #[test]
    fn bad_methods_are_refused_naming_the_field() {
        for method in [json!("get"), json!("TRACE"), json!("CONNECT"), json!(1)] {
            assert_eq!(
                refused(json!({ "method": method })),
                ("invalid_method", "method".to_owned())
            );
        }
    }

    #[test]
    fn reserved_malformed_and_oversized_headers_are_refused() {
        for (headers, code) in [
            (json!({"Connection": "close"}), "reserved_header"),
            (json!({"Transfer-Encoding": "chunked"}), "reserved_header"),
            (json!({"Host": "internal"}), "reserved_header"),
            (json!({"Webhook-Signature": "v1,forged"}), "reserved_header"),
            (json!({"x-timer-id": "other"}), "reserved_header"),
            (json!({"bad name": "x"}), "invalid_header"),
            (json!({"": "x"}), "invalid_header"),
            (json!({"x-a": "line\r\nInjected: yes"}), "invalid_header"),
            (json!({"x-a": "é"}), "invalid_header"),
            (json!({"x-a": 1}), "invalid_header"),
            (json!({"X-A": "1", "x-a": "2"}), "duplicate_header"),
            (
                json!({"x-a": "v".repeat(MAX_HEADER_VALUE_BYTES + 1)}),
                "header_too_long",
            ),
            (json!(["x-a"]), "invalid_headers"),
        ] {
            assert_eq!(
                refused(json!({ "headers": headers })),
                (code, "headers".to_owned()),
                "{headers}"
            );
        }
        let many: serde_json::Map<String, Value> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-{i}"), json!("v")))
            .collect();
        assert_eq!(refused(json!({ "headers": many })).0, "too_many_headers");
        let large: serde_json::Map<String, Value> = (0..5)
            .map(|i| (format!("x-{i}"), json!("v".repeat(4000))))
            .collect();
        assert_eq!(refused(json!({ "headers": large })).0, "headers_too_large");
    }

    #[test]
    fn a_body_must_be_a_string_within_the_limit_and_not_on_get() {
        assert_eq!(
            refused(json!({"body": {"a": 1}})),
            ("invalid_body_field", "body".to_owned())
        );
        assert_eq!(
            refused(json!({"method": "GET", "body": ""})),
            ("body_not_allowed", "body".to_owned())
        );
        let limit = "x".repeat(MAX_BODY_BYTES);
        assert_eq!(
            shape(json!({ "body": limit })).unwrap().body.unwrap().len(),
            MAX_BODY_BYTES
        );
        assert_eq!(
            refused(json!({"body": format!("{limit}x")})),
            ("body_too_large", "body".to_owned())
        );
    }

    #[test]
    fn credentials_in_headers_are_recognised() {
        for name in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "x-auth-token",
            "X-Hub-Signature",
        ] {
            assert!(is_sensitive_header(name), "{name}");
        }
        assert!(!is_sensitive_header("content-type"));
        assert!(!is_sensitive_header("x-request-id"));
    }
}
