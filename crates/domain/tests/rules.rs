//! SPEC §2–§3 rules, one or more given/when/then tests each (named `rN_...`).
//! `docs/rules.md` maps every rule to these names.

mod support;

use domain::command::{validate, Rejection};
use domain::{CallGearKind, Event, MessageKind, NativeEvent, State, Ticket, TicketStatus};
use support::*;

/// One line per ticket, sorted by id: what the rules decide, without times.
fn tickets(state: &State) -> Vec<String> {
    state.tickets().values().map(line).collect()
}

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
            let rec = if m.in_progress {
                "+live".to_owned()
            } else if m.recording_urls.is_empty() {
                String::new()
            } else {
                "+rec".to_owned()
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

#[track_caller]
fn check(state: &State, expect: &[&str]) {
    let actual = tickets(state);
    assert_eq!(actual, expect, "\nactual:\n{}\n", actual.join("\n"));
}

const P: &str = "74990000001";

// ---------------------------------------------------------------- R1

#[test]
fn r1_call_answered_by_unmapped_operator_makes_no_ticket() {
    let state = given(concat([team(), answered(10, P, 9, 0, 30)]));
    check(&state, &[]);
    let call = state.call(10).unwrap();
    assert!(call.answered);
    assert_eq!(call.conversations[0].agent_id, None);
}

#[test]
fn r1_missed_call_offered_only_to_unmapped_operators_is_ignored() {
    let state = given(concat([team(), missed(10, P, &[9, 8], 0)]));
    check(&state, &[]);
}

// ---------------------------------------------------------------- R2

#[test]
fn r2_unknown_caller_gets_a_customer_with_the_first_ticket() {
    let mut state = given(concat([team(), ringing_answered(10, P, 1, 0)]));
    assert_eq!(
        state.customer_by_phone(&phone(P)),
        None,
        "no customer before a ticket"
    );
    for event in hang_up(10, P, 1, 30, 30) {
        state.apply(&event, t(0));
    }
    let customer = state.customer_by_phone(&phone(P)).unwrap();
    assert_eq!(customer.id, "cus-74990000001");
    assert_eq!(customer.phones, vec![phone(P)]);
    assert_eq!(
        customer.created_at,
        state.ticket("call-10-alice").unwrap().created_at
    );
}

#[test]
fn r2_linked_phone_resolves_future_calls_to_the_customer() {
    let state = given(concat([
        team(),
        vec![ev(customer("alice", "acme", "ACME Ltd", -500))],
        vec![ev(link("alice", "74995550000", "acme", -400))],
        answered(10, "74995550000", 1, 0, 30),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74995550000" @acme 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    let acme = state.customer_by_phone(&phone("74995550000")).unwrap();
    assert_eq!(
        (acme.id.as_str(), acme.name.as_deref()),
        ("acme", Some("ACME Ltd"))
    );
    assert_eq!(acme.phones, vec![phone("74995550000")]);
}

// ---------------------------------------------------------------- R3

#[test]
fn r3_answered_call_shows_the_call_and_the_caller_card() {
    let state = given(concat([
        team(),
        vec![
            ev(customer("alice", "acme", "ACME Ltd", -500)),
            ev(link("alice", P, "acme", -400)),
        ],
        ringing_answered(10, P, 1, 0),
        ringing_answered(11, "74990000002", 2, 0),
    ]));
    let call = state.call(10).unwrap();
    assert!(call.answered && !call.ended());
    assert_eq!(call.agent_id.as_deref(), Some("alice"));
    let card = state.customer_by_phone(&phone(P)).unwrap();
    assert_eq!(
        (card.name.as_deref(), card.email.as_deref()),
        (Some("ACME Ltd"), Some("acme@example.com"))
    );
    assert_eq!(
        state.customer_by_phone(&phone("74990000002")),
        None,
        "unknown caller"
    );
}

// ---------------------------------------------------------------- R4

#[test]
fn r4_created_ticket_shows_call_in_progress_then_pending_with_recording() {
    let mut state = given(concat([
        team(),
        ringing_answered(10, P, 1, 0),
        vec![ev(create("alice", 10, "Refund", "wants money back", 5))],
    ]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Refund" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+live]"#,
        ],
    );
    for event in hang_up(10, P, 1, 30, 30) {
        state.apply(&event, t(0));
    }
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Refund" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    let message = &state.ticket("call-10-alice").unwrap().messages[0];
    assert_eq!(message.body.as_deref(), Some("wants money back"));
    assert_eq!(message.recording_urls, vec!["https://rec/10"]);
}

#[test]
fn r4_attached_call_goes_into_the_chosen_ticket() {
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        ringing_answered(11, P, 2, 1000),
        vec![ev(attach("bob", 11, "call-10-alice", 1010))],
        hang_up(11, P, 2, 1100, 90),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Incoming call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec CALL:bob+rec]"#,
        ],
    );
}

#[test]
fn r4_draft_becomes_a_new_pending_ticket_at_call_end() {
    let state = given(concat([
        team(),
        ringing_answered(10, P, 1, 0),
        vec![ev(draft("alice", 10, "Half typed", 5))],
        hang_up(10, P, 1, 30, 30),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Half typed" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
}

// ---------------------------------------------------------------- R5

#[test]
fn r5_unfiled_call_joins_the_open_missed_call_ticket() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        answered(11, P, 2, 600, 40),
    ]));
    check(
        &state,
        &[
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=false/1 reopened=0 msgs=[CALL:- CALL:bob+rec]"#,
        ],
    );
}

