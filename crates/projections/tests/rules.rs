//! Events appended to a real sled log, projected into real sled views: tickets,
//! customers and calls come out as the domain's rules (SPEC §2–§3) say, and
//! equal to the domain's in-memory fold of the same events.

mod support;

use domain::{CallGearKind, Event, MessageKind, Ticket, TicketStatus};
use projections::{TicketFilter, Views};
use support::*;

const P: &str = "74990000001";

/// One line per ticket: what the rules decide, without times (as in the domain's tests).
fn line(ticket: &Ticket) -> String {
    let messages: Vec<String> = ticket
        .messages
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MessageKind::Call => "CALL",
                MessageKind::CallAttempt => "ATTEMPT",
                MessageKind::Note => "NOTE",
                MessageKind::Reply => "REPLY",
            };
            let rec = if m.recording_urls.is_empty() {
                ""
            } else {
                "+rec"
            };
            format!("{kind}:{}{rec}", m.author_id.as_deref().unwrap_or("-"))
        })
        .collect();
    format!(
        "{} {} {:?} @{} {} assignee={} missed={}/{} reopened={} msgs=[{}]",
        ticket.id,
        ticket.status.as_graphql(),
        ticket.subject,
        ticket.customer_id,
        ticket
            .calls
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        ticket.assignee_id.as_deref().unwrap_or("-"),
        ticket.missed,
        ticket.missed_call_count,
        ticket.reopened_at.len(),
        messages.join(" "),
    )
}

/// Projects `events` and checks the views against `expect` (ticket lines sorted
/// by id) and against the domain's own fold of the same events.
#[track_caller]
fn check(events: Vec<Event>, expect: &[&str]) -> Views {
    let fixture = Fixture::new();
    fixture.append(&events);
    let projector = fixture.projector(3); // small batches: many commits
    assert_eq!(projector.catch_up_blocking().unwrap(), events.len() as u64);

    let page = fixture
        .views
        .tickets(&TicketFilter::default(), 500, None)
        .unwrap();
    let mut lines: Vec<String> = page.nodes.iter().map(line).collect();
    lines.sort();
    assert_eq!(lines, expect, "\nactual:\n{}\n", lines.join("\n"));

    let state = fold(&events);
    assert_eq!(page.total_count, state.tickets().len() as u64);
    for (id, ticket) in state.tickets() {
        assert_eq!(fixture.views.ticket(&id).unwrap(), Some(ticket), "{id}");
    }
    for (id, desk) in &state.desks {
        assert_eq!(fixture.views.customer(id).unwrap(), desk.customer, "{id}");
    }
    for (&id, record) in &state.sessions {
        assert_eq!(fixture.views.call(id).unwrap(), state.call(id), "{id}");
        assert_eq!(fixture.views.call_tickets(id).unwrap(), record.tickets);
    }
    let agents: Vec<_> = state.directory.agents().into_values().collect();
    assert_eq!(fixture.views.agents().unwrap(), agents);
    fixture.views.clone()
}

