//! R17 through the binary, as property tests over generated recorded streams:
//!
//! (a) any duplication and any reordering of deliveries within a call session
//!     give the same tickets (the full `callfold query` output);
//! (b) `export` → `import` into an empty data dir, and `rebuild`, give
//!     byte-identical read models (`callfold digest`), and the same log.
//!
//! Each case is a `u64` seed from which a stream of several sessions is
//! generated (deterministically). A failing seed is printed, kept in
//! `tests/r17_replay.proptest-regressions`, and replayed on its own with
//! `CALLFOLD_R17_SEED=<seed> cargo test --test r17_replay`.

mod common;

use common::{run, run_ok, Notification};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Each case spawns about a dozen processes: keep the count small.
const CASES: u32 = 10;

const PHONES: [&str; 2] = ["79161234567", "79035550101"];
/// Operators: 51–53 are agents alice, bob, carol; 59 is not mapped.
const OPERATORS: [u64; 4] = [51, 52, 53, 59];

/// One stream line: `at` (receive time), and what it carries.
#[derive(Clone, Debug)]
struct Line {
    at: i64,
    /// `Some(session)` for a CallGear delivery.
    session: Option<u64>,
    json: serde_json::Value,
}

fn time(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    let base = chrono::DateTime::parse_from_rfc3339("2024-04-05T00:00:00Z")
        .expect("base time")
        .to_utc();
    base + chrono::Duration::seconds(seconds)
}

