//! The statistics read model against the definitions: for random periods and
//! time zones, the pre-aggregated buckets give exactly what the domain's
//! definitions give when evaluated directly over every ticket and call
//! (`tickets::figure`, `calls::contributions`). Hand-worked figures are in
//! the end-to-end tests (`tests/statistics.rs`); this checks the bucketing.

mod support;

use std::collections::BTreeMap;

use domain::stats::calls::{self, CallRecord};
use domain::stats::{tickets, Agg, Breakdown, Dim, Period};
use domain::{Event, TicketStatus, Timestamp};
use support::*;

const PHONES: [&str; 6] = [
    "74990000001",
    "74990000002",
    "74990000003",
    "74990000004",
    "74990000005",
    "74990000006",
];

const AGENTS: [&str; 3] = ["alice", "bob", "carol"];

/// About 120 calls over three days, with agents' edits minutes to days later.
fn history(seed: u64) -> Vec<Event> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut events = team();
    let mut tickets: Vec<String> = Vec::new();
    for k in 0..120u64 {
        let session = 5000 + k;
        let start = k as i64 * 2000 + rng.u64(..1500) as i64;
        let phone = PHONES[rng.u64(..6) as usize];
        let employee = 1 + rng.u64(..3);
        match rng.u64(..5) {
            0 | 1 => {
                events.extend(answered(
                    session,
                    phone,
                    employee,
                    start,
                    20 + rng.u64(..400) as u32,
                ));
                tickets.push(format!("call-{session}-{}", AGENTS[employee as usize - 1]));
            }
            2 => {
                let offers: Vec<u64> = (0..rng.u64(..3)).map(|_| 1 + rng.u64(..3)).collect();
                events.extend(missed(session, phone, &offers, start));
                tickets.push(format!("missed-{session}"));
            }
            3 => {
                events.extend(outbound(
                    session,
                    phone,
                    employee,
                    start,
                    rng.u64(..2) as u32 * 90,
                ));
            }
            _ => {
                // A transfer: two operators talk.
                let second = 1 + (employee % 3);
                events.extend(answered(session, phone, employee, start, 40));
                events.push(
                    n(domain::CallGearKind::EndLeg, session, start + 100)
                        .phone(phone)
                        .employee(second)
                        .operator()
                        .talk(55)
                        .leg(2)
                        .ev(),
                );
            }
        }
        // Edits of some ticket, from minutes to two days later.
        for _ in 0..rng.u64(..4) {
            if tickets.is_empty() {
                break;
            }
            let ticket = tickets[rng.u64(..tickets.len() as u64) as usize].clone();
            let at = start + 60 + rng.u64(..2 * 86_400) as i64;
            let agent = AGENTS[rng.u64(..3) as usize];
            events.push(match rng.u64(..4) {
                0 => note(agent, &ticket, "n", at),
                1 => status(agent, &ticket, TicketStatus::Open, at),
                2 => status(agent, &ticket, TicketStatus::Pending, at),
                _ => status(agent, &ticket, TicketStatus::Closed, at),
            });
        }
    }
    events
}

fn add(map: &mut BTreeMap<Dim, Agg>, dim: Dim, agg: &Agg) {
    if !agg.is_empty() {
        map.entry(dim).or_default().merge(agg, 1);
    }
}

fn as_map(b: &Breakdown) -> BTreeMap<Dim, Agg> {
    let mut map = BTreeMap::new();
    if !b.overall.is_empty() {
        map.insert(Dim::All, b.overall.clone());
    }
    for (id, agg) in &b.agents {
        map.insert(Dim::Agent(id.clone()), agg.clone());
    }
    for (name, agg) in &b.queues {
        map.insert(Dim::Queue(name.clone()), agg.clone());
    }
    map
}

