//! Native events: what an agent UI (or an administrator) records in the log.
//!
//! One variant per GraphQL mutation of CONTRACT.md, plus the ticket edits R16
//! needs and customer profile edits. Every event carries `at`, the time the
//! action was recorded (R17: the only clock the domain ever sees).
//!
//! The JSON form is internally tagged and snake_case, e.g.
//! `{"type":"create_ticket_from_call","agent_id":"alice","session_id":42,...}`.
//! It is what `callfold export` writes as `event` lines, so field names are stable.

use crate::phone::Phone;
use crate::time::Timestamp;

/// An agent's id, chosen by whoever creates the agent (`upsertAgent(id: ...)`).
pub type AgentId = String;
/// A customer's id: `cus-<digits>` for customers created from a phone (R2), or
/// the id given in [`UpsertCustomer`].
pub type CustomerId = String;
/// A ticket's id, derived from the call that created it (see [`crate::ids`]).
pub type TicketId = String;
/// CallGear's `call_session_id`.
pub type SessionId = u64;

/// Ticket status (SPEC §3).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Pending,
    Closed,
}

impl TicketStatus {
    /// `OPEN`, `PENDING`, `CLOSED`, as GraphQL names them.
    pub const fn as_graphql(self) -> &'static str {
        match self {
            TicketStatus::Open => "OPEN",
            TicketStatus::Pending => "PENDING",
            TicketStatus::Closed => "CLOSED",
        }
    }
}

record! {
    /// `upsertAgent`: creates an agent or replaces its name and CallGear operators (R1).
    pub struct UpsertAgent {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub name: String,
        /// The complete list: ids missing here are no longer this agent's.
        pub callgear_employee_ids: Vec<u64>,
    }
}

record! {
    /// `createTicketFromCall`: the acting agent's part of the call opens a new ticket (R4).
    pub struct CreateTicketFromCall {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub session_id: SessionId,
        pub subject: Option<String>,
        pub summary: Option<String>,
    }
}

record! {
    /// `attachCallToTicket`: the acting agent's part goes into an existing CALLS ticket (R4).
    pub struct AttachCallToTicket {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub session_id: SessionId,
        pub ticket_id: TicketId,
        pub summary: Option<String>,
    }
}

record! {
    /// `saveCallDraft`: subject and summary kept for the call; a new ticket at call end (R4).
    pub struct SaveCallDraft {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub session_id: SessionId,
        pub subject: Option<String>,
        pub summary: Option<String>,
    }
}

record! {
    /// `linkPhoneToCustomer`: calls from `phone` that end from `at` on belong to `customer_id` (R2).
    pub struct LinkPhoneToCustomer {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub phone: Phone,
        pub customer_id: CustomerId,
    }
}

record! {
    /// Creates a customer or edits the profile fields shown on the call card (R3).
    /// `None` leaves a field unchanged; `Some("")` clears it.
    pub struct UpsertCustomer {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub customer_id: CustomerId,
        pub name: Option<String>,
        pub email: Option<String>,
        pub company: Option<String>,
    }
}

record! {
    /// `setTicketStatus` (R16).
    pub struct SetTicketStatus {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub ticket_id: TicketId,
        pub status: TicketStatus,
    }
}

record! {
    /// Sets or clears a ticket's assignee (R16).
    pub struct SetTicketAssignee {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub ticket_id: TicketId,
        pub assignee_id: Option<AgentId>,
    }
}

record! {
    /// Renames a ticket (R16).
    pub struct SetTicketSubject {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub ticket_id: TicketId,
        pub subject: String,
    }
}

record! {
    /// `addNote`: an internal note (R16).
    pub struct AddNote {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub ticket_id: TicketId,
        pub body: String,
    }
}

record! {
    /// A reply to the customer (R16).
    pub struct AddReply {
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        pub agent_id: AgentId,
        pub ticket_id: TicketId,
        pub body: String,
    }
}