fn notification_time(seconds: i64) -> String {
    time(seconds).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn rfc3339(seconds: i64, millis: i64) -> String {
    (time(seconds) + chrono::Duration::milliseconds(millis))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn agent_of(operator: u64) -> Option<&'static str> {
    match operator {
        51 => Some("alice"),
        52 => Some("bob"),
        53 => Some("carol"),
        _ => None,
    }
}

struct Builder {
    lines: Vec<Line>,
}

impl Builder {
    fn callgear(&mut self, at: i64, n: Notification) {
        let body = n.body();
        self.lines.push(Line {
            at,
            session: Some(n.session_id),
            json: json!({"at": rfc3339(at, 400), "path": format!("/{}", n.kind), "body": body}),
        });
    }

    fn event(&mut self, at: i64, event: serde_json::Value) {
        self.lines.push(Line {
            at,
            session: None,
            json: json!({"at": rfc3339(at, 0), "event": event}),
        });
    }

    fn note(&self, kind: &'static str, session: u64, at: i64, phone: &str) -> Notification {
        Notification::new(kind, session, &notification_time(at), phone)
    }

    /// Inbound, answered by `operators` in turn (a transfer when more than one).
    fn answered(
        &mut self,
        rng: &mut fastrand::Rng,
        session: u64,
        phone: &str,
        start: i64,
        ops: &[u64],
    ) {
        let wait = 10;
        let mut at = start + wait;
        for (i, &op) in ops.iter().enumerate() {
            let leg = session * 10 + i as u64 + 1;
            let mut handset = self.note("handset", session, at, phone);
            handset.employee_id = Some(op);
            handset.leg_id = Some(leg);
            handset.wait_seconds = wait as u32;
            handset.total_seconds = (at - start) as u32;
            self.callgear(at, handset);
            if i == 0 && rng.bool() {
                if let Some(agent) = agent_of(op) {
                    // The agent files the running call.
                    self.event(
                        at + 5,
                        json!({"type": "create_ticket_from_call", "at": rfc3339(at + 5, 0),
                               "agent_id": agent, "session_id": session,
                               "subject": format!("Заявка {session}"), "summary": "по телефону"}),
                    );
                }
            }
            let talk = 20 + rng.usize(..90) as i64;
            at += talk;
            let mut endleg = self.note("endleg", session, at, phone);
            endleg.employee_id = Some(op);
            endleg.leg_id = Some(leg);
            endleg.talk_seconds = talk as u32;
            endleg.wait_seconds = wait as u32;
            endleg.total_seconds = (at - start) as u32;
            self.callgear(at, endleg);
            at += 3;
        }
        let last = *ops.last().expect("an operator");
        let mut end = self.note("end", session, at, phone);
        end.employee_id = Some(last);
        end.talk_seconds = (at - start - wait - 3 * ops.len() as i64) as u32;
        end.wait_seconds = wait as u32;
        end.total_seconds = (at - start) as u32;
        self.callgear(at, end);
        let mut recording = self.note("recording", session, at + 70, phone);
        recording.recording = Some(format!("https://media.callgear.example/talk/{session}.mp3"));
        recording.talk_seconds = 30;
        self.callgear(at + 70, recording);
    }

    /// Inbound, offered to `offers` (none: hung up in the voice menu), not answered.
    fn missed(&mut self, session: u64, phone: &str, start: i64, offers: &[u64]) {
        let mut at = start + 8;
        for (i, &op) in offers.iter().enumerate() {
            at += 20;
            let mut endleg = self.note("endleg", session, at, phone);
            endleg.employee_id = Some(op);
            endleg.leg_id = Some(session * 10 + i as u64 + 1);
            endleg.wait_seconds = (at - start) as u32;
            endleg.total_seconds = (at - start) as u32;
            self.callgear(at, endleg);
        }
        let mut end = self.note("end", session, at + 1, phone);
        end.is_lost = true;
        end.wait_seconds = (at - start) as u32;
        end.total_seconds = (at + 1 - start) as u32;
        self.callgear(at + 1, end);
    }

    /// Outbound by `op`; `talk == 0`: the contact did not answer.
    fn outbound(
        &mut self,
        session: u64,
        phone: &str,
        start: i64,
        op: u64,
        talk: i64,
        external: Option<String>,
    ) {
        let mut callout = self.note("callout", session, start, phone);
        callout.employee_id = Some(op);
        callout.external_id = external.clone();
        self.callgear(start, callout);
        let ring = 9;
        let leg_end = start + ring + if talk > 0 { talk } else { 21 };
        let mut legout = self.note("legout", session, leg_end, phone);
        legout.employee_id = Some(op);
        legout.talk_seconds = talk as u32;
        legout.external_id = external.clone();
        legout.total_seconds = (leg_end - start) as u32;
        self.callgear(leg_end, legout);
        let mut end = self.note("end", session, leg_end + 1, phone);
        end.outbound = true;
        end.employee_id = Some(op);
        end.talk_seconds = talk as u32;
        end.is_lost = talk == 0;
        end.external_id = external.clone();
        end.total_seconds = (leg_end + 1 - start) as u32;
        self.callgear(leg_end + 1, end);
        if talk > 0 {
            let mut recording = self.note("recording", session, leg_end + 60, phone);
            recording.outbound = true;
            recording.talk_seconds = talk as u32;
            recording.external_id = external;
            recording.recording =
                Some(format!("https://media.callgear.example/talk/{session}.mp3"));
            self.callgear(leg_end + 60, recording);
        }
    }
}

/// The in-order stream of seed `seed`: the team, then 3–6 sessions.
fn generate(seed: u64) -> Vec<Line> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut b = Builder { lines: Vec::new() };
    for (i, (agent, op)) in [("alice", 51), ("bob", 52), ("carol", 53)]
        .into_iter()
        .enumerate()
    {
        let at = 8 * 3600 + 50 * 60 + i as i64;
        b.lines.push(Line {
            at,
            session: None,
            json: json!({"at": rfc3339(at, 0), "graphql": format!(
                "mutation {{ upsertAgent(id: \"{agent}\", name: \"{agent}\", callgearEmployeeIds: [\"{op}\"]) {{ id }} }}"
            ), "agent": null}),
        });
    }
    let sessions = 3 + rng.usize(..4);
    let mut missed_tickets: Vec<String> = Vec::new();
    for k in 0..sessions {
        let session = 2_417_000_000 + seed % 1000 * 100 + k as u64;
        let start = 9 * 3600 + 240 * k as i64;
        let phone = PHONES[rng.usize(..PHONES.len())];
        match rng.usize(..6) {
            0 => {
                let op = OPERATORS[rng.usize(..OPERATORS.len())];
                b.answered(&mut rng, session, phone, start, &[op]);
            }
            1 => {
                let first = OPERATORS[rng.usize(..OPERATORS.len())];
                let second = OPERATORS[rng.usize(..3)];
                b.answered(&mut rng, session, phone, start, &[first, second]);
            }
            2 => {
                let offers: Vec<u64> = (0..1 + rng.usize(..2))
                    .map(|_| OPERATORS[rng.usize(..OPERATORS.len())])
                    .collect();
                b.missed(session, phone, start, &offers);
                missed_tickets.push(format!("missed-{session}"));
            }
            3 => b.missed(session, phone, start, &[]),
            _ => {
                let op = OPERATORS[rng.usize(..3)];
                let talk = if rng.bool() {
                    0
                } else {
                    30 + rng.usize(..60) as i64
                };
                let external = missed_tickets.last().filter(|_| rng.bool()).cloned();
                b.outbound(session, phone, start, op, talk, external);
            }
        }
        if rng.usize(..3) == 0 {
            if let Some(ticket) = missed_tickets.last() {
                // An agent edit between sessions (R16).
                let at = start + 200;
                b.event(
                    at,
                    json!({"type": "set_ticket_status", "at": rfc3339(at, 0), "agent_id": "bob",
                           "ticket_id": ticket, "status": "closed"}),
                );
            }
        }
    }
    // Every stream ends with a missed call offered to nobody, which always
    // opens (or joins) a missed-call ticket: without it, a seed whose calls all
    // went to the unmapped operator or were unanswered outbound calls made no
    // ticket, and the check below failed on a legitimately empty model.
    let session = 2_417_000_000 + seed % 1000 * 100 + sessions as u64;
    let phone = PHONES[rng.usize(..PHONES.len())];
    b.missed(session, phone, 9 * 3600 + 240 * sessions as i64, &[]);
    b.lines
}

