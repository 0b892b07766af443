//! Statistics over GraphQL (SPEC §5, `docs/statistics.md`): ticket figures of
//! the CALLS channel, contact-centre KPIs, distributions, missed-call analysis
//! and the call detail records. Supervisors and administrators only.
//!
//! Every figure is computed here from the sums the read model returns
//! ([`domain::stats::Agg`]); each field's description states its formula.

use async_graphql::{
    Context, Enum, Error, ErrorExtensions, InputObject, Object, OutputType, SimpleObject, ID,
};
use domain::stats::calls as c;
use domain::stats::period::{self, LocalHour};
use domain::stats::tickets as t;
use domain::stats::{ladder, Agg, Breakdown, Period};

use crate::auth::Role;
use crate::types::{Agent, DateTime};
use crate::{Actor, Api, ReadError};

/// Supervisors and administrators read statistics; agents do not.
pub(crate) fn require_supervisor(ctx: &Context<'_>) -> Result<(), Error> {
    let actor = ctx.data::<Actor>()?;
    match actor.role {
        Role::Admin | Role::Supervisor => Ok(()),
        Role::Agent => Err(
            Error::new("statistics are for supervisors and administrators")
                .extend_with(|_, e| e.set("code", "FORBIDDEN")),
        ),
    }
}

fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

fn read_error(e: ReadError) -> Error {
    if e.bad_input {
        crate::bad_input(e.message)
    } else {
        Error::from(e)
    }
}

/// A statistics period: `[from, to)` in a time zone.
#[derive(InputObject, Clone)]
pub struct StatisticsPeriod {
    /// RFC 3339 (`2024-04-01T00:00:00+03:00`), a local date (`2024-04-01`: local
    /// midnight) or a local date and time (`2024-04-01T09:30`), on a quarter hour.
    pub from: String,
    /// Exclusive; same forms as `from`.
    pub to: String,
    /// IANA time zone of local dates and of the per-hour rows.
    #[graphql(default = "UTC")]
    pub time_zone: String,
}

impl StatisticsPeriod {
    fn parse(&self) -> Result<Period, Error> {
        Period::parse(&self.from, &self.to, &self.time_zone).map_err(|e| crate::bad_input(e.0))
    }
}

/// A threshold in seconds that must be on the statistics ladder.
fn threshold(name: &str, seconds: i32) -> Result<u64, Error> {
    u64::try_from(seconds)
        .ok()
        .filter(|&s| ladder::is_value(s))
        .ok_or_else(|| crate::bad_input(ladder::explain(name, i64::from(seconds))))
}

