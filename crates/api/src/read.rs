//! The port GraphQL reads through; `projections::Views` stands behind it.

use domain::command::Verdict;
use domain::{Agent, Call, Channel, Customer, NativeEvent, Ticket, TicketId, TicketStatus};
use std::future::Future;
use std::pin::Pin;

/// A read that failed: an infrastructure failure of the read model, or (with
/// `bad_input`) something in the request that cannot be read, such as a cursor.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ReadError {
    pub message: String,
    pub bad_input: bool,
}

impl ReadError {
    pub fn failed(message: impl std::fmt::Display) -> Self {
        ReadError {
            message: format!("read model: {message}"),
            bad_input: false,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        ReadError {
            message: message.into(),
            bad_input: true,
        }
    }
}

/// `TicketFilter` of CONTRACT.md; every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Option<Vec<TicketStatus>>,
    pub customer_id: Option<String>,
    pub phone: Option<String>,
    pub assignee_id: Option<String>,
    pub missed: Option<bool>,
    pub channel: Option<Channel>,
}

/// One page of tickets, newest first.
#[derive(Clone, Debug, Default)]
pub struct TicketPage {
    pub nodes: Vec<Ticket>,
    pub total_count: u64,
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// `CallFilter` (the archive search): every set field must match. `phone`: any
/// formatting, any customer number of the call; `agent_id`: an agent shown on
/// the call's timeline; `[from, to)` on the call's start; `direction` and
/// `outcome`: any of the listed values (an empty list matches nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub phone: Option<String>,
    pub agent_id: Option<String>,
    pub from: Option<domain::Timestamp>,
    pub to: Option<domain::Timestamp>,
    pub direction: Option<Vec<domain::contact::CallKind>>,
    pub outcome: Option<Vec<domain::Outcome>>,
}

/// One page of archived calls, newest start first.
#[derive(Clone, Debug, Default)]
pub struct CallPage {
    pub nodes: Vec<domain::CallSummary>,
    pub total_count: u64,
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// What one committed batch of the read models changed (live subscriptions).
#[derive(Clone, Debug, Default)]
pub struct LiveChanges {
    pub checkpoint: u64,
    pub tickets: std::collections::BTreeSet<TicketId>,
    pub calls: Vec<CallActivity>,
    /// The live dashboard changed.
    pub dashboard: bool,
}

/// A call notification applied to the read models.
#[derive(Clone, Debug)]
pub struct CallActivity {
    pub position: u64,
    pub session_id: u64,
    pub kind: domain::CallGearKind,
    pub employee_id: Option<u64>,
    pub at: domain::Timestamp,
}

/// What the GraphQL layer needs from the read models.
pub trait ReadModel: Send + Sync + 'static {
    fn ticket(&self, id: &str) -> Result<Option<Ticket>, ReadError>;
    fn tickets(
        &self,
        filter: &TicketFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<TicketPage, ReadError>;
    fn customer(&self, id: &str) -> Result<Option<Customer>, ReadError>;
    fn customer_by_phone(&self, phone: &str) -> Result<Option<Customer>, ReadError>;
    /// Newest first.
    fn customer_tickets(&self, customer_id: &str) -> Result<Vec<Ticket>, ReadError>;
    fn call(&self, session_id: u64) -> Result<Option<Call>, ReadError>;
    fn call_tickets(&self, session_id: u64) -> Result<Vec<TicketId>, ReadError>;
    /// A call of either feed as the archive shows it, by archive id: `"123"`
    /// (CallGear session) or `"cc:<call_id>"` (contact centre).
    fn archived_call(&self, id: &str) -> Result<Option<domain::CallArchive>, ReadError>;
    /// The archive search, newest start first (`bad_input` for a bad cursor).
    fn calls(
        &self,
        filter: &CallFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<CallPage, ReadError>;
    fn agents(&self) -> Result<Vec<Agent>, ReadError>;
    /// One agent (resolvers of `assignee`, `author`, `agent` call this per item).
    fn agent(&self, id: &str) -> Result<Option<Agent>, ReadError>;
    /// May this action be recorded now? (`domain::command::validate`.)
    fn validate(&self, action: &NativeEvent) -> Result<Verdict, ReadError>;
    /// Ticket statistics (CALLS channel) of a period; by assignee when
    /// `by_agent`, per local hour when `hours`.
    fn ticket_statistics(
        &self,
        period: &domain::stats::Period,
        by_agent: bool,
        hours: bool,
    ) -> Result<domain::stats::Breakdown, ReadError>;
    /// Call KPIs of a period; by agent and queue when `by_dim`, per local hour when `hours`.
    fn call_statistics(
        &self,
        period: &domain::stats::Period,
        by_dim: bool,
        hours: bool,
    ) -> Result<domain::stats::Breakdown, ReadError>;
    /// Call records that started in `[from, to)`, in start order (CDR).
    fn call_records(
        &self,
        from: domain::Timestamp,
        to: domain::Timestamp,
        first: usize,
        after: Option<&str>,
    ) -> Result<domain::stats::CallRecordPage, ReadError>;
    /// The live dashboard now.
    fn dashboard(&self) -> Result<domain::stats::Dashboard, ReadError>;
    /// The projection's name (for `status` and metrics).
    fn name(&self) -> &'static str;
    /// The next log position the read model will apply.
    fn checkpoint(&self) -> u64;
    /// Every batch the read model commits from now on.
    fn changes(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<LiveChanges>>;
    /// Resolves once the read model has applied every position below `position`,
    /// or fails after `timeout_ms`.
    fn wait_for(
        &self,
        position: u64,
        timeout_ms: u64,
    ) -> Pin<Box<dyn Future<Output = Result<(), ReadError>> + Send + '_>>;
}