/// The same deliveries, each session's reordered among the slots it occupies,
/// and some delivered twice (a repeat can come at any later point).
fn shuffle_and_duplicate(lines: &[Line], seed: u64) -> Vec<Line> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5EED_0F0D_DE12);
    let mut out = lines.to_vec();
    let mut sessions: Vec<u64> = lines.iter().filter_map(|l| l.session).collect();
    sessions.dedup();
    for session in sessions {
        let slots: Vec<usize> = (0..out.len())
            .filter(|&i| out[i].session == Some(session))
            .collect();
        let mut bodies: Vec<Line> = slots.iter().map(|&i| out[i].clone()).collect();
        rng.shuffle(&mut bodies);
        for (&slot, mut line) in slots.iter().zip(bodies) {
            // The receive time stays with the slot (delivery order).
            line.json["at"] = out[slot].json["at"].clone();
            line.at = out[slot].at;
            out[slot] = line;
        }
    }
    let deliveries: Vec<usize> = (0..out.len())
        .filter(|&i| out[i].session.is_some())
        .collect();
    let repeats = 1 + rng.usize(..deliveries.len() / 2 + 1);
    for _ in 0..repeats {
        let original = out[deliveries[rng.usize(..deliveries.len())]].clone();
        let position = 3 + rng.usize(..out.len() - 2);
        let mut repeat = original;
        let before = &out[position - 1];
        repeat.json["at"] = before.json["at"].clone();
        out.insert(position, repeat);
    }
    out
}

fn write(dir: &Path, name: &str, lines: &[Line]) -> PathBuf {
    let path = dir.join(name);
    let text: String = lines.iter().map(|l| format!("{}\n", l.json)).collect();
    std::fs::write(&path, text).expect("write stream");
    path
}