fn count(agg: &Agg, metric: domain::stats::MetricId) -> i32 {
    i32::try_from(agg.get(metric)).unwrap_or(i32::MAX)
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The period a result is about.
#[derive(SimpleObject)]
pub struct PeriodInfo {
    pub from: DateTime,
    pub to: DateTime,
    pub time_zone: String,
}

fn period_info(p: &Period) -> PeriodInfo {
    PeriodInfo {
        from: DateTime(p.from),
        to: DateTime(p.to),
        time_zone: p.zone.name().to_owned(),
    }
}

/// A figure that does not apply (value always null, with the reason).
#[derive(SimpleObject, Clone)]
pub struct NotApplicable {
    /// Always null.
    pub value: Option<f64>,
    pub reason: String,
}

const CALLS_NOT_COUNTED: &str =
    "CALLS tickets are not counted in response-time figures (SPEC §5): a call is answered live";

fn not_applicable() -> NotApplicable {
    NotApplicable {
        value: None,
        reason: CALLS_NOT_COUNTED.to_owned(),
    }
}

/// Ticket figures of the CALLS channel over a period. A ticket counts once
/// per figure, at its first qualifying event in the period.
pub struct TicketFigures(pub Agg);

#[Object]
impl TicketFigures {
    /// New tickets (inbound and outbound calls): tickets whose creation time is in the period.
    async fn new_tickets(&self) -> i32 {
        count(&self.0, t::NEW)
    }
    /// New customer tickets: new tickets opened by an inbound call.
    async fn new_customer_tickets(&self) -> i32 {
        count(&self.0, t::NEW_FROM_CUSTOMERS)
    }
    /// Reopened tickets: tickets created before the period and returned to OPEN
    /// (from PENDING or CLOSED, by an agent or a grouped missed call, R9/R16) in it.
    async fn reopened_tickets(&self) -> i32 {
        count(&self.0, t::REOPENED)
    }
    /// New and reopened tickets (peak load): newTickets + reopenedTickets.
    async fn new_and_reopened_tickets(&self) -> i32 {
        count(&self.0, t::NEW).saturating_add(count(&self.0, t::REOPENED))
    }
    /// Tickets in work: tickets in which agents acted in the period (changed
    /// status, assignee or subject, added a note or reply).
    async fn tickets_in_work(&self) -> i32 {
        count(&self.0, t::IN_WORK)
    }
    /// Tickets with a reply: tickets holding an agent's call message with a
    /// conversation recording created in the period.
    async fn tickets_with_reply(&self) -> i32 {
        count(&self.0, t::WITH_REPLY)
    }
    /// Closed tickets: tickets closed in the period that have a conversation recording.
    async fn closed_tickets(&self) -> i32 {
        count(&self.0, t::CLOSED)
    }
    /// Replies needed to close, in total: over the closedTickets, their agent
    /// messages (call messages and replies; not notes or attempts) up to the closing.
    async fn replies_to_close(&self) -> i32 {
        count(&self.0, t::REPLIES_TO_CLOSE)
    }
    /// repliesToClose / closedTickets; null when no ticket was closed.
    async fn average_replies_to_close(&self) -> Option<f64> {
        ratio(self.0.get(t::REPLIES_TO_CLOSE), self.0.get(t::CLOSED))
    }
    /// Tickets the close time counts: closed in the period (recording or not),
    /// with a closing time different from the creation time (equal ones are left out).
    async fn close_time_tickets(&self) -> i32 {
        count(&self.0, t::CLOSE_TIMED)
    }
    /// Average close time, seconds: Σ (closing − creation) / closeTimeTickets; null when none.
    async fn average_close_seconds(&self) -> Option<f64> {
        ratio(self.0.get(t::CLOSE_MS), self.0.get(t::CLOSE_TIMED)).map(|ms| ms / 1000.0)
    }
    /// Close-SLA breaches: closeTimeTickets whose close time exceeds `slaSeconds`
    /// (a statistics ladder value; default one day).
    async fn close_sla_breaches(
        &self,
        #[graphql(default = 86400)] sla_seconds: i32,
    ) -> Result<i32, Error> {
        let sla = threshold("slaSeconds", sla_seconds)?;
        Ok(i32::try_from(self.0.count_over(t::CLOSE_HIST, sla)).unwrap_or(i32::MAX))
    }
    /// Not applicable to CALLS tickets (null, with the reason).
    async fn first_response_time(&self) -> NotApplicable {
        not_applicable()
    }
    /// Not applicable to CALLS tickets.
    async fn response_time(&self) -> NotApplicable {
        not_applicable()
    }
    /// Not applicable to CALLS tickets.
    async fn reply_writing_time(&self) -> NotApplicable {
        not_applicable()
    }
    /// Not applicable to CALLS tickets.
    async fn first_response_sla_breaches(&self) -> NotApplicable {
        not_applicable()
    }
    /// Not applicable to CALLS tickets.
    async fn response_sla_breaches(&self) -> NotApplicable {
        not_applicable()
    }
}

/// One agent's row ("team leaders"): tickets assigned to the agent.
pub struct AgentTicketFigures {
    agent_id: String,
    figures: TicketFigures,
}

#[Object]
impl AgentTicketFigures {
    async fn agent_id(&self) -> ID {
        ID(self.agent_id.clone())
    }
    /// The agent (null if the id is not, or no longer, an agent's).
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        crate::types::agent_by_id(api(ctx), &self.agent_id)
    }
    async fn figures(&self) -> &TicketFigures {
        &self.figures
    }
}

// One local clock hour of the period (no description in the schema: the
// two types had none when they were written out one by one).
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "TicketHour", params(TicketFigures)),
    concrete(name = "CallHour", params(CallFigures))
)]
pub struct HourRow<F: OutputType> {
    /// Start of the row (UTC); the first and last rows may be partial hours.
    from: DateTime,
    to: DateTime,
    /// The local start, with its offset (`2024-04-05T09:00:00+03:00`).
    local_start: String,
    /// Local hour of day, 0–23.
    hour: i32,
    figures: F,
}

impl<F: OutputType> HourRow<F> {
    fn new(row: LocalHour, figures: F) -> HourRow<F> {
        HourRow {
            from: DateTime(row.from),
            to: DateTime(row.to),
            local_start: row.local_start,
            hour: row.hour as i32,
            figures,
        }
    }
}

/// `ticketStatistics`: the rows are built once, and resolved by reference.
pub struct TicketStatistics {
    period: Period,
    overall: TicketFigures,
    agents: Vec<AgentTicketFigures>,
    hours: Vec<HourRow<TicketFigures>>,
}

