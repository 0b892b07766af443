//! A customer's desk: their profile and CALLS tickets, folded from their calls.
//!
//! [`fold`] is the heart of SPEC §3. It does not mutate tickets as deliveries
//! arrive; it re-derives every ticket of one customer from the customer's
//! sessions (each a set of notifications plus the agents' filings and edits),
//! walking a timeline sorted by event time with a content tiebreak. The same
//! inputs in any arrival order therefore give the same tickets (R17).

use std::collections::{BTreeMap, BTreeSet};

use crate::agent::{
    AgentId, CustomerId, Filing, SessionId, TicketEdit, TicketId, TicketStatus, UpsertCustomer,
};
use crate::ids;
use crate::phone::Phone;
use crate::session::{Call, CallDirection, Part, SessionRecord};
use crate::time::Timestamp;

label! {
    /// Ticket channel. Only CALLS tickets come out of this crate today.
    pub enum Channel { Calls, Sms, Email }
}

label! {
    /// GraphQL `MessageKind`.
    pub enum MessageKind { Call, CallAttempt, Note, Reply }
}

record! {
    /// One entry of a ticket's conversation.
    pub struct Message {
        pub id: String,
        pub kind: MessageKind,
        pub author_id: Option<AgentId>,
        pub body: Option<String>,
        pub session_id: Option<SessionId>,
        /// Filled once the call has ended (R4).
        pub recording_urls: Vec<String>,
        /// A call message whose call still runs: "call in progress" (R4).
        pub in_progress: bool,
        pub created_at: Timestamp,
    }
}

record! {
    /// A CALLS ticket.
    pub struct Ticket {
        pub id: TicketId,
        pub subject: String,
        pub status: TicketStatus,
        pub channel: Channel,
        pub customer_id: CustomerId,
        pub assignee_id: Option<AgentId>,
        /// Direction of the call that opened the ticket ("new customer tickets" count inbound only).
        pub direction: CallDirection,
        /// The red handset: an unresolved missed call (R8, R14).
        pub missed: bool,
        pub missed_call_count: u32,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
        /// Set while CLOSED.
        pub closed_at: Option<Timestamp>,
        /// Every return to OPEN from PENDING or CLOSED (R9, R16).
        pub reopened_at: Vec<Timestamp>,
        /// Every transition to CLOSED, in fold order (statistics: closed tickets,
        /// close time; `closed_at` keeps only the current one).
        pub closings: Vec<Timestamp>,
        /// Times agents edited the ticket (status, assignee, subject, notes, replies).
        pub activity_at: Vec<Timestamp>,
        /// Sessions of the calls in this ticket, in the order they joined.
        pub calls: Vec<SessionId>,
        pub messages: Vec<Message>,
    }
}

record! {
    /// A customer profile (R2, R3).
    pub struct Customer {
        pub id: CustomerId,
        pub name: Option<String>,
        pub email: Option<String>,
        pub company: Option<String>,
        pub phones: Vec<Phone>,
        pub created_at: Timestamp,
        pub updated_at: Timestamp,
    }
}

record! {
    /// The persisted record of one customer (key: customer id). Exists as soon as a
    /// session routes to the customer id, even before the customer does (R2).
    pub struct Desk {
        pub id: CustomerId,
        /// Sessions routed here.
        pub sessions: BTreeSet<SessionId>,
        /// Profile edits, canonical order.
        pub profile_edits: Vec<UpsertCustomer>,
        /// Phones that resolve to this customer now.
        pub phones: BTreeSet<Phone>,
        /// Derived: `None` until the first ticket or profile edit (R2).
        pub customer: Option<Customer>,
        /// Derived by [`fold`].
        pub tickets: BTreeMap<TicketId, Ticket>,
    }
}

impl Desk {
    pub fn new(id: CustomerId) -> Self {
        Desk {
            id,
            sessions: BTreeSet::new(),
            profile_edits: Vec::new(),
            phones: BTreeSet::new(),
            customer: None,
            tickets: BTreeMap::new(),
        }
    }

