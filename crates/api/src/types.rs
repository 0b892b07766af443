//! GraphQL object types, each a thin view of a domain record.

use crate::{Api, ReadError};
use async_graphql::{
    Context, Enum, InputValueError, InputValueResult, Object, Scalar, ScalarType, Value, ID,
};
use domain::Timestamp;

/// RFC 3339 date-time, always UTC with `Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub Timestamp);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Timestamp::parse_rfc3339(text)
                .map(DateTime)
                .map_err(|e| InputValueError::custom(format!("not an RFC 3339 time: {e}"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339())
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TicketStatus")]
pub enum TicketStatus {
    Open,
    Pending,
    Closed,
}

impl From<domain::TicketStatus> for TicketStatus {
    fn from(s: domain::TicketStatus) -> Self {
        match s {
            domain::TicketStatus::Open => TicketStatus::Open,
            domain::TicketStatus::Pending => TicketStatus::Pending,
            domain::TicketStatus::Closed => TicketStatus::Closed,
        }
    }
}

impl From<TicketStatus> for domain::TicketStatus {
    fn from(s: TicketStatus) -> Self {
        match s {
            TicketStatus::Open => domain::TicketStatus::Open,
            TicketStatus::Pending => domain::TicketStatus::Pending,
            TicketStatus::Closed => domain::TicketStatus::Closed,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Channel")]
pub enum Channel {
    Calls,
    Sms,
    Email,
}

impl From<domain::Channel> for Channel {
    fn from(c: domain::Channel) -> Self {
        match c {
            domain::Channel::Calls => Channel::Calls,
            domain::Channel::Sms => Channel::Sms,
            domain::Channel::Email => Channel::Email,
        }
    }
}

impl From<Channel> for domain::Channel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Calls => domain::Channel::Calls,
            Channel::Sms => domain::Channel::Sms,
            Channel::Email => domain::Channel::Email,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CallDirection")]
pub enum CallDirection {
    Inbound,
    Outbound,
    /// Agent to agent (contact-centre calls): the number shows as "xxxxxxxx".
    Internal,
}

impl From<domain::contact::CallKind> for CallDirection {
    fn from(kind: domain::contact::CallKind) -> Self {
        match kind {
            domain::contact::CallKind::Inbound => CallDirection::Inbound,
            domain::contact::CallKind::Outbound => CallDirection::Outbound,
            domain::contact::CallKind::Internal => CallDirection::Internal,
        }
    }
}

impl From<CallDirection> for domain::contact::CallKind {
    fn from(direction: CallDirection) -> Self {
        match direction {
            CallDirection::Inbound => domain::contact::CallKind::Inbound,
            CallDirection::Outbound => domain::contact::CallKind::Outbound,
            CallDirection::Internal => domain::contact::CallKind::Internal,
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "MessageKind")]
pub enum MessageKind {
    Call,
    CallAttempt,
    Note,
    Reply,
}

fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

pub(crate) fn agent_by_id(api: &Api, id: &str) -> Result<Option<Agent>, ReadError> {
    Ok(api.read.agent(id)?.map(Agent))
}

pub struct Ticket(pub domain::Ticket);

/// A helpdesk ticket (channel CALLS for tickets that come from calls).
#[Object]
impl Ticket {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }
    async fn channel(&self) -> Channel {
        self.0.channel.into()
    }
    /// The red handset: an unresolved missed call.
    async fn missed(&self) -> bool {
        self.0.missed
    }
    /// Missed calls grouped into this ticket (R9).
    async fn missed_call_count(&self) -> i32 {
        i32::try_from(self.0.missed_call_count).unwrap_or(i32::MAX)
    }
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>, ReadError> {
        Ok(api(ctx).read.customer(&self.0.customer_id)?.map(Customer))
    }
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        match &self.0.assignee_id {
            Some(id) => agent_by_id(api(ctx), id),
            None => Ok(None),
        }
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime(self.0.updated_at)
    }
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.closed_at.map(DateTime)
    }
    /// Every return to OPEN from PENDING or CLOSED (R16).
    async fn reopened_at(&self) -> Vec<DateTime> {
        self.0.reopened_at.iter().copied().map(DateTime).collect()
    }
    async fn calls(&self, ctx: &Context<'_>) -> Result<Vec<Call>, ReadError> {
        let mut calls = Vec::with_capacity(self.0.calls.len());
        for session in &self.0.calls {
            if let Some(call) = api(ctx).read.call(*session)? {
                calls.push(Call::CallGear(Box::new(call)));
            }
        }
        Ok(calls)
    }
    async fn messages(&self) -> Vec<Message> {
        self.0.messages.iter().cloned().map(Message).collect()
    }
}

/// A call of either feed: a CallGear session, or a contact-centre call with its
/// archive (timeline and summary).
pub enum Call {
    CallGear(Box<domain::Call>),
    Contact(Box<domain::CallArchive>),
}

fn seconds(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Call {
    /// The archive id (`sessionId`).
    fn archive_id(&self) -> String {
        match self {
            Call::CallGear(call) => call.session_id.to_string(),
            Call::Contact(archive) => archive.summary.id.clone(),
        }
    }

    /// The archive of a CallGear call (read on demand); a contact call's own.
    fn archive(&self, ctx: &Context<'_>) -> Result<Option<domain::CallArchive>, ReadError> {
        match self {
            Call::CallGear(call) => api(ctx).read.archived_call(&call.session_id.to_string()),
            Call::Contact(archive) => Ok(Some((**archive).clone())),
        }
    }
}

/// A call: a CallGear session (`sessionId` = its `call_session_id`) or a call of
/// the native contact-centre feed (`sessionId` = `cc:<call_id>`).
#[Object]
impl Call {
    /// CallGear's `call_session_id`, or `cc:<call_id>` for a contact-centre
    /// call; `call(sessionId:)` finds either.
    async fn session_id(&self) -> ID {
        ID(self.archive_id())
    }
    async fn direction(&self) -> CallDirection {
        match self {
            Call::CallGear(call) => match call.direction {
                domain::CallDirection::Inbound => CallDirection::Inbound,
                domain::CallDirection::Outbound => CallDirection::Outbound,
            },
            Call::Contact(archive) => archive.summary.direction.into(),
        }
    }
    /// The customer's number, "+digits" ("" when the source gave none;
    /// "xxxxxxxx" for an agent-to-agent call). Outbound: the called number.
    async fn phone(&self) -> String {
        match self {
            Call::CallGear(call) => call
                .phone
                .as_ref()
                .map(domain::Phone::display)
                .unwrap_or_default(),
            Call::Contact(archive) => archive.summary.phone.clone().unwrap_or_default(),
        }
    }
    /// An agent talked with the customer (outbound: the contact answered; an
    /// answering machine counts; agent-to-agent: the called agent answered).
    async fn answered(&self) -> bool {
        match self {
            Call::CallGear(call) => call.answered,
            Call::Contact(archive) => archive.summary.answered,
        }
    }
    /// The agent who talked (last), or who was offered the call last
    /// (contact centre: the last agent shown on the timeline).
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        match self.agent_id_str() {
            Some(id) => agent_by_id(api(ctx), id),
            None => Ok(None),
        }
    }
    /// The id of `agent`, also when callfold knows no agent by that id.
    async fn agent_id(&self) -> Option<ID> {
        self.agent_id_str().map(|id| ID(id.to_owned()))
    }
    /// Every agent shown on the call's timeline (an agent-to-agent call's
    /// called agent only if they answered), sorted by id.
    async fn agent_ids(&self, ctx: &Context<'_>) -> Result<Vec<ID>, ReadError> {
        Ok(self
            .archive(ctx)?
            .map(|archive| archive.summary.agents.into_iter().map(ID).collect())
            .unwrap_or_default())
    }
    async fn started_at(&self) -> Option<DateTime> {
        match self {
            Call::CallGear(call) => call.started_at.map(DateTime),
            Call::Contact(archive) => Some(DateTime(archive.summary.started_at)),
        }
    }
    /// When the call ended (contact centre: its latest `call_ended`); null while it runs.
    async fn ended_at(&self) -> Option<DateTime> {
        match self {
            Call::CallGear(call) => call.ended_at.map(DateTime),
            Call::Contact(archive) => archive.summary.ended_at.map(DateTime),
        }
    }
    /// When the first conversation began; null if nobody talked.
    async fn answered_at(&self) -> Option<DateTime> {
        match self {
            Call::CallGear(call) => call
                .conversations
                .iter()
                .map(|c| c.started_at)
                .min()
                .map(DateTime),
            Call::Contact(archive) => archive.summary.answered_at.map(DateTime),
        }
    }
    /// Seconds waiting in queues (CallGear: `/end`'s `wait_time_duration`).
    async fn wait_seconds(&self) -> Option<i32> {
        match self {
            Call::CallGear(call) => call.wait_seconds.map(seconds),
            Call::Contact(archive) => Some(seconds(archive.summary.wait_seconds)),
        }
    }
    /// Seconds of talk (CallGear: `/end`'s `talk_time_duration`; contact
    /// centre: Conversation and Consult entries, overlaps counted once).
    async fn talk_seconds(&self) -> Option<i32> {
        match self {
            Call::CallGear(call) => call.talk_seconds.map(seconds),
            Call::Contact(archive) => Some(seconds(archive.summary.talk_seconds)),
        }
    }
    /// The queue the call was answered from, else its callback or outbound
    /// queue, else the last queue it waited in (CallGear calls: null).
    async fn queue(&self) -> Option<&str> {
        match self {
            Call::CallGear(_) => None,
            Call::Contact(archive) => archive.summary.queue.as_deref(),
        }
    }
    /// How the call ended up (docs/rules.md R41).
    async fn outcome(&self) -> CallOutcome {
        match self {
            Call::CallGear(call) => domain::timeline::callgear_outcome(call).into(),
            Call::Contact(archive) => archive.summary.outcome.into(),
        }
    }
    /// The archive timeline (SPEC §4): menu, queue, callback, conversation,
    /// consult and deleted entries, in the order they happened.
    #[graphql(complexity = "TIMELINE_ENTRIES_WEIGHT * child_complexity")]
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<TimelineEntry>, ReadError> {
        Ok(self
            .archive(ctx)?
            .map(|archive| archive.timeline.into_iter().map(TimelineEntry).collect())
            .unwrap_or_default())
    }
    async fn recording_urls(&self) -> &[String] {
        match self {
            Call::CallGear(call) => &call.recording_urls,
            Call::Contact(_) => &[],
        }
    }
    /// The (first) ticket holding this call (contact-centre calls: none).
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>, ReadError> {
        let Call::CallGear(call) = self else {
            return Ok(None);
        };
        let api = api(ctx);
        for id in api.read.call_tickets(call.session_id)? {
            if let Some(ticket) = api.read.ticket(&id)? {
                return Ok(Some(Ticket(ticket)));
            }
        }
        Ok(None)
    }
    /// Every ticket holding a part of this call (a transferred call has one per agent, R7).
    async fn tickets(&self, ctx: &Context<'_>) -> Result<Vec<Ticket>, ReadError> {
        let Call::CallGear(call) = self else {
            return Ok(Vec::new());
        };
        let api = api(ctx);
        let mut tickets = Vec::new();
        for id in api.read.call_tickets(call.session_id)? {
            if let Some(ticket) = api.read.ticket(&id)? {
                tickets.push(Ticket(ticket));
            }
        }
        Ok(tickets)
    }
}

impl Call {
    fn agent_id_str(&self) -> Option<&str> {
        match self {
            Call::CallGear(call) => call.agent_id.as_deref(),
            Call::Contact(archive) => archive.summary.agent_id.as_deref(),
        }
    }
}

/// Complexity weight of a call's `timeline` (it lists a few entries per call;
/// at most about one per stored event, 512).
pub(crate) const TIMELINE_ENTRIES_WEIGHT: usize = 5;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "TimelineKind")]
pub enum TimelineKind {
    /// Time in a voice menu (IVR), or a played message.
    Menu,
    /// Time waiting in a queue (zero when an outbound call is ordered).
    Queue,
    /// From a callback or outbound order until the destination answered or the dial ended.
    QueueCallback,
    /// An agent's talk with the customer.
    Conversation,
    /// An agent-to-agent consultation; the entry's agent is the consulted one.
    Consult,
    /// A callback or outbound order deleted from the queue (shown in red).
    Deleted,
}

impl From<domain::TimelineKind> for TimelineKind {
    fn from(kind: domain::TimelineKind) -> Self {
        match kind {
            domain::TimelineKind::Menu => TimelineKind::Menu,
            domain::TimelineKind::Queue => TimelineKind::Queue,
            domain::TimelineKind::QueueCallback => TimelineKind::QueueCallback,
            domain::TimelineKind::Conversation => TimelineKind::Conversation,
            domain::TimelineKind::Consult => TimelineKind::Consult,
            domain::TimelineKind::Deleted => TimelineKind::Deleted,
        }
    }
}

/// How a call ended up (docs/rules.md R41).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CallOutcome")]
pub enum CallOutcome {
    /// An agent talked with the customer (agent-to-agent: the called agent answered).
    Answered,
    /// A callback or outbound call reached an answering machine (counts as answered).
    AnsweringMachine,
    /// Inbound: the caller hung up, or the call ended, before any agent talked (a missed call).
    Abandoned,
    /// A dialer reached the contact but no agent talked (silent call).
    NoAgent,
    /// A callback is ordered and waits for an attempt that answers.
    CallbackOrdered,
    /// The destination did not answer (a callback: all three attempts).
    NoAnswer,
    /// The agent cancelled the outbound call from the outbound tab.
    Cancelled,
    /// The callback was deleted from the queue.
    Deleted,
    /// Still running, nothing decided yet.
    InProgress,
}

impl From<domain::Outcome> for CallOutcome {
    fn from(outcome: domain::Outcome) -> Self {
        match outcome {
            domain::Outcome::Answered => CallOutcome::Answered,
            domain::Outcome::AnsweringMachine => CallOutcome::AnsweringMachine,
            domain::Outcome::Abandoned => CallOutcome::Abandoned,
            domain::Outcome::NoAgent => CallOutcome::NoAgent,
            domain::Outcome::CallbackOrdered => CallOutcome::CallbackOrdered,
            domain::Outcome::NoAnswer => CallOutcome::NoAnswer,
            domain::Outcome::Cancelled => CallOutcome::Cancelled,
            domain::Outcome::Deleted => CallOutcome::Deleted,
            domain::Outcome::InProgress => CallOutcome::InProgress,
        }
    }
}

impl From<CallOutcome> for domain::Outcome {
    fn from(outcome: CallOutcome) -> Self {
        match outcome {
            CallOutcome::Answered => domain::Outcome::Answered,
            CallOutcome::AnsweringMachine => domain::Outcome::AnsweringMachine,
            CallOutcome::Abandoned => domain::Outcome::Abandoned,
            CallOutcome::NoAgent => domain::Outcome::NoAgent,
            CallOutcome::CallbackOrdered => domain::Outcome::CallbackOrdered,
            CallOutcome::NoAnswer => domain::Outcome::NoAnswer,
            CallOutcome::Cancelled => domain::Outcome::Cancelled,
            CallOutcome::Deleted => domain::Outcome::Deleted,
            CallOutcome::InProgress => domain::Outcome::InProgress,
        }
    }
}

pub struct TimelineEntry(pub domain::TimelineEntry);

/// One entry of a call's archive timeline (SPEC §4).
#[Object]
impl TimelineEntry {
    async fn kind(&self) -> TimelineKind {
        self.0.kind.into()
    }
    /// When the entry began.
    async fn start(&self) -> DateTime {
        DateTime(self.0.start)
    }
    /// Duration in whole seconds (an entry still open: up to the call's latest event).
    async fn seconds(&self) -> i32 {
        seconds(self.0.seconds)
    }
    /// Same as `seconds`: the entry's duration in whole seconds.
    async fn duration(&self) -> i32 {
        seconds(self.0.seconds)
    }
    /// The agent shown with the entry (a Consult: the consulted agent).
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        match &self.0.agent_id {
            Some(id) => agent_by_id(api(ctx), id),
            None => Ok(None),
        }
    }
    /// The id of `agent`, also when callfold knows no agent by that id.
    async fn agent_id(&self) -> Option<ID> {
        self.0.agent_id.clone().map(ID)
    }
    /// The queue or menu name (a Conversation: the queue it was answered from;
    /// CallGear: the scenario name of the Menu entry).
    async fn place(&self) -> Option<&str> {
        self.0.place.as_deref()
    }
    /// `place` when the entry is not a MENU entry: the queue (Queue, Queue
    /// (callback), Deleted; a Conversation: the queue it was answered from).
    async fn queue(&self) -> Option<&str> {
        match self.0.kind {
            domain::TimelineKind::Menu => None,
            _ => self.0.place.as_deref(),
        }
    }
    /// `place` when the entry is a MENU entry: the voice menu, message or scenario name.
    async fn menu(&self) -> Option<&str> {
        match self.0.kind {
            domain::TimelineKind::Menu => self.0.place.as_deref(),
            _ => None,
        }
    }
    /// e.g. "1 unanswered call finished", "answering machine", "callback
    /// deleted", "outbound call cancelled", "transfer", "welcome message".
    async fn label(&self) -> Option<&str> {
        self.0.label.as_deref()
    }
    /// The survey (wrap-up form) the agent registered for this part of the call.
    async fn survey(&self) -> Option<&str> {
        self.0.survey.as_deref()
    }
}

