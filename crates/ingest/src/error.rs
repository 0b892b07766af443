use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every error the webhook edge answers with. Bodies are our JSON shape
/// `{"status":"rejected","error":CODE,"message":TEXT,...}`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong token or unknown kind: nothing is stored.
    #[error("not found")]
    NotFound,
    #[error("body larger than {limit_bytes} bytes")]
    BodyTooLarge { limit_bytes: usize },
    /// An NDJSON batch over the events endpoint's bound: nothing is stored.
    #[error(
        "the batch holds {events} events (at most {limit_events}); send it in smaller batches"
    )]
    TooManyEvents { events: usize, limit_events: usize },
    #[error("could not read the request body: {0}")]
    BadBody(String),
    /// Unreadable even leniently; kept in quarantine.
    #[error("{reason}")]
    Malformed {
        reason: String,
        field: Option<String>,
        quarantine_id: u64,
    },
    /// The log's write queue is full; the sender should retry.
    #[error("overloaded")]
    Overloaded,
    #[error("quarantine full: {0}")]
    QuarantineFull(String),
    /// An infrastructure failure: logged here, a generic body goes out.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The `outcome` label of the delivery metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::BodyTooLarge { .. } => "body_too_large",
            Error::TooManyEvents { .. } => "too_many_events",
            Error::BadBody(_) => "bad_body",
            Error::Malformed { .. } => "quarantined",
            Error::Overloaded => "overloaded",
            Error::QuarantineFull(_) => "quarantine_full",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<eventlog::Error> for Error {
    fn from(e: eventlog::Error) -> Self {
        match e {
            eventlog::Error::Overloaded => Error::Overloaded,
            eventlog::Error::TooLarge(m) => Error::QuarantineFull(m),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                json!({"status": "rejected", "error": "not_found",
                       "message": "no webhook at this URL (check the token and the path)"}),
            ),
            Error::BodyTooLarge { limit_bytes } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"status": "rejected", "error": "body_too_large",
                       "message": self.to_string(), "limit_bytes": limit_bytes}),
            ),
            Error::TooManyEvents { limit_events, .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"status": "rejected", "error": "too_many_events",
                       "message": self.to_string(), "limit_events": limit_events}),
            ),
            Error::BadBody(_) => (
                StatusCode::BAD_REQUEST,
                json!({"status": "rejected", "error": "bad_body", "message": self.to_string()}),
            ),
            Error::Malformed {
                reason,
                field,
                quarantine_id,
            } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"status": "quarantined", "error": "malformed_body", "message": reason,
                       "field": field, "quarantine_id": quarantine_id}),
            ),
            Error::Overloaded => {
                let body = json!({"status": "rejected", "error": "overloaded",
                                  "message": "the event log's write queue is full; retry"});
                let mut response =
                    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                return response;
            }
            Error::QuarantineFull(message) => (
                StatusCode::INSUFFICIENT_STORAGE,
                json!({"status": "rejected", "error": "quarantine_full", "message": message}),
            ),
            Error::Internal(detail) => {
                tracing::error!(%detail, "webhook failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"status": "rejected", "error": "internal",
                           "message": "internal error; the delivery was not stored, retry"}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}