    /// Re-derives tickets and profile from `sessions` (the records of `self.sessions`).
    pub fn refold(&mut self, sessions: &[(&SessionRecord, &Call)]) {
        self.tickets = fold(&self.id, sessions);
        self.customer = self.derive_customer();
    }

    fn derive_customer(&self) -> Option<Customer> {
        let first_ticket = self.tickets.values().map(|t| t.created_at).min();
        let first_edit = self.profile_edits.first().map(|e| e.at);
        let created_at = match (first_ticket, first_edit) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        let mut customer = Customer {
            id: self.id.clone(),
            name: None,
            email: None,
            company: None,
            phones: self.phones.iter().cloned().collect(),
            created_at,
            updated_at: created_at,
        };
        for edit in &self.profile_edits {
            let set = |field: &mut Option<String>, value: &Option<String>| {
                if let Some(value) = value {
                    let value = value.trim();
                    *field = (!value.is_empty()).then(|| value.to_owned());
                }
            };
            set(&mut customer.name, &edit.name);
            set(&mut customer.email, &edit.email);
            set(&mut customer.company, &edit.company);
            customer.updated_at = customer.updated_at.max(edit.at);
        }
        Some(customer)
    }

    /// Holds nothing a new desk would not: no sessions, no profile edits, and at
    /// most the phone it was created from. Such a desk is deleted, so that the
    /// records do not depend on the order sessions moved through desks (R17).
    pub fn is_vacant(&self) -> bool {
        self.sessions.is_empty()
            && self.profile_edits.is_empty()
            && self
                .phones
                .iter()
                .all(|p| crate::ids::customer_for_phone(p) == self.id)
    }

    pub fn add_profile_edit(&mut self, edit: UpsertCustomer) -> bool {
        if self.profile_edits.contains(&edit) {
            return false;
        }
        let key = |e: &UpsertCustomer| {
            (
                e.at,
                e.agent_id.clone(),
                e.name.clone(),
                e.email.clone(),
                e.company.clone(),
            )
        };
        let index = self
            .profile_edits
            .partition_point(|probe| key(probe) <= key(&edit));
        self.profile_edits.insert(index, edit);
        true
    }
}

/// Default subjects (English templates, SPEC §3).
pub fn default_subject(kind: SubjectKind, phone: Option<&Phone>) -> String {
    let phone = phone.map_or_else(|| "unknown number".to_owned(), Phone::display);
    match kind {
        SubjectKind::Incoming => format!("Incoming call from {phone}"),
        SubjectKind::Missed => format!("Missed call from {phone}"),
        SubjectKind::Outbound => format!("Outbound call to {phone}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    Incoming,
    Missed,
    Outbound,
}

/// The effective filing of each agent's part: the first create/attach, else the last draft (R23).
pub fn effective_filings<'a>(
    record: &'a SessionRecord,
    call: &Call,
) -> BTreeMap<AgentId, &'a Filing> {
    let parts: BTreeSet<AgentId> = call.parts().into_iter().map(|p| p.agent_id).collect();
    let mut chosen: BTreeMap<AgentId, &Filing> = BTreeMap::new();
    for filing in &record.filings {
        if !parts.contains(filing.agent_id()) {
            continue;
        }
        match chosen.get(filing.agent_id()) {
            Some(existing) if existing.is_final() => {}
            _ => {
                chosen.insert(filing.agent_id().to_owned(), filing);
            }
        }
    }
    chosen
}

/// One step of the fold's timeline.
enum Step<'a> {
    /// A create/attach filing, or a click-to-call conversation starting (R10).
    Open {
        session: usize,
        part: Part,
        filing: Option<&'a Filing>,
    },
    /// The call ended: the end-of-call decisions.
    End { session: usize },
    /// An agent's edit (R16).
    Edit(&'a TicketEdit),
}

impl Step<'_> {
    fn rank(&self) -> u8 {
        match self {
            Step::Open { .. } => 0,
            Step::End { .. } => 1,
            Step::Edit(_) => 2,
        }
    }
}

