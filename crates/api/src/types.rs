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
                calls.push(Call(call));
            }
        }
        Ok(calls)
    }
    async fn messages(&self) -> Vec<Message> {
        self.0.messages.iter().cloned().map(Message).collect()
    }
}

pub struct Call(pub domain::Call);

/// A call session.
#[Object]
impl Call {
    async fn session_id(&self) -> ID {
        ID(self.0.session_id.to_string())
    }
    async fn direction(&self) -> CallDirection {
        match self.0.direction {
            domain::CallDirection::Inbound => CallDirection::Inbound,
            domain::CallDirection::Outbound => CallDirection::Outbound,
        }
    }
    /// The customer's number, "+digits" ("" when the source gave none).
    async fn phone(&self) -> String {
        self.0
            .phone
            .as_ref()
            .map(domain::Phone::display)
            .unwrap_or_default()
    }
    async fn answered(&self) -> bool {
        self.0.answered
    }
    /// The agent who talked (last), or who was offered the call last.
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, ReadError> {
        match &self.0.agent_id {
            Some(id) => agent_by_id(api(ctx), id),
            None => Ok(None),
        }
    }
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime)
    }
    async fn ended_at(&self) -> Option<DateTime> {
        self.0.ended_at.map(DateTime)
    }
    async fn wait_seconds(&self) -> Option<i32> {
        self.0
            .wait_seconds
            .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
    }
    async fn talk_seconds(&self) -> Option<i32> {
        self.0
            .talk_seconds
            .map(|s| i32::try_from(s).unwrap_or(i32::MAX))
    }
    async fn recording_urls(&self) -> &[String] {
        &self.0.recording_urls
    }
    /// The (first) ticket holding this call.
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Option<Ticket>, ReadError> {
        let api = api(ctx);
        for id in api.read.call_tickets(self.0.session_id)? {
            if let Some(ticket) = api.read.ticket(&id)? {
                return Ok(Some(Ticket(ticket)));
            }
        }
        Ok(None)
    }
    /// Every ticket holding a part of this call (a transferred call has one per agent, R7).
    async fn tickets(&self, ctx: &Context<'_>) -> Result<Vec<Ticket>, ReadError> {
        let api = api(ctx);
        let mut tickets = Vec::new();
        for id in api.read.call_tickets(self.0.session_id)? {
            if let Some(ticket) = api.read.ticket(&id)? {
                tickets.push(Ticket(ticket));
            }
        }
        Ok(tickets)
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
