//! Bad input through the binary: `callfold query --agent ...` against an
//! imported store. Each command is refused with exit 1 and a clear message in
//! the GraphQL `errors`, and the log is unchanged (`callfold export` before and
//! after are byte-identical).

mod common;

use common::{run, run_ok, Notification};
use serde_json::{json, Value};
use std::path::Path;

const P1: &str = "79161234567";
const P2: &str = "79035550101";
/// Answered by alice and ended: ticket `call-2450000001-alice` of `cus-79161234567`.
const ANSWERED: u64 = 2_450_000_001;
/// Missed: ticket `missed-2450000002`.
const MISSED: u64 = 2_450_000_002;
/// Answered by bob, still running, not filed; caller `cus-79035550101`.
const RUNNING: u64 = 2_450_000_003;

fn line(at: &str, n: &Notification) -> String {
    json!({"at": at, "path": format!("/{}", n.kind), "body": n.body()}).to_string()
}

/// The store: the team, one answered and ended call, one missed call, one running call.
fn store() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, data) = common::temp();
    let mut lines = Vec::new();
    for (agent, op) in [("alice", 51), ("bob", 52)] {
        lines.push(json!({"at": "2024-04-05T08:50:00Z", "graphql": format!(
            "mutation {{ upsertAgent(id: \"{agent}\", name: \"{agent}\", callgearEmployeeIds: [\"{op}\"]) {{ id }} }}"
        )}).to_string());
    }
    let mut n = Notification::new("handset", ANSWERED, "2024-04-05 09:00:10", P1);
    n.employee_id = Some(51);
    lines.push(line("2024-04-05T09:00:10.4Z", &n));
    let mut n = Notification::new("endleg", ANSWERED, "2024-04-05 09:01:40", P1);
    (n.employee_id, n.talk_seconds, n.leg_id) = (Some(51), 90, Some(1));
    lines.push(line("2024-04-05T09:01:40.4Z", &n));
    let mut n = Notification::new("end", ANSWERED, "2024-04-05 09:01:41", P1);
    (n.employee_id, n.talk_seconds, n.total_seconds) = (Some(51), 90, 101);
    lines.push(line("2024-04-05T09:01:41.4Z", &n));
    let mut n = Notification::new("endleg", MISSED, "2024-04-05 09:10:28", P1);
    (n.employee_id, n.leg_id) = (Some(51), Some(1));
    lines.push(line("2024-04-05T09:10:28.4Z", &n));
    let mut n = Notification::new("end", MISSED, "2024-04-05 09:10:29", P1);
    (n.is_lost, n.total_seconds) = (true, 29);
    lines.push(line("2024-04-05T09:10:29.4Z", &n));
    let mut n = Notification::new("handset", RUNNING, "2024-04-05 09:20:12", P2);
    n.employee_id = Some(52);
    lines.push(line("2024-04-05T09:20:12.4Z", &n));
    let file = tmp.path().join("store.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write stream");
    let output = run(&data, &["import", file.to_str().expect("UTF-8 path")]);
    assert!(
        output.status.success() && !String::from_utf8_lossy(&output.stderr).contains("graphql:"),
        "import: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (tmp, data)
}

/// Runs `document` as `agent`; asserts exit 1, an error message containing
/// `expect`, and an unchanged log.
#[track_caller]
fn refused(data: &Path, agent: Option<&str>, document: &str, expect: &str) {
    let before = run_ok(data, &["export"]);
    let mut args = vec!["query"];
    if let Some(agent) = agent {
        args.extend(["--agent", agent]);
    }
    args.push(document);
    let output = run(data, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{document}: exit {}; stdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let response: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{document}: the response is not JSON ({e}): {stdout}"));
    let messages: Vec<&str> = response["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{document}: no errors: {stdout}"))
        .iter()
        .map(|e| e["message"].as_str().expect("an error message"))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains(expect)),
        "{document}: expected an error containing {expect:?}, got {messages:?}"
    );
    assert_eq!(
        run_ok(data, &["export"]),
        before,
        "{document}: the log changed although the command was refused"
    );
}