fn import(data: &Path, file: &Path) {
    let output = run(data, &["import", file.to_str().expect("UTF-8 path")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "import failed:\n{stderr}");
    assert!(!stderr.contains("graphql:"), "rejected: {stderr}");
}

fn tickets(data: &Path) -> String {
    let query = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/query.graphql");
    String::from_utf8(run_ok(data, &["query", &format!("@{}", query.display())]))
        .expect("UTF-8 response")
}

fn digest(data: &Path) -> String {
    let out = String::from_utf8(run_ok(data, &["digest"])).expect("UTF-8 digest");
    let digest = out.trim().to_string();
    assert_eq!(digest.len(), 64, "a blake3 hex digest: {out:?}");
    digest
}

/// (a) and (b) for one seed.
fn check(seed: u64) {
    eprintln!("r17 seed {seed} (replay: CALLFOLD_R17_SEED={seed})");
    let tmp = tempfile::Builder::new()
        .prefix("callfold-r17-")
        .tempdir()
        .expect("tempdir");
    let in_order = generate(seed);
    let shuffled = shuffle_and_duplicate(&in_order, seed);
    let in_order_file = write(tmp.path(), "in_order.ndjson", &in_order);
    let shuffled_file = write(tmp.path(), "shuffled.ndjson", &shuffled);

    // (a) duplicates and reordering within sessions change nothing.
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    import(&a, &in_order_file);
    import(&b, &shuffled_file);
    let expected = tickets(&a);
    let got = tickets(&b);
    assert!(
        expected.contains("\"id\""),
        "seed {seed}: the stream makes no ticket at all: {expected}"
    );
    assert_eq!(
        expected, got,
        "seed {seed}: shuffled/duplicated deliveries gave other tickets"
    );

    // (b) export → import into an empty dir, and rebuild: byte-identical read models.
    let original = digest(&a);
    let export = run_ok(&a, &["export"]);
    let exported = tmp.path().join("export.ndjson");
    std::fs::write(&exported, &export).expect("write export");
    let c = tmp.path().join("c");
    import(&c, &exported);
    assert_eq!(
        digest(&c),
        original,
        "seed {seed}: export → import gave other read models"
    );
    assert_eq!(
        run_ok(&c, &["export"]),
        export,
        "seed {seed}: export → import → export is not byte-identical"
    );
    run_ok(&a, &["rebuild"]);
    assert_eq!(
        digest(&a),
        original,
        "seed {seed}: rebuild gave other read models"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: CASES,
        // A seed is the whole input: report it as found.
        max_shrink_iters: 0,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn r17_deliveries_reordered_within_sessions_and_duplicated_and_replays(seed in any::<u64>()) {
        if std::env::var_os("CALLFOLD_R17_SEED").is_none() {
            check(seed);
        }
    }
}

/// `CALLFOLD_R17_SEED=<seed>` replays that seed (the property test then
/// stands aside); without it, a fixed seed.
#[test]
fn r17_one_seed() {
    let seed = std::env::var("CALLFOLD_R17_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("CALLFOLD_R17_SEED is a u64"))
        .unwrap_or(17);
    check(seed);
}

/// (b) for every rule scenario (`tests/scenarios/*.ndjson`): their agents'
/// actions (filings, links, customers, edits, notes, replies) go through
/// GraphQL into the log, so export → import and rebuild cover every native event.
#[test]
fn r17_scenarios_replay_to_identical_read_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "{files:?}");
    let mut digests = std::collections::BTreeSet::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let tmp = tempfile::Builder::new()
            .prefix("callfold-r17-")
            .tempdir()
            .expect("tempdir");
        let a = tmp.path().join("a");
        import(&a, &file);
        let original = digest(&a);
        let export = run_ok(&a, &["export"]);
        let exported = tmp.path().join("export.ndjson");
        std::fs::write(&exported, &export).expect("write export");
        let b = tmp.path().join("b");
        import(&b, &exported);
        assert_eq!(digest(&b), original, "{name}: export → import");
        assert_eq!(
            run_ok(&b, &["export"]),
            export,
            "{name}: export of the import"
        );
        run_ok(&a, &["rebuild"]);
        assert_eq!(digest(&a), original, "{name}: rebuild");
        assert!(
            digests.insert(original),
            "{name}: the same digest as another scenario"
        );
    }
}
