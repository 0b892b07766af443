//! The webhook endpoints: `POST /webhooks/callgear/{token}/{kind}`.

use crate::{Delivery, Error, Ingestor, Outcome, BODY_BYTES_MAX};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use domain::{CallGearKind, Timestamp};
use serde_json::{json, Value};
use std::sync::Arc;

/// What the webhook routes share.
#[derive(Clone)]
pub struct WebhookState {
    pub ingestor: Ingestor,
    token_hash: Arc<[u8; 32]>,
}

impl WebhookState {
    pub fn new(ingestor: Ingestor, token: &str) -> WebhookState {
        WebhookState {
            ingestor,
            token_hash: Arc::new(*blake3::hash(token.as_bytes()).as_bytes()),
        }
    }

    /// Compares in constant time (over fixed-length hashes, so the length of the
    /// secret does not leak either).
    fn token_matches(&self, candidate: &str) -> bool {
        let candidate = blake3::hash(candidate.as_bytes());
        constant_time_eq::constant_time_eq_32(candidate.as_bytes(), &self.token_hash)
    }
}

/// The webhook routes, with their body limit.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/callgear/{token}/{kind}", post(callgear))
        // One byte over the limit is enough to tell "too large" apart.
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn callgear(
    State(state): State<WebhookState>,
    Path((token, kind)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Error> {
    if !state.token_matches(&token) {
        return Err(Error::NotFound);
    }
    let kind = CallGearKind::parse(&kind).ok_or(Error::NotFound)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::BodyTooLarge {
                limit_bytes: BODY_BYTES_MAX,
            }
        } else {
            Error::BadBody(rejection.body_text())
        }
    })?;
    let received_at = Timestamp::from_datetime(chrono::Utc::now());
    let delivery = Delivery {
        kind,
        raw: body.to_vec(),
        received_at,
        timezone: None,
    };
    match state.ingestor.deliver(delivery).await? {
        Outcome::Accepted(position) => Ok((
            StatusCode::OK,
            Json(json!({"status": "accepted", "position": position})),
        )),
        Outcome::Duplicate(position) => Ok((
            StatusCode::OK,
            Json(json!({"status": "duplicate", "position": position})),
        )),
        Outcome::Quarantined { id, reason, field } => {
            tracing::warn!(%kind, quarantine_id = id, %reason, "delivery quarantined");
            Err(Error::Malformed {
                reason,
                field,
                quarantine_id: id,
            })
        }
    }
}