impl TicketStatistics {
    fn new(period: Period, data: Breakdown) -> TicketStatistics {
        TicketStatistics {
            period,
            overall: TicketFigures(data.overall),
            agents: data
                .agents
                .into_iter()
                .map(|(agent_id, agg)| AgentTicketFigures {
                    agent_id,
                    figures: TicketFigures(agg),
                })
                .collect(),
            hours: data
                .hours
                .into_iter()
                .map(|(row, agg)| HourRow::new(row, TicketFigures(agg)))
                .collect(),
        }
    }
}

#[Object]
impl TicketStatistics {
    async fn period(&self) -> PeriodInfo {
        period_info(&self.period)
    }
    /// All CALLS tickets.
    async fn overall(&self) -> &TicketFigures {
        &self.overall
    }
    /// By assignee ("team leaders"), by agent id; agents with nothing to count are left out.
    async fn agents(&self) -> &[AgentTicketFigures] {
        &self.agents
    }
    /// Per local hour of the period (peak load), in time order.
    async fn hours(&self) -> &[HourRow<TicketFigures>] {
        &self.hours
    }
}

/// Contact-centre KPIs over a period. A call counts at its start time once it
/// has ended. Overall and per queue the counts are of inbound calls; per agent
/// they are of calls offered to (rung at) that agent. Durations are in seconds.
pub struct CallFigures(pub Agg);

fn seconds(ms: i64, n: i64) -> Option<f64> {
    ratio(ms, n).map(|v| v / 1000.0)
}

