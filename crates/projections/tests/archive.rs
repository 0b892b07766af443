//! The call archive in the views: both feeds listed newest first, filters that
//! agree with a brute-force filter of every call, cursor paging, the timeline
//! of a call by archive id, the per-call cap, and an older layout rebuilt.

mod support;

use domain::contact::CallKind;
use domain::timeline::CONTACT_EVENTS_PER_CALL_MAX;
use domain::{CallSummary, Outcome, Timestamp};
use projections::{CallFilter, CallPage, Error, Views, CALLS_FIRST_MAX};
use support::*;

fn setup() -> (Fixture, Vec<CallSummary>) {
    let fixture = Fixture::new();
    fixture.append(&workload());
    fixture.projector(7).catch_up_blocking().unwrap();
    let all = fixture
        .views
        .calls(&CallFilter::default(), CALLS_FIRST_MAX, None)
        .unwrap();
    assert!(!all.has_next_page);
    assert_eq!(all.total_count, all.nodes.len() as u64);
    (fixture, all.nodes)
}

fn ids(nodes: &[CallSummary]) -> Vec<&str> {
    nodes.iter().map(|s| s.id.as_str()).collect()
}

#[test]
fn both_feeds_are_listed_newest_start_first() {
    let (_fixture, all) = setup();
    // CallGear sessions 10–18 and the four contact-centre calls.
    let mut expect: Vec<&str> = vec![
        "10", "11", "12", "13", "14", "15", "16", "17", "18", "cc:c-a2a", "cc:c-cb", "cc:c-in",
        "cc:c-out",
    ];
    let mut actual = ids(&all);
    actual.sort();
    expect.sort();
    assert_eq!(actual, expect);
    for pair in all.windows(2) {
        assert!(
            (pair[0].started_at, std::cmp::Reverse(&pair[1].id))
                >= (pair[1].started_at, std::cmp::Reverse(&pair[0].id)),
            "{} before {}",
            pair[0].id,
            pair[1].id
        );
    }
    assert_eq!(
        ids(&all[..4]),
        ["cc:c-out", "cc:c-a2a", "cc:c-cb", "cc:c-in"]
    );

    let by_id = |id: &str| all.iter().find(|s| s.id == id).unwrap().clone();
    let inbound = by_id("cc:c-in");
    assert_eq!(inbound.outcome, Outcome::Answered);
    assert_eq!(inbound.agents, ["alice"]);
    assert_eq!(inbound.wait_seconds, 30);
    assert_eq!(inbound.talk_seconds, 100);
    assert_eq!(inbound.phone.as_deref(), Some("+74990000001"));
    let callback = by_id("cc:c-cb");
    assert_eq!(callback.outcome, Outcome::CallbackOrdered);
    assert_eq!(callback.agents, ["bob"]);
    let internal = by_id("cc:c-a2a");
    assert_eq!(internal.direction, CallKind::Internal);
    assert_eq!(internal.phone.as_deref(), Some("xxxxxxxx"));
    assert_eq!(internal.talk_seconds, 208);
    assert_eq!(by_id("cc:c-out").outcome, Outcome::NoAnswer);
    // CallGear: answered, missed, outbound; the unmapped operator's call has no agent.
    assert_eq!(by_id("10").outcome, Outcome::Answered);
    assert_eq!(by_id("11").outcome, Outcome::Abandoned);
    assert_eq!(by_id("16").direction, CallKind::Outbound);
    assert!(by_id("18").agents.is_empty(), "{:?}", by_id("18"));
}

