//! The service's errors. Each knows its HTTP status and turns into the JSON error body
//! `{"error": {"code", "message", "field"}}`; causes are kept, never flattened into strings
//! before they reach the edge.

use serde_json::json;

/// A client mistake in one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InputError {
    /// A stable, machine-readable code such as `invalid_number`.
    pub code: &'static str,
    /// The field at fault (`body` for the body as a whole).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl InputError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A failure talking to the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the request.
    #[error("store request {operation} failed")]
    Request {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An item in the store does not have the expected shape.
    #[error("store item could not be decoded")]
    Decode(#[from] serde_dynamo::Error),
}

impl StoreError {
    pub fn request(
        operation: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Request {
            operation,
            source: Box::new(source),
        }
    }
}

/// Everything a use case can answer instead of a result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{what} not found")]
    NotFound {
        what: &'static str,
        field: &'static str,
    },
    #[error("{message}")]
    Conflict {
        code: &'static str,
        /// The field, path part or header the conflict is about.
        field: &'static str,
        message: String,
    },
    #[error("unsupported content type {0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Input(_) => 400,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::UnsupportedMediaType(_) => 415,
            Self::Store(_) => 503,
        }
    }

    /// The JSON error body. Store failures say nothing internal.
    pub fn body(&self) -> serde_json::Value {
        let (code, field, message) = match self {
            Self::Input(e) => (e.code, Some(e.field.as_str()), e.message.clone()),
            Self::NotFound { what, field } => {
                ("not_found", Some(*field), format!("{what} not found"))
            }
            Self::Conflict {
                code,
                field,
                message,
            } => (*code, Some(*field), message.clone()),
            Self::UnsupportedMediaType(got) => (
                "unsupported_media_type",
                Some("content-type"),
                format!("send Content-Type: application/json, not '{got}'"),
            ),
            Self::Store(_) => (
                "unavailable",
                None,
                "the timer store is unavailable; try again shortly".to_owned(),
            ),
        };
        json!({"error": {"code": code, "message": message, "field": field}})
    }
}