#[Object]
impl CallFigures {
    /// Offered: inbound calls that reached the centre (per agent: rung at the agent).
    async fn offered(&self) -> i32 {
        count(&self.0, c::OFFERED)
    }
    /// Answered: offered calls an agent answered (per agent: the agent answered).
    async fn answered(&self) -> i32 {
        count(&self.0, c::ANSWERED)
    }
    /// Lost (missed/abandoned): offered − answered (per agent: rung, not answered).
    async fn lost(&self) -> i32 {
        count(&self.0, c::LOST)
    }
    /// Lost while in a voice menu.
    async fn lost_in_menu(&self) -> i32 {
        count(&self.0, c::LOST_IN_MENU)
    }
    /// Lost while waiting in a queue, before ringing at an agent.
    async fn lost_in_queue(&self) -> i32 {
        count(&self.0, c::LOST_IN_QUEUE)
    }
    /// Lost after ringing at one or more agents.
    async fn lost_at_agent(&self) -> i32 {
        count(&self.0, c::LOST_AT_AGENT)
    }
    /// Lost before an agent where the source does not tell menu from queue (CallGear).
    async fn lost_before_agent(&self) -> i32 {
        count(&self.0, c::LOST_BEFORE_AGENT)
    }
    /// Answered calls that waited at most `seconds` (a statistics ladder value).
    async fn answered_within(&self, #[graphql(default = 20)] seconds: i32) -> Result<i32, Error> {
        let t = threshold("seconds", seconds)?;
        Ok(i32::try_from(self.0.count_at_most(c::WAIT_ANSWERED_HIST, t)).unwrap_or(i32::MAX))
    }
    /// Service level: answered within T seconds ÷ offered when `includeAbandoned`
    /// (every lost call counts against it), ÷ answered otherwise (only answered
    /// calls are judged). T = `seconds` (a ladder value, default 20). Null when
    /// the denominator is 0.
    async fn service_level(
        &self,
        #[graphql(default = 20)] seconds: i32,
        #[graphql(default = true)] include_abandoned: bool,
    ) -> Result<Option<f64>, Error> {
        let t = threshold("seconds", seconds)?;
        let within = self.0.count_at_most(c::WAIT_ANSWERED_HIST, t);
        let denominator = if include_abandoned {
            self.0.get(c::OFFERED)
        } else {
            self.0.get(c::ANSWERED)
        };
        Ok(ratio(within, denominator))
    }
    /// Lost call rate: lost ÷ offered; null when nothing was offered.
    async fn lost_call_rate(&self) -> Option<f64> {
        ratio(self.0.get(c::LOST), self.0.get(c::OFFERED))
    }
    /// ASA (average speed of answer): Σ wait of answered calls ÷ answered, seconds
    /// (per agent: of the calls the agent answered).
    async fn average_speed_of_answer(&self) -> Option<f64> {
        seconds(self.0.get(c::WAIT_ANSWERED_MS), self.0.get(c::ANSWERED))
    }
    /// AHT (average handle time): Σ (talk + hold + after-call work) of answered
    /// calls ÷ answered, seconds. Hold and after-call work count where the source
    /// reports them (see `handleTimeExtrasKnown`); otherwise AHT is talk only.
    async fn average_handle_time(&self) -> Option<f64> {
        seconds(self.0.get(c::HANDLE_MS), self.0.get(c::ANSWERED))
    }
    /// Answered calls whose hold or after-call work was reported.
    async fn handle_time_extras_known(&self) -> i32 {
        count(&self.0, c::HANDLE_EXTRAS_KNOWN)
    }
    /// Average talk time: Σ talk of answered calls ÷ answered, seconds.
    async fn average_talk_time(&self) -> Option<f64> {
        seconds(self.0.get(c::TALK_MS), self.0.get(c::ANSWERED))
    }
    /// Average wait time: Σ wait of all offered calls (answered or lost) ÷ offered,
    /// seconds (per agent: of the calls rung at the agent).
    async fn average_wait_time(&self) -> Option<f64> {
        seconds(self.0.get(c::WAIT_MS), self.0.get(c::OFFERED))
    }
    /// Calls over 5 minutes: answered calls with talk > 300 s.
    async fn calls_over_5_minutes(&self) -> i32 {
        i32::try_from(self.0.count_over(c::TALK_HIST, 300)).unwrap_or(i32::MAX)
    }
    /// Answered calls with talk > `seconds` (a ladder value).
    async fn calls_longer_than(&self, seconds: i32) -> Result<i32, Error> {
        let t = threshold("seconds", seconds)?;
        Ok(i32::try_from(self.0.count_over(c::TALK_HIST, t)).unwrap_or(i32::MAX))
    }
    /// Lost calls followed by a callback: the next call with the same number,
    /// started at or after the lost call ended, outbound (any result) or
    /// inbound and answered.
    async fn called_back(&self) -> i32 {
        count(&self.0, c::CALLED_BACK)
    }
    /// lost − calledBack.
    async fn not_called_back(&self) -> i32 {
        count(&self.0, c::LOST).saturating_sub(count(&self.0, c::CALLED_BACK))
    }
    /// Callback latency: Σ (callback start − lost call end) ÷ calledBack, seconds.
    async fn average_callback_latency(&self) -> Option<f64> {
        seconds(self.0.get(c::CALLBACK_MS), self.0.get(c::CALLED_BACK))
    }
    /// Lost calls called back within `seconds` (a ladder value) of their end.
    async fn called_back_within(&self, seconds: i32) -> Result<i32, Error> {
        let t = threshold("seconds", seconds)?;
        Ok(i32::try_from(self.0.count_at_most(c::CALLBACK_HIST, t)).unwrap_or(i32::MAX))
    }
    /// Outbound calls (per agent: placed by the agent).
    async fn outbound(&self) -> i32 {
        count(&self.0, c::OUTBOUND)
    }
    /// Outbound calls the contact answered.
    async fn outbound_answered(&self) -> i32 {
        count(&self.0, c::OUTBOUND_ANSWERED)
    }
    /// Σ talk of answered outbound calls ÷ outboundAnswered, seconds.
    async fn average_outbound_talk_time(&self) -> Option<f64> {
        seconds(
            self.0.get(c::OUTBOUND_TALK_MS),
            self.0.get(c::OUTBOUND_ANSWERED),
        )
    }
}

/// One agent's KPI row.
pub struct AgentCallFigures {
    agent_id: String,
    figures: CallFigures,
}

#[Object]
impl AgentCallFigures {
    async fn agent_id(&self) -> ID {
        ID(self.agent_id.clone())
    }
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        crate::types::agent_by_id(api(ctx), &self.agent_id)
    }
    async fn figures(&self) -> &CallFigures {
        &self.figures
    }
}

/// One queue's KPI row.
#[derive(SimpleObject)]
pub struct QueueCallFigures {
    pub queue: String,
    pub figures: CallFigures,
}

/// `callStatistics`: the rows are built once, and resolved by reference.
pub struct CallStatistics {
    period: Period,
    overall: CallFigures,
    agents: Vec<AgentCallFigures>,
    queues: Vec<QueueCallFigures>,
    hours: Vec<HourRow<CallFigures>>,
}

