//! `POST /graphql` (queries, mutations) and GraphiQL on `GET /graphql`.
//!
//! Every request carries `Authorization: Bearer <token>` (else `401`). An agent
//! token acts as its agent; an administrator may name the agent to act as in
//! `X-Callfold-Agent`; an agent token naming another agent there is refused.

use crate::auth::Role;
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
    tokens: Arc<crate::auth::Tokens>,
}

/// The GraphQL routes; callers authenticate against `api.tokens`.
pub fn router(schema: CallfoldSchema, api: &crate::Api) -> Router {
    let state = GraphQlState {
        schema,
        read: api.read.clone(),
        tokens: api.tokens.clone(),
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

fn forbidden(message: &str) -> Response {
    let body =
        serde_json::json!({"errors": [{"message": message, "extensions": {"code": "FORBIDDEN"}}]});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
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
    let secret = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(principal) = state.tokens.authenticate(secret) else {
        return unauthorized();
    };
    let named = headers
        .get(AGENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let agent_id = match (principal.role, named) {
        (Role::Admin, named) => named,
        (Role::Agent, None) => principal.agent_id.clone(),
        (Role::Agent, Some(named)) if Some(&named) == principal.agent_id.as_ref() => Some(named),
        (Role::Agent, Some(named)) => {
            return forbidden(&format!(
                "this token acts as agent {}; it cannot act as {named}",
                principal.agent_id.as_deref().unwrap_or("?")
            ))
        }
        (Role::Supervisor, None) => None,
        (Role::Supervisor, Some(_)) => {
            return forbidden("a supervisor token does not act as an agent");
        }
    };
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
    let actor = Actor {
        role: principal.role,
        agent_id,
        at,
    };
    GraphQLResponse::from(crate::execute(&state.schema, request.into_inner(), actor).await)
        .into_response()
}
