//! Builders for events (times are seconds after `T0`) and a fixture holding a
//! real `SledLog` and real `Views` in a temporary directory.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::Arc;

use domain::agent::*;
use domain::{CallGearKind, Event, Source, Timestamp};
use eventlog::{EventLog, NewEvent, SledLog};
use projections::{Options, Projector, Views};

pub use domain::testing::*;

pub fn ev(event: NativeEvent) -> Event {
    Event::Native(Box::new(event))
}

pub fn agent(id: &str, employees: &[u64], at: i64) -> Event {
    ev(NativeEvent::UpsertAgent(UpsertAgent {
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

pub fn link(agent: &str, digits: &str, customer: &str, at: i64) -> Event {
    ev(NativeEvent::LinkPhoneToCustomer(LinkPhoneToCustomer {
        at: t(at),
        agent_id: agent.into(),
        phone: phone(digits),
        customer_id: customer.into(),
    }))
}

pub fn customer(agent: &str, id: &str, name: &str, at: i64) -> Event {
    ev(NativeEvent::UpsertCustomer(UpsertCustomer {
        at: t(at),
        agent_id: agent.into(),
        customer_id: id.into(),
        name: Some(name.into()),
        email: Some(format!("{id}@example.com")),
        company: None,
    }))
}

pub fn status(agent: &str, ticket: &str, status: TicketStatus, at: i64) -> Event {
    ev(NativeEvent::SetTicketStatus(SetTicketStatus {
        at: t(at),
        agent_id: agent.into(),
        ticket_id: ticket.into(),
        status,
    }))
}

pub fn note(agent: &str, ticket: &str, body: &str, at: i64) -> Event {
    ev(NativeEvent::AddNote(AddNote {
        at: t(at),
        agent_id: agent.into(),
        ticket_id: ticket.into(),
        body: body.into(),
    }))
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

/// A softphone call by `employee` that the contact answered.
pub fn outbound(session: u64, digits: &str, employee: u64, start: i64, talk: u32) -> Vec<Event> {
    let end = start + 20 + i64::from(talk);
    vec![
        n(CallGearKind::CallOut, session, start)
            .phone(digits)
            .employee(employee)
            .out()
            .ev(),
        n(CallGearKind::EndLeg, session, end)
            .phone(digits)
            .employee(employee)
            .operator()
            .talk(talk)
            .out()
            .ev(),
        n(CallGearKind::End, session, end + 1)
            .phone(digits)
            .employee(employee)
            .talk(talk)
            .lost(false)
            .out()
            .ev(),
    ]
}

pub fn concat(parts: impl IntoIterator<Item = Vec<Event>>) -> Vec<Event> {
    parts.into_iter().flatten().collect()
}

/// The receive time the fixture gives an event: its own time.
pub fn received_at(event: &Event) -> Timestamp {
    match event {
        Event::CallGear(n) => n.notification_time.unwrap_or(t(0)),
        Event::Native(native) => native.at(),
        Event::Contact(contact) => contact.at,
    }
}

/// The same events folded in memory by the domain: what the views must show.
pub fn fold(events: &[Event]) -> domain::State {
    let mut state = domain::State::default();
    for event in events {
        state.apply(event, received_at(event));
    }
    state
}

/// A mixed history: the team, answered and missed calls with grouping, a
/// linked phone, a named customer, status changes, notes and an outbound call.
pub fn workload() -> Vec<Event> {
    const A: &str = "74990000001";
    const B: &str = "74990000002";
    const C: &str = "74995550000";
    let mut events = concat([
        team(),
        answered(10, A, 1, 0, 30),
        missed(11, B, &[1, 2], 100),
        missed(12, B, &[3], 200),
        vec![status("alice", "missed-11", TicketStatus::Pending, 250)],
        missed(13, B, &[1], 300),
        vec![customer("alice", "acme", "ACME Ltd", 310)],
        vec![link("alice", C, "acme", 320)],
        answered(14, C, 2, 400, 45),
        answered(15, A, 3, 500, 20),
        vec![note("bob", "call-14-bob", "wants a refund", 560)],
        vec![status("bob", "call-14-bob", TicketStatus::Closed, 600)],
        outbound(16, B, 1, 700, 60),
        missed(17, B, &[], 900),
        answered(18, A, 9, 1000, 10), // unmapped operator: no ticket (R1)
        vec![status("carol", "call-15-carol", TicketStatus::Open, 1100)],
        contact_calls(),
        // Operator 9 mapped late, with a time before call 18's start: the
        // archive keeps call 18 as it was when folded (like tickets), whatever
        // the batch size.
        vec![agent("dave", &[9], 900)],
    ]);
    // A duplicate delivery and a late recording change nothing / attach (R17, R24).
    events.push(events[5].clone());
    events.push(
        n(CallGearKind::Recording, 16, 2000)
            .phone(B)
            .recording("https://rec/16")
            .ev(),
    );
    events
}

/// Contact-centre calls (SPEC §4): answered from a queue, a callback with an
/// unanswered attempt, agent to agent, an unanswered outbound call; one
/// event delivered twice.
pub fn contact_calls() -> Vec<Event> {
    const A: &str = "74990000001";
    const B: &str = "74990000002";
    let mut events = vec![
        cc(
            "c-in",
            1200,
            r#""type":"call_started","kind":"inbound","phone":"+7 499 000-00-01""#,
        ),
        cc("c-in", 1200, r#""type":"queue_entered","queue":"Support""#),
        cc(
            "c-in",
            1230,
            r#""type":"queue_left","queue":"Support","reason":"answered""#,
        ),
        cc(
            "c-in",
            1230,
            r#""type":"agent_answered","agent_id":"alice""#,
        ),
        cc("c-in", 1330, r#""type":"agent_hung_up","agent_id":"alice""#),
        cc("c-in", 1330, r#""type":"call_ended""#),
        cc(
            "c-cb",
            1300,
            r#""type":"call_started","kind":"inbound","phone":"74990000002""#,
        ),
        cc("c-cb", 1300, r#""type":"queue_entered","queue":"Support""#),
        cc(
            "c-cb",
            1360,
            r#""type":"queue_left","queue":"Support","reason":"callback_ordered""#,
        ),
        cc(
            "c-cb",
            1365,
            &format!(r#""type":"callback_ordered","queue":"Support","phone":"{B}""#),
        ),
        cc("c-cb", 1370, r#""type":"call_ended""#),
        cc(
            "c-cb",
            1400,
            r#""type":"callback_attempt_started","attempt":1,"agent_id":"bob""#,
        ),
        cc(
            "c-cb",
            1420,
            r#""type":"callback_attempt_result","attempt":1,"result":"no_answer""#,
        ),
        cc("c-cb", 1420, r#""type":"call_ended""#),
        cc(
            "c-a2a",
            1500,
            r#""type":"call_started","kind":"internal","agent_id":"alice","target_agent_id":"bob""#,
        ),
        cc(
            "c-a2a",
            1501,
            r#""type":"agent_answered","agent_id":"alice""#,
        ),
        cc(
            "c-a2a",
            1511,
            r#""type":"consult_answered","agent_id":"alice","target_agent_id":"bob""#,
        ),
        cc("c-a2a", 1709, r#""type":"call_ended""#),
        cc(
            "c-out",
            1600,
            &format!(
                r#""type":"outbound_ordered","queue":"Callout","phone":"{A}","mode":"manual","agent_id":"carol""#
            ),
        ),
        cc(
            "c-out",
            1625,
            r#""type":"outbound_result","result":"no_answer""#,
        ),
        cc("c-out", 1625, r#""type":"call_ended""#),
    ];
    events.push(events[3].clone());
    events
}

/// Opens a store, retrying while another handle of it (just dropped, its
/// threads still winding down) holds sled's lock.
fn retry<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let mut tries = 0;
    loop {
        match open() {
            Ok(value) => return value,
            Err(e) if tries >= 50 => panic!("cannot reopen: {e:?}"),
            Err(_) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// A temporary data dir with a real sled log and real views.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub log: Arc<SledLog>,
    pub views: Views,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (log, views) = Fixture::open_in(&dir);
        Fixture { dir, log, views }
    }

    fn open_in(dir: &tempfile::TempDir) -> (Arc<SledLog>, Views) {
        // sled's own flusher thread may still hold the file lock of a store
        // just closed; opening again waits for it (briefly) instead of failing.
        let log = retry(|| SledLog::open(eventlog::Options::new(dir.path().join("log"))));
        let views = retry(|| Views::open(dir.path().join("views")));
        (Arc::new(log), views)
    }

    /// Closes log and views (every projector must be gone) and opens them again.
    pub fn reopen(self) -> Fixture {
        let Fixture { dir, log, views } = self;
        let log = Arc::into_inner(log).expect("no other owner of the log");
        log.close();
        drop(views);
        let (log, views) = Fixture::open_in(&dir);
        Fixture { dir, log, views }
    }

    /// Closes the views, lets `f` edit their sled tree directly, opens them again.
    pub fn edit_views_raw(self, f: impl FnOnce(&sled::Tree)) -> Fixture {
        let Fixture { dir, log, views } = self;
        drop(views);
        {
            // sled's threads may still hold the lock of the dropped views a moment.
            let db = retry(|| sled::open(dir.path().join("views")));
            f(&db.open_tree("helpdesk").unwrap());
            db.flush().unwrap();
        }
        let views = retry(|| Views::open(dir.path().join("views")));
        Fixture { dir, log, views }
    }

    /// Closes the log, lets `f` edit its sled tree directly (`L` + position
    /// u64 BE: an envelope), opens it again.
    pub fn edit_log_raw(self, f: impl FnOnce(&sled::Tree)) -> Fixture {
        let Fixture { dir, log, views } = self;
        let log = Arc::into_inner(log).expect("no other owner of the log");
        log.close();
        {
            let db = retry(|| sled::open(dir.path().join("log")));
            f(&db.open_tree("log").unwrap());
            db.flush().unwrap();
        }
        let log = retry(|| SledLog::open(eventlog::Options::new(dir.path().join("log"))));
        Fixture {
            dir,
            log: Arc::new(log),
            views,
        }
    }

    /// Closes the views, lets `f` change the files in the fixture's directory, opens them again.
    pub fn edit_dir_raw(self, f: impl FnOnce(&std::path::Path)) -> Fixture {
        let Fixture { dir, log, views } = self;
        drop(views);
        f(dir.path());
        let views = retry(|| Views::open(dir.path().join("views")));
        Fixture { dir, log, views }
    }

    /// The names in the fixture's directory, sorted.
    pub fn dir_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Appends events as deliveries would, each with a fresh dedupe key.
    pub fn append(&self, events: &[Event]) {
        self.log.append(self.batch(events), None).wait().unwrap();
    }

    /// [`Fixture::append`] from async code.
    pub async fn append_async(&self, events: &[Event]) {
        self.log.append(self.batch(events), None).await.unwrap();
    }

    fn batch(&self, events: &[Event]) -> Vec<NewEvent> {
        let head = self.log.head();
        let batch = events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let mut dedupe_key = [0u8; 32];
                dedupe_key[..8].copy_from_slice(&(head + i as u64).to_be_bytes());
                NewEvent {
                    received_at: received_at(event),
                    source: event.source(),
                    kind: match event.source() {
                        Source::CallGear => "callgear".into(),
                        Source::Native => "native".into(),
                    },
                    dedupe_key,
                    time_zone: "UTC".into(),
                    raw: Vec::new(),
                    event: event.clone(),
                }
            })
            .collect();
        batch
    }

    pub fn projector(&self, batch_events_max: usize) -> Projector {
        self.projector_with(Options {
            batch_events_max,
            ..Options::default()
        })
    }

    pub fn projector_with(&self, options: Options) -> Projector {
        Projector::new(
            options,
            self.views.clone(),
            self.log.clone() as Arc<dyn EventLog>,
        )
    }
}