impl CallStatistics {
    fn new(period: Period, data: Breakdown) -> CallStatistics {
        CallStatistics {
            period,
            overall: CallFigures(data.overall),
            agents: data
                .agents
                .into_iter()
                .map(|(agent_id, agg)| AgentCallFigures {
                    agent_id,
                    figures: CallFigures(agg),
                })
                .collect(),
            queues: data
                .queues
                .into_iter()
                .map(|(queue, agg)| QueueCallFigures {
                    queue,
                    figures: CallFigures(agg),
                })
                .collect(),
            hours: data
                .hours
                .into_iter()
                .map(|(row, agg)| HourRow::new(row, CallFigures(agg)))
                .collect(),
        }
    }
}

#[Object]
impl CallStatistics {
    async fn period(&self) -> PeriodInfo {
        period_info(&self.period)
    }
    async fn overall(&self) -> &CallFigures {
        &self.overall
    }
    /// By agent (calls rung at, answered or placed by the agent), by agent id.
    async fn agents(&self) -> &[AgentCallFigures] {
        &self.agents
    }
    /// By queue (the queue a call was answered from, else the last it waited in).
    async fn queues(&self) -> &[QueueCallFigures] {
        &self.queues
    }
    /// Per local hour of the period, in time order.
    async fn hours(&self) -> &[HourRow<CallFigures>] {
        &self.hours
    }
}

/// Which durations a distribution counts.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DurationKind {
    /// Talk of answered inbound calls.
    Talk,
    /// Wait of answered inbound calls.
    WaitAnswered,
    /// Wait of lost calls before the caller hung up.
    WaitLost,
    /// Callback latency of lost calls called back.
    Callback,
}

impl DurationKind {
    fn metric(self) -> domain::stats::MetricId {
        match self {
            DurationKind::Talk => c::TALK_HIST,
            DurationKind::WaitAnswered => c::WAIT_ANSWERED_HIST,
            DurationKind::WaitLost => c::WAIT_LOST_HIST,
            DurationKind::Callback => c::CALLBACK_HIST,
        }
    }
}

/// Calls whose duration d (seconds, rounded up) is in `(fromSeconds, toSeconds]`
/// (the first bin includes 0; the last has no upper bound).
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct DistributionBin {
    pub from_seconds: i32,
    pub to_seconds: Option<i32>,
    pub calls: i32,
}

const DEFAULT_EDGES: [i32; 9] = [10, 20, 30, 60, 120, 300, 600, 1800, 3600];

fn distribution(
    agg: &Agg,
    kind: DurationKind,
    edges: &[i32],
) -> Result<Vec<DistributionBin>, Error> {
    if edges.len() > 64 {
        return Err(crate::bad_input("at most 64 edges"));
    }
    let mut values = Vec::with_capacity(edges.len());
    for &e in edges {
        values.push(threshold("edges", e)?);
    }
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(crate::bad_input("edges must be increasing"));
    }
    let metric = kind.metric();
    let mut bins = Vec::with_capacity(values.len() + 1);
    let mut below = 0i64;
    let mut from = 0i32;
    for (&value, &edge) in values.iter().zip(edges) {
        let at_most = agg.count_at_most(metric, value);
        bins.push(DistributionBin {
            from_seconds: from,
            to_seconds: Some(edge),
            calls: i32::try_from(at_most - below).unwrap_or(i32::MAX),
        });
        below = at_most;
        from = edge;
    }
    let total: i64 = agg.histogram(metric).map(|(_, n)| n).sum();
    bins.push(DistributionBin {
        from_seconds: from,
        to_seconds: None,
        calls: i32::try_from(total - below).unwrap_or(i32::MAX),
    });
    Ok(bins)
}

/// Lost calls called back within a time.
#[derive(SimpleObject)]
pub struct CallbackWithin {
    pub seconds: i32,
    pub calls: i32,
}

/// Lost calls of one local hour.
#[derive(SimpleObject)]
pub struct MissedHour {
    pub local_start: String,
    pub hour: i32,
    pub offered: i32,
    pub lost: i32,
    pub lost_call_rate: Option<f64>,
}

/// `missedCallAnalysis`: where and when callers gave up, how long they had
/// waited, and how soon they were called back.
#[derive(SimpleObject)]
pub struct MissedCallAnalysis {
    pub period: PeriodInfo,
    /// The figures of the whole period (lost, lostIn*, calledBack, …).
    pub overall: CallFigures,
    /// Wait before hanging up (WAIT_LOST distribution, default edges).
    pub wait_before_hang_up: Vec<DistributionBin>,
    /// Callback latency distribution (default edges).
    pub callback_latency: Vec<DistributionBin>,
    /// Lost calls called back within each of `callbackWithinSeconds`.
    pub called_back_within: Vec<CallbackWithin>,
    /// Per local hour: offered, lost, lost call rate.
    pub hours: Vec<MissedHour>,
}

