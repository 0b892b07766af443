//! Statistics end to end (SPEC §5, docs/statistics.md): a recorded stream with
//! CallGear calls, agents' edits and native contact-centre calls is imported
//! with the real binary; the figures `callfold query` and `callfold report cdr`
//! give are compared with figures worked out by hand below (the arithmetic is
//! in the comments, never computed by the code under test).
//!
//! The day is 2024-04-05. Moscow is UTC+3: its 5 April is
//! [2024-04-04T21:00Z, 2024-04-05T21:00Z). All times below are UTC.
//!
//! CallGear (alice = operator 51, bob = operator 52):
//! - S0 (4 April 10:00, before every period): bob answers, wait 10, talk 20 →
//!   ticket call-100-bob created 2024-04-04T10:00:31.
//! - S1 09:00:00 alice answers after 10 s, talk 30, end 09:00:41 → call-101-alice.
//! - S2 10:00:00 rings at bob (not answered), caller hangs up 10:00:25 (wait 25) →
//!   missed-102 (assignee bob).
//! - S3 10:30:00 bob calls P2 back, talk 400, end 10:37:01 → attached to
//!   missed-102 (R11), no new ticket; callback of S2 after 10:30:00 − 10:00:25 = 1775 s.
//! - S4 11:00:00 alice talks 60 (leg ends 11:01:10), transfers to bob who talks
//!   100; end 11:03:00 (wait 10, talk 160) → call-104-alice created and CLOSED at
//!   11:01:10 (R7, equal times), call-104-bob at 11:03:00.
//! - S5 20:30:00 alice, wait 5, talk 50, end 20:31:00 → call-105-alice (23:31 Moscow).
//! - S6 22:30:00 bob, wait 15, talk 20, end 22:30:40 → call-106-bob (6 April in Moscow).
//! - S7 17:00:00 alice calls P7, talk 90, end 17:02:01 → call-107-alice, CLOSED at
//!   creation (R11, equal times).
//!
//! Edits: bob notes call-100-bob 12:00, closes it 12:05; alice reopens it 13:00;
//! bob closes it 14:00. Alice sets call-101-alice PENDING 09:30; bob replies on it
//! 14:30; alice closes it 15:00 and reopens it 16:00.
//!
//! Native feed: C1 (menu 8 s, queue Support 15 s, alice talks 360 s), C2 (Support,
//! abandoned after 40 s), C3 (hangs up in the menu), C4 (alice calls C2's number
//! back at 12:30:00, talk 60), C5 (Support, bob after 5 s, talk 60; delivered in
//! reverse order), C6 (Sales, bob after 45 s, talk 120), and, still running at
//! the end, C7 (in the menu), C8 (queued in Support), C9 (bob talking).

mod common;

use common::{run, run_ok, Notification};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const P0: &str = "79160000100";
const P1: &str = "79160000101";
const P2: &str = "79160000102";
const P4: &str = "79160000104";
const P5: &str = "79160000105";
const P6: &str = "79160000106";
const P7: &str = "79160000107";

fn rfc(day: u32, time: &str) -> String {
    format!("2024-04-{day:02}T{time}Z")
}

struct Stream {
    lines: Vec<Value>,
}

impl Stream {
    fn callgear(
        &mut self,
        day: u32,
        time: &str,
        mut n: Notification,
        f: impl FnOnce(&mut Notification),
    ) {
        n.time = format!("2024-04-{day:02} {time}");
        f(&mut n);
        self.lines
            .push(json!({"at": rfc(day, time), "path": format!("/{}", n.kind), "body": n.body()}));
    }

    fn event(&mut self, time: &str, event: Value) {
        let mut event = event;
        event["v"] = json!(1);
        event["at"] = json!(rfc(5, time));
        self.lines.push(json!({"at": rfc(5, time), "event": event}));
    }

    fn edit(&mut self, time: &str, agent: &str, ticket: &str, kind: &str, extra: Value) {
        let mut event =
            json!({"type": kind, "at": rfc(5, time), "agent_id": agent, "ticket_id": ticket});
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        self.lines.push(json!({"at": rfc(5, time), "event": event}));
    }

    /// An inbound call answered by the operators of `legs` (employee, leg end, talk) in turn.
    #[allow(clippy::too_many_arguments, reason = "one call's facts, spelled out")]
    fn answered(
        &mut self,
        day: u32,
        session: u64,
        phone: &str,
        legs: &[(u64, &str, u32)],
        end: &str,
        wait: u32,
        talk: u32,
        total: u32,
        recording_at: &str,
    ) {
        for (i, &(employee, leg_end, leg_talk)) in legs.iter().enumerate() {
            let leg = session * 10 + i as u64 + 1;
            self.callgear(
                day,
                leg_end,
                Notification::new("endleg", session, "", phone),
                |n| {
                    n.employee_id = Some(employee);
                    n.leg_id = Some(leg);
                    n.talk_seconds = leg_talk;
                    n.wait_seconds = wait;
                },
            );
        }
        let last = legs.last().unwrap().0;
        self.callgear(
            day,
            end,
            Notification::new("end", session, "", phone),
            |n| {
                n.employee_id = Some(last);
                n.talk_seconds = talk;
                n.wait_seconds = wait;
                n.total_seconds = total;
            },
        );
        self.callgear(
            day,
            recording_at,
            Notification::new("recording", session, "", phone),
            |n| {
                n.recording = Some(format!("https://media.example/{session}.mp3"));
                n.talk_seconds = talk;
            },
        );
    }

