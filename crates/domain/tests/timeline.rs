//! SPEC §4, the archive timeline: one test per case, given the call's events,
//! then its timeline and summary. Rules R32–R45 are in docs/rules.md.
//!
//! Entries are compared as one line each:
//! `Kind @start +seconds agent=… place=… label=… survey=…` (start in seconds
//! after the call's first event; absent fields left out).

use domain::contact::{CallKind, ContactEvent, DialMode};
use domain::testing::{n, t, T0};
use domain::timeline::{
    callgear_archive, CallArchive, ContactCallRecord, Outcome, TimelineEntry,
    CONTACT_EVENTS_PER_CALL_MAX,
};
use domain::{CallGearKind, SessionRecord, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};

/// One event of call `c-1` at `seconds` after T0: `body` is the flat JSON
/// without `v`, `at` and `call_id`.
fn ev(seconds: i64, body: Value) -> ContactEvent {
    let mut object = body.as_object().expect("an object").clone();
    object.insert("v".into(), json!(1));
    object.insert("at".into(), json!(t(seconds).to_rfc3339()));
    object.entry("call_id").or_insert_with(|| json!("c-1"));
    let event: ContactEvent = serde_json::from_value(Value::Object(object)).expect("an event");
    event.check().expect("a valid event");
    event
}

fn fold(events: &[ContactEvent]) -> CallArchive {
    let mut record = ContactCallRecord::new("c-1");
    for event in events {
        record.add(event);
    }
    record.fold()
}

fn secs(at: Timestamp) -> i64 {
    (at.0 - T0) / 1_000_000
}

fn show(entry: &TimelineEntry) -> String {
    let mut line = format!("{:?} @{} +{}", entry.kind, secs(entry.start), entry.seconds);
    for (name, value) in [
        ("agent", &entry.agent_id),
        ("place", &entry.place),
        ("label", &entry.label),
        ("survey", &entry.survey),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {name}={value}"));
        }
    }
    line
}

fn check(events: &[ContactEvent], expect: &[&str]) -> CallArchive {
    let archive = fold(events);
    let actual: Vec<String> = archive.timeline.iter().map(show).collect();
    assert_eq!(actual, expect, "timeline");
    archive
}

/// The ordering session of a callback (SPEC §4): one menu, the queue, two menus
/// where the callback is ordered and confirmed; the caller hangs up at 100.
fn ordering_session() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"inbound","phone":"+45 70 10 20 30"}),
        ),
        ev(0, json!({"type":"menu_entered","menu":"Welcome"})),
        ev(12, json!({"type":"menu_left","menu":"Welcome"})),
        ev(12, json!({"type":"queue_entered","queue":"Support"})),
        ev(
            72,
            json!({"type":"queue_left","queue":"Support","reason":"callback_ordered"}),
        ),
        ev(72, json!({"type":"menu_entered","menu":"Callback order"})),
        ev(
            85,
            json!({"type":"callback_ordered","queue":"Support","phone":"4570102030"}),
        ),
        ev(90, json!({"type":"menu_left","menu":"Callback order"})),
        ev(90, json!({"type":"menu_entered","menu":"Callback confirm"})),
        ev(100, json!({"type":"menu_left","menu":"Callback confirm"})),
        ev(100, json!({"type":"call_ended"})),
    ]
}

const ORDERING_TIMELINE: [&str; 4] = [
    "Menu @0 +12 place=Welcome",
    "Queue @12 +60 place=Support label=callback ordered",
    "Menu @72 +18 place=Callback order",
    "Menu @90 +10 place=Callback confirm",
];

/// Attempt `n` by `agent` starting at `start`: the agent is called and answers
/// two seconds later, then the customer is dialled; `result` at `result_at`.
fn attempt(n: u8, agent: &str, start: i64, result: &str, result_at: i64) -> Vec<ContactEvent> {
    vec![
        ev(
            start,
            json!({"type":"callback_attempt_started","attempt":n,"agent_id":agent}),
        ),
        ev(start, json!({"type":"agent_offered","agent_id":agent})),
        ev(start + 2, json!({"type":"agent_answered","agent_id":agent})),
        ev(
            result_at,
            json!({"type":"callback_attempt_result","attempt":n,"result":result}),
        ),
    ]
}

fn hang_up(agent: &str, at: i64) -> Vec<ContactEvent> {
    vec![
        ev(at, json!({"type":"agent_hung_up","agent_id":agent})),
        ev(at, json!({"type":"call_ended"})),
    ]
}

fn concat(parts: Vec<Vec<ContactEvent>>) -> Vec<ContactEvent> {
    parts.into_iter().flatten().collect()
}

// ---------------------------------------------------------------------------
// Callback in queue