/// A call detail record (one row of the CDR report).
pub struct CallDetailRecord(pub domain::stats::CallRecord);

#[Object]
impl CallDetailRecord {
    /// `cg-<call_session_id>` (CallGear) or `cc-<call id>` (native feed).
    async fn call_key(&self) -> &str {
        &self.0.key
    }
    /// `callgear` or `native`.
    async fn source(&self) -> &'static str {
        match self.0.source {
            domain::stats::CallSource::CallGear => "callgear",
            domain::stats::CallSource::Native => "native",
        }
    }
    /// `inbound`, `outbound` or `internal`.
    async fn direction(&self) -> &'static str {
        crate::stats::way(self.0.way)
    }
    /// `+digits`.
    async fn phone(&self) -> Option<String> {
        self.0.phone.as_ref().map(|p| format!("+{p}"))
    }
    async fn queue(&self) -> Option<&str> {
        self.0.queue.as_deref()
    }
    async fn started_at(&self) -> DateTime {
        DateTime(self.0.started_at)
    }
    async fn answered_at(&self) -> Option<DateTime> {
        self.0.answered_at.map(DateTime)
    }
    async fn ended_at(&self) -> Option<DateTime> {
        self.0.ended_at.map(DateTime)
    }
    async fn answered(&self) -> bool {
        self.0.answered
    }
    async fn wait_seconds(&self) -> i32 {
        i32::try_from(self.0.wait_seconds).unwrap_or(i32::MAX)
    }
    async fn talk_seconds(&self) -> i32 {
        i32::try_from(self.0.talk_seconds).unwrap_or(i32::MAX)
    }
    async fn hold_seconds(&self) -> Option<i32> {
        self.0
            .hold_seconds
            .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
    }
    async fn after_call_seconds(&self) -> Option<i32> {
        self.0
            .after_call_seconds
            .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
    }
    /// Agents involved, in order (rung at, talked or placed the call).
    async fn agent_ids(&self) -> Vec<ID> {
        self.0
            .agents
            .iter()
            .map(|a| ID(a.agent_id.clone()))
            .collect()
    }
    /// Agents who talked.
    async fn answering_agent_ids(&self) -> Vec<ID> {
        self.0
            .agents
            .iter()
            .filter(|a| a.answered)
            .map(|a| ID(a.agent_id.clone()))
            .collect()
    }
    /// `answered`, `lost_in_menu`, `lost_in_queue`, `lost_at_agent`,
    /// `lost_before_agent`, `unanswered` (outbound/internal), `in_progress`.
    async fn outcome(&self) -> &'static str {
        self.0.outcome()
    }
    /// For a lost call: when the callback call started.
    async fn callback_at(&self) -> Option<DateTime> {
        self.0.callback.as_ref().map(|cb| DateTime(cb.at))
    }
    /// For a lost call: callback start − lost call end, seconds (rounded up).
    async fn callback_seconds(&self) -> Option<i64> {
        self.0.callback.as_ref().map(|cb| cb.latency_seconds as i64)
    }
    async fn recorded(&self) -> bool {
        self.0.recorded
    }
}

pub(crate) fn way(way: domain::stats::CallWay) -> &'static str {
    match way {
        domain::stats::CallWay::Inbound => "inbound",
        domain::stats::CallWay::Outbound => "outbound",
        domain::stats::CallWay::Internal => "internal",
    }
}

#[derive(SimpleObject)]
pub struct CallDetailRecordConnection {
    pub nodes: Vec<CallDetailRecord>,
    pub page_info: crate::query::PageInfo,
}

