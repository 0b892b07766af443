//! R17 as a property: for generated multi-call scenarios, delivering the CallGear
//! notifications in any order (across and within sessions) and with any
//! duplicates gives the same state, byte for byte, as delivering them in order.
//! Agent actions keep their relative order (they are recorded once, in order).
//!
//! A failure prints the minimal scenario; proptest keeps its seed in
//! `tests/r17_order.proptest-regressions`, which is committed so it replays.

mod support;

use std::collections::BTreeSet;

use domain::state::{apply_deferred, settle, Pending};
use domain::{Event, State, TicketStatus};
use proptest::prelude::*;
use support::*;

#[derive(Clone, Debug)]
enum Kind {
    Answered {
        employee: u64,
        talk: u32,
    },
    Transfer {
        first: u64,
        second: u64,
    },
    Missed {
        offered: Vec<u64>,
    },
    Outbound {
        employee: u64,
        talk: u32,
        callback_of: Option<usize>,
    },
}

#[derive(Clone, Debug)]
struct CallSpec {
    phone: usize,
    start: i64,
    kind: Kind,
    /// 0: none, 1: create, 2: draft, 3: attach to the first ticket-ish id of the phone.
    filing: u8,
    /// An agent edit after the call: (status index, delay).
    edit: Option<(u8, i64)>,
}

const PHONES: [&str; 3] = ["74990000001", "74990000002", "74990000003"];

fn employee() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1u64), Just(2), Just(3), Just(9)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (employee(), 1u32..120).prop_map(|(employee, talk)| Kind::Answered { employee, talk }),
        (employee(), employee()).prop_map(|(first, second)| Kind::Transfer { first, second }),
        prop::collection::vec(employee(), 0..3).prop_map(|offered| Kind::Missed { offered }),
        (employee(), 0u32..2, prop::option::of(0usize..6)).prop_map(
            |(employee, talk, callback_of)| {
                Kind::Outbound {
                    employee,
                    talk: talk * 40,
                    callback_of,
                }
            }
        ),
    ]
}

fn call_spec() -> impl Strategy<Value = CallSpec> {
    (
        0usize..PHONES.len(),
        0i64..4000,
        kind(),
        0u8..4,
        prop::option::of((0u8..3, 1i64..500)),
    )
        .prop_map(|(phone, start, kind, filing, edit)| CallSpec {
            phone,
            start,
            kind,
            filing,
            edit,
        })
}

fn agent_of(employee: u64) -> &'static str {
    match employee {
        1 => "alice",
        2 => "bob",
        3 => "carol",
        _ => "nobody",
    }
}