// ---------------------------------------------------------------- R6

#[test]
fn r6_unfiled_answered_call_opens_an_incoming_call_ticket() {
    let state = given(concat([team(), answered(10, P, 1, 0, 30)]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
}

// ---------------------------------------------------------------- R7

fn transfer(session: u64, start: i64) -> Vec<Event> {
    vec![
        n(CallGearKind::Handset, session, start)
            .phone(P)
            .employee(1)
            .ev(),
        n(CallGearKind::EndLeg, session, start + 30)
            .phone(P)
            .employee(1)
            .operator()
            .talk(30)
            .leg(1)
            .ev(),
        n(CallGearKind::Handset, session, start + 31)
            .phone(P)
            .employee(2)
            .ev(),
        n(CallGearKind::EndLeg, session, start + 90)
            .phone(P)
            .employee(2)
            .operator()
            .talk(59)
            .leg(2)
            .ev(),
        n(CallGearKind::End, session, start + 91)
            .phone(P)
            .employee(2)
            .talk(89)
            .lost(false)
            .ev(),
    ]
}

#[test]
fn r7_transfer_gives_each_agent_part_a_ticket_unfiled_first_part_closed() {
    let state = given(concat([team(), transfer(10, 0)]));
    check(
        &state,
        &[
            r#"call-10-alice CLOSED "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice]"#,
            r#"call-10-bob OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob]"#,
        ],
    );
}

#[test]
fn r7_transfer_first_agent_filed_before_transferring() {
    let mut events = concat([team(), transfer(10, 0)]);
    events.insert(4, ev(create("alice", 10, "Billing", "", 20)));
    let state = given(events);
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Billing" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice]"#,
            r#"call-10-bob OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob]"#,
        ],
    );
}

// ---------------------------------------------------------------- R8

