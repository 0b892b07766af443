//! `tickets(filter, first, after)`: newest first, cursor pagination, filters
//! through indexes, counts; compared with a brute-force filter of all tickets.

mod support;

use std::collections::BTreeSet;

use domain::{Channel, Event, Ticket, TicketStatus};
use projections::{Error, TicketFilter, TicketPage, Views, TICKETS_FIRST_MAX};
use support::*;

const PHONES: [&str; 5] = [
    "74990000001",
    "74990000002",
    "74990000003",
    "74990000004",
    "74990000005",
];

/// 120 tickets: 100 answered calls from five customers (20 each, operators 1–3
/// in turn, every third one then closed), and 20 missed calls from 20 more numbers.
fn history() -> Vec<Event> {
    let mut events = team();
    for i in 0..100u64 {
        let session = 1000 + i;
        let employee = 1 + i % 3;
        let start = i as i64 * 100;
        events.extend(answered(
            session,
            PHONES[i as usize % 5],
            employee,
            start,
            30,
        ));
        if i % 3 == 0 {
            let agent = ["alice", "bob", "carol"][(employee - 1) as usize];
            let ticket = format!("call-{session}-{agent}");
            events.push(status("bob", &ticket, TicketStatus::Closed, start + 95));
        }
    }
    for i in 0..20u64 {
        let digits = format!("7498000{:04}", i);
        events.extend(missed(2000 + i, &digits, &[1 + i % 3], 5000 + i as i64 * 7));
    }
    events
}

fn setup() -> (Fixture, Vec<Ticket>) {
    let events = history();
    let fixture = Fixture::new();
    fixture.append(&events);
    fixture.projector(1024).catch_up_blocking().unwrap();
    let mut all: Vec<Ticket> = fold(&events).tickets().into_values().collect();
    all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
    assert_eq!(all.len(), 120);
    (fixture, all)
}

fn pages(views: &Views, filter: &TicketFilter, first: usize) -> Vec<TicketPage> {
    let mut out: Vec<TicketPage> = Vec::new();
    loop {
        let after = out.last().and_then(|p| p.end_cursor.clone());
        let page = views.tickets(filter, first, after.as_deref()).unwrap();
        let more = page.has_next_page;
        out.push(page);
        if !more {
            return out;
        }
        assert!(out.len() <= 200, "pagination does not end");
    }
}

fn ids(tickets: &[Ticket]) -> Vec<String> {
    tickets.iter().map(|t| t.id.clone()).collect()
}

#[test]
fn paging_through_120_tickets_by_50() {
    let (fixture, all) = setup();
    let filter = TicketFilter::default();
    let pages = pages(&fixture.views, &filter, 50);
    let sizes: Vec<usize> = pages.iter().map(|p| p.nodes.len()).collect();
    assert_eq!(sizes, [50, 50, 20]);
    assert!(pages.iter().all(|p| p.total_count == 120));
    let seen: Vec<Ticket> = pages.iter().flat_map(|p| p.nodes.clone()).collect();
    assert_eq!(
        ids(&seen),
        ids(&all),
        "newest first, no overlap, nothing left out"
    );
    assert_eq!(seen, all, "nodes are the full tickets");
    let distinct: BTreeSet<String> = ids(&seen).into_iter().collect();
    assert_eq!(distinct.len(), 120);

    // Cursors are stable: asking again gives the same pages and cursors.
    let again = self::pages(&fixture.views, &filter, 50);
    assert_eq!(again, pages);
    let second = fixture
        .views
        .tickets(&filter, 50, pages[0].end_cursor.as_deref())
        .unwrap();
    assert_eq!(second, pages[1]);
    assert!(pages[2].end_cursor.is_some());
    let past_the_end = fixture
        .views
        .tickets(&filter, 50, pages[2].end_cursor.as_deref())
        .unwrap();
    assert!(past_the_end.nodes.is_empty() && !past_the_end.has_next_page);
    assert_eq!(
        (past_the_end.total_count, past_the_end.end_cursor),
        (120, None)
    );
}

/// A filter, the same criteria as a predicate, and the expected count (0: unchecked).
type Case<'a> = (TicketFilter, Box<dyn Fn(&Ticket) -> bool + 'a>, usize);