#[test]
fn r6_unfiled_answered_call_opens_an_incoming_call_ticket() {
    let views = check(
        concat([team(), answered(10, P, 1, 0, 30)]),
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    let call = views.call(10).unwrap().unwrap();
    assert!(call.answered);
    assert_eq!(call.recording_urls, ["https://rec/10"]);
    assert_eq!(views.call_tickets(10).unwrap(), ["call-10-alice"]);
    assert_eq!(views.call(99).unwrap(), None);
}

#[test]
fn r8_missed_call_opens_a_ticket_assigned_to_the_last_offered_agent() {
    check(
        concat([team(), missed(10, P, &[1, 9, 2, 8], 0)]),
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10 assignee=bob missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

#[test]
fn r9_missed_calls_group_until_a_conversation() {
    check(
        concat([
            team(),
            missed(10, P, &[1], 0),
            missed(11, P, &[2], 100),
            vec![status("alice", "missed-10", TicketStatus::Pending, 150)],
            answered(12, "74990000009", 1, 160, 10), // another customer: no effect
            missed(13, P, &[1], 200),
            outbound(14, P, 1, 300, 60), // a conversation
            missed(15, P, &[], 500),
        ]),
        &[
            r#"call-12-alice OPEN "Incoming call from +74990000009" @cus-74990000009 12 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11,13,14 assignee=alice missed=false/3 reopened=1 msgs=[CALL:- CALL:- CALL:- CALL:alice]"#,
            r#"missed-15 OPEN "Missed call from +74990000001" @cus-74990000001 15 assignee=- missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

#[test]
fn r16_agents_change_status_and_add_notes() {
    let views = check(
        concat([
            team(),
            answered(10, P, 1, 0, 30),
            vec![
                status("bob", "call-10-alice", TicketStatus::Closed, 100),
                status("bob", "call-10-alice", TicketStatus::Open, 200),
                note("bob", "call-10-alice", "called back", 520),
            ],
        ]),
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=1 msgs=[CALL:alice+rec NOTE:bob]"#,
        ],
    );
    let ticket = views.ticket("call-10-alice").unwrap().unwrap();
    assert_eq!(ticket.reopened_at, vec![t(200)]);
    assert_eq!(ticket.updated_at, t(520));
    // The status index follows the change: nothing is left under CLOSED.
    let closed = TicketFilter {
        status: Some(vec![TicketStatus::Closed]),
        ..TicketFilter::default()
    };
    assert_eq!(views.tickets(&closed, 10, None).unwrap().total_count, 0);
}

#[test]
fn r2_linked_phone_resolves_future_calls_to_the_customer() {
    let views = check(
        concat([
            team(),
            vec![customer("alice", "acme", "ACME Ltd", -500)],
            vec![link("alice", "74995550000", "acme", -400)],
            answered(10, "74995550000", 1, 0, 30),
        ]),
        &[
            r#"call-10-alice OPEN "Incoming call from +74995550000" @acme 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    for formatting in ["74995550000", "+7 (499) 555-00-00"] {
        let acme = views.customer_by_phone(formatting).unwrap().unwrap();
        assert_eq!(acme.id, "acme");
        assert_eq!(acme.name.as_deref(), Some("ACME Ltd"));
        assert_eq!(acme.phones, vec![phone("74995550000")]);
    }
    assert_eq!(views.customer_by_phone("anonymous").unwrap(), None);
    assert_eq!(views.customer_by_phone("74990000404").unwrap(), None);
    let tickets: Vec<String> = views
        .customer_tickets("acme")
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(tickets, ["call-10-alice"]);
}

#[test]
fn r2_linking_a_phone_later_moves_the_callers_tickets_and_reindexes_them() {
    let events = concat([
        team(),
        answered(10, P, 1, 0, 30),
        vec![customer("alice", "acme", "ACME Ltd", 100)],
        vec![link("alice", P, "acme", -10)], // linked as of before the call
    ]);
    let views = check(
        events,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @acme 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    let by = |customer: &str| TicketFilter {
        customer_id: Some(customer.into()),
        ..TicketFilter::default()
    };
    assert_eq!(views.tickets(&by("acme"), 10, None).unwrap().total_count, 1);
    assert_eq!(
        views
            .tickets(&by("cus-74990000001"), 10, None)
            .unwrap()
            .total_count,
        0
    );
    assert!(views
        .customer_tickets("cus-74990000001")
        .unwrap()
        .is_empty());
}

#[test]
fn a_mixed_workload_matches_the_domain_fold() {
    let events = workload();
    let state = fold(&events);
    let mut expect: Vec<String> = state.tickets().values().map(line).collect();
    expect.sort();
    let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
    assert!(expect.len() >= 5, "{expect:?}");
    check(events, &expect);
}

#[test]
fn validate_answers_from_the_committed_state() {
    let fixture = Fixture::new();
    fixture.append(&concat([team(), answered(10, P, 1, 0, 30)]));
    fixture.projector(1024).catch_up_blocking().unwrap();
    let Event::Native(ok) = note("bob", "call-10-alice", "  hello  ", 100) else {
        unreachable!()
    };
    let verdict = fixture.views.validate(&ok).unwrap();
    let Ok(domain::NativeEvent::AddNote(recorded)) = verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(recorded.body, "hello");
    let Event::Native(unknown) = note("bob", "call-99-bob", "x", 100) else {
        unreachable!()
    };
    assert_eq!(
        fixture.views.validate(&unknown).unwrap(),
        Err(domain::command::Rejection::UnknownTicket(
            "call-99-bob".into()
        ))
    );
    // A call that is still running can be filed by the agent who talks.
    fixture.append(&[n(CallGearKind::Handset, 20, 200).phone(P).employee(2).ev()]);
    fixture.projector(1024).catch_up_blocking().unwrap();
    let filing = domain::NativeEvent::CreateTicketFromCall(domain::agent::CreateTicketFromCall {
        at: t(210),
        agent_id: "bob".into(),
        session_id: 20,
        subject: Some("Billing".into()),
        summary: None,
    });
    assert!(fixture.views.validate(&filing).unwrap().is_ok());
}