/// The deliveries of one call, and the agent actions taken around it.
fn events_of(index: usize, spec: &CallSpec, specs: &[CallSpec]) -> (Vec<Event>, Vec<Event>) {
    let session = 100 + index as u64;
    let digits = PHONES[spec.phone];
    let start = spec.start;
    let mut actions = Vec::new();
    let (deliveries, talker, end) = match &spec.kind {
        Kind::Answered { employee, talk } => (
            answered(session, digits, *employee, start, *talk),
            Some(*employee),
            start + i64::from(*talk),
        ),
        Kind::Transfer { first, second } => {
            use domain::CallGearKind::*;
            let events = vec![
                n(Handset, session, start)
                    .phone(digits)
                    .employee(*first)
                    .ev(),
                n(EndLeg, session, start + 30)
                    .phone(digits)
                    .employee(*first)
                    .operator()
                    .talk(30)
                    .leg(1)
                    .ev(),
                n(Handset, session, start + 31)
                    .phone(digits)
                    .employee(*second)
                    .ev(),
                n(EndLeg, session, start + 90)
                    .phone(digits)
                    .employee(*second)
                    .operator()
                    .talk(59)
                    .leg(2)
                    .ev(),
                n(End, session, start + 91)
                    .phone(digits)
                    .employee(*second)
                    .talk(89)
                    .lost(false)
                    .ev(),
                n(Recording, session, start + 150)
                    .phone(digits)
                    .recording("https://rec/t")
                    .ev(),
            ];
            (events, Some(*first), start + 91)
        }
        Kind::Missed { offered } => (missed(session, digits, offered, start), None, start + 40),
        Kind::Outbound {
            employee,
            talk,
            callback_of,
        } => {
            let external = callback_of
                .filter(|other| *other < specs.len() && specs[*other].phone == spec.phone)
                .map(|other| format!("missed-{}", 100 + other));
            let talker = (*talk > 0).then_some(*employee);
            (
                outbound(
                    session,
                    digits,
                    *employee,
                    start,
                    *talk,
                    external.as_deref(),
                ),
                talker,
                start + 60,
            )
        }
    };
    if let Some(employee) = talker {
        let agent = agent_of(employee);
        let at = start + 2;
        match spec.filing {
            1 => actions.push(ev(create(agent, session, "Filed", "summary", at))),
            2 => actions.push(ev(draft(agent, session, "Draft", at))),
            3 => {
                let target = specs
                    .iter()
                    .enumerate()
                    .find(|(i, other)| *i != index && other.phone == spec.phone)
                    .map(|(i, _)| format!("missed-{}", 100 + i));
                if let Some(target) = target {
                    actions.push(ev(attach(agent, session, &target, at)));
                }
            }
            _ => {}
        }
        if let Some((status_index, delay)) = spec.edit {
            let status = [
                TicketStatus::Open,
                TicketStatus::Pending,
                TicketStatus::Closed,
            ][status_index as usize];
            let ticket = format!("call-{session}-{agent}");
            actions.push(ev(support::status("carol", &ticket, status, end + delay)));
            actions.push(ev(note(
                "carol",
                &ticket,
                "after the call",
                end + delay + 1,
            )));
        }
    } else if let Some((status_index, delay)) = spec.edit {
        let status = [
            TicketStatus::Open,
            TicketStatus::Pending,
            TicketStatus::Closed,
        ][status_index as usize];
        actions.push(ev(support::status(
            "carol",
            &format!("missed-{session}"),
            status,
            end + delay,
        )));
    }
    (deliveries, actions)
}

/// Calls, shuffle keys, and optionally the time at which phone 0 is linked to customer `acme`.
fn scenario() -> impl Strategy<Value = (Vec<CallSpec>, Vec<(u32, u8)>, Option<i64>)> {
    prop::collection::vec(call_spec(), 1..7).prop_flat_map(|specs| {
        let len = specs.len() * 8;
        (
            Just(specs),
            prop::collection::vec((any::<u32>(), 0u8..4), len..=len),
            prop::option::of(0i64..4000),
        )
    })
}

