//! `POST /graphql` (queries, mutations) and GraphiQL on `GET /graphql`.
//!
//! Until roles and agent tokens arrive (issue 6): when an administrator token is
//! configured every request must carry `Authorization: Bearer <token>`; the
//! `X-Callfold-Agent` header names the agent a request acts as.

use crate::{Actor, CallfoldSchema};
use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use domain::Timestamp;
use std::sync::Arc;

/// GraphQL request bodies are bounded like webhooks.
pub const BODY_BYTES_MAX: usize = 1 << 20;
/// The header naming the agent a request acts as.
pub const AGENT_HEADER: &str = "x-callfold-agent";
/// Read-your-writes: the request waits until the read models have applied this
/// log position (a webhook's or a mutation's `position`).
pub const MIN_POSITION_HEADER: &str = "x-callfold-min-position";
/// How long such a wait may take at most.
pub const MIN_POSITION_WAIT_MS_MAX: u64 = 5_000;

#[derive(Clone)]
struct GraphQlState {
    schema: CallfoldSchema,
    read: Arc<dyn crate::ReadModel>,
    admin_token_hash: Option<Arc<[u8; 32]>>,
}

/// The GraphQL routes. `admin_token`: the bearer token required, if any.
pub fn router(schema: CallfoldSchema, api: &crate::Api, admin_token: Option<&str>) -> Router {
    let state = GraphQlState {
        schema,
        read: api.read.clone(),
        admin_token_hash: admin_token.map(|t| Arc::new(*blake3::hash(t.as_bytes()).as_bytes())),
    };
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

fn bad_request(message: &str) -> Response {
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn unauthorized() -> Response {
    let body = serde_json::json!({
        "errors": [{"message": "missing or wrong bearer token", "extensions": {"code": "UNAUTHENTICATED"}}]
    });
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

async fn graphql(
    State(state): State<GraphQlState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    if let Some(expected) = &state.admin_token_hash {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let given = blake3::hash(given.trim().as_bytes());
        if !constant_time_eq_32(given.as_bytes(), expected) {
            return unauthorized();
        }
    }
    let agent_id = headers
        .get(AGENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let at = Timestamp::from_datetime(chrono::Utc::now());
    if let Some(wanted) = headers.get(MIN_POSITION_HEADER) {
        let Some(position) = wanted
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return bad_request(&format!("{MIN_POSITION_HEADER} must be a log position"));
        };
        // "Reach position N": the event at N is applied (checkpoint > N).
        if let Err(e) = state
            .read
            .wait_for(position + 1, MIN_POSITION_WAIT_MS_MAX)
            .await
        {
            let body = serde_json::json!({"errors": [{
                "message": format!("the read models did not reach position {position} in time: {e}"),
                "extensions": {"code": "NOT_YET"}}]});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        }
    }
    let actor = Actor { agent_id, at };
    GraphQLResponse::from(crate::execute(&state.schema, request.into_inner(), actor).await)
        .into_response()
}

/// Compares two hashes without an early exit.
fn constant_time_eq_32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