    #[allow(clippy::too_many_arguments, reason = "one call's facts, spelled out")]
    fn outbound(
        &mut self,
        session: u64,
        phone: &str,
        employee: u64,
        start: &str,
        end: &str,
        talk: u32,
        total: u32,
        recording_at: &str,
    ) {
        self.callgear(
            5,
            start,
            Notification::new("callout", session, "", phone),
            |n| {
                n.employee_id = Some(employee);
            },
        );
        self.callgear(5, end, Notification::new("end", session, "", phone), |n| {
            n.outbound = true;
            n.employee_id = Some(employee);
            n.talk_seconds = talk;
            n.total_seconds = total;
        });
        self.callgear(
            5,
            recording_at,
            Notification::new("recording", session, "", phone),
            |n| {
                n.outbound = true;
                n.recording = Some(format!("https://media.example/{session}.mp3"));
                n.talk_seconds = talk;
            },
        );
    }
}

fn stream() -> Vec<Value> {
    let mut s = Stream { lines: Vec::new() };
    for (agent, op) in [("alice", 51), ("bob", 52), ("carol", 53)] {
        s.lines.push(json!({"at": "2024-04-01T08:00:00Z", "graphql": format!(
            "mutation {{ upsertAgent(id: \"{agent}\", name: \"{agent}\", callgearEmployeeIds: [\"{op}\"]) {{ id }} }}"
        )}));
    }
    s.answered(
        4,
        100,
        P0,
        &[(52, "10:00:30", 20)],
        "10:00:31",
        10,
        20,
        31,
        "10:01:00",
    );
    s.answered(
        5,
        101,
        P1,
        &[(51, "09:00:40", 30)],
        "09:00:41",
        10,
        30,
        41,
        "09:01:30",
    );
    // S2: rang at bob (an operator leg without talk), lost.
    s.callgear(
        5,
        "10:00:20",
        Notification::new("endleg", 102, "", P2),
        |n| {
            n.employee_id = Some(52);
            n.leg_id = Some(1021);
        },
    );
    s.callgear(5, "10:00:25", Notification::new("end", 102, "", P2), |n| {
        n.is_lost = true;
        n.wait_seconds = 25;
        n.total_seconds = 25;
    });
    s.outbound(103, P2, 52, "10:30:00", "10:37:01", 400, 421, "10:38:00");
    s.answered(
        5,
        104,
        P4,
        &[(51, "11:01:10", 60), (52, "11:02:55", 100)],
        "11:03:00",
        10,
        160,
        180,
        "11:04:00",
    );
    s.answered(
        5,
        105,
        P5,
        &[(51, "20:30:55", 50)],
        "20:31:00",
        5,
        50,
        60,
        "20:32:00",
    );
    s.answered(
        5,
        106,
        P6,
        &[(52, "22:30:35", 20)],
        "22:30:40",
        15,
        20,
        40,
        "22:31:00",
    );
    s.outbound(107, P7, 51, "17:00:00", "17:02:01", 90, 121, "17:03:00");

    s.edit(
        "12:00:00",
        "bob",
        "call-100-bob",
        "add_note",
        json!({"body": "called the customer"}),
    );
    s.edit(
        "12:05:00",
        "bob",
        "call-100-bob",
        "set_ticket_status",
        json!({"status": "closed"}),
    );
    s.edit(
        "13:00:00",
        "alice",
        "call-100-bob",
        "set_ticket_status",
        json!({"status": "open"}),
    );
    s.edit(
        "14:00:00",
        "bob",
        "call-100-bob",
        "set_ticket_status",
        json!({"status": "closed"}),
    );
    s.edit(
        "09:30:00",
        "alice",
        "call-101-alice",
        "set_ticket_status",
        json!({"status": "pending"}),
    );
    s.edit(
        "14:30:00",
        "bob",
        "call-101-alice",
        "add_reply",
        json!({"body": "sent the form"}),
    );
    s.edit(
        "15:00:00",
        "alice",
        "call-101-alice",
        "set_ticket_status",
        json!({"status": "closed"}),
    );
    s.edit(
        "16:00:00",
        "alice",
        "call-101-alice",
        "set_ticket_status",
        json!({"status": "open"}),
    );

    for (agent, presence, time) in [
        ("alice", "ready", "08:00:00"),
        ("bob", "logged_in", "08:00:00"),
        ("carol", "ready", "08:00:00"),
        ("carol", "logged_out", "20:00:00"),
        ("bob", "paused", "20:40:00"),
    ] {
        s.event(
            time,
            json!({"type": "agent_presence", "agent_id": agent, "presence": presence}),
        );
    }
    let started = |id: &str, phone: &str| json!({"type": "call_started", "call_id": id, "kind": "inbound", "phone": phone});
    let c = |t: &str, id: &str, extra: Value| {
        let mut e = json!({"type": t, "call_id": id});
        for (k, v) in extra.as_object().unwrap() {
            e[k] = v.clone();
        }
        e
    };
    // C1
    s.event("12:00:00", started("c-1", "79160000201"));
    s.event(
        "12:00:00",
        c("menu_entered", "c-1", json!({"menu": "Main"})),
    );
    s.event("12:00:08", c("menu_left", "c-1", json!({"menu": "Main"})));
    s.event(
        "12:00:08",
        c("queue_entered", "c-1", json!({"queue": "Support"})),
    );
    s.event(
        "12:00:20",
        c("agent_offered", "c-1", json!({"agent_id": "alice"})),
    );
    s.event(
        "12:00:23",
        c("agent_answered", "c-1", json!({"agent_id": "alice"})),
    );
    s.event(
        "12:00:23",
        c(
            "queue_left",
            "c-1",
            json!({"queue": "Support", "reason": "answered"}),
        ),
    );
    s.event(
        "12:06:23",
        c("agent_hung_up", "c-1", json!({"agent_id": "alice"})),
    );
    s.event("12:06:25", c("call_ended", "c-1", json!({})));
    // C2
    s.event("12:10:00", started("c-2", "79160000202"));
    s.event(
        "12:10:00",
        c("queue_entered", "c-2", json!({"queue": "Support"})),
    );
    s.event(
        "12:10:40",
        c(
            "queue_left",
            "c-2",
            json!({"queue": "Support", "reason": "abandoned"}),
        ),
    );
    s.event("12:10:40", c("call_ended", "c-2", json!({})));
    // C3
    s.event("12:20:00", started("c-3", "79160000203"));
    s.event(
        "12:20:00",
        c("menu_entered", "c-3", json!({"menu": "Main"})),
    );
    s.event("12:20:12", c("call_ended", "c-3", json!({})));
    // C4: alice calls C2's number back.
    s.event("12:30:00", c("outbound_ordered", "c-4", json!({"queue": "Callout", "phone": "79160000202", "mode": "manual", "agent_id": "alice"})));
    s.event("12:30:00", json!({"type": "call_started", "call_id": "c-4", "kind": "outbound", "phone": "79160000202", "agent_id": "alice"}));
    s.event(
        "12:30:10",
        c("outbound_result", "c-4", json!({"result": "answered"})),
    );
    s.event(
        "12:30:10",
        c("agent_answered", "c-4", json!({"agent_id": "alice"})),
    );
    s.event(
        "12:31:10",
        c("agent_hung_up", "c-4", json!({"agent_id": "alice"})),
    );
    s.event("12:31:10", c("call_ended", "c-4", json!({})));
    // C5, delivered in reverse order.
    let mut c5 = vec![
        ("13:00:00", started("c-5", "79160000205")),
        (
            "13:00:00",
            c("queue_entered", "c-5", json!({"queue": "Support"})),
        ),
        (
            "13:00:02",
            c("agent_offered", "c-5", json!({"agent_id": "bob"})),
        ),
        (
            "13:00:05",
            c("agent_answered", "c-5", json!({"agent_id": "bob"})),
        ),
        (
            "13:00:05",
            c(
                "queue_left",
                "c-5",
                json!({"queue": "Support", "reason": "answered"}),
            ),
        ),
        (
            "13:01:05",
            c("agent_hung_up", "c-5", json!({"agent_id": "bob"})),
        ),
        ("13:01:05", c("call_ended", "c-5", json!({}))),
    ];
    c5.reverse();
    for (t, e) in c5 {
        s.event(t, e);
    }
    // C6
    s.event("14:00:00", started("c-6", "79160000206"));
    s.event(
        "14:00:00",
        c("queue_entered", "c-6", json!({"queue": "Sales"})),
    );
    s.event(
        "14:00:45",
        c("agent_answered", "c-6", json!({"agent_id": "bob"})),
    );
    s.event(
        "14:00:45",
        c(
            "queue_left",
            "c-6",
            json!({"queue": "Sales", "reason": "answered"}),
        ),
    );
    s.event(
        "14:02:45",
        c("agent_hung_up", "c-6", json!({"agent_id": "bob"})),
    );
    s.event("14:02:45", c("call_ended", "c-6", json!({})));
    // Still running at the end of the stream.
    s.event("20:50:00", started("c-7", "79160000207"));
    s.event(
        "20:50:00",
        c("menu_entered", "c-7", json!({"menu": "Main"})),
    );
    s.event("20:51:00", started("c-8", "79160000208"));
    s.event(
        "20:51:00",
        c("queue_entered", "c-8", json!({"queue": "Support"})),
    );
    s.event("20:55:00", started("c-9", "79160000209"));
    s.event(
        "20:55:00",
        c("queue_entered", "c-9", json!({"queue": "Support"})),
    );
    s.event(
        "20:55:05",
        c("agent_answered", "c-9", json!({"agent_id": "bob"})),
    );
    s.event(
        "20:55:05",
        c(
            "queue_left",
            "c-9",
            json!({"queue": "Support", "reason": "answered"}),
        ),
    );
    s.lines
}

