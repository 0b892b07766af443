//! One recorded-stream scenario per SPEC rule R1–R16 and per archive-timeline
//! case of SPEC §4 (`tests/scenarios/`), run through the real binary.
//!
//! Each `rN_<name>.ndjson` is imported with `callfold import` into a fresh data
//! dir; then `callfold query` runs `rN_<name>.query.graphql` (or the shared
//! `query.graphql`) and the response must equal `rN_<name>.expected.json`.
//! `CALLFOLD_BLESS=1` rewrites the expected files from the import run; every
//! expected file is checked by hand against the rule it names (the expectation
//! is the rule, not whatever the code does).
//!
//! Each scenario is also run once through `callfold serve`: webhooks posted to
//! `/webhooks/callgear/{token}/{kind}`, `graphql` lines to `/graphql` with
//! `X-Callfold-Agent`. Over HTTP a mutation carries the server's clock, so
//! CallGear's clock is made to agree with it: each body's `notification_time`
//! is replaced by the wall-clock time at posting (everything else in the body
//! is sent as recorded). The team's `upsertAgent` lines at the head of a stream
//! are imported with their recorded times before the server starts (the
//! operator mapping in force at a call's start decides, R18, and a call's start
//! reaches back by its durations). The comparison then ignores times: every
//! time field, and the ids of notes and replies (they embed their time), are
//! redacted on both sides and tickets are compared sorted by id; everything
//! else (ids, subjects, statuses, flags, counts, assignees, customers, message
//! kinds, authors, bodies, recordings, durations) must match exactly.

mod common;