#[test]
fn filters_match_a_brute_force_filter_of_all_tickets() {
    let (fixture, all) = setup();
    let events = history();
    let state = fold(&events);
    // The phones of a ticket's calls, as the phone filter reads them.
    let call_phones = |ticket: &Ticket| -> BTreeSet<String> {
        ticket
            .calls
            .iter()
            .filter_map(|s| state.sessions[s].phone())
            .map(|p| p.digits().to_owned())
            .collect()
    };
    let f = TicketFilter::default;
    let cases: Vec<Case> = vec![
        (
            TicketFilter {
                customer_id: Some("cus-74990000003".into()),
                ..f()
            },
            Box::new(|t| t.customer_id == "cus-74990000003"),
            20,
        ),
        (
            TicketFilter {
                status: Some(vec![TicketStatus::Closed]),
                ..f()
            },
            Box::new(|t| t.status == TicketStatus::Closed),
            34,
        ),
        (
            TicketFilter {
                status: Some(vec![TicketStatus::Open, TicketStatus::Pending]),
                ..f()
            },
            Box::new(|t| t.status != TicketStatus::Closed),
            86,
        ),
        (
            TicketFilter {
                assignee_id: Some("alice".into()),
                ..f()
            },
            Box::new(|t| t.assignee_id.as_deref() == Some("alice")),
            41,
        ),
        (
            TicketFilter {
                missed: Some(true),
                ..f()
            },
            Box::new(|t| t.missed),
            20,
        ),
        (
            TicketFilter {
                missed: Some(false),
                channel: Some(Channel::Calls),
                ..f()
            },
            Box::new(|t| !t.missed),
            100,
        ),
        (
            TicketFilter {
                phone: Some("+7 (499) 000-00-02".into()),
                ..f()
            },
            Box::new(|t| call_phones(t).contains("74990000002")),
            20,
        ),
        (
            TicketFilter {
                customer_id: Some("cus-74990000001".into()),
                status: Some(vec![TicketStatus::Closed]),
                assignee_id: Some("alice".into()),
                ..f()
            },
            Box::new(|t| {
                t.customer_id == "cus-74990000001"
                    && t.status == TicketStatus::Closed
                    && t.assignee_id.as_deref() == Some("alice")
            }),
            0, // computed below
        ),
        (
            TicketFilter {
                channel: Some(Channel::Sms),
                ..f()
            },
            Box::new(|_| false),
            0,
        ),
        (
            TicketFilter {
                status: Some(vec![]),
                ..f()
            },
            Box::new(|_| false),
            0,
        ),
        (
            TicketFilter {
                phone: Some("no digits".into()),
                ..f()
            },
            Box::new(|_| false),
            0,
        ),
        (
            TicketFilter {
                customer_id: Some("nobody".into()),
                ..f()
            },
            Box::new(|_| false),
            0,
        ),
    ];
    for (filter, predicate, count) in cases {
        let expect: Vec<Ticket> = all.iter().filter(|t| predicate(t)).cloned().collect();
        if count > 0 {
            assert_eq!(expect.len(), count, "{filter:?}");
        }
        let pages = pages(&fixture.views, &filter, 7);
        let got: Vec<Ticket> = pages.iter().flat_map(|p| p.nodes.clone()).collect();
        assert_eq!(ids(&got), ids(&expect), "{filter:?}");
        for page in &pages {
            assert_eq!(page.total_count, expect.len() as u64, "{filter:?}");
        }
    }
}

#[test]
fn customer_tickets_are_newest_first() {
    let (fixture, all) = setup();
    let expect: Vec<String> = all
        .iter()
        .filter(|t| t.customer_id == "cus-74990000005")
        .map(|t| t.id.clone())
        .collect();
    let got = fixture.views.customer_tickets("cus-74990000005").unwrap();
    assert_eq!(ids(&got), expect);
    assert_eq!(got.len(), 20);
}

#[test]
fn first_is_bounded_and_bad_cursors_are_refused() {
    let (fixture, all) = setup();
    let page = fixture
        .views
        .tickets(&TicketFilter::default(), 10_000, None)
        .unwrap();
    const { assert!(TICKETS_FIRST_MAX >= 120) };
    assert_eq!(page.nodes.len(), 120);
    let empty = fixture
        .views
        .tickets(&TicketFilter::default(), 0, None)
        .unwrap();
    assert!(empty.nodes.is_empty() && empty.has_next_page);
    assert_eq!(empty.total_count, all.len() as u64);
    for bad in ["", "t1.zz", "t1.00", "abc"] {
        let err = fixture
            .views
            .tickets(&TicketFilter::default(), 5, Some(bad))
            .unwrap_err();
        assert!(matches!(err, Error::BadCursor(_)), "{bad}: {err}");
    }
}