fn callback_first_attempt_answered() -> Vec<ContactEvent> {
    concat(vec![
        ordering_session(),
        attempt(1, "alice", 600, "answered", 615),
        hang_up("alice", 915),
    ])
}

#[test]
fn callback_answered_at_the_first_attempt_shows_the_ordering_session_then_queue_callback_and_conversation(
) {
    let mut expect = ORDERING_TIMELINE.to_vec();
    expect.extend([
        "QueueCallback @85 +530 agent=alice place=Support",
        "Conversation @615 +300 agent=alice place=Support",
    ]);
    let archive = check(&callback_first_attempt_answered(), &expect);
    let s = &archive.summary;
    assert_eq!(s.id, "cc:c-1");
    assert_eq!(s.direction, CallKind::Inbound);
    assert_eq!(s.phone.as_deref(), Some("+4570102030"));
    assert_eq!(s.outcome, Outcome::Answered);
    assert!(s.answered);
    assert_eq!(s.answered_at, Some(t(615)));
    assert_eq!(s.agent_id.as_deref(), Some("alice"));
    assert_eq!(s.agents, ["alice"]);
    assert_eq!(s.wait_seconds, 60);
    assert_eq!(s.talk_seconds, 300);
    assert_eq!(s.queue.as_deref(), Some("Support"));
    assert_eq!(s.callback_ordered_at, Some(t(85)));
    assert_eq!(s.callback_attempts, 1);
    assert_eq!(s.started_at, t(0));
    assert_eq!(s.ended_at, Some(t(915)));
}

fn callback_second_attempt_answered() -> Vec<ContactEvent> {
    concat(vec![
        ordering_session(),
        attempt(1, "alice", 600, "no_answer", 630),
        hang_up("alice", 630),
        vec![ev(
            640,
            json!({"type":"survey_registered","agent_id":"alice","survey":"No answer, voicemail full"}),
        )],
        attempt(2, "bob", 1200, "answered", 1210),
        hang_up("bob", 1330),
    ])
}

#[test]
fn unanswered_attempt_is_labelled_and_shows_agent_and_survey_second_attempt_answers() {
    let mut expect = ORDERING_TIMELINE.to_vec();
    expect.extend([
        "QueueCallback @85 +545 agent=alice place=Support label=1 unanswered call finished survey=No answer, voicemail full",
        "QueueCallback @630 +580 agent=bob place=Support",
        "Conversation @1210 +120 agent=bob place=Support",
    ]);
    let archive = check(&callback_second_attempt_answered(), &expect);
    let s = &archive.summary;
    assert_eq!(s.outcome, Outcome::Answered);
    assert_eq!(s.agent_id.as_deref(), Some("bob"));
    assert_eq!(s.agents, ["alice", "bob"]);
    assert_eq!(s.callback_attempts, 2);
    assert_eq!(s.talk_seconds, 120);
}

fn callback_three_unanswered_attempts() -> Vec<ContactEvent> {
    concat(vec![
        ordering_session(),
        attempt(1, "alice", 600, "no_answer", 630),
        hang_up("alice", 630),
        attempt(2, "alice", 1200, "busy", 1205),
        hang_up("alice", 1205),
        attempt(3, "bob", 1800, "rejected", 1803),
        hang_up("bob", 1803),
        // A fourth attempt reported by a misconfigured centre is not shown.
        attempt(4, "bob", 2400, "answered", 2410),
        hang_up("bob", 2500),
    ])
}

#[test]
fn up_to_three_attempts_all_unanswered_is_no_answer() {
    let mut expect = ORDERING_TIMELINE.to_vec();
    expect.extend([
        "QueueCallback @85 +545 agent=alice place=Support label=1 unanswered call finished",
        "QueueCallback @630 +575 agent=alice place=Support label=1 unanswered call finished",
        "QueueCallback @1205 +598 agent=bob place=Support label=1 unanswered call finished",
    ]);
    let archive = check(&callback_three_unanswered_attempts(), &expect);
    let s = &archive.summary;
    assert_eq!(s.outcome, Outcome::NoAnswer);
    assert!(!s.answered);
    assert_eq!(s.callback_attempts, 3);
    assert_eq!(s.talk_seconds, 0);
}

#[test]
fn a_callback_waiting_for_its_next_attempt_is_callback_ordered() {
    let events = concat(vec![
        ordering_session(),
        attempt(1, "alice", 600, "no_answer", 630),
        hang_up("alice", 630),
    ]);
    assert_eq!(fold(&events).summary.outcome, Outcome::CallbackOrdered);
    assert_eq!(
        fold(&ordering_session()).summary.outcome,
        Outcome::CallbackOrdered
    );
}