pub struct Message(pub domain::Message);

/// One entry of a ticket's conversation.
#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn kind(&self) -> MessageKind {
        match self.0.kind {
            domain::MessageKind::Call => MessageKind::Call,
            domain::MessageKind::CallAttempt => MessageKind::CallAttempt,
            domain::MessageKind::Note => MessageKind::Note,
            domain::MessageKind::Reply => MessageKind::Reply,
        }
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        match &self.0.author_id {
            Some(id) => agent_by_id(api(ctx), id),
            None => Ok(None),
        }
    }
    async fn body(&self) -> Option<&str> {
        self.0.body.as_deref()
    }
    async fn call_session_id(&self) -> Option<ID> {
        self.0.session_id.map(|s| ID(s.to_string()))
    }
    async fn recording_urls(&self) -> &[String] {
        &self.0.recording_urls
    }
    /// A call message whose call still runs ("call in progress", R4).
    async fn in_progress(&self) -> bool {
        self.0.in_progress
    }
    async fn created_at(&self) -> DateTime {
        DateTime(self.0.created_at)
    }
}

pub struct Customer(pub domain::Customer);

/// A customer, identified by phone numbers (R2).
#[Object]
impl Customer {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    /// "+digits".
    async fn phones(&self) -> Vec<String> {
        self.0.phones.iter().map(domain::Phone::display).collect()
    }
    /// Newest first.
    async fn tickets(&self, ctx: &Context<'_>) -> Result<Vec<Ticket>, ReadError> {
        Ok(api(ctx)
            .read
            .customer_tickets(&self.0.id)?
            .into_iter()
            .map(Ticket)
            .collect())
    }
}

pub struct Agent(pub domain::Agent);

/// A helpdesk agent and the CallGear operators (employee ids) mapped to them (R1).
#[Object]
impl Agent {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn callgear_employee_ids(&self) -> Vec<ID> {
        self.0
            .callgear_employee_ids
            .iter()
            .map(|id| ID(id.to_string()))
            .collect()
    }
}
