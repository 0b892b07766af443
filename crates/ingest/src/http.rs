//! The webhook endpoints: `POST /webhooks/callgear/{token}/{kind}` (CallGear) and
//! `POST /webhooks/events/{token}` (the native contact-centre feed, one event or
//! an NDJSON batch; `docs/events.md`).

use crate::feed::{self, Body as FeedBody};
use crate::{Delivery, Error, Ingestor, Outcome, BODY_BYTES_MAX};
use axum::body::{Body, HttpBody};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
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
        .route("/webhooks/events/{token}", post(events))
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

/// The `kind` label of what concerns a whole request to the events endpoint.
const EVENTS_LABEL: &str = "event";

async fn events(
    State(state): State<WebhookState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Error> {
    let started = std::time::Instant::now();
    let ndjson = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(feed::is_ndjson_content_type);
    let span = tracing::info_span!(
        "webhook",
        kind = EVENTS_LABEL,
        call_id = tracing::field::Empty,
        events = tracing::field::Empty,
        quarantined = tracing::field::Empty,
        position = tracing::field::Empty
    );
    let result =
        tracing::Instrument::instrument(handle_events(state, token, ndjson, body), span).await;
    let reply = match result {
        Ok((reply, outcomes)) => {
            // One count per event, labelled with its type (bounded: the 22 names, "event").
            for (kind, outcome) in &outcomes {
                let outcome = match outcome {
                    Outcome::Accepted(_) => "accepted",
                    Outcome::Duplicate(_) => "duplicate",
                    Outcome::Quarantined { .. } => "quarantined",
                };
                metrics::counter!("callfold_deliveries_total", "kind" => *kind, "outcome" => outcome)
                    .increment(1);
            }
            reply
        }
        Err(e) => {
            metrics::counter!("callfold_deliveries_total", "kind" => EVENTS_LABEL, "outcome" => e.outcome())
                .increment(1);
            Err(e)
        }
    };
    metrics::histogram!("callfold_delivery_seconds", "kind" => EVENTS_LABEL)
        .record(started.elapsed().as_secs_f64());
    reply
}

type Reply = Result<(StatusCode, Json<Value>), Error>;

async fn handle_events(
    state: WebhookState,
    token: String,
    ndjson: bool,
    body: Body,
) -> Result<(Reply, Vec<(&'static str, Outcome)>), Error> {
    if !state.token_matches(&token) {
        return Err(Error::NotFound);
    }
    let body = read_body(body).await?;
    let received_at = Timestamp::from_datetime(chrono::Utc::now());
    let span = tracing::Span::current();
    match feed::split_body(&body, ndjson) {
        Err(too_many) => Err(Error::TooManyEvents {
            events: too_many.events,
            limit_events: too_many.limit,
        }),
        Ok(FeedBody::Single(raw)) => {
            let raw = raw.to_vec();
            drop(body);
            let outcomes = state
                .ingestor
                .deliver_contacts(vec![raw], received_at)
                .await?;
            let (kind, outcome) = outcomes.first().cloned().expect("one outcome per event");
            let reply = match outcome {
                Outcome::Accepted(position) => {
                    span.record("position", position);
                    Ok((
                        StatusCode::OK,
                        Json(json!({"status": "accepted", "position": position})),
                    ))
                }
                Outcome::Duplicate(position) => {
                    span.record("position", position);
                    Ok((
                        StatusCode::OK,
                        Json(json!({"status": "duplicate", "position": position})),
                    ))
                }
                Outcome::Quarantined { id, reason, field } => {
                    tracing::warn!(kind, quarantine_id = id, %reason, "event quarantined");
                    Err(Error::Malformed {
                        reason,
                        field,
                        quarantine_id: id,
                    })
                }
            };
            Ok((reply, outcomes))
        }
        Ok(FeedBody::Batch(pieces)) => {
            let lines: Vec<usize> = pieces.iter().map(|p| p.line.unwrap_or(1)).collect();
            let raws: Vec<Vec<u8>> = pieces.iter().map(|p| p.raw.to_vec()).collect();
            drop(pieces);
            drop(body);
            let outcomes = state.ingestor.deliver_contacts(raws, received_at).await?;
            let reply = batch_reply(&lines, &outcomes);
            Ok((Ok(reply), outcomes))
        }
    }
}

/// The answer to an NDJSON batch: counts and one result per event line, in order.
/// `200` when every line is in the log (accepted now or before), `422` when any
/// line was quarantined (the others are in the log all the same).
fn batch_reply(lines: &[usize], outcomes: &[(&'static str, Outcome)]) -> (StatusCode, Json<Value>) {
    let span = tracing::Span::current();
    let (mut accepted, mut duplicates, mut quarantined) = (0usize, 0usize, 0usize);
    let mut first_problem = None;
    let mut results = Vec::with_capacity(outcomes.len());
    for (line, (kind, outcome)) in lines.iter().zip(outcomes) {
        results.push(match outcome {
            Outcome::Accepted(position) => {
                accepted += 1;
                json!({"line": line, "status": "accepted", "position": position})
            }
            Outcome::Duplicate(position) => {
                duplicates += 1;
                json!({"line": line, "status": "duplicate", "position": position})
            }
            Outcome::Quarantined { id, reason, field } => {
                quarantined += 1;
                tracing::warn!(kind, line, quarantine_id = id, %reason, "event quarantined");
                first_problem.get_or_insert_with(|| format!("line {line}: {reason}"));
                json!({"line": line, "status": "quarantined", "error": "malformed_body",
                       "message": reason, "field": field, "quarantine_id": id})
            }
        });
    }
    span.record("events", outcomes.len());
    span.record("quarantined", quarantined);
    let counts = json!({"events": outcomes.len(), "accepted": accepted,
                        "duplicates": duplicates, "quarantined": quarantined});
    let mut body = match first_problem {
        None => json!({"status": "accepted"}),
        Some(first) => json!({
            "status": "quarantined",
            "error": "malformed_body",
            "message": format!(
                "{quarantined} of {} events could not be read and were quarantined; the others \
                 are in the log (first: {first})",
                outcomes.len()
            ),
        }),
    };
    let status = if quarantined == 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    if let (Value::Object(body), Value::Object(counts)) = (&mut body, counts) {
        body.extend(counts);
        body.insert("results".into(), Value::Array(results));
    }
    (status, Json(body))
}