/// A native event: one agent or administrator action.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NativeEvent {
    UpsertAgent(UpsertAgent),
    CreateTicketFromCall(CreateTicketFromCall),
    AttachCallToTicket(AttachCallToTicket),
    SaveCallDraft(SaveCallDraft),
    LinkPhoneToCustomer(LinkPhoneToCustomer),
    UpsertCustomer(UpsertCustomer),
    SetTicketStatus(SetTicketStatus),
    SetTicketAssignee(SetTicketAssignee),
    SetTicketSubject(SetTicketSubject),
    AddNote(AddNote),
    AddReply(AddReply),
}

impl NativeEvent {
    /// When the action was recorded.
    pub fn at(&self) -> Timestamp {
        match self {
            NativeEvent::UpsertAgent(e) => e.at,
            NativeEvent::CreateTicketFromCall(e) => e.at,
            NativeEvent::AttachCallToTicket(e) => e.at,
            NativeEvent::SaveCallDraft(e) => e.at,
            NativeEvent::LinkPhoneToCustomer(e) => e.at,
            NativeEvent::UpsertCustomer(e) => e.at,
            NativeEvent::SetTicketStatus(e) => e.at,
            NativeEvent::SetTicketAssignee(e) => e.at,
            NativeEvent::SetTicketSubject(e) => e.at,
            NativeEvent::AddNote(e) => e.at,
            NativeEvent::AddReply(e) => e.at,
        }
    }

    /// The acting agent.
    pub fn agent_id(&self) -> &str {
        match self {
            NativeEvent::UpsertAgent(e) => &e.agent_id,
            NativeEvent::CreateTicketFromCall(e) => &e.agent_id,
            NativeEvent::AttachCallToTicket(e) => &e.agent_id,
            NativeEvent::SaveCallDraft(e) => &e.agent_id,
            NativeEvent::LinkPhoneToCustomer(e) => &e.agent_id,
            NativeEvent::UpsertCustomer(e) => &e.agent_id,
            NativeEvent::SetTicketStatus(e) => &e.agent_id,
            NativeEvent::SetTicketAssignee(e) => &e.agent_id,
            NativeEvent::SetTicketSubject(e) => &e.agent_id,
            NativeEvent::AddNote(e) => &e.agent_id,
            NativeEvent::AddReply(e) => &e.agent_id,
        }
    }

    /// The `type` tag of the JSON form.
    pub const fn type_name(&self) -> &'static str {
        match self {
            NativeEvent::UpsertAgent(_) => "upsert_agent",
            NativeEvent::CreateTicketFromCall(_) => "create_ticket_from_call",
            NativeEvent::AttachCallToTicket(_) => "attach_call_to_ticket",
            NativeEvent::SaveCallDraft(_) => "save_call_draft",
            NativeEvent::LinkPhoneToCustomer(_) => "link_phone_to_customer",
            NativeEvent::UpsertCustomer(_) => "upsert_customer",
            NativeEvent::SetTicketStatus(_) => "set_ticket_status",
            NativeEvent::SetTicketAssignee(_) => "set_ticket_assignee",
            NativeEvent::SetTicketSubject(_) => "set_ticket_subject",
            NativeEvent::AddNote(_) => "add_note",
            NativeEvent::AddReply(_) => "add_reply",
        }
    }

    /// The ticket an edit (R16) targets, for routing.
    pub fn ticket_id(&self) -> Option<&str> {
        match self {
            NativeEvent::AttachCallToTicket(e) => Some(&e.ticket_id),
            NativeEvent::SetTicketStatus(e) => Some(&e.ticket_id),
            NativeEvent::SetTicketAssignee(e) => Some(&e.ticket_id),
            NativeEvent::SetTicketSubject(e) => Some(&e.ticket_id),
            NativeEvent::AddNote(e) => Some(&e.ticket_id),
            NativeEvent::AddReply(e) => Some(&e.ticket_id),
            _ => None,
        }
    }
}

/// How an agent filed their part of a call (create, attach or draft, R4).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Filing {
    Create(CreateTicketFromCall),
    Attach(AttachCallToTicket),
    Draft(SaveCallDraft),
}

