//! GraphQL over the read models (CONTRACT.md, "GraphQL").
//!
//! Queries read a [`ReadModel`] (the sled projections). Mutations never write a
//! read model: they validate the agent's action against the read model, append
//! it to the event log as a native event (at the expected head, so nothing slips
//! in between validation and append), wait until the projection has applied it,
//! and answer from the read model. Replaying the log therefore reproduces every
//! mutation's effect.

pub mod auth;
pub mod http;
mod mutation;
mod query;
mod read;
pub mod stats;
pub mod subscription;
mod types;

pub use read::{
    CallActivity, CallFilter, CallPage, LiveChanges, ReadError, ReadModel, TicketFilter, TicketPage,
};

use async_graphql::Schema;
use domain::Timestamp;
use eventlog::EventLog;
use std::sync::Arc;

pub type CallfoldSchema = Schema<Query, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// Every query: the helpdesk's and the statistics'.
#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    query::QueryRoot,
    stats::StatsQuery,
    stats::LiveDashboardQuery,
);

/// Page sizes are bounded.
pub const PAGE_SIZE_MAX: usize = 500;
/// How long a mutation waits for the projection to apply what it recorded.
pub const WAIT_FOR_PROJECTION_MS_MAX: u64 = 10_000;
/// A document nested deeper than this is refused.
pub const QUERY_DEPTH_MAX: usize = 12;
/// A document more complex than this is refused.
pub const QUERY_COMPLEXITY_MAX: usize = 5_000;

/// What resolvers share.
#[derive(Clone)]
pub struct Api {
    pub read: Arc<dyn ReadModel>,
    pub log: Arc<dyn EventLog>,
    pub tokens: Arc<auth::Tokens>,
    /// The customer-card fields live call events show (R3).
    pub card_fields: Arc<Vec<subscription::CardFieldName>>,
}

/// Set by a mutation to the log position of the event it recorded; the request
/// answers it as `extensions.position` (read-your-writes: pass it back as
/// `X-Callfold-Min-Position`).
#[derive(Clone, Debug, Default)]
pub struct RecordedPosition(std::sync::Arc<std::sync::Mutex<Option<u64>>>);

impl RecordedPosition {
    /// Keeps the highest position (a document may hold several mutations).
    pub(crate) fn set(&self, position: u64) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(slot.map_or(position, |p| p.max(position)));
        }
    }

    pub fn get(&self) -> Option<u64> {
        self.0.lock().ok().and_then(|slot| *slot)
    }
}

/// Executes a request as `actor`; adds `extensions.position` when it recorded events.
pub async fn execute(
    schema: &CallfoldSchema,
    request: async_graphql::Request,
    actor: Actor,
) -> async_graphql::Response {
    let recorded = RecordedPosition::default();
    let started = std::time::Instant::now();
    let mut response = schema
        .execute(request.data(actor).data(recorded.clone()))
        .await;
    metrics::histogram!("callfold_graphql_request_seconds").record(started.elapsed().as_secs_f64());
    if let Some(position) = recorded.get() {
        response
            .extensions
            .insert("position".to_string(), async_graphql::Value::from(position));
    }
    response
}

/// An error in what the caller sent (`extensions.code` = `BAD_INPUT`).
pub(crate) fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    use async_graphql::ErrorExtensions;
    async_graphql::Error::new(message.into()).extend_with(|_, e| e.set("code", "BAD_INPUT"))
}

/// Who performs a request and when (per request).
#[derive(Clone, Debug)]
pub struct Actor {
    pub role: auth::Role,
    /// The agent the request acts as (an agent token's own agent, or the agent an
    /// administrator chose); `None` when it acts as nobody.
    pub agent_id: Option<String>,
    /// The time events recorded by this request carry (R17): the server's clock
    /// at receipt, or a recorded stream line's `at`.
    pub at: Timestamp,
}

pub fn schema(api: Api) -> CallfoldSchema {
    Schema::build(
        Query::default(),
        mutation::MutationRoot,
        subscription::SubscriptionRoot,
    )
    .data(api)
    .limit_depth(QUERY_DEPTH_MAX)
    .limit_complexity(QUERY_COMPLEXITY_MAX)
    .finish()
}

/// The SDL of the schema, as `schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        mutation::MutationRoot,
        subscription::SubscriptionRoot,
    )
    .finish()
    .sdl()
}
