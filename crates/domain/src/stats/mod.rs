//! Statistics (SPEC §5), pure: what each ticket and each call adds to which
//! figure, and the periods figures are asked for. `docs/statistics.md` gives
//! every formula; the statistics read model (`projections`) keeps these sums
//! pre-aggregated per time block and dimension.
//!
//! * [`agg::Agg`]: sparse integer sums keyed by metric (plus histogram bins on
//!   the duration [`agg::ladder`]); every figure is a ratio or sum of them.
//! * [`tickets`]: the CALLS ticket figures; each ticket is a set of
//!   [`tickets::StatEvent`] chains so that a ticket counts once per figure.
//! * [`calls`]: one [`calls::CallRecord`] per call (CallGear or native feed),
//!   the KPI contributions, callbacks after lost calls.
//! * [`period`]: `[from, to)` on quarter hours in a time zone, local hours, and
//!   the aligned blocks buckets are kept in.

pub mod agg;
pub mod calls;
pub mod period;
pub mod tickets;

pub use agg::{ladder, Agg, MetricId};
pub use calls::{CallRecord, CallSource, CallWay, LostStage};
pub use period::{Block, Period, PeriodError};
pub use tickets::StatEvent;

use crate::agent::AgentId;

/// What a figure is broken down by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// Everything (the centre's totals).
    All,
    /// One agent's share (tickets: the assignee; calls: see `calls`).
    Agent(AgentId),
    /// One queue's calls.
    Queue(String),
}

/// Figures of one period: the sums of every dimension, and per local hour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Breakdown {
    pub overall: Agg,
    /// By agent id (only agents with something to count).
    pub agents: Vec<(AgentId, Agg)>,
    /// By queue name (calls only).
    pub queues: Vec<(String, Agg)>,
    /// Every local clock hour of the period, in time order (overall sums).
    pub hours: Vec<(period::LocalHour, Agg)>,
}

/// One page of call records, in start-time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRecordPage {
    pub records: Vec<CallRecord>,
    pub has_next_page: bool,
    /// Pass as `after` for the next page; `None` when `records` is empty.
    pub end_cursor: Option<String>,
}

/// The live dashboard (seed 004): now, after every event in the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dashboard {
    /// Calls in a voice menu now.
    pub calls_in_menu: u64,
    /// Calls waiting in each queue now (queues with none are left out), by name.
    pub queues: Vec<(String, u64)>,
    /// Every agent the feed reported, by id.
    pub agents: Vec<AgentLive>,
    /// The latest event time the dashboard reflects.
    pub as_of: Option<crate::time::Timestamp>,
}

/// One agent on the live dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentLive {
    pub agent_id: AgentId,
    /// The latest `agent_presence`; `None` if the feed never sent one.
    pub presence: Option<crate::contact::Presence>,
    /// Since when (the presence event's time).
    pub presence_since: Option<crate::time::Timestamp>,
    /// Talking on at least one call now (answered it, or a consultation, and
    /// has not hung up, and the call has not ended).
    pub talking: bool,
}

impl AgentLive {
    pub fn logged_in(&self) -> bool {
        use crate::contact::Presence;
        matches!(
            self.presence,
            Some(Presence::LoggedIn | Presence::Ready | Presence::Paused)
        )
    }

    /// Ready: presence `ready` and not talking.
    pub fn ready(&self) -> bool {
        self.presence == Some(crate::contact::Presence::Ready) && !self.talking
    }
}