fn callback_answering_machine() -> Vec<ContactEvent> {
    concat(vec![
        ordering_session(),
        attempt(1, "alice", 600, "answering_machine", 620),
        hang_up("alice", 650),
        // The centre should make no further attempt; one reported anyway is not shown.
        attempt(2, "bob", 1200, "answered", 1210),
        hang_up("bob", 1300),
    ])
}

#[test]
fn answering_machine_counts_as_answered_and_ends_the_attempts() {
    let mut expect = ORDERING_TIMELINE.to_vec();
    expect.extend([
        "QueueCallback @85 +535 agent=alice place=Support label=answering machine",
        "Conversation @620 +30 agent=alice place=Support label=answering machine",
    ]);
    let archive = check(&callback_answering_machine(), &expect);
    let s = &archive.summary;
    assert_eq!(s.outcome, Outcome::AnsweringMachine);
    assert!(s.answered);
    assert_eq!(s.callback_attempts, 1);
    assert_eq!(s.agents, ["alice"]);
}

fn callback_deleted() -> Vec<ContactEvent> {
    concat(vec![
        ordering_session(),
        vec![ev(
            400,
            json!({"type":"callback_deleted","agent_id":"supervisor-sam"}),
        )],
    ])
}

#[test]
fn deleted_callback_gives_a_deleted_entry() {
    let mut expect = ORDERING_TIMELINE.to_vec();
    expect.push("Deleted @400 +0 agent=supervisor-sam place=Support label=callback deleted");
    let archive = check(&callback_deleted(), &expect);
    assert_eq!(archive.summary.outcome, Outcome::Deleted);
    assert!(!archive.summary.answered);
}

// ---------------------------------------------------------------------------
// Outbound

fn outbound(result: &str, result_at: i64, end: i64) -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"outbound","phone":"4533445566","agent_id":"alice"}),
        ),
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Callout","phone":"4533445566","mode":"manual","agent_id":"alice"}),
        ),
        ev(result_at, json!({"type":"outbound_result","result":result})),
        ev(end, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(end, json!({"type":"call_ended"})),
    ]
}

#[test]
fn answered_outbound_call_shows_zero_queue_ring_time_and_conversation() {
    let archive = check(
        &outbound("answered", 14, 194),
        &[
            "Queue @0 +0 agent=alice place=Callout",
            "QueueCallback @0 +14 agent=alice place=Callout",
            "Conversation @14 +180 agent=alice place=Callout",
        ],
    );
    let s = &archive.summary;
    assert_eq!(s.direction, CallKind::Outbound);
    assert_eq!(s.phone.as_deref(), Some("+4533445566"));
    assert_eq!(s.outcome, Outcome::Answered);
    assert_eq!(s.dial_mode, Some(DialMode::Manual));
    assert_eq!(s.queue.as_deref(), Some("Callout"));
    assert_eq!(s.talk_seconds, 180);
    assert_eq!(s.wait_seconds, 0);
}

#[test]
fn unanswered_outbound_call_is_labelled_and_has_no_conversation() {
    let archive = check(
        &outbound("busy", 9, 9),
        &[
            "Queue @0 +0 agent=alice place=Callout",
            "QueueCallback @0 +9 agent=alice place=Callout label=1 unanswered call finished",
        ],
    );
    assert_eq!(archive.summary.outcome, Outcome::NoAnswer);
    assert_eq!(archive.summary.agents, ["alice"]);
}

fn outbound_cancelled() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"outbound","phone":"4533445566","agent_id":"alice"}),
        ),
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Callout","phone":"4533445566","mode":"manual","agent_id":"alice"}),
        ),
        ev(20, json!({"type":"outbound_cancelled","agent_id":"alice"})),
        ev(20, json!({"type":"call_ended"})),
    ]
}

#[test]
fn outbound_call_cancelled_from_the_outbound_tab_adds_a_deleted_entry() {
    let archive = check(
        &outbound_cancelled(),
        &[
            "Queue @0 +0 agent=alice place=Callout",
            "QueueCallback @0 +20 agent=alice place=Callout label=1 unanswered call finished",
            "Deleted @20 +0 agent=alice place=Callout label=outbound call cancelled",
        ],
    );
    assert_eq!(archive.summary.outcome, Outcome::Cancelled);
}

// ---------------------------------------------------------------------------
// Agent to agent