struct Fold<'a> {
    customer: &'a str,
    sessions: &'a [(&'a SessionRecord, &'a Call)],
    tickets: BTreeMap<TicketId, Ticket>,
    /// Edits of tickets that did not exist yet at the edit's time (R28).
    deferred: BTreeMap<TicketId, Vec<&'a TicketEdit>>,
    /// Where each (session, agent) part went.
    placed: BTreeMap<(SessionId, AgentId), TicketId>,
    /// R9: the latest missed-call ticket, until a conversation takes place.
    grouping: Option<TicketId>,
}

/// Derives all tickets of customer `customer` from its sessions.
pub fn fold(customer: &str, sessions: &[(&SessionRecord, &Call)]) -> BTreeMap<TicketId, Ticket> {
    let mut steps: Vec<(Timestamp, Step<'_>)> = Vec::new();
    for (index, (record, call)) in sessions.iter().enumerate() {
        let filings = effective_filings(record, call);
        for part in call.parts() {
            match filings.get(&part.agent_id) {
                Some(filing) if filing.is_final() => {
                    // A filing counts for its call even when stamped after the call's end (R23).
                    let at = call
                        .ended_at
                        .map_or(filing.at(), |end| end.min(filing.at()));
                    steps.push((
                        at,
                        Step::Open {
                            session: index,
                            part,
                            filing: Some(*filing),
                        },
                    ));
                }
                Some(_) => {}
                None if call.external_id.is_some() => {
                    steps.push((
                        part.started_at,
                        Step::Open {
                            session: index,
                            part,
                            filing: None,
                        },
                    ));
                }
                None => {}
            }
        }
        if let Some(end) = call.ended_at {
            steps.push((end, Step::End { session: index }));
        }
        for edit in &record.edits {
            steps.push((edit.at(), Step::Edit(edit)));
        }
    }
    steps.sort_by(|(at_a, a), (at_b, b)| {
        (at_a, a.rank())
            .cmp(&(at_b, b.rank()))
            .then_with(|| tiebreak(sessions, a).cmp(&tiebreak(sessions, b)))
    });

    let mut fold = Fold {
        customer,
        sessions,
        tickets: BTreeMap::new(),
        deferred: BTreeMap::new(),
        placed: BTreeMap::new(),
        grouping: None,
    };
    for (at, step) in steps {
        match step {
            Step::Open {
                session,
                part,
                filing,
            } => fold.open(at, session, &part, filing),
            Step::End { session } => fold.end(at, session),
            Step::Edit(edit) => fold.edit(edit),
        }
        fold.flush_deferred();
    }
    fold.tickets
}

fn tiebreak(sessions: &[(&SessionRecord, &Call)], step: &Step<'_>) -> (SessionId, String) {
    match step {
        Step::Open { session, part, .. } => (sessions[*session].0.id, part.agent_id.clone()),
        Step::End { session } => (sessions[*session].0.id, String::new()),
        Step::Edit(edit) => (0, serde_json::to_string(edit).unwrap_or_default()),
    }
}

fn text(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl<'a> Fold<'a> {
    fn call(&self, session: usize) -> &'a Call {
        self.sessions[session].1
    }

    fn new_ticket(
        &mut self,
        id: TicketId,
        subject: String,
        call: &Call,
        at: Timestamp,
    ) -> &mut Ticket {
        let ticket = Ticket {
            subject,
            ..Ticket::open_call(id.clone(), self.customer.to_owned(), call.direction, at)
        };
        self.tickets.insert(id.clone(), ticket);
        self.tickets.get_mut(&id).expect("just inserted")
    }

    /// Applies deferred edits whose ticket now exists (R28).
    fn flush_deferred(&mut self) {
        let ready: Vec<TicketId> = self
            .deferred
            .keys()
            .filter(|id| self.tickets.contains_key(*id))
            .cloned()
            .collect();
        for id in ready {
            for edit in self.deferred.remove(&id).unwrap_or_default() {
                self.edit(edit);
            }
        }
    }

    /// The customer's latest OPEN ticket with the red handset (R5, R11–R13).
    fn open_missed(&self) -> Option<TicketId> {
        self.tickets
            .values()
            .filter(|t| t.missed && t.status == TicketStatus::Open)
            .max_by_key(|t| (t.missed_at(), t.id.clone()))
            .map(|t| t.id.clone())
    }

    fn call_message(call: &Call, agent: &str, body: Option<String>, at: Timestamp) -> Message {
        Message {
            id: ids::call_message(call.session_id, agent),
            kind: MessageKind::Call,
            author_id: Some(agent.to_owned()),
            body,
            session_id: Some(call.session_id),
            recording_urls: if call.ended() {
                call.recording_urls.clone()
            } else {
                Vec::new()
            },
            in_progress: !call.ended(),
            created_at: at,
        }
    }

    fn open(&mut self, at: Timestamp, session: usize, part: &Part, filing: Option<&Filing>) {
        let call = self.call(session);
        let key = (call.session_id, part.agent_id.clone());
        match filing {
            Some(Filing::Create(create)) => {
                let id = ids::call_ticket(call.session_id, &part.agent_id);
                let subject = text(&create.subject).unwrap_or_else(|| default_subject_for(call));
                let message = Self::call_message(call, &part.agent_id, text(&create.summary), at);
                self.close_open_missed(at); // R13
                let ticket = self.new_ticket(id.clone(), subject, call, at);
                ticket.assignee_id = Some(part.agent_id.clone());
                ticket.add_call(call.session_id, message, at);
                self.placed.insert(key, id);
            }
            Some(Filing::Attach(attach)) => {
                let message = Self::call_message(call, &part.agent_id, text(&attach.summary), at);
                if let Some(ticket) = self.tickets.get_mut(&attach.ticket_id) {
                    ticket.add_call(call.session_id, message, at);
                    self.placed.insert(key, attach.ticket_id.clone());
                }
            }
            Some(Filing::Draft(_)) => {}
            None => {
                // R10: click-to-call from a ticket of this customer.
                let target = call
                    .external_id
                    .clone()
                    .filter(|id| self.tickets.contains_key(id));
                if let (Some(target), true) = (target, call.answered) {
                    let message = Self::call_message(call, &part.agent_id, None, at);
                    let ticket = self.tickets.get_mut(&target).expect("checked");
                    ticket.add_call(call.session_id, message, at);
                    self.placed.insert(key, target);
                }
            }
        }
    }

    fn close_open_missed(&mut self, at: Timestamp) {
        if let Some(id) = self.open_missed() {
            let ticket = self.tickets.get_mut(&id).expect("found");
            ticket.set_status(TicketStatus::Closed, at);
        }
    }

    fn end(&mut self, at: Timestamp, session: usize) {
        let (record, call) = self.sessions[session];
        if call.answered {
            self.end_answered(at, record, call);
        } else {
            self.end_unanswered(at, call);
        }
    }

    fn end_answered(&mut self, at: Timestamp, record: &SessionRecord, call: &Call) {
        let parts = call.parts();
        if parts.is_empty() {
            return; // answered only by operators who are not agents (R1)
        }
        let filings = effective_filings(record, call);
        let last = parts.len() - 1;
        for (index, part) in parts.iter().enumerate() {
            let key = (call.session_id, part.agent_id.clone());
            let placed = self.placed.get(&key).cloned();
            if let Some(id) = placed {
                // R4, R10, R14: filed or click-to-call: PENDING at call end, handset green.
                let ticket = self.tickets.get_mut(&id).expect("placed tickets exist");
                ticket.finish_call(call, &part.agent_id, at);
                ticket.set_status(TicketStatus::Pending, at);
                ticket.missed = false;
                continue;
            }
            let own = ids::call_ticket(call.session_id, &part.agent_id);
            if let Some(Filing::Draft(draft)) = filings.get(&part.agent_id) {
                // R4: a draft becomes a new ticket at call end; R13 closes the missed one.
                self.close_open_missed(at);
                let subject = text(&draft.subject).unwrap_or_else(|| default_subject_for(call));
                let message = Self::call_message(call, &part.agent_id, text(&draft.summary), at);
                let ticket = self.new_ticket(own.clone(), subject, call, at);
                ticket.assignee_id = Some(part.agent_id.clone());
                ticket.add_call(call.session_id, message, at);
                ticket.set_status(TicketStatus::Pending, at);
                self.placed.insert(key, own);
                continue;
            }
            if index < last {
                // R7: transferred without filing: default subject, CLOSED.
                let part_end = part.ended_at.unwrap_or(at);
                let message = Self::call_message(call, &part.agent_id, None, part_end);
                let ticket =
                    self.new_ticket(own.clone(), default_subject_for(call), call, part_end);
                ticket.assignee_id = Some(part.agent_id.clone());
                ticket.add_call(call.session_id, message, part_end);
                ticket.set_status(TicketStatus::Closed, part_end);
                self.placed.insert(key, own);
                continue;
            }
            let message = Self::call_message(call, &part.agent_id, None, at);
            if let Some(missed) = self.open_missed() {
                // R5 / R11: attached to the open missed-call ticket, PENDING, handset green (R14).
                let ticket = self.tickets.get_mut(&missed).expect("found");
                ticket.add_call(call.session_id, message, at);
                ticket.set_status(TicketStatus::Pending, at);
                ticket.missed = false;
                self.placed.insert(key, missed);
                continue;
            }
            let (subject, status) = match call.direction {
                CallDirection::Inbound => (default_subject_for(call), TicketStatus::Open), // R6
                CallDirection::Outbound => (default_subject_for(call), TicketStatus::Closed), // R11
            };
            let ticket = self.new_ticket(own.clone(), subject, call, at);
            ticket.assignee_id = Some(part.agent_id.clone());
            ticket.add_call(call.session_id, message, at);
            ticket.set_status(status, at);
            self.placed.insert(key, own);
        }
        // A conversation took place: the next missed call opens a new ticket (R9).
        self.grouping = None;
    }

    fn end_unanswered(&mut self, at: Timestamp, call: &Call) {
        match call.direction {
            CallDirection::Inbound => self.missed_call(at, call),
            CallDirection::Outbound => {
                // R10: click-to-call attempt; R12: softphone attempt into the open missed ticket.
                let target = call
                    .external_id
                    .clone()
                    .filter(|id| self.tickets.contains_key(id))
                    .or_else(|| self.open_missed());
                let Some(target) = target else { return };
                let message = Message {
                    id: ids::attempt_message(call.session_id),
                    kind: MessageKind::CallAttempt,
                    author_id: call.agent_id.clone(),
                    body: None,
                    session_id: Some(call.session_id),
                    recording_urls: Vec::new(),
                    in_progress: false,
                    created_at: at,
                };
                let ticket = self.tickets.get_mut(&target).expect("exists");
                ticket.add_call(call.session_id, message, at); // R15: status unchanged
            }
        }
    }

    fn missed_call(&mut self, at: Timestamp, call: &Call) {
        if !call.offers.is_empty() && call.last_offered_agent().is_none() {
            return; // offered only to operators who are not agents (R1)
        }
        let message = Message {
            id: ids::missed_message(call.session_id),
            kind: MessageKind::Call,
            author_id: None,
            body: Some(default_subject(SubjectKind::Missed, call.phone.as_ref())),
            session_id: Some(call.session_id),
            recording_urls: call.recording_urls.clone(),
            in_progress: false,
            created_at: at,
        };
        let target = self
            .grouping
            .clone()
            .filter(|id| self.tickets.contains_key(id));
        let id = match target {
            Some(id) => id, // R9: grouped; reopened when not OPEN
            None => {
                let id = ids::missed_ticket(call.session_id);
                let subject = default_subject(SubjectKind::Missed, call.phone.as_ref());
                let ticket = self.new_ticket(id.clone(), subject, call, at);
                ticket.assignee_id = call.last_offered_agent(); // R8
                id
            }
        };
        let ticket = self.tickets.get_mut(&id).expect("exists");
        ticket.add_call(call.session_id, message, at);
        ticket.missed = true;
        ticket.missed_call_count += 1;
        ticket.set_status(TicketStatus::Open, at);
        self.grouping = Some(id);
    }

    fn edit(&mut self, edit: &'a TicketEdit) {
        let Some(ticket) = self.tickets.get_mut(edit.ticket_id()) else {
            self.deferred
                .entry(edit.ticket_id().to_owned())
                .or_default()
                .push(edit);
            return;
        };
        let at = edit.at();
        match edit {
            TicketEdit::SetStatus(e) => ticket.set_status(e.status, at),
            TicketEdit::SetAssignee(e) => ticket.assignee_id = e.assignee_id.clone(),
            TicketEdit::SetSubject(e) => {
                if let Some(subject) = text(&Some(e.subject.clone())) {
                    ticket.subject = subject;
                }
            }
            TicketEdit::AddNote(e) => ticket.messages.push(Message {
                id: ids::edit_message("note", at, &e.agent_id, &e.body),
                kind: MessageKind::Note,
                author_id: Some(e.agent_id.clone()),
                body: Some(e.body.clone()),
                session_id: None,
                recording_urls: Vec::new(),
                in_progress: false,
                created_at: at,
            }),
            TicketEdit::AddReply(e) => ticket.messages.push(Message {
                id: ids::edit_message("reply", at, &e.agent_id, &e.body),
                kind: MessageKind::Reply,
                author_id: Some(e.agent_id.clone()),
                body: Some(e.body.clone()),
                session_id: None,
                recording_urls: Vec::new(),
                in_progress: false,
                created_at: at,
            }),
        }
        ticket.activity_at.push(at);
        ticket.touch(at);
    }
}

fn default_subject_for(call: &Call) -> String {
    let kind = match call.direction {
        CallDirection::Inbound => SubjectKind::Incoming,
        CallDirection::Outbound => SubjectKind::Outbound,
    };
    default_subject(kind, call.phone.as_ref())
}

impl Ticket {
    /// A ticket as a call opens it at `at`: OPEN, CALLS, no subject, no
    /// assignee, not missed, no calls or messages yet.
    pub fn open_call(
        id: TicketId,
        customer_id: CustomerId,
        direction: CallDirection,
        at: Timestamp,
    ) -> Ticket {
        Ticket {
            id,
            subject: String::new(),
            status: TicketStatus::Open,
            channel: Channel::Calls,
            customer_id,
            assignee_id: None,
            direction,
            missed: false,
            missed_call_count: 0,
            created_at: at,
            updated_at: at,
            closed_at: None,
            reopened_at: Vec::new(),
            closings: Vec::new(),
            activity_at: Vec::new(),
            calls: Vec::new(),
            messages: Vec::new(),
        }
    }

    fn touch(&mut self, at: Timestamp) {
        self.updated_at = self.updated_at.max(at);
    }

    /// Status change with its bookkeeping: closed time, reopenings (R16).
    pub(crate) fn set_status(&mut self, status: TicketStatus, at: Timestamp) {
        if self.status == status {
            return;
        }
        if status == TicketStatus::Open {
            self.reopened_at.push(at);
        }
        if status == TicketStatus::Closed {
            self.closings.push(at);
        }
        self.closed_at = (status == TicketStatus::Closed).then_some(at);
        self.status = status;
        self.touch(at);
    }

    fn add_call(&mut self, session: SessionId, message: Message, at: Timestamp) {
        if !self.calls.contains(&session) {
            self.calls.push(session);
        }
        match self.messages.iter_mut().find(|m| m.id == message.id) {
            Some(existing) => *existing = message,
            None => self.messages.push(message),
        }
        self.touch(at);
    }

    /// The call ended: its message stops being "in progress" and gets the recordings (R4).
    fn finish_call(&mut self, call: &Call, agent: &str, at: Timestamp) {
        let id = ids::call_message(call.session_id, agent);
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.in_progress = false;
            message.recording_urls = call.recording_urls.clone();
        }
        self.touch(at);
    }

    /// Time of the latest missed call grouped into this ticket.
    pub fn missed_at(&self) -> Option<Timestamp> {
        self.messages
            .iter()
            .filter(|m| m.kind == MessageKind::Call && m.author_id.is_none())
            .map(|m| m.created_at)
            .max()
    }

    /// Times this ticket was reopened (statistics, R16).
    pub fn reopen_count(&self) -> usize {
        self.reopened_at.len()
    }
}
