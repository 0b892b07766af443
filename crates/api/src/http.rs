//! `POST /graphql` (queries, mutations) and GraphiQL on `GET /graphql`.
//!
//! Every request carries `Authorization: Bearer <token>` (else `401`). An agent
//! token acts as its agent; an administrator may name the agent to act as in
//! `X-Callfold-Agent`; an agent token naming another agent there is refused.

use crate::auth::Role;
use crate::{Actor, CallfoldSchema};
use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
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
        .route("/graphql/ws", get(websocket))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

/// Why a request is refused before anything runs.
#[derive(Debug)]
enum Refusal {
    Unauthenticated,
    Forbidden(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthenticated => unauthorized(),
            Refusal::Forbidden(message) => forbidden(&message),
        }
    }
}

/// Resolves who a request acts as: the token's principal and the agent it acts
/// as (an administrator may name one; an agent token only itself).
fn acting(
    tokens: &crate::auth::Tokens,
    bearer: &str,
    named: Option<String>,
) -> Result<(Role, Option<String>), Refusal> {
    let Some(principal) = tokens.authenticate(bearer) else {
        return Err(Refusal::Unauthenticated);
    };
    let named = named
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let agent_id = match (principal.role, named) {
        (Role::Admin, named) => named,
        (Role::Agent, None) => principal.agent_id.clone(),
        (Role::Agent, Some(named)) if Some(&named) == principal.agent_id.as_ref() => Some(named),
        (Role::Agent, Some(named)) => {
            return Err(Refusal::Forbidden(format!(
                "this token acts as agent {}; it cannot act as {named}",
                principal.agent_id.as_deref().unwrap_or("?")
            )))
        }
        (Role::Supervisor, None) => None,
        (Role::Supervisor, Some(_)) => {
            return Err(Refusal::Forbidden(
                "a supervisor token does not act as an agent".to_string(),
            ));
        }
    };
    Ok((principal.role, agent_id))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn named_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(AGENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Subscriptions over WebSocket (graphql-transport-ws, or the older
/// graphql-ws). The bearer token comes in the upgrade request's
/// `Authorization` header, or in `connection_init`'s payload as
/// `{"authorization": "Bearer …", "agent": "ID"}` (browsers cannot set headers).
async fn websocket(
    State(state): State<GraphQlState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let from_headers = bearer(&headers).map(|b| acting(&state.tokens, b, named_agent(&headers)));
    if let Some(Err(refusal)) = from_headers {
        return refusal.into_response();
    }
    let from_headers = from_headers.and_then(Result::ok);
    let tokens = state.tokens.clone();
    let schema = state.schema.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload: serde_json::Value| async move {
                    let (role, agent_id) = match from_headers {
                        Some(acting) => acting,
                        None => {
                            let bearer = payload["authorization"]
                                .as_str()
                                .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_string())
                                .unwrap_or_default();
                            let named = payload["agent"].as_str().map(str::to_string);
                            acting(&tokens, &bearer, named).map_err(|_| {
                                async_graphql::Error::new("unauthenticated or forbidden")
                            })?
                        }
                    };
                    let mut data = async_graphql::Data::default();
                    let at = Timestamp::from_datetime(chrono::Utc::now());
                    data.insert(Actor { role, agent_id, at });
                    Ok(data)
                })
                .serve()
                .await;
        })
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
    let (role, agent_id) = match acting(
        &state.tokens,
        bearer(&headers).unwrap_or(""),
        named_agent(&headers),
    ) {
        Ok(acting) => acting,
        Err(refusal) => return refusal.into_response(),
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
    let actor = Actor { role, agent_id, at };
    GraphQLResponse::from(crate::execute(&state.schema, request.into_inner(), actor).await)
        .into_response()
}