fn imported() -> (tempfile::TempDir, PathBuf) {
    let (tmp, data) = common::temp();
    let file = tmp.path().join("stats.ndjson");
    let text: String = stream().iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let output = run(&data, &["import", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "import failed:\n{stderr}");
    assert!(
        !stderr.contains("graphql:") && stdout.contains(" 0 quarantined"),
        "{stdout}\n{stderr}"
    );
    (tmp, data)
}

fn query(data: &Path, document: &str) -> Value {
    let out = run_ok(data, &["query", document]);
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert!(value.get("errors").is_none(), "{value}");
    value["data"].clone()
}

const TICKET_FIGURES: &str = "newTickets newCustomerTickets reopenedTickets newAndReopenedTickets \
    ticketsInWork ticketsWithReply closedTickets repliesToClose averageRepliesToClose \
    closeTimeTickets averageCloseSeconds closeSlaBreaches sla1h: closeSlaBreaches(slaSeconds: 3600) \
    sla26h: closeSlaBreaches(slaSeconds: 93600) \
    firstResponseTime { value reason } responseTime { value } replyWritingTime { value } \
    firstResponseSlaBreaches { value } responseSlaBreaches { value }";

#[track_caller]
fn check(actual: &Value, expected: &[(&str, Value)]) {
    for (key, want) in expected {
        assert_eq!(&actual[*key], want, "{key} in {actual}");
    }
}

#[test]
fn ticket_figures_follow_the_inclusion_rules() {
    let (_tmp, data) = imported();
    let moscow = query(
        &data,
        &format!(
            "{{ ticketStatistics(period: {{from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}}) {{
                period {{ from to timeZone }}
                overall {{ {TICKET_FIGURES} }}
                agents {{ agentId agent {{ name }} figures {{ {TICKET_FIGURES} }} }}
                hours {{ localStart hour from figures {{ newTickets reopenedTickets newAndReopenedTickets ticketsInWork ticketsWithReply closedTickets }} }} }} }}"
        ),
    );
    let stats = &moscow["ticketStatistics"];
    assert_eq!(stats["period"]["from"], "2024-04-04T21:00:00Z");
    assert_eq!(stats["period"]["to"], "2024-04-05T21:00:00Z");
    let overall = &stats["overall"];
    check(
        overall,
        &[
            // call-101-alice, missed-102, call-104-alice, call-104-bob, call-105-alice,
            // call-107-alice; not call-100-bob (4 April) nor call-106-bob (22:30Z = 6 April
            // in Moscow); S3 made no ticket (attached to missed-102).
            ("newTickets", json!(6)),
            // The same less call-107-alice (outbound).
            ("newCustomerTickets", json!(5)),
            // call-100-bob (created 4 April, reopened 13:00); call-101-alice's reopening at
            // 16:00 does not count: it was created in the period.
            ("reopenedTickets", json!(1)),
            ("newAndReopenedTickets", json!(7)),
            // call-100-bob (note, status ×3) and call-101-alice (status ×3, reply): once each.
            ("ticketsInWork", json!(2)),
            // Recorded conversations in the period: 101 (09:00:41), missed-102 (bob's call
            // back, 10:37:01), 104-alice (11:01:10), 104-bob (11:03:00), 105 (20:31:00),
            // 107 (17:02:01). call-100-bob's recording is from 4 April.
            ("ticketsWithReply", json!(6)),
            // Closed in the period with a recording: 100-bob (12:05 and 14:00: once),
            // 101-alice (15:00), 104-alice (11:01:10), 107-alice (17:02:01).
            ("closedTickets", json!(4)),
            // Agent messages up to the (first) closing: 100-bob 1 (its call; the note does
            // not count), 101-alice 2 (call + bob's reply at 14:30), 104-alice 1, 107 1.
            ("repliesToClose", json!(5)),
            ("averageRepliesToClose", json!(1.25)),
            // 104-alice and 107-alice were closed at their creation time: left out.
            ("closeTimeTickets", json!(2)),
            // 100-bob: 2024-04-05T12:05:00 − 2024-04-04T10:00:31 = 93,869 s;
            // 101-alice: 15:00:00 − 09:00:41 = 21,559 s; (93,869 + 21,559) / 2 = 57,714.
            ("averageCloseSeconds", json!(57714.0)),
            // Over one day (86,400 s): 100-bob only. Over 1 h: both. Over 26 h
            // (93,600 s): 93,869 > 93,600, so 100-bob.
            ("closeSlaBreaches", json!(1)),
            ("sla1h", json!(2)),
            ("sla26h", json!(1)),
        ],
    );
    // Response-time figures do not apply to CALLS tickets: null with a reason, not 0.
    for figure in [
        "firstResponseTime",
        "responseTime",
        "replyWritingTime",
        "firstResponseSlaBreaches",
        "responseSlaBreaches",
    ] {
        assert_eq!(overall[figure]["value"], Value::Null, "{figure}");
    }
    assert!(overall["firstResponseTime"]["reason"]
        .as_str()
        .unwrap()
        .contains("CALLS"));

    // Team leaders: by assignee.
    let agents = stats["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 2, "{agents:?}");
    assert_eq!(agents[0]["agentId"], "alice");
    assert_eq!(agents[0]["agent"]["name"], "alice");
    check(
        &agents[0]["figures"],
        &[
            // 101, 104-alice, 105, 107 (outbound).
            ("newTickets", json!(4)),
            ("newCustomerTickets", json!(3)),
            ("reopenedTickets", json!(0)),
            ("ticketsInWork", json!(1)),
            ("ticketsWithReply", json!(4)),
            // 101, 104-alice, 107.
            ("closedTickets", json!(3)),
            ("repliesToClose", json!(4)),
            ("closeTimeTickets", json!(1)),
            ("averageCloseSeconds", json!(21559.0)),
            ("closeSlaBreaches", json!(0)),
        ],
    );
    assert_eq!(agents[1]["agentId"], "bob");
    check(
        &agents[1]["figures"],
        &[
            // missed-102 (assigned to bob, offered last), 104-bob.
            ("newTickets", json!(2)),
            ("newCustomerTickets", json!(2)),
            ("reopenedTickets", json!(1)),
            ("ticketsInWork", json!(1)),
            ("ticketsWithReply", json!(2)),
            ("closedTickets", json!(1)),
            ("repliesToClose", json!(1)),
            ("closeTimeTickets", json!(1)),
            ("averageCloseSeconds", json!(93869.0)),
            ("closeSlaBreaches", json!(1)),
        ],
    );

    // Peak load, per Moscow hour; each row is a period of its own.
    let hours = stats["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0]["localStart"], "2024-04-05T00:00:00+03:00");
    let row = |local: u32| {
        let h = hours.iter().find(|h| h["hour"] == json!(local)).unwrap();
        assert_eq!(
            h["localStart"],
            format!("2024-04-05T{local:02}:00:00+03:00")
        );
        h["figures"].clone()
    };
    let rows = [
        // 09Z: 101 created 09:00:41 with its recording; PENDING at 09:30.
        (12, [1, 0, 1, 1, 1, 0]),
        // 10Z: missed-102 created 10:00:25; bob's recorded call back into it 10:37:01.
        (13, [1, 0, 1, 0, 1, 0]),
        // 11Z: 104-alice (new, recorded, closed at 11:01:10), 104-bob (new, recorded).
        (14, [2, 0, 2, 0, 2, 1]),
        // 12Z: note 12:00 and closing 12:05 of 100-bob.
        (15, [0, 0, 0, 1, 0, 1]),
        // 13Z: 100-bob reopened 13:00.
        (16, [0, 1, 1, 1, 0, 0]),
        // 14Z: 100-bob closed again 14:00 (its previous closing is before this hour);
        // bob's reply on 101 at 14:30.
        (17, [0, 0, 0, 2, 0, 1]),
        // 15Z: 101 closed.
        (18, [0, 0, 0, 1, 0, 1]),
        // 16Z: 101 reopened; within this hour it was created before, so it counts.
        (19, [0, 1, 1, 1, 0, 0]),
        // 20Z: 107 created, recorded and closed at 17:02:01Z? No: 17Z is Moscow 20.
        (20, [1, 0, 1, 0, 1, 1]),
        // 20:31Z: 105.
        (23, [1, 0, 1, 0, 1, 0]),
        (0, [0, 0, 0, 0, 0, 0]),
    ];
    for (hour, [new, reopened, new_and_reopened, in_work, with_reply, closed]) in rows {
        let f = row(hour);
        assert_eq!(
            [
                &f["newTickets"],
                &f["reopenedTickets"],
                &f["newAndReopenedTickets"],
                &f["ticketsInWork"],
                &f["ticketsWithReply"],
                &f["closedTickets"]
            ],
            [
                &json!(new),
                &json!(reopened),
                &json!(new_and_reopened),
                &json!(in_work),
                &json!(with_reply),
                &json!(closed)
            ],
            "Moscow hour {hour}: {f}"
        );
    }

    // Time-zone day boundaries: call-106-bob (22:30:40Z) is 5 April in UTC, 6 April in Moscow.
    let utc = query(
        &data,
        "{ ticketStatistics(period: {from: \"2024-04-05\", to: \"2024-04-06\"}) { overall { newTickets } } }",
    );
    assert_eq!(utc["ticketStatistics"]["overall"]["newTickets"], 7);
    let next = query(
        &data,
        "{ ticketStatistics(period: {from: \"2024-04-06\", to: \"2024-04-07\", timeZone: \"Europe/Moscow\"}) { overall { newTickets ticketsWithReply } } }",
    );
    assert_eq!(next["ticketStatistics"]["overall"]["newTickets"], 1);
    assert_eq!(next["ticketStatistics"]["overall"]["ticketsWithReply"], 1);
    // A period that starts after call-100-bob's first closing: its second closing
    // (14:00) counts, with close time 14:00:00 − 10:00:31 the day before = 100,769 s.
    let later = query(
        &data,
        "{ ticketStatistics(period: {from: \"2024-04-05T13:30:00Z\", to: \"2024-04-05T14:15:00Z\"}) { overall { closedTickets averageCloseSeconds reopenedTickets } } }",
    );
    check(
        &later["ticketStatistics"]["overall"],
        &[
            ("closedTickets", json!(1)),
            ("averageCloseSeconds", json!(100769.0)),
            ("reopenedTickets", json!(0)),
        ],
    );
}

const CALL_FIGURES: &str = "offered answered lost lostInMenu lostInQueue lostAtAgent lostBeforeAgent \
    answeredWithin sl20: serviceLevel sl20x: serviceLevel(includeAbandoned: false) \
    sl10: serviceLevel(seconds: 10) sl10x: serviceLevel(seconds: 10, includeAbandoned: false) \
    sl60: serviceLevel(seconds: 60) lostCallRate averageSpeedOfAnswer averageHandleTime \
    averageTalkTime averageWaitTime callsOver5Minutes calledBack notCalledBack \
    averageCallbackLatency cb1200: calledBackWithin(seconds: 1200) cb1800: calledBackWithin(seconds: 1800) \
    outbound outboundAnswered averageOutboundTalkTime";

fn close(actual: &Value, key: &str, want: f64) {
    let got = actual[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} in {actual}"));
    assert!(
        (got - want).abs() < 1e-9,
        "{key}: {got} ≠ {want} in {actual}"
    );
}

#[test]
fn kpis_per_queue_and_agent() {
    let (_tmp, data) = imported();
    let v = query(
        &data,
        &format!(
            "{{ callStatistics(period: {{from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}}) {{
                overall {{ {CALL_FIGURES} }}
                queues {{ queue figures {{ {CALL_FIGURES} }} }}
                agents {{ agentId figures {{ {CALL_FIGURES} }} }} }} }}"
        ),
    );
    let stats = &v["callStatistics"];
    let o = &stats["overall"];
    // Inbound calls started in the Moscow day and ended: S1, S2, S4, S5, C1, C2, C3, C5,
    // C6 (S6 started 22:30Z; C7–C9 have not ended).
    check(
        o,
        &[
            ("offered", json!(9)),
            // S1, S4, S5, C1, C5, C6.
            ("answered", json!(6)),
            ("lost", json!(3)),
            ("lostInMenu", json!(1)),  // C3
            ("lostInQueue", json!(1)), // C2
            ("lostAtAgent", json!(1)), // S2 rang at bob
            ("lostBeforeAgent", json!(0)),
            // Waits of answered calls: S1 10, S4 10, S5 5, C1 15, C5 5, C6 45;
            // at most 20 s: all but C6.
            ("answeredWithin", json!(5)),
            // Over 300 s of talk: C1 (360). S3 (400) is outbound.
            ("callsOver5Minutes", json!(1)),
            // S2 (called back by S3) and C2 (by C4); C3 never.
            ("calledBack", json!(2)),
            ("notCalledBack", json!(1)),
            ("cb1200", json!(1)),
            ("cb1800", json!(2)),
            // S3, S7, C4, all answered.
            ("outbound", json!(3)),
            ("outboundAnswered", json!(3)),
        ],
    );
    close(o, "sl20", 5.0 / 9.0);
    close(o, "sl20x", 5.0 / 6.0);
    // At most 10 s: S1, S4, S5, C5.
    close(o, "sl10", 4.0 / 9.0);
    close(o, "sl10x", 4.0 / 6.0);
    close(o, "sl60", 6.0 / 9.0);
    close(o, "lostCallRate", 3.0 / 9.0);
    // (10 + 10 + 5 + 15 + 5 + 45) / 6 = 90 / 6.
    close(o, "averageSpeedOfAnswer", 15.0);
    // Talk: S1 30, S4 160, S5 50, C1 360, C5 60, C6 120 = 780; / 6 = 130. No hold or
    // after-call work is reported, so AHT is the talk.
    close(o, "averageTalkTime", 130.0);
    close(o, "averageHandleTime", 130.0);
    // All waits: 10 + 25 + 10 + 5 + 15 + 40 + 0 + 5 + 45 = 155; / 9.
    close(o, "averageWaitTime", 155.0 / 9.0);
    // S2: 10:30:00 − 10:00:25 = 1775 s; C2: 12:30:00 − 12:10:40 = 1160 s.
    close(o, "averageCallbackLatency", (1775.0 + 1160.0) / 2.0);
    // Outbound talk: S3 400, S7 90, C4 60.
    close(o, "averageOutboundTalkTime", 550.0 / 3.0);

    let queue = |name: &str| {
        stats["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == name)
            .unwrap_or_else(|| panic!("no queue {name}: {stats}"))["figures"]
            .clone()
    };
    let support = queue("Support");
    // C1 (answered, wait 15, talk 360), C2 (abandoned after 40), C5 (answered, wait 5, talk 60).
    check(
        &support,
        &[
            ("offered", json!(3)),
            ("answered", json!(2)),
            ("lost", json!(1)),
            ("lostInQueue", json!(1)),
            ("answeredWithin", json!(2)),
            ("calledBack", json!(1)),
            ("callsOver5Minutes", json!(1)),
        ],
    );
    close(&support, "sl20", 2.0 / 3.0);
    close(&support, "sl20x", 1.0);
    close(&support, "averageSpeedOfAnswer", 10.0);
    close(&support, "averageTalkTime", 210.0);
    close(&support, "averageCallbackLatency", 1160.0);
    let sales = queue("Sales");
    check(&sales, &[("offered", json!(1)), ("answered", json!(1))]);
    close(&sales, "sl20", 0.0);
    close(&sales, "sl60", 1.0);
    // C4 was placed from the outbound queue.
    check(
        &queue("Callout"),
        &[("outbound", json!(1)), ("offered", json!(0))],
    );
    assert_eq!(stats["queues"].as_array().unwrap().len(), 3);

    let agent = |id: &str| {
        stats["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agentId"] == id)
            .unwrap_or_else(|| panic!("no agent {id}: {stats}"))["figures"]
            .clone()
    };
    let alice = agent("alice");
    // Rung at alice and answered: S1 (talk 30), S4 (her 60), S5 (50), C1 (360); she placed S7 and C4.
    check(
        &alice,
        &[
            ("offered", json!(4)),
            ("answered", json!(4)),
            ("lost", json!(0)),
            ("outbound", json!(2)),
            ("outboundAnswered", json!(2)),
        ],
    );
    close(
        &alice,
        "averageTalkTime",
        (30.0 + 60.0 + 50.0 + 360.0) / 4.0,
    );
    // Waits of the calls she answered: 10, 10, 5, 15.
    close(&alice, "averageSpeedOfAnswer", 10.0);
    let bob = agent("bob");
    // S2 rang at bob (not answered), S4 (his 100), C5 (60), C6 (120); he placed S3.
    check(
        &bob,
        &[
            ("offered", json!(4)),
            ("answered", json!(3)),
            ("lost", json!(1)),
            ("outbound", json!(1)),
        ],
    );
    close(&bob, "averageTalkTime", 280.0 / 3.0);
    // Waits: S4 10, C5 5, C6 45.
    close(&bob, "averageSpeedOfAnswer", 20.0);
    close(&bob, "lostCallRate", 0.25);
    assert_eq!(
        stats["agents"].as_array().unwrap().len(),
        2,
        "carol took no call"
    );

    // Distributions and missed calls.
    let d = query(
        &data,
        "{ talk: callDurationDistribution(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}, kind: TALK, edges: [60, 300]) { fromSeconds toSeconds calls }
           wait: callDurationDistribution(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}, kind: WAIT_LOST, edges: [10, 30]) { fromSeconds toSeconds calls }
           missedCallAnalysis(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}) {
             overall { lost lostInMenu lostInQueue lostAtAgent }
             calledBackWithin { seconds calls }
             hours { localStart offered lost lostCallRate } } }",
    );
    // Talk of answered inbound calls: ≤ 60: S1 30, S5 50, C5 60; (60, 300]: S4 160, C6 120; > 300: C1.
    assert_eq!(
        d["talk"],
        json!([
            {"fromSeconds": 0, "toSeconds": 60, "calls": 3},
            {"fromSeconds": 60, "toSeconds": 300, "calls": 2},
            {"fromSeconds": 300, "toSeconds": null, "calls": 1},
        ])
    );
    // Lost calls' waits: C3 0, S2 25, C2 40.
    assert_eq!(
        d["wait"],
        json!([
            {"fromSeconds": 0, "toSeconds": 10, "calls": 1},
            {"fromSeconds": 10, "toSeconds": 30, "calls": 1},
            {"fromSeconds": 30, "toSeconds": null, "calls": 1},
        ])
    );
    let missed = &d["missedCallAnalysis"];
    assert_eq!(
        missed["calledBackWithin"],
        json!([
            {"seconds": 300, "calls": 0},
            {"seconds": 900, "calls": 0},
            {"seconds": 3600, "calls": 2},
            {"seconds": 14400, "calls": 2},
            {"seconds": 86400, "calls": 2},
        ])
    );
    // Moscow 15:00 = 12Z: C1, C2, C3 offered; C2 and C3 lost.
    let hour = missed["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["localStart"] == "2024-04-05T15:00:00+03:00")
        .unwrap()
        .clone();
    assert_eq!(hour["offered"], 3);
    assert_eq!(hour["lost"], 2);

    // Thresholds off the ladder are refused.
    let output = run(
        &data,
        &["query", "{ callStatistics(period: {from: \"2024-04-05\", to: \"2024-04-06\"}) { overall { serviceLevel(seconds: 601) } } }"],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("ladder")
            || String::from_utf8_lossy(&output.stdout).contains("threshold")
    );
    // So are periods off the quarter hour, and unknown zones.
    for period in [
        "{from: \"2024-04-05T10:10:00Z\", to: \"2024-04-06\"}",
        "{from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Mars/Olympus\"}",
        "{from: \"2024-04-06\", to: \"2024-04-05\"}",
    ] {
        let output = run(
            &data,
            &[
                "query",
                &format!("{{ ticketStatistics(period: {period}) {{ overall {{ newTickets }} }} }}"),
            ],
        );
        assert!(!output.status.success(), "{period}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("BAD_INPUT"),
            "{period}"
        );
    }
}