use common::{client, post, run, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every scenario file, and whether it also runs over HTTP.
macro_rules! scenarios {
    ($($name:ident: $http:ident),* $(,)?) => {
        const NAMES: &[&str] = &[$(stringify!($name)),*];

        mod import {
            $(#[test] fn $name() { super::check_import(stringify!($name)); })*
        }

        mod http {
            $(scenarios!(@http $name $http);)*
        }
    };
    (@http $name:ident http) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() { super::check_http(stringify!($name)).await; }
    };
    (@http $name:ident no_http) => {};
}

scenarios! {
    r1_unmapped_operator: http,
    r2_customers_by_phone: http,
    r3_caller_card: http,
    r4_filed_calls: http,
    r5_unfiled_call_joins_missed: http,
    r6_unfiled_answered_call: http,
    r7_transfer: http,
    r8_missed_calls: http,
    r9_missed_call_grouping: http,
    r10_click_to_call: http,
    // Over HTTP the CallGear times are rewritten to the server clock, and the
    // contact leg's talk time then reaches back before the ticket the call was
    // started from (see the file's first line).
    r10_click_to_call_from_open_ticket: no_http,
    r11_softphone_answered: http,
    r12_softphone_unanswered: http,
    r13_new_ticket_closes_missed: http,
    r14_conversation_attached_to_missed: http,
    r15_unanswered_callback: http,
    r16_agent_edits: http,
    // SPEC §4, the archive timeline (docs/rules.md R32–R45), compared on
    // `timeline.query.graphql`. Over HTTP the contact-centre events go to
    // `/webhooks/events/{token}` unchanged (their times are the archive's
    // only clock). The CallGear one is import only: the HTTP run rewrites
    // CallGear times to the wall clock, and its durations come from them.
    timeline_callback_first_attempt: http,
    timeline_callback_second_attempt: http,
    timeline_callback_three_attempts: http,
    timeline_callback_answering_machine: http,
    timeline_callback_deleted: http,
    timeline_outbound_answered: http,
    timeline_outbound_unanswered: http,
    timeline_outbound_cancelled: http,
    timeline_agent_to_agent: http,
    timeline_agent_to_agent_unanswered: http,
    timeline_dialer_preview: http,
    timeline_dialer_predictive: http,
    timeline_dialer_power: http,
    timeline_dialer_progressive: http,
    timeline_welcome_message: http,
    timeline_callgear: no_http,
    timeline_archive_search: no_http,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn stream(name: &str) -> PathBuf {
    dir().join(format!("{name}.ndjson"))
}

fn expected_path(name: &str) -> PathBuf {
    dir().join(format!("{name}.expected.json"))
}

/// The scenario's own query, or the shared one (`timeline_*`: `timeline.query.graphql`).
fn query_path(name: &str) -> PathBuf {
    let own = dir().join(format!("{name}.query.graphql"));
    if own.exists() {
        own
    } else if name.starts_with("timeline_") {
        dir().join("timeline.query.graphql")
    } else {
        dir().join("query.graphql")
    }
}

fn blessing() -> bool {
    std::env::var_os("CALLFOLD_BLESS").is_some_and(|v| v == "1")
}

#[test]
fn every_scenario_file_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/scenarios")
        .map(|entry| entry.expect("dir entry").file_name().into_string().unwrap())
        .filter_map(|name| name.strip_suffix(".ndjson").map(str::to_string))
        .collect();
    files.sort();
    let mut names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    names.sort();
    assert_eq!(
        files, names,
        "tests/scenarios/*.ndjson and the scenarios! list differ"
    );
    for name in NAMES {
        assert!(
            blessing() || expected_path(name).exists(),
            "{name}: no expected file"
        );
    }
}

/// `callfold import` of the scenario, then `callfold query`; compares with the expected file.
fn check_import(name: &str) {
    let (_tmp, data) = common::temp();
    let stream = stream(name);
    let output = run(&data, &["import", stream.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name}: import failed ({}):\n{stderr}",
        output.status
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        !summary.contains("quarantined") || summary.contains(" 0 quarantined"),
        "{name}: {summary}"
    );
    assert!(
        !stderr.contains("graphql:"),
        "{name}: an agent's action in the scenario was rejected:\n{stderr}"
    );
    // Compared as text: `callfold query` prints fields in the query's order.
    let actual = query(&data, name);
    let path = expected_path(name);
    if blessing() {
        std::fs::write(&path, &actual).expect("write expected file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (CALLFOLD_BLESS=1 writes it)", path.display()));
    if actual != expected {
        panic!(
            "{name}: the read model differs from {} (CALLFOLD_BLESS=1 rewrites it; check it against the rule first)\n{}",
            path.display(),
            diff(&expected, &actual)
        );
    }
}

fn read_expected(name: &str) -> Value {
    let path = expected_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (CALLFOLD_BLESS=1 writes it)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The response exactly as `callfold query` prints it (one trailing newline).
fn query(data: &Path, name: &str) -> String {
    let document = format!("@{}", query_path(name).display());
    let output = run(data, &["query", &document]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{name}: query failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let _: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{name}: {e}: {stdout}"));
    stdout.trim_end().to_string() + "\n"
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON") + "\n"
}

/// A line diff (longest common subsequence), three lines of context:
/// `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    const CONTEXT: usize = 3;
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::from("--- expected\n+++ actual\n");
    let mut last_shown = None;
    for (k, (sign, line)) in ops.iter().enumerate() {
        let near = changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
        if !near {
            continue;
        }
        if last_shown.is_some_and(|l: usize| l + 1 != k) {
            out.push_str("  ...\n");
        }
        out.push_str(&format!("{sign} {line}\n"));
        last_shown = Some(k);
    }
    out
}

// ---------------------------------------------------------------------------
// Over HTTP

const TIME_FIELDS: [&str; 6] = [
    "createdAt",
    "updatedAt",
    "closedAt",
    "startedAt",
    "endedAt",
    "reopenedAt",
];

/// Times and time-derived ids replaced by placeholders; `nodes` sorted by id.
fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = if TIME_FIELDS.contains(&key.as_str()) {
                        match value {
                            Value::Null => Value::Null,
                            Value::Array(items) => {
                                Value::Array(items.iter().map(|_| "<time>".into()).collect())
                            }
                            _ => "<time>".into(),
                        }
                    } else if key == "id" {
                        match value.as_str() {
                            Some(id) if id.starts_with("msg-note-") => "msg-note-<time>".into(),
                            Some(id) if id.starts_with("msg-reply-") => "msg-reply-<time>".into(),
                            _ => value.clone(),
                        }
                    } else if key == "nodes" {
                        let mut nodes: Vec<Value> = value
                            .as_array()
                            .map(|items| items.iter().map(redact).collect())
                            .unwrap_or_default();
                        nodes.sort_by_key(|node| node["id"].as_str().unwrap_or("").to_string());
                        Value::Array(nodes)
                    } else {
                        redact(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// One line of a recorded stream, as the HTTP run needs it.
enum Line {
    CallGear {
        kind: String,
        body: Value,
    },
    GraphQl {
        document: String,
        variables: Value,
        agent: Option<String>,
    },
    /// A contact-centre event: posted as is to `/webhooks/events/{token}`.
    Contact {
        event: Value,
    },
}

fn lines(name: &str) -> Vec<(String, Line)> {
    let text = std::fs::read_to_string(stream(name)).expect("scenario file");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with("//"))
        .map(|raw| {
            let value: Value = serde_json::from_str(raw).expect("scenario line is JSON");
            let line = if let Some(document) = value["graphql"].as_str() {
                Line::GraphQl {
                    document: document.to_string(),
                    variables: value["variables"].clone(),
                    agent: value["agent"].as_str().map(str::to_string),
                }
            } else if value.get("event").is_some() {
                Line::Contact {
                    event: value["event"].clone(),
                }
            } else {
                let path = value["path"]
                    .as_str()
                    .expect("a path, graphql or event line");
                let body = match &value["body"] {
                    Value::String(raw) => serde_json::from_str(raw).expect("a JSON body"),
                    body => body.clone(),
                };
                Line::CallGear {
                    kind: path.trim_start_matches('/').to_string(),
                    body,
                }
            };
            (raw.to_string(), line)
        })
        .collect()
}

/// Now, as CallGear writes `notification_time` (with an explicit UTC offset),
/// strictly after `previous`.
fn clock_after(previous: &mut chrono::DateTime<chrono::Utc>) -> String {
    let mut now = chrono::Utc::now();
    if now <= *previous {
        now = *previous + chrono::Duration::microseconds(1);
    }
    *previous = now;
    now.format("%Y-%m-%d %H:%M:%S%.6fZ").to_string()
}

async fn graphql(
    client: &reqwest::Client,
    server: &Server,
    document: &str,
    variables: &Value,
    agent: Option<&str>,
) -> Value {
    // No CALLFOLD_ADMIN_TOKEN was given: the server generated one in its data dir.
    let admin = std::fs::read_to_string(server.data_dir.join("admin_token")).expect("admin_token");
    let mut request = client
        .post(server.at("/graphql"))
        .header("authorization", format!("Bearer {}", admin.trim()))
        .json(&serde_json::json!({"query": document, "variables": variables}));
    if let Some(agent) = agent {
        request = request.header("X-Callfold-Agent", agent);
    }
    let response = request.send().await.expect("POST /graphql");
    assert_eq!(response.status().as_u16(), 200, "POST /graphql {document}");
    response.json().await.expect("a GraphQL JSON response")
}

async fn check_http(name: &str) {
    let (tmp, data) = common::temp();
    let lines = lines(name);
    // The team's mapping, imported with its recorded times (see the module docs).
    let setup: Vec<&str> = lines
        .iter()
        .take_while(|(_, line)| {
            matches!(line, Line::GraphQl { document, .. } if document.contains("upsertAgent"))
        })
        .map(|(raw, _)| raw.as_str())
        .collect();
    assert!(!setup.is_empty(), "{name}: the stream starts with the team");
    let setup_file = tmp.path().join("team.ndjson");
    std::fs::write(&setup_file, setup.join("\n") + "\n").expect("write team");
    common::run_ok(&data, &["import", setup_file.to_str().unwrap()]);

    let server = Server::start(&data);
    let client = client();
    let mut clock = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    for (raw, line) in &lines[setup.len()..] {
        match line {
            Line::CallGear { kind, body } => {
                let mut body = body.clone();
                body["notification_time"] = clock_after(&mut clock).into();
                let reply = post(&client, &server.url(kind), common::bytes(&body)).await;
                assert_eq!(reply.json["status"], "accepted", "{name}: {raw}: {reply:?}");
            }
            Line::Contact { event } => {
                // Its own time is the only clock the archive reads: sent unchanged.
                let url = server.at(&format!("/webhooks/events/{}", common::TOKEN));
                let reply = post(&client, &url, common::bytes(event)).await;
                assert_eq!(reply.json["status"], "accepted", "{name}: {raw}: {reply:?}");
            }
            Line::GraphQl {
                document,
                variables,
                agent,
            } => {
                let response =
                    graphql(&client, &server, document, variables, agent.as_deref()).await;
                assert!(
                    response.get("errors").is_none(),
                    "{name}: {raw}: {response}"
                );
                // The server stamps the mutation; later CallGear times come after it.
                clock = clock.max(chrono::Utc::now());
            }
        }
    }

    let document = std::fs::read_to_string(query_path(name)).expect("query document");
    let expected = redact(&read_expected(name));
    // The projections apply the posted lines in the background: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let actual = loop {
        let actual = redact(&graphql(&client, &server, &document, &Value::Null, None).await);
        if actual == expected || Instant::now() > deadline {
            break actual;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.stop();
    if actual != expected {
        panic!(
            "{name}: over HTTP the read model differs from {} (times redacted)\n{}",
            expected_path(name).display(),
            diff(&pretty(&expected), &pretty(&actual))
        );
    }
}