#[test]
fn bad_commands_are_refused_and_record_nothing() {
    let (_tmp, data) = store();
    let data = data.as_path();
    let cases: &[(Option<&str>, String, String)] = &[
        (
            Some("bob"),
            "mutation { createTicketFromCall(sessionId: \"999\") { id } }".into(),
            "unknown call 999".into(),
        ),
        (
            Some("bob"),
            "mutation { createTicketFromCall(sessionId: \"call-1\") { id } }".into(),
            "sessionId \"call-1\" is not a CallGear call_session_id".into(),
        ),
        (
            Some("bob"),
            "mutation { addNote(ticketId: \"call-1-nobody\", body: \"hi\") { id } }".into(),
            "unknown ticket call-1-nobody".into(),
        ),
        (
            Some("bob"),
            "mutation { setTicketStatus(ticketId: \"missed-404\", status: CLOSED) { id } }".into(),
            "unknown ticket missed-404".into(),
        ),
        (
            Some("bob"),
            "mutation { linkPhoneToCustomer(phone: \"+7 999 000-11-22\", customerId: \"nobody\") { id } }"
                .into(),
            "unknown customer nobody".into(),
        ),
        (
            Some("bob"),
            "mutation { linkPhoneToCustomer(phone: \"garbage\", customerId: \"nobody\") { id } }"
                .into(),
            "\"garbage\" is not a phone number".into(),
        ),
        (
            Some("zed"),
            format!("mutation {{ addNote(ticketId: \"call-{ANSWERED}-alice\", body: \"hi\") {{ id }} }}"),
            "unknown agent zed".into(),
        ),
        // A query as an unknown agent too (it would show what nobody sees).
        (
            Some("ghost"),
            "{ agents { id } }".into(),
            "unknown agent ghost".into(),
        ),
        (
            None,
            format!("mutation {{ addNote(ticketId: \"call-{ANSWERED}-alice\", body: \"hi\") {{ id }} }}"),
            "this mutation acts as an agent".into(),
        ),
        (
            Some("alice"),
            format!("mutation {{ createTicketFromCall(sessionId: \"{MISSED}\") {{ id }} }}"),
            format!("call {MISSED} was missed: there is no conversation to file"),
        ),
        (
            // alice filing bob's part of the running call.
            Some("alice"),
            format!("mutation {{ createTicketFromCall(sessionId: \"{RUNNING}\") {{ id }} }}"),
            format!("agent alice did not talk on call {RUNNING}"),
        ),
        (
            Some("alice"),
            format!("mutation {{ saveCallDraft(sessionId: \"{RUNNING}\", subject: \"x\") }}"),
            format!("agent alice did not talk on call {RUNNING}"),
        ),
        (
            Some("alice"),
            format!("mutation {{ createTicketFromCall(sessionId: \"{ANSWERED}\") {{ id }} }}"),
            format!("call {ANSWERED} has ended; edit its ticket instead"),
        ),
        (
            // bob attaching his P2 call to P1's ticket.
            Some("bob"),
            format!(
                "mutation {{ attachCallToTicket(sessionId: \"{RUNNING}\", ticketId: \"call-{ANSWERED}-alice\") {{ id }} }}"
            ),
            format!(
                "ticket call-{ANSWERED}-alice belongs to customer cus-{P1}, not to the caller (cus-{P2})"
            ),
        ),
        (
            Some("bob"),
            format!("mutation {{ addNote(ticketId: \"missed-{MISSED}\", body: \"   \") {{ id }} }}"),
            "body must not be empty".into(),
        ),
        (
            Some("bob"),
            format!(
                "mutation {{ setTicketStatus(ticketId: \"call-{ANSWERED}-alice\", status: REOPENED) {{ id }} }}"
            ),
            "REOPENED".into(),
        ),
        (
            None,
            "{ tickets(filter: { status: [OPEN, SOLVED] }) { totalCount } }".into(),
            "SOLVED".into(),
        ),
        (
            None,
            "{ tickets(first: 0) { totalCount } }".into(),
            "first must be between 1 and 500".into(),
        ),
        (
            None,
            "{ tickets(first: 501) { totalCount } }".into(),
            "first must be between 1 and 500".into(),
        ),
        (
            None,
            "{ tickets(first: -3) { totalCount } }".into(),
            "first must be between 1 and 500".into(),
        ),
        (
            None,
            "{ tickets(after: \"not-a-cursor\") { totalCount } }".into(),
            "`after` is not a cursor this API gave out".into(),
        ),
        (
            None,
            "{ tickets(after: \"\") { totalCount } }".into(),
            "`after` is not a cursor this API gave out".into(),
        ),
    ];
    for (agent, document, expect) in cases {
        refused(data, *agent, document, expect);
    }
}