#[test]
fn the_live_dashboard_and_the_cdr() {
    let (_tmp, data) = imported();
    let v = query(
        &data,
        "{ liveDashboard { callsInMenu callsQueued queues { queue calls } agentsLoggedIn agentsTalking agentsReady agentsPaused asOf
             agents { agentId presence talking loggedIn ready } } }",
    );
    let d = &v["liveDashboard"];
    // C7 in the menu; C8 queued in Support (C9 left the queue: bob answered).
    assert_eq!(d["callsInMenu"], 1);
    assert_eq!(d["callsQueued"], 1);
    assert_eq!(d["queues"], json!([{"queue": "Support", "calls": 1}]));
    // alice READY; bob PAUSED (20:40) and talking on C9; carol LOGGED_OUT (20:00).
    assert_eq!(d["agentsLoggedIn"], 2);
    assert_eq!(d["agentsTalking"], 1);
    assert_eq!(d["agentsReady"], 1);
    assert_eq!(d["agentsPaused"], 1);
    assert_eq!(
        d["agents"],
        json!([
            {"agentId": "alice", "presence": "READY", "talking": false, "loggedIn": true, "ready": true},
            {"agentId": "bob", "presence": "PAUSED", "talking": true, "loggedIn": true, "ready": false},
            {"agentId": "carol", "presence": "LOGGED_OUT", "talking": false, "loggedIn": false, "ready": false},
        ])
    );
    assert_eq!(d["asOf"], "2024-04-05T20:55:05Z");

    // The CDR: every call that started in the Moscow day, in start order.
    let csv = String::from_utf8(run_ok(
        &data,
        &[
            "report",
            "cdr",
            "--from",
            "2024-04-05",
            "--to",
            "2024-04-06",
            "--tz",
            "Europe/Moscow",
        ],
    ))
    .unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows[0].join(","),
        "call_key,source,direction,phone,queue,started_at,answered_at,ended_at,answered,wait_seconds,talk_seconds,hold_seconds,after_call_seconds,agents,answering_agents,outcome,callback_at,callback_seconds,recorded"
    );
    let keys: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        keys,
        [
            "cg-101", "cg-102", "cg-103", "cg-104", "cc-c-1", "cc-c-2", "cc-c-3", "cc-c-4",
            "cc-c-5", "cc-c-6", "cg-107", "cg-105", "cc-c-7", "cc-c-8", "cc-c-9"
        ]
    );
    let row = |key: &str| rows.iter().find(|r| r[0] == key).unwrap().join(",");
    assert_eq!(
        row("cg-102"),
        "cg-102,callgear,inbound,+79160000102,,2024-04-05T13:00:00+03:00,,2024-04-05T13:00:25+03:00,no,25,0,,,bob,,lost_at_agent,2024-04-05T13:30:00+03:00,1775,no"
    );
    assert_eq!(
        row("cg-104"),
        "cg-104,callgear,inbound,+79160000104,,2024-04-05T14:00:00+03:00,2024-04-05T14:00:10+03:00,2024-04-05T14:03:00+03:00,yes,10,160,,,alice;bob,alice;bob,answered,,,yes"
    );
    assert!(
        row("cc-c-3").contains(",lost_in_menu,"),
        "{}",
        row("cc-c-3")
    );
    assert!(
        row("cc-c-2").contains("Support") && row("cc-c-2").ends_with(",1160,no"),
        "{}",
        row("cc-c-2")
    );
    assert!(row("cc-c-8").contains(",in_progress,"), "{}", row("cc-c-8"));
}