fn brute_force(all: &[CallSummary], filter: &CallFilter) -> Vec<String> {
    let phone = filter.phone.as_deref().map(domain::Phone::normalize);
    all.iter()
        .filter(|s| match &phone {
            None => true,
            Some(None) => false,
            Some(Some(p)) => s.phones.contains(p),
        })
        .filter(|s| {
            filter
                .agent_id
                .as_ref()
                .is_none_or(|a| s.agents.contains(a))
        })
        .filter(|s| filter.from.is_none_or(|f| s.started_at >= f))
        .filter(|s| filter.to.is_none_or(|to| s.started_at < to))
        .filter(|s| {
            filter
                .direction
                .as_ref()
                .is_none_or(|d| d.contains(&s.direction))
        })
        .filter(|s| {
            filter
                .outcome
                .as_ref()
                .is_none_or(|o| o.contains(&s.outcome))
        })
        .map(|s| s.id.clone())
        .collect()
}

/// Every page of `filter`, `first` at a time.
fn pages(views: &Views, filter: &CallFilter, first: usize) -> Vec<CallPage> {
    let mut out: Vec<CallPage> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = views.calls(filter, first, after.as_deref()).unwrap();
        after = page.end_cursor.clone();
        let more = page.has_next_page;
        out.push(page);
        if !more {
            return out;
        }
        assert!(out.len() < 100, "paging does not end");
    }
}

#[test]
fn filters_match_a_brute_force_filter_of_every_call() {
    let (fixture, all) = setup();
    let mut filters = Vec::new();
    let phones = [
        None,
        Some("74990000001"),
        Some("+7 499 000-00-02"),
        Some("74995550000"),
        Some("no digits"),
    ];
    let agents = [None, Some("alice"), Some("bob"), Some("carol"), Some("zed")];
    let periods = [
        (None, None),
        (Some(t(300)), None),
        (None, Some(t(1300))),
        (Some(t(100)), Some(t(1300))),
        (Some(t(1300)), Some(t(1300))),
    ];
    let directions = [
        None,
        Some(vec![CallKind::Inbound]),
        Some(vec![CallKind::Outbound, CallKind::Internal]),
        Some(vec![]),
    ];
    let outcomes = [
        None,
        Some(vec![Outcome::Answered]),
        Some(vec![
            Outcome::Abandoned,
            Outcome::NoAnswer,
            Outcome::CallbackOrdered,
        ]),
    ];
    for phone in phones {
        for agent in agents {
            for (from, to) in periods {
                for direction in &directions {
                    for outcome in &outcomes {
                        filters.push(CallFilter {
                            phone: phone.map(str::to_owned),
                            agent_id: agent.map(str::to_owned),
                            from,
                            to,
                            direction: direction.clone(),
                            outcome: outcome.clone(),
                        });
                    }
                }
            }
        }
    }
    let mut non_empty = 0;
    for filter in &filters {
        let expect = brute_force(&all, filter);
        let pages = pages(&fixture.views, filter, 2);
        let actual: Vec<String> = pages
            .iter()
            .flat_map(|p| p.nodes.iter().map(|s| s.id.clone()))
            .collect();
        assert_eq!(actual, expect, "{filter:?}");
        for page in &pages {
            assert_eq!(page.total_count, expect.len() as u64, "{filter:?}");
        }
        non_empty += usize::from(!expect.is_empty());
    }
    // The grid is not vacuous.
    assert!(non_empty > 100, "{non_empty} of {}", filters.len());
}

#[test]
fn paging_gives_every_call_once_and_bad_cursors_are_refused() {
    let (fixture, all) = setup();
    let pages = pages(&fixture.views, &CallFilter::default(), 3);
    assert_eq!(pages.len(), all.len().div_ceil(3));
    let paged: Vec<&str> = pages.iter().flat_map(|p| ids(&p.nodes)).collect();
    assert_eq!(paged, ids(&all));

    let count = fixture
        .views
        .calls(&CallFilter::default(), 0, None)
        .unwrap();
    assert!(count.nodes.is_empty());
    assert_eq!(count.total_count, all.len() as u64);
    assert!(count.has_next_page);

    for bad in ["", "t1.00", "c1.zz", "c1.0011"] {
        let err = fixture
            .views
            .calls(&CallFilter::default(), 5, Some(bad))
            .unwrap_err();
        assert!(matches!(err, Error::BadCursor(_)), "{bad}: {err}");
    }
}