/// The events of `specs` in order, and the same deliveries shuffled with
/// duplicates (agent actions keep their relative order).
fn streams(
    specs: &[CallSpec],
    shuffle: &[(u32, u8)],
    link_at: Option<i64>,
) -> (Vec<Event>, Vec<Event>) {
    let mut in_order = team();
    let mut deliveries = Vec::new();
    let mut actions = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        if let Some(at) = link_at.filter(|at| *at < spec.start) {
            if !actions
                .iter()
                .any(|e| matches!(e, Event::Native(n) if n.type_name() == "link_phone_to_customer"))
            {
                let link_events = vec![
                    ev(customer("alice", "acme", "ACME", at - 1)),
                    ev(link("alice", PHONES[0], "acme", at)),
                ];
                in_order.extend(link_events.iter().cloned());
                actions.extend(link_events);
            }
        }
        let (calls, acts) = events_of(index, spec, specs);
        in_order.extend(calls.iter().cloned());
        in_order.extend(acts.iter().cloned());
        deliveries.extend(calls);
        actions.extend(acts);
    }
    // Shuffle: every delivery gets a random key, and a duplicate when its dice say 0.
    let mut keyed: Vec<(u32, usize, Event)> = Vec::new();
    for (i, event) in deliveries.into_iter().enumerate() {
        let (key, dice) = shuffle[i % shuffle.len()];
        if dice == 0 {
            keyed.push((key.rotate_left(7), i, event.clone()));
        }
        keyed.push((key, i, event));
    }
    // Agent actions keep their relative order, at random places among the deliveries.
    for (i, event) in actions.into_iter().enumerate() {
        let (key, _) = shuffle[(i * 5 + 3) % shuffle.len()];
        keyed.push((key, usize::MAX, event));
    }
    keyed.sort_by_key(|(key, i, _)| (*key, *i));
    let native_slots: Vec<usize> = keyed
        .iter()
        .enumerate()
        .filter(|(_, (_, i, _))| *i == usize::MAX)
        .map(|(slot, _)| slot)
        .collect();
    let natives_in_order: Vec<Event> = in_order
        .iter()
        .skip(team().len())
        .filter(|event| matches!(event, Event::Native(_)))
        .cloned()
        .collect();
    let mut shuffled: Vec<Event> = keyed.into_iter().map(|(_, _, event)| event).collect();
    for (slot, event) in native_slots.into_iter().zip(natives_in_order) {
        shuffled[slot] = event;
    }
    let shuffled = team().into_iter().chain(shuffled).collect::<Vec<_>>();

    (in_order, shuffled)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn r17_any_order_and_duplicates_give_identical_state((specs, shuffle, link_at) in scenario()) {
        let (in_order, shuffled) = streams(&specs, &shuffle, link_at);
        let expected = snapshot(&given(in_order));
        let actual = snapshot(&given(shuffled));
        prop_assert!(expected == actual, "states differ:\n--- in order\n{}\n--- shuffled\n{}", expected, actual);
    }
}

/// Applies `events` with [`domain::state::apply_deferred`], settling after
/// every event whose `cut` is set and at the end; checks on the way that each
/// settle reports every ticket that differs from before the batch.
fn batched(events: &[Event], cuts: &[bool]) -> Result<State, TestCaseError> {
    let mut state = State::default();
    let mut pending = Pending::default();
    let mut before = state.tickets();
    let mut reported = BTreeSet::new();
    for (i, event) in events.iter().enumerate() {
        let changed = apply_deferred(&mut state, event, t(100_000 + i as i64), &mut pending)
            .unwrap_or_else(|never| match never {});
        reported.extend(changed.tickets);
        if cuts.get(i).copied().unwrap_or(false) || i + 1 == events.len() {
            let changed = settle(&mut state, &mut pending).unwrap_or_else(|never| match never {});
            prop_assert!(pending.is_empty());
            reported.extend(changed.tickets);
            let after = state.tickets();
            for id in before.keys().chain(after.keys()) {
                if before.get(id) != after.get(id) {
                    prop_assert!(reported.contains(id), "ticket {} changed unreported", id);
                }
            }
            before = after;
            reported.clear();
        }
    }
    Ok(state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Settling desks once per batch gives the records that re-deriving after
    /// every event gives, wherever the batches are cut — also when operators
    /// change hands (upsert_agent) in the middle of a batch.
    #[test]
    fn deferred_refolds_give_the_same_state_as_per_event_folding(
        (specs, shuffle, link_at) in scenario(),
        cuts in prop::collection::vec(prop::bool::weighted(0.1), 0..120),
        remaps in prop::collection::vec((0usize..120, 0i64..4000, 0u8..3), 0..3),
    ) {
        let (_, mut events) = streams(&specs, &shuffle, link_at);
        // Operator 9 (unmapped) goes to bob, operator 1 from alice to carol, alice gets 9.
        for (place, at, which) in remaps {
            let remap = match which {
                0 => agent("bob", &[2, 9], at),
                1 => agent("carol", &[3, 1], at),
                _ => agent("alice", &[9], at),
            };
            events.insert(place.min(events.len()), remap);
        }
        let expected = snapshot(&given(events.iter().cloned()));
        let actual = snapshot(&batched(&events, &cuts)?);
        prop_assert!(expected == actual, "states differ:\n--- per event\n{}\n--- batched\n{}", expected, actual);
    }
}