#[test]
fn r8_missed_call_opens_a_ticket_assigned_to_the_last_offered_agent() {
    let state = given(concat([team(), missed(10, P, &[1, 9, 2, 8], 0)]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10 assignee=bob missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

#[test]
fn r8_caller_hanging_up_in_the_voice_menu_gives_an_unassigned_ticket() {
    let state = given(concat([team(), missed(10, P, &[], 0)]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10 assignee=- missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

// ---------------------------------------------------------------- R9

#[test]
fn r9_missed_calls_group_until_a_conversation() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        missed(11, P, &[2], 100),
        vec![ev(status("alice", "missed-10", TicketStatus::Pending, 150))],
        answered(12, "74990000009", 1, 160, 10), // another customer: no effect
        missed(13, P, &[1], 200),
        outbound(14, P, 1, 300, 60, None), // a conversation
        missed(15, P, &[], 500),
    ]));
    check(
        &state,
        &[
            r#"call-12-alice OPEN "Incoming call from +74990000009" @cus-74990000009 12 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
            // the softphone call joins the open missed ticket (R11) and is the conversation
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11,13,14 assignee=alice missed=false/3 reopened=1 msgs=[CALL:- CALL:- CALL:- CALL:alice+rec]"#,
            r#"missed-15 OPEN "Missed call from +74990000001" @cus-74990000001 15 assignee=- missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

#[test]
fn r9_missed_call_reopens_the_latest_missed_ticket_closed_by_an_agent() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        vec![ev(status("alice", "missed-10", TicketStatus::Closed, 50))],
        missed(11, P, &[1], 100),
    ]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=true/2 reopened=1 msgs=[CALL:- CALL:-]"#,
        ],
    );
    assert_eq!(state.ticket("missed-10").unwrap().reopened_at, vec![t(120)]);
}

// ---------------------------------------------------------------- R10

#[test]
fn r10_click_to_call_answered_lands_in_its_ticket_pending_and_green() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        outbound(11, P, 1, 100, 0, Some("missed-10")),
        outbound(12, P, 1, 200, 45, Some("missed-10")),
    ]));
    check(
        &state,
        &[
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11,12 assignee=alice missed=false/1 reopened=0 msgs=[CALL:- ATTEMPT:alice CALL:alice+rec]"#,
        ],
    );
}

#[test]
fn r10_click_to_call_unanswered_adds_an_attempt_and_keeps_the_status() {
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        vec![ev(status(
            "alice",
            "call-10-alice",
            TicketStatus::Pending,
            100,
        ))],
        outbound(11, P, 1, 200, 0, Some("call-10-alice")),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Incoming call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec ATTEMPT:alice]"#,
        ],
    );
}

// ---------------------------------------------------------------- R11

#[test]
fn r11_unfiled_softphone_call_gives_a_closed_outbound_ticket() {
    let state = given(concat([team(), outbound(10, P, 2, 0, 30, None)]));
    check(
        &state,
        &[
            r#"call-10-bob CLOSED "Outbound call to +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob+rec]"#,
        ],
    );
}

#[test]
fn r11_unfiled_softphone_call_joins_the_open_missed_ticket() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        outbound(11, P, 2, 100, 30, None),
    ]));
    check(
        &state,
        &[
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=false/1 reopened=0 msgs=[CALL:- CALL:bob+rec]"#,
        ],
    );
}

#[test]
fn r11_filed_softphone_call_is_pending_at_call_end() {
    let mut events = concat([team(), outbound(10, P, 2, 0, 30, None)]);
    let end = events.pop().unwrap();
    events.push(ev(create("bob", 10, "Follow-up", "", 10)));
    events.push(end);
    check(
        &given(events),
        &[
            r#"call-10-bob PENDING "Follow-up" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob+rec]"#,
        ],
    );
}

// ---------------------------------------------------------------- R12

#[test]
fn r12_unanswered_softphone_call_adds_an_attempt_to_the_open_missed_ticket_only() {
    let state = given(concat([team(), outbound(9, "74990000002", 1, 0, 0, None)]));
    check(&state, &[]);
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        outbound(11, P, 1, 100, 0, None),
    ]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=true/1 reopened=0 msgs=[CALL:- ATTEMPT:alice]"#,
        ],
    );
}

// ---------------------------------------------------------------- R13