/// The CDR period: any instants (not only quarter hours).
fn cdr_period(period: &StatisticsPeriod) -> Result<(domain::Timestamp, domain::Timestamp), Error> {
    let zone = period::parse_zone(&period.time_zone).map_err(|e| crate::bad_input(e.0))?;
    let from = period::parse_time(&period.from, zone).map_err(|e| crate::bad_input(e.0))?;
    let to = period::parse_time(&period.to, zone).map_err(|e| crate::bad_input(e.0))?;
    if from >= to {
        return Err(crate::bad_input("`from` must be before `to`"));
    }
    Ok((from, to))
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// Ticket statistics of the CALLS channel (SPEC §5): overall, per agent
    /// ("team leaders") and per local hour (peak load). Supervisors and administrators.
    async fn ticket_statistics(
        &self,
        ctx: &Context<'_>,
        period: StatisticsPeriod,
    ) -> Result<TicketStatistics, Error> {
        require_supervisor(ctx)?;
        let p = period.parse()?;
        let look = ctx.look_ahead();
        let data = api(ctx)
            .read
            .ticket_statistics(
                &p,
                look.field("agents").exists(),
                look.field("hours").exists(),
            )
            .map_err(read_error)?;
        Ok(TicketStatistics::new(p, data))
    }

    /// Contact-centre KPIs (SPEC §5): overall, per agent, per queue and per local
    /// hour. Supervisors and administrators.
    async fn call_statistics(
        &self,
        ctx: &Context<'_>,
        period: StatisticsPeriod,
    ) -> Result<CallStatistics, Error> {
        require_supervisor(ctx)?;
        let p = period.parse()?;
        let look = ctx.look_ahead();
        let by_dim = look.field("agents").exists() || look.field("queues").exists();
        let data = api(ctx)
            .read
            .call_statistics(&p, by_dim, look.field("hours").exists())
            .map_err(read_error)?;
        Ok(CallStatistics::new(p, data))
    }

    /// Distribution of call durations over the period: bins between `edges`
    /// (ladder values, increasing; default 10, 20, 30, 60, 120, 300, 600, 1800, 3600 s).
    async fn call_duration_distribution(
        &self,
        ctx: &Context<'_>,
        period: StatisticsPeriod,
        kind: DurationKind,
        edges: Option<Vec<i32>>,
    ) -> Result<Vec<DistributionBin>, Error> {
        require_supervisor(ctx)?;
        let p = period.parse()?;
        let data = api(ctx)
            .read
            .call_statistics(&p, false, false)
            .map_err(read_error)?;
        distribution(
            &data.overall,
            kind,
            edges.as_deref().unwrap_or(&DEFAULT_EDGES),
        )
    }

    /// Missed-call analysis of the period.
    async fn missed_call_analysis(
        &self,
        ctx: &Context<'_>,
        period: StatisticsPeriod,
        #[graphql(default_with = "vec![300, 900, 3600, 14400, 86400]")]
        callback_within_seconds: Vec<i32>,
    ) -> Result<MissedCallAnalysis, Error> {
        require_supervisor(ctx)?;
        let p = period.parse()?;
        if callback_within_seconds.len() > 64 {
            return Err(crate::bad_input("at most 64 callbackWithinSeconds"));
        }
        let data = api(ctx)
            .read
            .call_statistics(&p, false, true)
            .map_err(read_error)?;
        let overall = &data.overall;
        let mut within = Vec::new();
        for s in callback_within_seconds {
            let t = threshold("callbackWithinSeconds", s)?;
            within.push(CallbackWithin {
                seconds: s,
                calls: i32::try_from(overall.count_at_most(c::CALLBACK_HIST, t))
                    .unwrap_or(i32::MAX),
            });
        }
        Ok(MissedCallAnalysis {
            period: period_info(&p),
            wait_before_hang_up: distribution(overall, DurationKind::WaitLost, &DEFAULT_EDGES)?,
            callback_latency: distribution(
                overall,
                DurationKind::Callback,
                &[300, 900, 3600, 14400, 86400],
            )?,
            called_back_within: within,
            hours: data
                .hours
                .iter()
                .map(|(row, agg)| MissedHour {
                    local_start: row.local_start.clone(),
                    hour: row.hour as i32,
                    offered: count(agg, c::OFFERED),
                    lost: count(agg, c::LOST),
                    lost_call_rate: ratio(agg.get(c::LOST), agg.get(c::OFFERED)),
                })
                .collect(),
            overall: CallFigures(overall.clone()),
        })
    }

    /// Call detail records (one per call, CallGear and native feed) that started
    /// in `[from, to)` (any instants), in start order; `first` 1–1000.
    async fn call_detail_records(
        &self,
        ctx: &Context<'_>,
        period: StatisticsPeriod,
        #[graphql(default = 100)] first: i32,
        after: Option<String>,
    ) -> Result<CallDetailRecordConnection, Error> {
        require_supervisor(ctx)?;
        let (from, to) = cdr_period(&period)?;
        let first = usize::try_from(first)
            .ok()
            .filter(|n| (1..=CDR_FIRST_MAX).contains(n))
            .ok_or_else(|| {
                crate::bad_input(format!("first must be between 1 and {CDR_FIRST_MAX}"))
            })?;
        let page = api(ctx)
            .read
            .call_records(from, to, first, after.as_deref())
            .map_err(read_error)?;
        Ok(CallDetailRecordConnection {
            nodes: page.records.into_iter().map(CallDetailRecord).collect(),
            page_info: crate::query::PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            },
        })
    }
}