fn digest(data: &Path) -> String {
    String::from_utf8(run_ok(data, &["digest"]))
        .unwrap()
        .trim()
        .to_owned()
}

/// The statistics are part of the read models `digest` covers: a rebuild, and
/// export → import into an empty data dir, give the same bytes (R17).
#[test]
fn statistics_replay_to_identical_bytes() {
    let (tmp, data) = imported();
    let original = digest(&data);
    let export = run_ok(&data, &["export"]);
    let file = tmp.path().join("export.ndjson");
    std::fs::write(&file, &export).unwrap();
    let copy = tmp.path().join("copy");
    run_ok(&copy, &["import", file.to_str().unwrap()]);
    assert_eq!(digest(&copy), original, "export → import");
    run_ok(&data, &["rebuild"]);
    assert_eq!(digest(&data), original, "rebuild");
    // And the figures are there after the rebuild.
    let v = query(
        &data,
        "{ callStatistics(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}) { overall { offered } } }",
    );
    assert_eq!(v["callStatistics"]["overall"]["offered"], 9);
}

const ADMIN: &str = "stats-admin-0123456789";

async fn gql(server: &common::Server, bearer: &str, query: &str) -> Value {
    common::client()
        .post(server.at("/graphql"))
        .header("authorization", format!("Bearer {bearer}"))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("JSON")
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(socket: &mut Socket) -> Option<Value> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), socket.next())
            .await
            .ok()??;
        match message.ok()? {
            Message::Text(text) => return serde_json::from_str(&text).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Subscribes to `query` with `bearer`; the socket, and the first message
/// after the handshake.
async fn subscribe(server: &common::Server, bearer: &str, query: &str) -> (Socket, Value) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut request = format!("ws://{}/graphql/ws", server.address)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {bearer}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(
        next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    let first = next_json(&mut socket).await.expect("a message");
    (socket, first)
}

/// Over the real server: supervisors and administrators read statistics, agents
/// do not; the dashboard subscription starts with the dashboard as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_for_supervisors_over_http_and_websocket() {
    let (_tmp, data) = imported();
    let server = common::Server::start_with(
        &data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", common::TOKEN),
            ("CALLFOLD_ADMIN_TOKEN", ADMIN),
        ],
    );
    let token = |role: &str, agent: &str| {
        format!("mutation {{ createToken(name: \"{role}\", role: {role}{agent}) {{ secret }} }}")
    };
    let supervisor = gql(&server, ADMIN, &token("SUPERVISOR", "")).await["data"]["createToken"]
        ["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice = gql(&server, ADMIN, &token("AGENT", ", agentId: \"alice\"")).await["data"]
        ["createToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let figures = "{ ticketStatistics(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}) { overall { newTickets } } \
                     callStatistics(period: {from: \"2024-04-05\", to: \"2024-04-06\", timeZone: \"Europe/Moscow\"}) { overall { offered } } }";
    for bearer in [ADMIN, supervisor.as_str()] {
        let body = gql(&server, bearer, figures).await;
        assert_eq!(
            body["data"]["ticketStatistics"]["overall"]["newTickets"], 6,
            "{body}"
        );
        assert_eq!(
            body["data"]["callStatistics"]["overall"]["offered"], 9,
            "{body}"
        );
    }
    for query in [
        figures,
        "{ liveDashboard { callsInMenu } }",
        "{ callDetailRecords(period: {from: \"2024-04-05\", to: \"2024-04-06\"}) { nodes { callKey } } }",
    ] {
        let body = gql(&server, &alice, query).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{query}: {body}");
    }
    let cdr = gql(
        &server,
        &supervisor,
        "{ callDetailRecords(period: {from: \"2024-04-05T12:00:00Z\", to: \"2024-04-05T12:30:00Z\"}, first: 2) { nodes { callKey outcome queue waitSeconds } pageInfo { hasNextPage endCursor } } }",
    )
    .await;
    let page = &cdr["data"]["callDetailRecords"];
    assert_eq!(
        page["nodes"],
        json!([
            {"callKey": "cc-c-1", "outcome": "answered", "queue": "Support", "waitSeconds": 15},
            {"callKey": "cc-c-2", "outcome": "lost_in_queue", "queue": "Support", "waitSeconds": 40},
        ])
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].as_str().unwrap();
    let next = gql(
        &server,
        &supervisor,
        &format!("{{ callDetailRecords(period: {{from: \"2024-04-05T12:00:00Z\", to: \"2024-04-05T12:30:00Z\"}}, after: \"{after}\") {{ nodes {{ callKey }} pageInfo {{ hasNextPage }} }} }}"),
    )
    .await;
    // C4 starts at 12:30:00, outside [12:00, 12:30).
    assert_eq!(
        next["data"]["callDetailRecords"]["nodes"],
        json!([{"callKey": "cc-c-3"}])
    );

    let subscription =
        "subscription { liveDashboard { callsInMenu callsQueued agentsTalking agentsReady } }";
    let (mut socket, message) = subscribe(&server, &supervisor, subscription).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["data"]["liveDashboard"],
        json!({"callsInMenu": 1, "callsQueued": 1, "agentsTalking": 1, "agentsReady": 1})
    );
    // The feed reports C7 leaving the menu for the Support queue: the dashboard follows.
    let batch: String = [
        json!({"v": 1, "type": "menu_left", "at": "2024-04-05T20:56:00Z", "call_id": "c-7", "menu": "Main"}),
        json!({"v": 1, "type": "queue_entered", "at": "2024-04-05T20:56:00Z", "call_id": "c-7", "queue": "Support"}),
    ]
    .iter()
    .map(|e| format!("{e}\n"))
    .collect();
    let reply = common::post(
        &common::client(),
        &server.at(&format!("/webhooks/events/{}", common::TOKEN)),
        batch,
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let update = next_json(&mut socket).await.expect("a dashboard update");
    assert_eq!(
        update["payload"]["data"]["liveDashboard"],
        json!({"callsInMenu": 0, "callsQueued": 2, "agentsTalking": 1, "agentsReady": 1}),
        "{update}"
    );
    let (_, message) = subscribe(&server, &alice, subscription).await;
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{message}"
    );
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    server.stop();
}