#[test]
fn r13_filing_a_new_ticket_closes_the_open_missed_ticket() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        ringing_answered(11, P, 2, 100),
        vec![ev(create("bob", 11, "New issue", "", 110))],
        hang_up(11, P, 2, 150, 50),
    ]));
    check(
        &state,
        &[
            r#"call-11-bob PENDING "New issue" @cus-74990000001 11 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob+rec]"#,
            r#"missed-10 CLOSED "Missed call from +74990000001" @cus-74990000001 10 assignee=alice missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
    assert_eq!(state.ticket("missed-10").unwrap().closed_at, Some(t(110)));
}

// ---------------------------------------------------------------- R14

#[test]
fn r14_call_attached_to_the_missed_ticket_makes_it_pending_and_green() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        ringing_answered(11, P, 2, 100),
        vec![ev(attach("bob", 11, "missed-10", 110))],
    ]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=true/1 reopened=0 msgs=[CALL:- CALL:bob+live]"#,
        ],
    );
    let mut state = state;
    for event in hang_up(11, P, 2, 150, 50) {
        state.apply(&event, t(0));
    }
    check(
        &state,
        &[
            r#"missed-10 PENDING "Missed call from +74990000001" @cus-74990000001 10,11 assignee=alice missed=false/1 reopened=0 msgs=[CALL:- CALL:bob+rec]"#,
        ],
    );
}

// ---------------------------------------------------------------- R15

#[test]
fn r15_unanswered_callback_leaves_the_missed_ticket_open() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        outbound(11, P, 1, 100, 0, Some("missed-10")),
        outbound(12, P, 1, 200, 0, None),
    ]));
    let ticket = state.ticket("missed-10").unwrap();
    assert_eq!((ticket.status, ticket.missed), (TicketStatus::Open, true));
    assert_eq!(
        ticket
            .messages
            .iter()
            .filter(|m| m.kind == MessageKind::CallAttempt)
            .count(),
        2
    );
}

// ---------------------------------------------------------------- R16

#[test]
fn r16_agents_edit_tickets_and_returns_to_open_count_as_reopenings() {
    let edits = [
        status("bob", "call-10-alice", TicketStatus::Closed, 100),
        status("bob", "call-10-alice", TicketStatus::Open, 200),
        status("bob", "call-10-alice", TicketStatus::Pending, 300),
        status("bob", "call-10-alice", TicketStatus::Open, 400),
        NativeEvent::SetTicketAssignee(domain::agent::SetTicketAssignee {
            at: t(500),
            agent_id: "bob".into(),
            ticket_id: "call-10-alice".into(),
            assignee_id: Some("carol".into()),
        }),
        NativeEvent::SetTicketSubject(domain::agent::SetTicketSubject {
            at: t(510),
            agent_id: "bob".into(),
            ticket_id: "call-10-alice".into(),
            subject: "Renamed".into(),
        }),
        note("bob", "call-10-alice", "called back", 520),
        NativeEvent::AddReply(domain::agent::AddReply {
            at: t(530),
            agent_id: "carol".into(),
            ticket_id: "call-10-alice".into(),
            body: "we are on it".into(),
        }),
    ];
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        edits.into_iter().map(ev).collect(),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Renamed" @cus-74990000001 10 assignee=carol missed=false/0 reopened=2 msgs=[CALL:alice+rec NOTE:bob REPLY:carol]"#,
        ],
    );
    let ticket = state.ticket("call-10-alice").unwrap();
    assert_eq!(ticket.reopened_at, vec![t(200), t(400)]);
    assert_eq!(ticket.activity_at.len(), 8);
    assert_eq!(ticket.updated_at, t(530));
    assert_eq!(ticket.closed_at, None);
}

// ---------------------------------------------------------------- R17

#[test]
fn r17_duplicates_and_reordering_within_a_session_change_nothing() {
    let in_order = given(concat([team(), transfer(10, 0), missed(11, P, &[1], 200)]));
    let mut shuffled = concat([team(), transfer(10, 0), missed(11, P, &[1], 200)]);
    shuffled[3..8].reverse();
    let duplicate = shuffled[5].clone();
    shuffled.push(duplicate);
    shuffled.insert(4, shuffled[9].clone());
    assert_eq!(snapshot(&in_order), snapshot(&given(shuffled)));
}