/// agent1 calls agent2, who answers after 10 s of ringing; they talk 3:18.
fn agent_to_agent_consult_events() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"internal","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(1, json!({"type":"agent_answered","agent_id":"alice"})),
        ev(
            1,
            json!({"type":"consult_started","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(
            11,
            json!({"type":"consult_answered","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(
            209,
            json!({"type":"consult_ended","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(209, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(209, json!({"type":"call_ended"})),
    ]
}

/// The same call reported with plain agent events.
fn agent_to_agent_plain_events() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"internal","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(1, json!({"type":"agent_answered","agent_id":"alice"})),
        ev(1, json!({"type":"agent_offered","agent_id":"bob"})),
        ev(11, json!({"type":"agent_answered","agent_id":"bob"})),
        ev(209, json!({"type":"agent_hung_up","agent_id":"bob"})),
        ev(209, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(209, json!({"type":"call_ended"})),
    ]
}

#[test]
fn agent_to_agent_answered_is_a_short_conversation_and_a_consult_speak_time_ring_plus_consult() {
    for events in [
        agent_to_agent_consult_events(),
        agent_to_agent_plain_events(),
    ] {
        let archive = check(
            &events,
            &[
                "Conversation @1 +10 agent=alice",
                "Consult @11 +198 agent=bob label=consulted by alice",
            ],
        );
        let s = &archive.summary;
        assert_eq!(s.direction, CallKind::Internal);
        assert_eq!(s.phone.as_deref(), Some("xxxxxxxx"));
        assert!(s.phones.is_empty());
        assert_eq!(s.agent_id.as_deref(), Some("alice"));
        assert_eq!(s.agents, ["alice", "bob"]);
        assert_eq!(s.outcome, Outcome::Answered);
        // agent1's speak time: ring 0:10 + consult 3:18 = 3:28.
        assert_eq!(s.talk_seconds, 208);
        let talk: Vec<(&str, u32)> = s
            .agent_talk
            .iter()
            .map(|a| (a.agent_id.as_str(), a.talk_seconds))
            .collect();
        assert_eq!(talk, [("alice", 208), ("bob", 198)]);
        // No Queue entry for an agent-to-agent call.
        assert!(!archive.timeline.iter().any(|e| matches!(
            e.kind,
            domain::TimelineKind::Queue | domain::TimelineKind::QueueCallback
        )));
    }
}

fn agent_to_agent_unanswered() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"internal","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(1, json!({"type":"agent_answered","agent_id":"alice"})),
        ev(1, json!({"type":"agent_offered","agent_id":"bob"})),
        ev(
            1,
            json!({"type":"consult_started","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(31, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(31, json!({"type":"call_ended"})),
    ]
}

#[test]
fn agent_to_agent_not_answered_is_only_agent1s_conversation_and_agent2_is_not_involved() {
    let archive = check(
        &agent_to_agent_unanswered(),
        &["Conversation @1 +30 agent=alice"],
    );
    let s = &archive.summary;
    assert_eq!(s.agents, ["alice"]);
    assert_eq!(s.outcome, Outcome::NoAnswer);
    assert!(!s.answered);
    assert_eq!(s.phone.as_deref(), Some("xxxxxxxx"));
}

#[test]
fn agent_to_agent_without_agent1_answer_event_starts_at_the_call() {
    let events = vec![
        ev(
            0,
            json!({"type":"call_started","kind":"internal","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(
            10,
            json!({"type":"consult_answered","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(70, json!({"type":"call_ended"})),
    ];
    check(
        &events,
        &[
            "Conversation @0 +10 agent=alice",
            "Consult @10 +60 agent=bob label=consulted by alice",
        ],
    );
}

#[test]
fn consult_during_an_inbound_call_runs_beside_the_conversation() {
    let events = vec![
        ev(
            0,
            json!({"type":"call_started","kind":"inbound","phone":"4511112222"}),
        ),
        ev(0, json!({"type":"queue_entered","queue":"Sales"})),
        ev(
            30,
            json!({"type":"queue_left","queue":"Sales","reason":"answered"}),
        ),
        ev(30, json!({"type":"agent_answered","agent_id":"alice"})),
        ev(
            100,
            json!({"type":"consult_started","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(
            105,
            json!({"type":"consult_answered","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(
            165,
            json!({"type":"consult_ended","agent_id":"alice","target_agent_id":"bob"}),
        ),
        ev(330, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(330, json!({"type":"call_ended"})),
    ];
    let archive = check(
        &events,
        &[
            "Queue @0 +30 place=Sales",
            "Conversation @30 +300 agent=alice place=Sales",
            "Consult @105 +60 agent=bob label=consulted by alice",
        ],
    );
    let s = &archive.summary;
    assert_eq!(s.talk_seconds, 300);
    assert_eq!(s.wait_seconds, 30);
    let talk: Vec<(&str, u32)> = s
        .agent_talk
        .iter()
        .map(|a| (a.agent_id.as_str(), a.talk_seconds))
        .collect();
    assert_eq!(talk, [("alice", 300), ("bob", 60)]);
}

// ---------------------------------------------------------------------------
// Dialer

fn preview_dialer_answered() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Campaign spring","phone":"4520304050","mode":"preview","agent_id":"carol","campaign":"spring"}),
        ),
        ev(25, json!({"type":"outbound_result","result":"answered"})),
        ev(145, json!({"type":"agent_hung_up","agent_id":"carol"})),
        ev(145, json!({"type":"call_ended"})),
    ]
}

#[test]
fn preview_dialer_looks_like_outbound() {
    let archive = check(
        &preview_dialer_answered(),
        &[
            "Queue @0 +0 agent=carol place=Campaign spring",
            "QueueCallback @0 +25 agent=carol place=Campaign spring",
            "Conversation @25 +120 agent=carol place=Campaign spring",
        ],
    );
    assert_eq!(archive.summary.direction, CallKind::Outbound);
    assert_eq!(archive.summary.dial_mode, Some(DialMode::Preview));
    assert_eq!(archive.summary.outcome, Outcome::Answered);
}

fn predictive_answered() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Campaign spring","phone":"4520304051","mode":"predictive","campaign":"spring"}),
        ),
        ev(18, json!({"type":"outbound_result","result":"answered"})),
        ev(18, json!({"type":"agent_offered","agent_id":"dave"})),
        ev(19, json!({"type":"agent_answered","agent_id":"dave"})),
        ev(79, json!({"type":"agent_hung_up","agent_id":"dave"})),
        ev(79, json!({"type":"call_ended"})),
    ]
}

#[test]
fn predictive_dialer_calls_the_agent_only_when_the_contact_answered() {
    let archive = check(
        &predictive_answered(),
        &[
            "Queue @0 +0 place=Campaign spring",
            "QueueCallback @0 +18 place=Campaign spring",
            "Conversation @19 +60 agent=dave place=Campaign spring",
        ],
    );
    assert_eq!(archive.summary.outcome, Outcome::Answered);
    assert_eq!(archive.summary.agents, ["dave"]);
    assert_eq!(archive.summary.answered_at, Some(t(19)));
}

fn power_unanswered() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Campaign spring","phone":"4520304052","mode":"power","campaign":"spring"}),
        ),
        ev(30, json!({"type":"outbound_result","result":"no_answer"})),
        ev(30, json!({"type":"call_ended"})),
    ]
}

#[test]
fn power_dialer_unanswered_is_a_zero_queue_and_a_queue_callback() {
    let archive = check(
        &power_unanswered(),
        &[
            "Queue @0 +0 place=Campaign spring",
            "QueueCallback @0 +30 place=Campaign spring label=1 unanswered call finished",
        ],
    );
    assert_eq!(archive.summary.outcome, Outcome::NoAnswer);
    assert_eq!(archive.summary.dial_mode, Some(DialMode::Power));
    assert!(archive.summary.agents.is_empty());
}

fn progressive_silent_call() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"outbound_ordered","queue":"Campaign spring","phone":"4520304053","mode":"progressive","campaign":"spring"}),
        ),
        ev(12, json!({"type":"outbound_result","result":"answered"})),
        // Reported when it has played: 8 s from 12 s.
        ev(
            20,
            json!({"type":"message_played","message":"Silent call notice","purpose":"silent_call","seconds":8}),
        ),
        ev(20, json!({"type":"call_ended"})),
    ]
}

#[test]
fn progressive_dialer_without_a_free_agent_plays_the_silent_call_message_as_a_menu_entry() {
    let archive = check(
        &progressive_silent_call(),
        &[
            "Queue @0 +0 place=Campaign spring",
            "QueueCallback @0 +12 place=Campaign spring",
            "Menu @12 +8 place=Silent call notice label=silent call message",
        ],
    );
    assert_eq!(archive.summary.outcome, Outcome::NoAgent);
    assert!(!archive.summary.answered);
}

// ---------------------------------------------------------------------------
// Welcome message

fn welcome_message() -> Vec<ContactEvent> {
    vec![
        ev(
            0,
            json!({"type":"call_started","kind":"inbound","phone":"4540506070"}),
        ),
        ev(0, json!({"type":"queue_entered","queue":"Support"})),
        ev(20, json!({"type":"agent_offered","agent_id":"alice"})),
        ev(
            25,
            json!({"type":"queue_left","queue":"Support","reason":"answered"}),
        ),
        ev(25, json!({"type":"agent_answered","agent_id":"alice"})),
        // Reported when it has played: 4 s from the answer.
        ev(
            29,
            json!({"type":"message_played","message":"Recorded for quality","purpose":"welcome","seconds":4}),
        ),
        ev(145, json!({"type":"agent_hung_up","agent_id":"alice"})),
        ev(145, json!({"type":"call_ended"})),
    ]
}

#[test]
fn welcome_message_shows_as_a_menu_entry_after_the_conversation_began() {
    let archive = check(
        &welcome_message(),
        &[
            "Queue @0 +25 place=Support",
            "Conversation @25 +120 agent=alice place=Support",
            "Menu @25 +4 place=Recorded for quality label=welcome message",
        ],
    );
    let s = &archive.summary;
    assert_eq!(s.outcome, Outcome::Answered);
    assert_eq!(s.wait_seconds, 25);
    assert_eq!(s.agents_offered, ["alice"]);
}

#[test]
fn inbound_caller_hanging_up_in_the_queue_is_abandoned_and_a_running_call_in_progress() {
    let running = vec![
        ev(
            0,
            json!({"type":"call_started","kind":"inbound","phone":"4540506071"}),
        ),
        ev(5, json!({"type":"queue_entered","queue":"Support"})),
        ev(50, json!({"type":"agent_offered","agent_id":"alice"})),
    ];
    let archive = check(&running, &["Queue @5 +45 place=Support"]);
    assert_eq!(archive.summary.outcome, Outcome::InProgress);
    assert_eq!(archive.summary.ended_at, None);

    let mut abandoned = running;
    abandoned.push(ev(
        80,
        json!({"type":"queue_left","queue":"Support","reason":"abandoned"}),
    ));
    abandoned.push(ev(80, json!({"type":"call_ended"})));
    let archive = check(&abandoned, &["Queue @5 +75 place=Support label=abandoned"]);
    assert_eq!(archive.summary.outcome, Outcome::Abandoned);
    assert!(archive.summary.agents.is_empty());
}

/// The example call of docs/events.md (`c-1001`), as the feed documents it.
#[test]
fn the_feed_documentation_example_call() {
    let text = r#"
{"v":1,"type":"call_started","at":"2024-04-05T09:00:00Z","call_id":"c-1001","kind":"inbound","phone":"+79161234567","line":"+74993720692"}
{"v":1,"type":"menu_entered","at":"2024-04-05T09:00:01Z","call_id":"c-1001","menu":"Main menu"}
{"v":1,"type":"menu_left","at":"2024-04-05T09:00:11Z","call_id":"c-1001","menu":"Main menu"}
{"v":1,"type":"queue_entered","at":"2024-04-05T09:00:12Z","call_id":"c-1001","queue":"Support"}
{"v":1,"type":"agent_offered","at":"2024-04-05T09:00:36Z","call_id":"c-1001","agent_id":"alice"}
{"v":1,"type":"queue_left","at":"2024-04-05T09:00:40Z","call_id":"c-1001","queue":"Support","reason":"answered"}
{"v":1,"type":"agent_answered","at":"2024-04-05T09:00:40Z","call_id":"c-1001","agent_id":"alice"}
{"v":1,"type":"message_played","at":"2024-04-05T09:00:44Z","call_id":"c-1001","message":"Welcome","purpose":"welcome","seconds":4}
{"v":1,"type":"consult_started","at":"2024-04-05T09:02:00Z","call_id":"c-1001","agent_id":"alice","target_agent_id":"bob"}
{"v":1,"type":"consult_answered","at":"2024-04-05T09:02:06Z","call_id":"c-1001","agent_id":"alice","target_agent_id":"bob"}
{"v":1,"type":"consult_ended","at":"2024-04-05T09:03:30Z","call_id":"c-1001","agent_id":"alice","target_agent_id":"bob"}
{"v":1,"type":"agent_hung_up","at":"2024-04-05T09:04:31Z","call_id":"c-1001","agent_id":"alice"}
{"v":1,"type":"call_ended","at":"2024-04-05T09:04:31Z","call_id":"c-1001"}
{"v":1,"type":"survey_registered","at":"2024-04-05T09:05:02Z","call_id":"c-1001","agent_id":"alice","survey":"Billing question"}
"#;
    let mut record = ContactCallRecord::new("c-1001");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let event: ContactEvent = serde_json::from_str(line).expect(line);
        record.add(&event);
    }
    let archive = record.fold();
    let lines: Vec<String> = archive
        .timeline
        .iter()
        .map(|e| {
            format!(
                "{:?} {} +{} {} {} {} {}",
                e.kind,
                e.start,
                e.seconds,
                e.agent_id.as_deref().unwrap_or("-"),
                e.place.as_deref().unwrap_or("-"),
                e.label.as_deref().unwrap_or("-"),
                e.survey.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "Menu 2024-04-05T09:00:01Z +10 - Main menu - -",
            "Queue 2024-04-05T09:00:12Z +28 - Support - -",
            "Conversation 2024-04-05T09:00:40Z +231 alice Support - Billing question",
            "Menu 2024-04-05T09:00:40Z +4 - Welcome welcome message -",
            "Consult 2024-04-05T09:02:06Z +84 bob - consulted by alice -",
        ]
    );
    let s = &archive.summary;
    assert_eq!(s.phone.as_deref(), Some("+79161234567"));
    assert_eq!((s.wait_seconds, s.talk_seconds), (28, 231));
    assert_eq!(s.agents, ["alice", "bob"]);
    assert_eq!(s.outcome, Outcome::Answered);
}

// ---------------------------------------------------------------------------
// R17 and the cap

fn every_case() -> Vec<(&'static str, Vec<ContactEvent>)> {
    vec![
        ("callback_first", callback_first_attempt_answered()),
        ("callback_second", callback_second_attempt_answered()),
        ("callback_three", callback_three_unanswered_attempts()),
        ("answering_machine", callback_answering_machine()),
        ("deleted", callback_deleted()),
        ("outbound", outbound("answered", 14, 194)),
        ("outbound_unanswered", outbound("busy", 9, 9)),
        ("outbound_cancelled", outbound_cancelled()),
        ("a2a", agent_to_agent_consult_events()),
        ("a2a_plain", agent_to_agent_plain_events()),
        ("a2a_unanswered", agent_to_agent_unanswered()),
        ("preview", preview_dialer_answered()),
        ("predictive", predictive_answered()),
        ("power", power_unanswered()),
        ("progressive", progressive_silent_call()),
        ("welcome", welcome_message()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// R17: any delivery order, with any duplicates, gives the same record and archive.
    #[test]
    fn any_order_and_duplicates_give_the_same_archive(
        case in 0usize..16,
        order in proptest::collection::vec(any::<u64>(), 64),
        duplicates in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let (name, events) = every_case().swap_remove(case);
        let mut record = ContactCallRecord::new("c-1");
        for event in &events {
            record.add(event);
        }
        let mut shuffled: Vec<(u64, ContactEvent)> = events
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (order[i % order.len()].rotate_left(i as u32), e))
            .collect();
        for index in &duplicates {
            let event = index.get(&events).clone();
            shuffled.push((order[index.index(order.len())].rotate_right(7), event));
        }
        shuffled.sort_by_key(|(key, _)| *key);
        let mut other = ContactCallRecord::new("c-1");
        for (_, event) in &shuffled {
            other.add(event);
        }
        prop_assert_eq!(&other, &record, "{}", name);
        prop_assert_eq!(other.fold(), record.fold(), "{}", name);
    }
}

#[test]
fn a_duplicate_changes_nothing() {
    let events = callback_second_attempt_answered();
    let mut record = ContactCallRecord::new("c-1");
    for event in &events {
        assert!(record.add(event));
    }
    let before = record.clone();
    for event in &events {
        assert!(!record.add(event), "{event:?}");
    }
    assert_eq!(record, before);
}

#[test]
fn a_call_keeps_its_first_events_up_to_the_cap_whatever_the_order() {
    let total = CONTACT_EVENTS_PER_CALL_MAX + 40;
    let mut events = vec![ev(
        0,
        json!({"type":"call_started","kind":"inbound","phone":"4511"}),
    )];
    for i in 1..total as i64 {
        let (kind, menu) = if i % 2 == 1 {
            ("menu_entered", format!("m{}", i / 2))
        } else {
            ("menu_left", format!("m{}", (i - 1) / 2))
        };
        events.push(ev(i, json!({"type":kind,"menu":menu})));
    }
    let mut forward = ContactCallRecord::new("c-1");
    for event in &events {
        forward.add(event);
    }
    let mut backward = ContactCallRecord::new("c-1");
    for event in events.iter().rev() {
        backward.add(event);
    }
    // Re-delivering a dropped event changes nothing.
    assert!(!backward.add(events.last().unwrap()));
    assert_eq!(forward, backward);
    assert_eq!(forward.events.len(), CONTACT_EVENTS_PER_CALL_MAX);
    assert!(forward.truncated);
    assert_eq!(
        forward.events.last().unwrap().at,
        t(CONTACT_EVENTS_PER_CALL_MAX as i64 - 1)
    );
    let summary = forward.fold().summary;
    assert!(summary.truncated);
    assert_eq!(summary.outcome, Outcome::InProgress);
}

// ---------------------------------------------------------------------------
// CallGear calls

fn directory() -> domain::directory::MappingTimeline {
    let mut directory = domain::Directory::default();
    for (agent, employee) in [("alice", 51), ("bob", 52)] {
        directory.insert(domain::agent::UpsertAgent {
            at: t(-1000),
            agent_id: agent.into(),
            name: agent.into(),
            callgear_employee_ids: vec![employee],
        });
    }
    directory.timeline()
}

fn session(notifications: Vec<domain::testing::N>) -> SessionRecord {
    let mut record = SessionRecord::new(7);
    for notification in notifications {
        record.add_notification(&notification.0, t(0));
    }
    record
}

fn scenario(mut notification: domain::testing::N, name: &str) -> domain::testing::N {
    notification.0.call_info.scenario_name = Some(name.into());
    notification
}

fn total(mut notification: domain::testing::N, seconds: u32) -> domain::testing::N {
    notification.0.call_info.total_time_duration_seconds = Some(seconds);
    notification
}

#[test]
fn callgear_call_with_menu_wait_conversation_and_transfer() {
    // The call starts at 0 (total 400 s), waits 30 s after 20 s of menu; alice
    // talks 100 s (legs end at 150), then transfers to bob, who talks 230 s.
    let record = session(vec![
        n(CallGearKind::Handset, 7, 50)
            .phone("4570000001")
            .employee(51),
        n(CallGearKind::EndLeg, 7, 150)
            .phone("4570000001")
            .employee(51)
            .operator()
            .talk(100)
            .leg(1),
        n(CallGearKind::Handset, 7, 170)
            .phone("4570000001")
            .employee(52),
        n(CallGearKind::EndLeg, 7, 400)
            .phone("4570000001")
            .employee(52)
            .operator()
            .talk(230)
            .leg(2),
        total(
            scenario(
                n(CallGearKind::End, 7, 400)
                    .phone("4570000001")
                    .talk(330)
                    .wait(30)
                    .lost(false),
                "Main menu",
            ),
            400,
        ),
    ]);
    let archive = callgear_archive(&record, &directory());
    let lines: Vec<String> = archive.timeline.iter().map(show).collect();
    assert_eq!(
        lines,
        [
            "Menu @0 +20 place=Main menu",
            "Queue @20 +30",
            "Conversation @50 +100 agent=alice",
            "Conversation @170 +230 agent=bob label=transfer",
        ]
    );
    let s = &archive.summary;
    assert_eq!(s.id, "7");
    assert_eq!(s.outcome, Outcome::Answered);
    assert_eq!(s.agents, ["alice", "bob"]);
    assert_eq!(s.agent_id.as_deref(), Some("bob"));
    assert_eq!(s.wait_seconds, 30);
    assert_eq!(s.talk_seconds, 330);
    assert_eq!(s.answered_at, Some(t(50)));
    assert_eq!(s.phone.as_deref(), Some("+4570000001"));
}

#[test]
fn callgear_missed_call_is_menu_and_queue_then_abandoned() {
    let record = session(vec![
        n(CallGearKind::EndLeg, 7, 60)
            .phone("4570000002")
            .employee(51)
            .operator()
            .talk(0),
        total(
            n(CallGearKind::End, 7, 90)
                .phone("4570000002")
                .talk(0)
                .wait(60)
                .lost(true),
            90,
        ),
    ]);
    let archive = callgear_archive(&record, &directory());
    let lines: Vec<String> = archive.timeline.iter().map(show).collect();
    assert_eq!(lines, ["Menu @0 +30", "Queue @30 +60"]);
    assert_eq!(archive.summary.outcome, Outcome::Abandoned);
    assert_eq!(archive.summary.agents_offered, ["alice"]);
    assert!(archive.summary.agents.is_empty());
}

#[test]
fn callgear_unanswered_outbound_call_and_unmapped_operator() {
    let record = session(vec![
        n(CallGearKind::CallOut, 7, 0)
            .phone("4570000003")
            .employee(51)
            .out(),
        n(CallGearKind::End, 7, 25)
            .phone("4570000003")
            .employee(51)
            .out()
            .talk(0)
            .lost(true),
    ]);
    let archive = callgear_archive(&record, &directory());
    let lines: Vec<String> = archive.timeline.iter().map(show).collect();
    assert_eq!(
        lines,
        ["QueueCallback @0 +25 agent=alice label=1 unanswered call finished"]
    );
    assert_eq!(archive.summary.outcome, Outcome::NoAnswer);
    assert_eq!(archive.summary.direction, CallKind::Outbound);

    let record = session(vec![
        n(CallGearKind::EndLeg, 7, 100)
            .phone("4570000004")
            .employee(59)
            .operator()
            .talk(40),
        n(CallGearKind::End, 7, 100)
            .phone("4570000004")
            .talk(40)
            .wait(0),
    ]);
    let archive = callgear_archive(&record, &directory());
    let lines: Vec<String> = archive.timeline.iter().map(show).collect();
    assert_eq!(lines, ["Conversation @60 +40 label=operator 59"]);
    assert!(archive.summary.agents.is_empty());
    assert_eq!(archive.summary.outcome, Outcome::Answered);
}