impl Filing {
    pub fn from_event(event: &NativeEvent) -> Option<Filing> {
        match event {
            NativeEvent::CreateTicketFromCall(e) => Some(Filing::Create(e.clone())),
            NativeEvent::AttachCallToTicket(e) => Some(Filing::Attach(e.clone())),
            NativeEvent::SaveCallDraft(e) => Some(Filing::Draft(e.clone())),
            _ => None,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Filing::Create(e) => e.at,
            Filing::Attach(e) => e.at,
            Filing::Draft(e) => e.at,
        }
    }

    pub fn agent_id(&self) -> &str {
        match self {
            Filing::Create(e) => &e.agent_id,
            Filing::Attach(e) => &e.agent_id,
            Filing::Draft(e) => &e.agent_id,
        }
    }

    pub fn session_id(&self) -> SessionId {
        match self {
            Filing::Create(e) => e.session_id,
            Filing::Attach(e) => e.session_id,
            Filing::Draft(e) => e.session_id,
        }
    }

    /// Create and attach are final; a draft may be replaced.
    pub fn is_final(&self) -> bool {
        !matches!(self, Filing::Draft(_))
    }
}

/// An edit of an existing ticket (R16), stored with the session that created the ticket.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TicketEdit {
    SetStatus(SetTicketStatus),
    SetAssignee(SetTicketAssignee),
    SetSubject(SetTicketSubject),
    AddNote(AddNote),
    AddReply(AddReply),
}

impl TicketEdit {
    pub fn from_event(event: &NativeEvent) -> Option<TicketEdit> {
        match event {
            NativeEvent::SetTicketStatus(e) => Some(TicketEdit::SetStatus(e.clone())),
            NativeEvent::SetTicketAssignee(e) => Some(TicketEdit::SetAssignee(e.clone())),
            NativeEvent::SetTicketSubject(e) => Some(TicketEdit::SetSubject(e.clone())),
            NativeEvent::AddNote(e) => Some(TicketEdit::AddNote(e.clone())),
            NativeEvent::AddReply(e) => Some(TicketEdit::AddReply(e.clone())),
            _ => None,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            TicketEdit::SetStatus(e) => e.at,
            TicketEdit::SetAssignee(e) => e.at,
            TicketEdit::SetSubject(e) => e.at,
            TicketEdit::AddNote(e) => e.at,
            TicketEdit::AddReply(e) => e.at,
        }
    }

    pub fn ticket_id(&self) -> &str {
        match self {
            TicketEdit::SetStatus(e) => &e.ticket_id,
            TicketEdit::SetAssignee(e) => &e.ticket_id,
            TicketEdit::SetSubject(e) => &e.ticket_id,
            TicketEdit::AddNote(e) => &e.ticket_id,
            TicketEdit::AddReply(e) => &e.ticket_id,
        }
    }

    pub fn agent_id(&self) -> &str {
        match self {
            TicketEdit::SetStatus(e) => &e.agent_id,
            TicketEdit::SetAssignee(e) => &e.agent_id,
            TicketEdit::SetSubject(e) => &e.agent_id,
            TicketEdit::AddNote(e) => &e.agent_id,
            TicketEdit::AddReply(e) => &e.agent_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_events_are_internally_tagged_snake_case_json() {
        let event = NativeEvent::CreateTicketFromCall(CreateTicketFromCall {
            at: Timestamp(5),
            agent_id: "alice".into(),
            session_id: 42,
            subject: Some("Refund".into()),
            summary: None,
        });
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"type":"create_ticket_from_call","at":"1970-01-01T00:00:00.000005Z","agent_id":"alice","session_id":42,"subject":"Refund","summary":null}"#
        );
        assert_eq!(serde_json::from_str::<NativeEvent>(&json).unwrap(), event);
        assert_eq!(event.type_name(), "create_ticket_from_call");

        let status = NativeEvent::SetTicketStatus(SetTicketStatus {
            at: Timestamp(6),
            agent_id: "bob".into(),
            ticket_id: "missed-7".into(),
            status: TicketStatus::Closed,
        });
        let json = serde_json::to_string(&status).unwrap();
        assert!(json.contains(r#""status":"closed""#), "{json}");
    }
}