#[test]
fn r17_every_time_comes_from_events() {
    let state = given(concat([team(), answered(10, P, 1, 0, 30)]));
    let ticket = state.ticket("call-10-alice").unwrap();
    assert_eq!(ticket.created_at, t(31), "the /end time");
    assert_eq!(ticket.messages[0].created_at, t(31));
    let call = state.call(10).unwrap();
    assert_eq!((call.started_at, call.ended_at), (Some(t(0)), Some(t(31))));
    assert_eq!((call.wait_seconds, call.talk_seconds), (Some(5), Some(30)));
}

// ---------------------------------------------------------------- commands

#[test]
fn r31_commands_are_validated_against_the_current_state() {
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        missed(11, P, &[1], 100),
        ringing_answered(12, P, 2, 200),
        answered(13, "74990000002", 3, 0, 30),
        vec![ev(customer("alice", "acme", "ACME", 0))],
    ]));
    let check = |action: NativeEvent, expect: Result<(), Rejection>| {
        let verdict = validate(&state, &action).unwrap().map(|_| ());
        assert_eq!(verdict, expect, "{action:?}");
    };
    check(create("bob", 12, "ok", "", 210), Ok(()));
    check(draft("bob", 12, "ok", 210), Ok(()));
    check(attach("bob", 12, "call-10-alice", 210), Ok(()));
    check(
        create("zed", 12, "s", "", 210),
        Err(Rejection::UnknownAgent("zed".into())),
    );
    check(
        create("bob", 99, "s", "", 210),
        Err(Rejection::UnknownCall(99)),
    );
    check(
        create("alice", 12, "s", "", 210),
        Err(Rejection::NotYourCall {
            session: 12,
            agent: "alice".into(),
        }),
    );
    check(
        create("alice", 11, "s", "", 210),
        Err(Rejection::MissedCall(11)),
    );
    check(
        create("alice", 10, "s", "", 210),
        Err(Rejection::CallEnded(10)),
    );
    check(
        attach("bob", 12, "call-99-x", 210),
        Err(Rejection::UnknownTicket("call-99-x".into())),
    );
    check(
        attach("bob", 12, "call-13-carol", 210),
        Err(Rejection::OtherCustomersTicket {
            ticket: "call-13-carol".into(),
            owner: "cus-74990000002".into(),
            caller: "cus-74990000001".into(),
        }),
    );
    check(
        link("bob", "74990000003", "nobody", 210),
        Err(Rejection::UnknownCustomer("nobody".into())),
    );
    check(link("bob", "74990000003", "acme", 210), Ok(()));
    check(
        link("bob", P, "cus-74990000001", 210),
        Err(Rejection::AlreadyLinked(
            format!("+{P}"),
            "cus-74990000001".into(),
        )),
    );
    check(
        note("bob", "missed-11", "  ", 210),
        Err(Rejection::Empty("body")),
    );
    check(note("bob", "missed-11", "hi", 210), Ok(()));
    check(
        status("bob", "missed-404", TicketStatus::Closed, 210),
        Err(Rejection::UnknownTicket("missed-404".into())),
    );

    let mut filed = state.clone();
    filed.apply(&ev(create("bob", 12, "once", "", 210)), t(0));
    let verdict = validate(&filed, &attach("bob", 12, "call-10-alice", 220)).unwrap();
    assert_eq!(
        verdict,
        Err(Rejection::AlreadyFiled {
            session: 12,
            agent: "bob".into(),
            ticket: "call-12-bob".into()
        })
    );
}

// ---------------------------------------------------------------- R18 and later: our decisions

