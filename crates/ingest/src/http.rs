//! The webhook endpoints: `POST /webhooks/callgear/{token}/{kind}`.

use crate::{Delivery, Error, Ingestor, Outcome, BODY_BYTES_MAX};
use axum::body::{Body, HttpBody};
use axum::extract::{Path, State};
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

/// Bytes of an over-limit body read and thrown away before the 413 goes out.
const DRAIN_BYTES_MAX: usize = 16 << 20;

/// The webhook routes. The body limit is [`read_body`]'s.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/callgear/{token}/{kind}", post(callgear))
        .with_state(state)
}

/// Reads at most [`BODY_BYTES_MAX`] bytes. A larger body is drained (up to
/// [`DRAIN_BYTES_MAX`] more) before answering 413: a server that closes the
/// connection with unread request bytes makes the kernel reset it, and the
/// sender then sees "connection reset" instead of the 413 (lingering close).
async fn read_body(mut body: Body) -> Result<Vec<u8>, Error> {
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| Error::BadBody(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= BODY_BYTES_MAX {
            buffer.extend_from_slice(&data);
        } else {
            buffer = Vec::new();
            if seen > BODY_BYTES_MAX + DRAIN_BYTES_MAX {
                break;
            }
        }
    }
    if seen > BODY_BYTES_MAX {
        return Err(Error::BodyTooLarge {
            limit_bytes: BODY_BYTES_MAX,
        });
    }
    Ok(buffer)
}

async fn callgear(
    State(state): State<WebhookState>,
    Path((token, kind)): Path<(String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Error> {
    let started = std::time::Instant::now();
    // Labels stay bounded: a kind outside the six is "unknown".
    let kind_label = CallGearKind::parse(&kind).map_or("unknown", CallGearKind::as_str);
    let span = tracing::info_span!(
        "webhook",
        kind = kind_label,
        call_session_id = tracing::field::Empty,
        position = tracing::field::Empty
    );
    let result = tracing::Instrument::instrument(handle(state, token, kind, body), span).await;
    let outcome = match &result {
        Ok((_, body)) => match body["status"].as_str() {
            Some("duplicate") => "duplicate",
            _ => "accepted",
        },
        Err(e) => e.outcome(),
    };
    metrics::counter!("callfold_deliveries_total", "kind" => kind_label, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("callfold_delivery_seconds", "kind" => kind_label)
        .record(started.elapsed().as_secs_f64());
    result
}

async fn handle(
    state: WebhookState,
    token: String,
    kind: String,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Error> {
    if !state.token_matches(&token) {
        return Err(Error::NotFound);
    }
    let kind = CallGearKind::parse(&kind).ok_or(Error::NotFound)?;
    let body = read_body(body).await?;
    let received_at = Timestamp::from_datetime(chrono::Utc::now());
    let delivery = Delivery {
        kind,
        raw: body,
        received_at,
        timezone: None,
    };
    let outcome = state.ingestor.deliver(delivery).await?;
    if let Outcome::Accepted(p) | Outcome::Duplicate(p) = outcome {
        tracing::Span::current().record("position", p);
    }
    match outcome {
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