#[test]
fn a_status_outside_the_enum_is_a_validation_error_naming_the_enum() {
    let (_tmp, data) = store();
    let document = format!(
        "mutation {{ setTicketStatus(ticketId: \"call-{ANSWERED}-alice\", status: REOPENED) {{ id }} }}"
    );
    refused(&data, Some("bob"), &document, "TicketStatus");
}

/// The control: the same store accepts a valid command, and then the log does change.
#[test]
fn a_valid_command_is_recorded() {
    let (_tmp, data) = store();
    let before = run_ok(&data, &["export"]);
    let document = format!(
        "mutation {{ attachCallToTicket(sessionId: \"{RUNNING}\", ticketId: \"call-{ANSWERED}-alice\") {{ id }} }}"
    );
    let output = run(&data, &["query", "--agent", "alice", &document]);
    assert_eq!(output.status.code(), Some(1), "alice did not talk on it");
    let document = format!("mutation {{ createTicketFromCall(sessionId: \"{RUNNING}\", subject: \"Счёт\") {{ id status }} }}");
    let stdout = run_ok(&data, &["query", "--agent", "bob", &document]);
    let response: Value = serde_json::from_slice(&stdout).expect("JSON");
    assert_eq!(
        response["data"]["createTicketFromCall"],
        json!({"id": format!("call-{RUNNING}-bob"), "status": "OPEN"})
    );
    let after = run_ok(&data, &["export"]);
    assert!(after.len() > before.len() && after.starts_with(&before));
}

/// A mistyped `--data-dir` is an error, not a new empty store: the commands
/// that read a store refuse a directory without an event log and create
/// nothing; `import` checks its files before it creates a data dir, and
/// `serve` its address.
#[test]
fn commands_refuse_a_data_dir_that_is_not_one_and_create_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("no-such-data-dir");
    let empty = tmp.path().join("empty-dir");
    std::fs::create_dir(&empty).expect("mkdir");
    let reads: [&[&str]; 7] = [
        &["query", "{ agents { id } }"],
        &["export"],
        &["rebuild"],
        &["digest"],
        &["quarantine", "list"],
        &["quarantine", "retry"],
        &[
            "report",
            "cdr",
            "--from",
            "2024-04-05T00:00:00Z",
            "--to",
            "2024-04-06T00:00:00Z",
        ],
    ];
    for dir in [&missing, &empty] {
        for args in reads {
            let output = run(dir, args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains("is not a callfold data dir") && stderr.contains("--data-dir"),
                "{args:?}: {stderr}"
            );
            assert!(output.stdout.is_empty(), "{args:?}");
        }
    }
    assert!(!missing.exists(), "a read command created the data dir");
    assert_eq!(
        std::fs::read_dir(&empty).expect("read dir").count(),
        0,
        "a read command wrote into a directory that is not a data dir"
    );

    let nofile = tmp.path().join("nofile.ndjson");
    let output = run(&missing, &["import", &nofile.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nofile.ndjson"), "{stderr}");
    assert!(
        !missing.exists(),
        "import created the data dir before failing"
    );

    let output = run(&missing, &["serve", "--listen", "notanaddress"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("notanaddress"), "{stderr}");
    assert!(
        !missing.exists(),
        "serve created the data dir before failing"
    );

    // Once a store exists there, the same commands work on it.
    let (_store_tmp, data) = store();
    for args in reads {
        let output = run(&data, args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `--operation` picks one operation of a document that holds several; without
/// it such a document is a GraphQL error.
#[test]
fn query_runs_the_named_operation_of_a_document() {
    let (_tmp, data) = store();
    let document = "query Agents { agents { id } } query Open { tickets(filter: {status: [OPEN]}) { totalCount } }";
    let output = run(&data, &["query", document]);
    assert_eq!(output.status.code(), Some(1));
    let response: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Operation name required")),
        "{response}"
    );
    let agents: Value = serde_json::from_slice(&run_ok(
        &data,
        &["query", "--operation", "Agents", document],
    ))
    .expect("JSON");
    assert!(
        agents["data"]["agents"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{agents}"
    );
    assert!(agents["data"].get("tickets").is_none(), "{agents}");
    let open: Value =
        serde_json::from_slice(&run_ok(&data, &["query", "--operation", "Open", document]))
            .expect("JSON");
    assert!(open["data"]["tickets"]["totalCount"].is_u64(), "{open}");
    assert!(open["data"].get("agents").is_none(), "{open}");
}