#[test]
fn r18_operator_mapping_in_force_at_the_call_start_decides() {
    let state = given(vec![
        agent("alice", &[], -1000),
        agent("bob", &[2], -1000),
        answered(10, P, 1, 0, 30)[0].clone(), // operator 1 not yet mapped
    ]);
    let mut events: Vec<Event> = answered(10, P, 1, 0, 30).into_iter().skip(1).collect();
    events.push(agent("alice", &[1], 500)); // mapped only after the call
    events.extend(answered(11, "74990000002", 1, 1000, 30));
    let mut state = state;
    for event in events {
        state.apply(&event, t(0));
    }
    check(
        &state,
        &[
            r#"call-11-alice OPEN "Incoming call from +74990000002" @cus-74990000002 11 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    assert_eq!(state.call(10).unwrap().agent_id, None);
}

#[test]
fn r19_linking_the_phone_during_a_call_moves_that_call_to_the_customer() {
    let state = given(concat([
        team(),
        vec![ev(customer("alice", "acme", "ACME", -500))],
        ringing_answered(10, P, 1, 0),
        vec![
            ev(link("alice", P, "acme", 10)),
            ev(create("alice", 10, "Order", "", 12)),
        ],
        hang_up(10, P, 1, 30, 30),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Order" @acme 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    assert_eq!(
        state.customer("cus-74990000001"),
        None,
        "no customer created from the phone"
    );
}

#[test]
fn r19_linking_after_a_call_leaves_earlier_tickets_with_their_customer() {
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        vec![
            ev(customer("alice", "acme", "ACME", 100)),
            ev(link("alice", P, "acme", 200)),
        ],
        answered(11, P, 1, 300, 30),
    ]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
            r#"call-11-alice OPEN "Incoming call from +74990000001" @acme 11 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
}

#[test]
fn r19_call_without_a_contact_phone_makes_no_ticket() {
    let mut events = team();
    events.push(n(CallGearKind::CallOut, 10, 0).employee(1).out().ev());
    events.push(
        n(CallGearKind::EndLeg, 10, 60)
            .employee(1)
            .operator()
            .talk(40)
            .out()
            .ev(),
    );
    events.push(n(CallGearKind::End, 10, 61).employee(1).talk(40).out().ev());
    let state = given(events);
    check(&state, &[]);
    assert!(state.call(10).unwrap().answered);
}

#[test]
fn r20_a_call_ends_with_its_end_or_else_its_recording() {
    let mut legs_only = concat([team(), answered(10, P, 1, 0, 30)]);
    legs_only.retain(
        |e| !matches!(e, Event::CallGear(n) if matches!(n.kind, CallGearKind::End | CallGearKind::Recording)),
    );
    let state = given(legs_only.clone());
    check(&state, &[]);
    assert!(!state.call(10).unwrap().ended());

    legs_only.push(
        n(CallGearKind::Recording, 10, 90)
            .phone(P)
            .recording("https://rec/10")
            .ev(),
    );
    let state = given(legs_only);
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
}

#[test]
fn r21_an_agent_talking_twice_in_one_session_has_one_part() {
    let events = vec![
        n(CallGearKind::EndLeg, 10, 30)
            .phone(P)
            .employee(1)
            .operator()
            .talk(30)
            .leg(1)
            .ev(),
        n(CallGearKind::EndLeg, 10, 60)
            .phone(P)
            .employee(2)
            .operator()
            .talk(29)
            .leg(2)
            .ev(),
        n(CallGearKind::EndLeg, 10, 90)
            .phone(P)
            .employee(1)
            .operator()
            .talk(29)
            .leg(3)
            .ev(),
        n(CallGearKind::End, 10, 91)
            .phone(P)
            .employee(1)
            .talk(88)
            .ev(),
    ];
    let state = given(concat([team(), events]));
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice]"#,
            r#"call-10-bob CLOSED "Incoming call from +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob]"#,
        ],
    );
}