#[test]
fn a_call_is_found_by_archive_id_with_its_timeline() {
    let (fixture, _) = setup();
    let views = &fixture.views;
    let lines = |id: &str| -> Vec<String> {
        let archive = views.archived_call(id).unwrap().unwrap();
        archive
            .timeline
            .iter()
            .map(|e| {
                format!(
                    "{:?} {} {} {}",
                    e.kind,
                    e.seconds,
                    e.agent_id.as_deref().unwrap_or("-"),
                    e.place.as_deref().unwrap_or("-")
                )
            })
            .collect()
    };
    assert_eq!(
        lines("cc:c-in"),
        ["Queue 30 - Support", "Conversation 100 alice Support"]
    );
    assert_eq!(
        lines("cc:c-a2a"),
        ["Conversation 10 alice -", "Consult 198 bob -"]
    );
    // CallGear session 14: bob talked 45 s.
    assert_eq!(lines("14"), ["Conversation 45 bob -"]);
    assert!(views.archived_call("cc:nope").unwrap().is_none());
    assert!(views.archived_call("999").unwrap().is_none());
    assert!(views.archived_call("not an id").unwrap().is_none());
    assert_eq!(
        views.call_summary("cc:c-in").unwrap().unwrap().agents,
        ["alice"]
    );
    // The record holds the distinct events (the duplicate delivery merged).
    assert_eq!(views.contact_call("c-in").unwrap().unwrap().events.len(), 6);
}

#[test]
fn a_call_whose_events_keep_coming_is_capped() {
    let fixture = Fixture::new();
    let mut events = vec![cc(
        "busy",
        0,
        r#""type":"call_started","kind":"inbound","phone":"4511""#,
    )];
    for i in 1..=(CONTACT_EVENTS_PER_CALL_MAX as i64 + 100) {
        events.push(cc(
            "busy",
            i,
            &format!(r#""type":"menu_entered","menu":"m{i}""#),
        ));
    }
    fixture.append(&events);
    fixture.projector(64).catch_up_blocking().unwrap();
    let record = fixture.views.contact_call("busy").unwrap().unwrap();
    assert_eq!(record.events.len(), CONTACT_EVENTS_PER_CALL_MAX);
    assert!(record.truncated);
    let summary = fixture.views.call_summary("cc:busy").unwrap().unwrap();
    assert!(summary.truncated);
    assert_eq!(summary.started_at, t(0));
}

#[test]
fn views_of_an_older_layout_are_rebuilt_from_the_log() {
    let (fixture, all) = setup();
    let before = fixture.views.dump().unwrap();
    let fixture = fixture.edit_views_raw(|tree| {
        tree.remove("@layout").unwrap();
    });
    assert_eq!(fixture.views.checkpoint(), 0);
    assert!(fixture.views.dump().unwrap().is_empty());
    fixture.projector(1024).catch_up_blocking().unwrap();
    assert_eq!(fixture.views.dump().unwrap(), before);
    let again = fixture
        .views
        .calls(&CallFilter::default(), CALLS_FIRST_MAX, None)
        .unwrap();
    assert_eq!(again.nodes, all);
}

#[test]
fn period_bounds_are_inclusive_from_exclusive_to() {
    let (fixture, all) = setup();
    let start = all.iter().find(|s| s.id == "cc:c-in").unwrap().started_at;
    let only = |from: Timestamp, to: Timestamp| {
        let filter = CallFilter {
            from: Some(from),
            to: Some(to),
            ..CallFilter::default()
        };
        let page = fixture.views.calls(&filter, 50, None).unwrap();
        page.nodes.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(only(start, Timestamp(start.0 + 1)), ["cc:c-in"]);
    assert!(only(Timestamp(start.0 - 1), start).is_empty());
    assert!(only(Timestamp(start.0 + 1), Timestamp(start.0 + 2)).is_empty());
}