/// Most CDR rows per page.
pub const CDR_FIRST_MAX: usize = 1000;

/// An agent's presence as the feed last reported it.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgentPresence {
    LoggedIn,
    Ready,
    Paused,
    LoggedOut,
}

impl From<domain::contact::Presence> for AgentPresence {
    fn from(p: domain::contact::Presence) -> Self {
        match p {
            domain::contact::Presence::LoggedIn => AgentPresence::LoggedIn,
            domain::contact::Presence::Ready => AgentPresence::Ready,
            domain::contact::Presence::Paused => AgentPresence::Paused,
            domain::contact::Presence::LoggedOut => AgentPresence::LoggedOut,
        }
    }
}

/// Calls waiting in one queue now.
#[derive(SimpleObject)]
pub struct LiveQueue {
    pub queue: String,
    pub calls: i32,
}

/// One agent's live state.
pub struct LiveAgentState(domain::stats::AgentLive);

#[Object]
impl LiveAgentState {
    async fn agent_id(&self) -> ID {
        ID(self.0.agent_id.clone())
    }
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        crate::types::agent_by_id(api(ctx), &self.0.agent_id)
    }
    /// The latest `agent_presence`; null if the feed never reported one.
    async fn presence(&self) -> Option<AgentPresence> {
        self.0.presence.map(Into::into)
    }
    async fn presence_since(&self) -> Option<DateTime> {
        self.0.presence_since.map(DateTime)
    }
    /// On a call now (answered it or a consultation, not hung up, call not ended).
    async fn talking(&self) -> bool {
        self.0.talking
    }
    /// Presence `LOGGED_IN`, `READY` or `PAUSED`.
    async fn logged_in(&self) -> bool {
        self.0.logged_in()
    }
    /// Presence `READY` and not talking.
    async fn ready(&self) -> bool {
        self.0.ready()
    }
}

/// The live dashboard (seed 004), from the native contact-centre feed: now,
/// after every event committed so far (events' own times, any arrival order).
pub struct LiveDashboard(pub domain::stats::Dashboard);

#[Object]
impl LiveDashboard {
    /// Calls in a voice menu now ("IVR").
    async fn calls_in_menu(&self) -> i32 {
        i32::try_from(self.0.calls_in_menu).unwrap_or(i32::MAX)
    }
    /// Calls waiting in a queue now (all queues).
    async fn calls_queued(&self) -> i32 {
        i32::try_from(self.0.queues.iter().map(|(_, n)| n).sum::<u64>()).unwrap_or(i32::MAX)
    }
    /// Calls waiting per queue (queues with none are left out).
    async fn queues(&self) -> Vec<LiveQueue> {
        self.0
            .queues
            .iter()
            .map(|(queue, n)| LiveQueue {
                queue: queue.clone(),
                calls: i32::try_from(*n).unwrap_or(i32::MAX),
            })
            .collect()
    }
    /// Agents whose presence is LOGGED_IN, READY or PAUSED.
    async fn agents_logged_in(&self) -> i32 {
        self.0.agents.iter().filter(|a| a.logged_in()).count() as i32
    }
    /// Agents talking on a call now.
    async fn agents_talking(&self) -> i32 {
        self.0.agents.iter().filter(|a| a.talking).count() as i32
    }
    /// Agents READY and not talking.
    async fn agents_ready(&self) -> i32 {
        self.0.agents.iter().filter(|a| a.ready()).count() as i32
    }
    /// Agents PAUSED.
    async fn agents_paused(&self) -> i32 {
        self.0
            .agents
            .iter()
            .filter(|a| a.presence == Some(domain::contact::Presence::Paused))
            .count() as i32
    }
    /// Every agent the feed reported, by id.
    async fn agents(&self) -> Vec<LiveAgentState> {
        self.0.agents.iter().cloned().map(LiveAgentState).collect()
    }
    /// The latest event time reflected.
    async fn as_of(&self) -> Option<DateTime> {
        self.0.as_of.map(DateTime)
    }
}

#[Object]
impl LiveDashboardQuery {
    /// The live dashboard now. Supervisors and administrators.
    async fn live_dashboard(&self, ctx: &Context<'_>) -> Result<LiveDashboard, Error> {
        require_supervisor(ctx)?;
        Ok(LiveDashboard(
            api(ctx).read.dashboard().map_err(read_error)?,
        ))
    }
}

#[derive(Default)]
pub struct LiveDashboardQuery;