#[test]
fn r22_end_or_contact_leg_with_talk_stands_for_the_conversation() {
    // Inbound: no leg at all, /end with talk and employee; `is_lost` contradicting it loses.
    let inbound = vec![n(CallGearKind::End, 10, 60)
        .phone(P)
        .employee(2)
        .talk(40)
        .lost(true)
        .ev()];
    // Outbound: only /callout, a talking /legout and /end without talk.
    let outbound = vec![
        n(CallGearKind::CallOut, 11, 0)
            .phone("74990000002")
            .employee(3)
            .out()
            .ev(),
        n(CallGearKind::LegOut, 11, 50)
            .phone("74990000002")
            .talk(30)
            .out()
            .ev(),
        n(CallGearKind::End, 11, 51).phone("74990000002").out().ev(),
    ];
    let state = given(concat([team(), inbound, outbound]));
    check(
        &state,
        &[
            r#"call-10-bob OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob]"#,
            r#"call-11-carol CLOSED "Outbound call to +74990000002" @cus-74990000002 11 assignee=carol missed=false/0 reopened=0 msgs=[CALL:carol]"#,
        ],
    );
}

#[test]
fn r23_first_create_or_attach_wins_and_filing_time_versus_end_does_not_matter() {
    let state = given(concat([
        team(),
        missed(9, P, &[1], -500),
        vec![ev(status("alice", "missed-9", TicketStatus::Pending, -400))],
        answered(10, P, 1, 0, 30), // /end at 31 already delivered
        vec![
            ev(draft("alice", 10, "first draft", 20)),
            ev(draft("alice", 10, "second draft", 25)),
            ev(create("alice", 10, "Created", "", 32)), // after the end by CallGear's clock
            ev(attach("alice", 10, "missed-9", 33)),    // ignored: already filed
        ],
    ]));
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Created" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
            r#"missed-9 PENDING "Missed call from +74990000001" @cus-74990000001 9 assignee=alice missed=true/1 reopened=0 msgs=[CALL:-]"#,
        ],
    );
}

#[test]
fn r24_recording_after_the_ticket_was_closed_attaches_without_reopening() {
    let mut events = concat([team(), answered(10, P, 1, 0, 30)]);
    let recording = events.pop().unwrap();
    events.push(ev(status(
        "alice",
        "call-10-alice",
        TicketStatus::Closed,
        40,
    )));
    events.push(recording);
    let state = given(events);
    check(
        &state,
        &[
            r#"call-10-alice CLOSED "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec]"#,
        ],
    );
    let ticket = state.ticket("call-10-alice").unwrap();
    assert_eq!((ticket.updated_at, ticket.closed_at), (t(40), Some(t(40))));
}

#[test]
fn r25_draft_on_a_transferred_call_covers_only_the_drafting_agent_part() {
    let mut events = concat([team(), transfer(10, 0)]);
    events.insert(4, ev(draft("alice", 10, "Alice's notes", 20)));
    let state = given(events);
    check(
        &state,
        &[
            r#"call-10-alice PENDING "Alice's notes" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice]"#,
            r#"call-10-bob OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=bob missed=false/0 reopened=0 msgs=[CALL:bob]"#,
        ],
    );
}

#[test]
fn r26_only_conversations_with_agents_break_missed_call_grouping() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        answered(11, P, 9, 100, 30), // unmapped operator: ignored (R1)
        missed(12, P, &[2], 300),
    ]));
    check(
        &state,
        &[
            r#"missed-10 OPEN "Missed call from +74990000001" @cus-74990000001 10,12 assignee=alice missed=true/2 reopened=0 msgs=[CALL:- CALL:-]"#,
        ],
    );
}

#[test]
fn r27_missed_call_is_an_authorless_call_message() {
    let state = given(concat([team(), missed(10, P, &[1], 0)]));
    let message = &state.ticket("missed-10").unwrap().messages[0];
    assert_eq!(message.kind, MessageKind::Call);
    assert_eq!(
        (message.author_id.as_deref(), message.body.as_deref()),
        (None, Some("Missed call from +74990000001"))
    );
    assert_eq!(
        (message.id.as_str(), message.session_id),
        ("msg-missed-10", Some(10))
    );
}

