//! Builders for given/when/then tests: CallGear notifications, agent actions,
//! and whole calls as lists of events. Times are seconds after `T0`.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use domain::agent::*;
use domain::{CallGearKind, Event, State};

pub use domain::testing::*;

fn native(event: NativeEvent) -> Event {
    Event::Native(Box::new(event))
}

pub fn agent(id: &str, employees: &[u64], at: i64) -> Event {
    native(NativeEvent::UpsertAgent(UpsertAgent {
        at: t(at),
        agent_id: id.into(),
        name: id.to_uppercase(),
        callgear_employee_ids: employees.to_vec(),
    }))
}

/// Agents alice (operator 1), bob (2), carol (3) from `t(-1000)`; operator 9 is unmapped.
pub fn team() -> Vec<Event> {
    vec![
        agent("alice", &[1], -1000),
        agent("bob", &[2], -1000),
        agent("carol", &[3], -1000),
    ]
}

pub fn create(agent: &str, session: u64, subject: &str, summary: &str, at: i64) -> NativeEvent {
    NativeEvent::CreateTicketFromCall(CreateTicketFromCall {
        at: t(at),
        agent_id: agent.into(),
        session_id: session,
        subject: Some(subject.into()),
        summary: Some(summary.into()),
    })
}

pub fn attach(agent: &str, session: u64, ticket: &str, at: i64) -> NativeEvent {
    NativeEvent::AttachCallToTicket(AttachCallToTicket {
        at: t(at),
        agent_id: agent.into(),
        session_id: session,
        ticket_id: ticket.into(),
        summary: Some("attached".into()),
    })
}

pub fn draft(agent: &str, session: u64, subject: &str, at: i64) -> NativeEvent {
    NativeEvent::SaveCallDraft(SaveCallDraft {
        at: t(at),
        agent_id: agent.into(),
        session_id: session,
        subject: Some(subject.into()),
        summary: Some("draft summary".into()),
    })
}

pub fn link(agent: &str, digits: &str, customer: &str, at: i64) -> NativeEvent {
    NativeEvent::LinkPhoneToCustomer(LinkPhoneToCustomer {
        at: t(at),
        agent_id: agent.into(),
        phone: phone(digits),
        customer_id: customer.into(),
    })
}

pub fn customer(agent: &str, id: &str, name: &str, at: i64) -> NativeEvent {
    NativeEvent::UpsertCustomer(UpsertCustomer {
        at: t(at),
        agent_id: agent.into(),
        customer_id: id.into(),
        name: Some(name.into()),
        email: Some(format!("{id}@example.com")),
        company: None,
    })
}

pub fn status(agent: &str, ticket: &str, status: TicketStatus, at: i64) -> NativeEvent {
    NativeEvent::SetTicketStatus(SetTicketStatus {
        at: t(at),
        agent_id: agent.into(),
        ticket_id: ticket.into(),
        status,
    })
}

pub fn note(agent: &str, ticket: &str, body: &str, at: i64) -> NativeEvent {
    NativeEvent::AddNote(AddNote {
        at: t(at),
        agent_id: agent.into(),
        ticket_id: ticket.into(),
        body: body.into(),
    })
}

pub fn ev(event: NativeEvent) -> Event {
    native(event)
}

/// An inbound call answered by `employee`: handset, operator leg, end, recording.
pub fn answered(session: u64, digits: &str, employee: u64, start: i64, talk: u32) -> Vec<Event> {
    let end = start + i64::from(talk);
    vec![
        n(CallGearKind::Handset, session, start)
            .phone(digits)
            .employee(employee)
            .ev(),
        n(CallGearKind::EndLeg, session, end)
            .phone(digits)
            .employee(employee)
            .operator()
            .talk(talk)
            .leg(1)
            .ev(),
        n(CallGearKind::End, session, end + 1)
            .phone(digits)
            .employee(employee)
            .talk(talk)
            .wait(5)
            .lost(false)
            .ev(),
        n(CallGearKind::Recording, session, end + 60)
            .phone(digits)
            .recording(&format!("https://rec/{session}"))
            .ev(),
    ]
}

/// The running part of an answered call (no leg end, no `/end`).
pub fn ringing_answered(session: u64, digits: &str, employee: u64, start: i64) -> Vec<Event> {
    vec![n(CallGearKind::Handset, session, start)
        .phone(digits)
        .employee(employee)
        .ev()]
}

/// The end of a call started with [`ringing_answered`].
pub fn hang_up(session: u64, digits: &str, employee: u64, end: i64, talk: u32) -> Vec<Event> {
    vec![
        n(CallGearKind::EndLeg, session, end)
            .phone(digits)
            .employee(employee)
            .operator()
            .talk(talk)
            .leg(1)
            .ev(),
        n(CallGearKind::End, session, end + 1)
            .phone(digits)
            .employee(employee)
            .talk(talk)
            .lost(false)
            .ev(),
        n(CallGearKind::Recording, session, end + 60)
            .phone(digits)
            .recording(&format!("https://rec/{session}"))
            .ev(),
    ]
}

/// An inbound call offered to `offered` operators in turn, none answered.
pub fn missed(session: u64, digits: &str, offered: &[u64], start: i64) -> Vec<Event> {
    let mut events: Vec<Event> = offered
        .iter()
        .enumerate()
        .map(|(i, employee)| {
            n(CallGearKind::EndLeg, session, start + 10 * (i as i64 + 1))
                .phone(digits)
                .employee(*employee)
                .operator()
                .talk(0)
                .leg(i as u64 + 1)
                .ev()
        })
        .collect();
    let end = start + 10 * (offered.len() as i64 + 1);
    events.push(
        n(CallGearKind::End, session, end)
            .phone(digits)
            .talk(0)
            .lost(true)
            .ev(),
    );
    events
}

/// An outbound call by `employee`; `talk = 0`: the contact did not answer.
pub fn outbound(
    session: u64,
    digits: &str,
    employee: u64,
    start: i64,
    talk: u32,
    external: Option<&str>,
) -> Vec<Event> {
    let end = start + 20 + i64::from(talk);
    let with = |b: N| match external {
        Some(ticket) => b.external(ticket),
        None => b,
    };
    let mut events = vec![with(
        n(CallGearKind::CallOut, session, start)
            .phone(digits)
            .employee(employee)
            .out(),
    )
    .ev()];
    if talk > 0 {
        events.push(
            with(
                n(CallGearKind::EndLeg, session, end)
                    .phone(digits)
                    .employee(employee)
                    .operator()
                    .talk(talk)
                    .out(),
            )
            .ev(),
        );
        events.push(
            with(
                n(CallGearKind::Recording, session, end + 30)
                    .phone(digits)
                    .out()
                    .recording("https://rec/out"),
            )
            .ev(),
        );
    }
    events.push(
        with(
            n(CallGearKind::End, session, end + 1)
                .phone(digits)
                .employee(employee)
                .out()
                .talk(talk)
                .lost(talk == 0),
        )
        .ev(),
    );
    events
}

/// Applies events in order (receive time = position, only used where `notification_time` is absent).
pub fn given(events: impl IntoIterator<Item = Event>) -> State {
    let mut state = State::default();
    for (i, event) in events.into_iter().enumerate() {
        state.apply(&event, t(100_000 + i as i64));
    }
    state
}

pub fn concat(parts: impl IntoIterator<Item = Vec<Event>>) -> Vec<Event> {
    parts.into_iter().flatten().collect()
}

/// The state serialised, for byte-for-byte comparisons (R17).
pub fn snapshot(state: &State) -> String {
    serde_json::to_string_pretty(state).unwrap()
}