/// The definitions, evaluated over every ticket of the in-memory fold.
fn tickets_directly(state: &domain::State, from: Timestamp, to: Timestamp) -> BTreeMap<Dim, Agg> {
    let mut out = BTreeMap::new();
    for ticket in state.tickets().values() {
        let events = tickets::events(ticket);
        let sum = tickets::figure(&events, from, to);
        for dim in tickets::dims(ticket) {
            add(&mut out, dim, &sum);
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// Every call's record with its callback, from the in-memory fold.
fn call_records(state: &domain::State) -> Vec<CallRecord> {
    let mut records: Vec<CallRecord> = state
        .sessions
        .keys()
        .filter_map(|&id| state.call(id))
        .filter_map(|call| calls::from_callgear(&call))
        .collect();
    let mut by_phone: BTreeMap<String, Vec<CallRecord>> = BTreeMap::new();
    for r in &records {
        if let Some(p) = &r.phone {
            by_phone.entry(p.clone()).or_default().push(r.clone());
        }
    }
    for group in by_phone.values() {
        let refs: Vec<&CallRecord> = group.iter().collect();
        for (key, callback) in calls::callbacks(&refs) {
            records.iter_mut().find(|r| r.key == key).unwrap().callback = callback;
        }
    }
    records
}

fn calls_directly(records: &[CallRecord], from: Timestamp, to: Timestamp) -> BTreeMap<Dim, Agg> {
    let mut out = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.started_at >= from && r.started_at < to)
    {
        for (dim, agg) in calls::contributions(r) {
            add(&mut out, dim, &agg);
        }
    }
    out.retain(|_, v| !v.is_empty());
    out
}

#[test]
fn buckets_give_the_definitions_for_any_period_and_time_zone() {
    for seed in [1u64, 2, 3] {
        let events = history(seed);
        let fixture = Fixture::new();
        fixture.append(&events);
        fixture.projector(7).catch_up_blocking().unwrap();
        let state = fold(&events);
        let records = call_records(&state);
        assert!(
            records.iter().any(|r| r.callback.is_some()),
            "seed {seed}: no callback at all"
        );

        let mut rng = fastrand::Rng::with_seed(seed * 77);
        let zones = [
            "UTC",
            "Europe/Moscow",
            "Asia/Kolkata",
            "America/New_York",
            "Asia/Kathmandu",
        ];
        let base = domain::stats::period::quarter_of(t(0));
        for case in 0..60 {
            let from = base - 96 + rng.u64(..5 * 96) as i64;
            let to = from + 1 + rng.u64(..if case % 3 == 0 { 8 } else { 4 * 96 }) as i64;
            let zone = zones[rng.u64(..zones.len() as u64) as usize];
            let (a, b) = (
                domain::stats::period::quarter_start(from),
                domain::stats::period::quarter_start(to),
            );
            let period =
                Period::new(a, b, domain::stats::period::parse_zone(zone).unwrap()).unwrap();
            let hours = case % 10 == 0;

            let got = fixture
                .views
                .ticket_statistics(&period, true, hours)
                .unwrap();
            assert_eq!(
                as_map(&got),
                tickets_directly(&state, a, b),
                "seed {seed} case {case} tickets {a}..{b}"
            );
            let got_calls = fixture.views.call_statistics(&period, true, hours).unwrap();
            assert_eq!(
                as_map(&got_calls),
                calls_directly(&records, a, b),
                "seed {seed} case {case} calls {a}..{b}"
            );
            let overall_only = fixture
                .views
                .ticket_statistics(&period, false, false)
                .unwrap();
            assert_eq!(overall_only.overall, got.overall);
            if hours {
                assert!(!got.hours.is_empty());
                for (row, agg) in &got.hours {
                    let direct = tickets_directly(&state, row.from, row.to)
                        .remove(&Dim::All)
                        .unwrap_or_default();
                    assert_eq!(
                        agg, &direct,
                        "seed {seed} case {case} hour {}",
                        row.local_start
                    );
                }
                for (row, agg) in &got_calls.hours {
                    let direct = calls_directly(&records, row.from, row.to)
                        .remove(&Dim::All)
                        .unwrap_or_default();
                    assert_eq!(
                        agg, &direct,
                        "seed {seed} case {case} call hour {}",
                        row.local_start
                    );
                }
            }
        }
        // The figures are not trivially empty.
        let all = Period::parse("2024-04-01", "2024-04-12", "UTC").unwrap();
        let got = fixture.views.ticket_statistics(&all, true, false).unwrap();
        for metric in [
            tickets::NEW,
            tickets::IN_WORK,
            tickets::WITH_REPLY,
            tickets::CLOSED,
        ] {
            assert!(
                got.overall.get(metric) > 0,
                "seed {seed}: metric {metric} is 0"
            );
        }
        // Reopenings count for tickets created before the period.
        let later = Period::parse("2024-04-06", "2024-04-12", "UTC").unwrap();
        let got = fixture
            .views
            .ticket_statistics(&later, false, false)
            .unwrap();
        assert!(
            got.overall.get(tickets::REOPENED) > 0,
            "seed {seed}: nothing reopened"
        );
    }
}

#[test]
fn call_records_page_in_start_order() {
    let events = history(9);
    let fixture = Fixture::new();
    fixture.append(&events);
    fixture.projector(1024).catch_up_blocking().unwrap();
    let state = fold(&events);
    let mut expected = call_records(&state);
    expected.sort_by(|a, b| (a.started_at, &a.key).cmp(&(b.started_at, &b.key)));
    let (from, to) = (t(-86_400), t(86_400 * 10));
    let mut got = Vec::new();
    let mut after = None;
    loop {
        let page = fixture
            .views
            .call_records(from, to, 17, after.as_deref())
            .unwrap();
        got.extend(page.records);
        if !page.has_next_page {
            break;
        }
        after = page.end_cursor;
    }
    assert_eq!(got, expected);
    assert!(fixture
        .views
        .call_records(from, to, 5, Some("nonsense"))
        .is_err());
    let one = &expected[3];
    assert_eq!(
        fixture.views.call_record(&one.key).unwrap().as_ref(),
        Some(one)
    );
}

fn contact(json: serde_json::Value) -> Event {
    let mut json = json;
    json["v"] = serde_json::json!(1);
    Event::Contact(Box::new(serde_json::from_value(json).unwrap()))
}

/// A small contact-centre day: presence, a call answered from a queue, one
/// abandoned, one still in the menu, one still queued.
fn contact_day() -> Vec<Event> {
    let at = |s: i64| t(s).to_rfc3339();
    let mut events = vec![
        contact(
            serde_json::json!({"type": "agent_presence", "at": at(0), "agent_id": "alice", "presence": "ready"}),
        ),
        contact(
            serde_json::json!({"type": "agent_presence", "at": at(0), "agent_id": "bob", "presence": "logged_in"}),
        ),
        contact(
            serde_json::json!({"type": "agent_presence", "at": at(500), "agent_id": "bob", "presence": "paused"}),
        ),
    ];
    let call = |id: &str, start: i64, steps: &[(&str, i64, serde_json::Value)]| -> Vec<Event> {
        let mut out = vec![contact(
            serde_json::json!({"type": "call_started", "at": at(start), "call_id": id, "kind": "inbound", "phone": "74990000009"}),
        )];
        for (kind, offset, extra) in steps {
            let mut e = serde_json::json!({"type": kind, "at": at(start + offset), "call_id": id});
            for (k, v) in extra.as_object().unwrap() {
                e[k] = v.clone();
            }
            out.push(contact(e));
        }
        out
    };
    let queue = serde_json::json!({"queue": "Support"});
    events.extend(call(
        "a",
        100,
        &[
            ("queue_entered", 0, queue.clone()),
            (
                "agent_answered",
                12,
                serde_json::json!({"agent_id": "alice"}),
            ),
            (
                "queue_left",
                12,
                serde_json::json!({"queue": "Support", "reason": "answered"}),
            ),
            (
                "agent_hung_up",
                80,
                serde_json::json!({"agent_id": "alice"}),
            ),
            ("call_ended", 80, serde_json::json!({})),
        ],
    ));
    events.extend(call(
        "b",
        200,
        &[
            ("queue_entered", 0, queue.clone()),
            (
                "queue_left",
                30,
                serde_json::json!({"queue": "Support", "reason": "abandoned"}),
            ),
            ("call_ended", 30, serde_json::json!({})),
        ],
    ));
    events.extend(call(
        "c",
        300,
        &[("menu_entered", 0, serde_json::json!({"menu": "Main"}))],
    ));
    events.extend(call(
        "d",
        400,
        &[
            ("queue_entered", 0, queue),
            ("agent_answered", 5, serde_json::json!({"agent_id": "bob"})),
            (
                "queue_left",
                5,
                serde_json::json!({"queue": "Support", "reason": "answered"}),
            ),
        ],
    ));
    events
}

#[test]
fn the_dashboard_and_native_calls_do_not_depend_on_delivery_order() {
    let events = contact_day();
    let fixture = Fixture::new();
    fixture.append(&events);
    fixture.projector(1).catch_up_blocking().unwrap();
    let dashboard = fixture.views.dashboard().unwrap();
    // c in the menu; nothing queued (d was answered); bob talks on d, alice is ready.
    assert_eq!(dashboard.calls_in_menu, 1);
    assert!(dashboard.queues.is_empty(), "{dashboard:?}");
    let alice = &dashboard.agents[0];
    let bob = &dashboard.agents[1];
    assert!(alice.ready() && !alice.talking);
    assert!(bob.talking && !bob.ready() && bob.logged_in());

    let mut reversed = events.clone();
    reversed.reverse();
    let other = Fixture::new();
    other.append(&reversed);
    other.projector(4).catch_up_blocking().unwrap();
    assert_eq!(other.views.dashboard().unwrap(), dashboard);
    assert_eq!(other.views.dump().unwrap(), fixture.views.dump().unwrap());

    let day = Period::new(
        domain::stats::period::quarter_start(domain::stats::period::quarter_of(t(0))),
        domain::stats::period::quarter_start(domain::stats::period::quarter_of(t(0)) + 96),
        domain::stats::period::parse_zone("UTC").unwrap(),
    )
    .unwrap();
    let kpis = fixture.views.call_statistics(&day, true, false).unwrap();
    // a answered after 12 s in Support, b abandoned after 30 s; c and d still run.
    assert_eq!(kpis.overall.get(calls::OFFERED), 2);
    assert_eq!(kpis.overall.get(calls::LOST_IN_QUEUE), 1);
    assert_eq!(kpis.queues.len(), 1);
    assert_eq!(kpis.queues[0].0, "Support");
    assert_eq!(kpis.overall.get(calls::WAIT_MS), 42_000);
}

#[tokio::test]
async fn batches_say_when_the_dashboard_changed() {
    let fixture = Fixture::new();
    let handle = fixture.projector(1024).spawn().unwrap();
    let mut changes = handle.changes();
    fixture.append_async(&contact_day()[..1]).await;
    let batch = changes.recv().await.unwrap();
    assert!(batch.dashboard);
    fixture
        .append_async(&[n(domain::CallGearKind::End, 77, 10)
            .phone("74990000001")
            .ev()])
        .await;
    let batch = changes.recv().await.unwrap();
    assert!(!batch.dashboard);
    handle.shutdown();
}