#[test]
fn r28_edit_recorded_before_its_ticket_by_callgear_clock_applies_when_it_appears() {
    // The agent's note is stamped 10 s before CallGear's /end (clocks differ).
    let mut events = concat([team(), answered(10, P, 1, 0, 30)]);
    events.insert(3, ev(note("alice", "call-10-alice", "quick note", 21)));
    let state = given(events);
    check(
        &state,
        &[
            r#"call-10-alice OPEN "Incoming call from +74990000001" @cus-74990000001 10 assignee=alice missed=false/0 reopened=0 msgs=[CALL:alice+rec NOTE:alice]"#,
        ],
    );
}

#[test]
fn r29_linking_moves_the_phone_between_customers() {
    let state = given(concat([
        team(),
        answered(10, P, 1, 0, 30),
        vec![
            ev(customer("alice", "acme", "ACME", 100)),
            ev(link("alice", P, "acme", 200)),
        ],
    ]));
    assert_eq!(state.customer("cus-74990000001").unwrap().phones, vec![]);
    assert_eq!(state.customer("acme").unwrap().phones, vec![phone(P)]);
    assert_eq!(state.customer_by_phone(&phone(P)).unwrap().id, "acme");
    assert_eq!(
        state.ticket("call-10-alice").unwrap().customer_id,
        "cus-74990000001"
    );
}

#[test]
fn r30_notification_without_time_counts_at_its_earliest_receipt() {
    let end = n(CallGearKind::End, 10, 0)
        .phone(P)
        .talk(0)
        .lost(true)
        .no_time()
        .ev();
    let mut state = given(team());
    state.apply(&end, t(50));
    let first = snapshot(&state);
    let changed = state.apply(&end, t(70));
    assert!(changed.is_empty(), "a later re-delivery changes nothing");
    assert_eq!(snapshot(&state), first);
    state.apply(&end, t(40));
    assert_eq!(state.ticket("missed-10").unwrap().created_at, t(40));
}

#[test]
fn changed_names_the_records_an_event_touched() {
    let mut state = given(concat([team(), ringing_answered(10, P, 1, 0)]));
    let changed = state.apply(&ev(create("alice", 10, "S", "", 5)), t(0));
    assert!(!changed.agents);
    assert_eq!(changed.sessions.into_iter().collect::<Vec<_>>(), vec![10]);
    assert_eq!(
        changed.customers.into_iter().collect::<Vec<_>>(),
        vec!["cus-74990000001".to_owned()]
    );
    assert_eq!(
        changed.tickets.into_iter().collect::<Vec<_>>(),
        vec!["call-10-alice".to_owned()]
    );
    let changed = state.apply(&ev(create("alice", 10, "S", "", 5)), t(0));
    assert!(changed.is_empty(), "the same action twice is a duplicate");
}

#[test]
fn records_round_trip_through_rkyv_and_json() {
    let state = given(concat([
        team(),
        missed(10, P, &[1], 0),
        answered(11, P, 2, 100, 30),
    ]));
    for desk in state.desks.values() {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(desk).unwrap();
        assert_eq!(
            &rkyv::from_bytes::<domain::Desk, rkyv::rancor::Error>(&bytes).unwrap(),
            desk
        );
    }
    for session in state.sessions.values() {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(session).unwrap();
        assert_eq!(
            &rkyv::from_bytes::<domain::SessionRecord, rkyv::rancor::Error>(&bytes).unwrap(),
            session
        );
    }
    let event = ev(note("alice", "missed-10", "hello", 5));
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&event).unwrap();
    assert_eq!(
        rkyv::from_bytes::<Event, rkyv::rancor::Error>(&bytes).unwrap(),
        event
    );
    let Event::Native(native) = &event else {
        unreachable!()
    };
    let json = serde_json::to_string(native).unwrap();
    assert_eq!(
        serde_json::from_str::<NativeEvent>(&json).unwrap(),
        **native
    );
}
