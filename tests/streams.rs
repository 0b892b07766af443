//! Recorded streams (CONTRACT.md, "Recorded streams"): `callfold import` and
//! `callfold export` on real data dirs.

mod common;

use common::{
    bytes, callgear, client, post, quarantine_list, quarantine_show, run, run_ok, stream_line,
    stream_line_raw, Server,
};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Counts of the one-line import summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    accepted: u64,
    duplicates: u64,
    quarantined: u64,
}

fn summary(accepted: u64, duplicates: u64, quarantined: u64) -> Summary {
    Summary {
        accepted,
        duplicates,
        quarantined,
    }
}

/// Runs `callfold import FILES...`, asserts exit 0 and one summary line.
fn import(data_dir: &Path, files: &[&Path]) -> Summary {
    let mut args = vec!["import"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let stdout = String::from_utf8(run_ok(data_dir, &args)).expect("UTF-8 summary");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the summary is one line: {stdout:?}");
    let count = |word: &str| -> u64 {
        lines[0]
            .split([',', ':'])
            .filter_map(|part| {
                let mut words = part.split_whitespace();
                let number = words.next()?.parse::<u64>().ok()?;
                (words.next()? == word).then_some(number)
            })
            .next()
            .unwrap_or_else(|| panic!("no {word:?} count in {:?}", lines[0]))
    };
    Summary {
        accepted: count("accepted"),
        duplicates: count("duplicates"),
        quarantined: count("quarantined"),
    }
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write stream file");
    path
}

fn same_instant(a: &str, b: &str) -> bool {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).expect("RFC 3339");
    parse(a) == parse(b)
}

/// A realistic recorded day: for each session an inbound call that was answered
/// (handset, endleg, end, recording) or an outbound one (callout, legout, end).
fn recorded_calls(
    sessions: std::ops::Range<u64>,
) -> Vec<(String, &'static str, serde_json::Value)> {
    let mut lines = Vec::new();
    for (i, session) in sessions.enumerate() {
        let kinds: &[&str] = if i % 3 == 2 {
            &["callout", "legout", "end"]
        } else {
            &["handset", "endleg", "end", "recording"]
        };
        for (j, kind) in kinds.iter().enumerate() {
            let at = format!("2024-04-05T09:{:02}:{:02}.250Z", i % 60, j * 7);
            lines.push((at, *kind, callgear(kind, session)));
        }
    }
    lines
}

#[test]
fn import_reads_object_and_string_bodies_skipping_comments_and_blank_lines() {
    let (tmp, data) = common::temp();
    let handset = callgear("handset", 3_392_144_960);
    let endleg = callgear("endleg", 3_392_144_960);
    let end = callgear("end", 3_392_144_960);
    // A string body is the exact raw delivery, whitespace and all.
    let endleg_raw = serde_json::to_string_pretty(&endleg).expect("JSON");
    let broken = "{\"notification_name\": \"Записанный разговор\", \"call_info\": {\"call_session_id\": 3392144960,";
    let file = write(
        tmp.path(),
        "day.ndjson",
        &[
            "// recorded from the CallGear account, 2024-04-05".to_string(),
            String::new(),
            stream_line("2024-04-05T09:00:01.250Z", "handset", &handset),
            "   ".to_string(),
            stream_line_raw("2024-04-05T09:02:00Z", "endleg", &endleg_raw),
            "  // an indented comment".to_string(),
            stream_line_raw("2024-04-05T09:02:30Z", "recording", broken),
            stream_line("2024-04-05T12:02:01+03:00", "end", &end),
        ],
    );
    assert_eq!(import(&data, &[&file]), summary(3, 0, 1));

    let log = common::export(&data);
    let expect = [
        ("2024-04-05T09:00:01.250Z", "/handset", bytes(&handset)),
        (
            "2024-04-05T09:02:00Z",
            "/endleg",
            endleg_raw.clone().into_bytes(),
        ),
        ("2024-04-05T09:02:01Z", "/end", bytes(&end)),
    ];
    assert_eq!(log.len(), expect.len(), "{log:#?}");
    for (entry, (at, path, body)) in log.iter().zip(&expect) {
        assert!(same_instant(&entry.at, at), "{entry:?} expected at {at}");
        assert_eq!(entry.path, *path);
        assert_eq!(
            entry.body.as_bytes(),
            &body[..],
            "{path}: body not kept exactly"
        );
    }

    let quarantined = quarantine_list(&data);
    assert_eq!(quarantined.len(), 1, "{quarantined:#?}");
    assert_eq!(quarantined[0]["kind"], "recording");
    assert_eq!(quarantined[0]["body"], broken);
    assert!(same_instant(
        quarantined[0]["at"].as_str().expect("at"),
        "2024-04-05T09:02:30Z"
    ));
    let id = quarantined[0]["id"].as_u64().expect("id");
    assert_eq!(quarantine_show(&data, id), broken.as_bytes());
}

#[test]
fn a_line_that_cannot_be_ingested_fails_the_import_naming_file_and_line() {
    let good = |session: u64| stream_line("2024-04-05T09:00:01Z", "end", &callgear("end", session));
    let check = |bad: &str, expect: &str| {
        let (tmp, data) = common::temp();
        let lines = [
            "// header".to_string(),
            good(1),
            good(2),
            bad.to_string(),
            good(3),
        ];
        let file = write(tmp.path(), "bad.ndjson", &lines);
        let output = run(&data, &["import", &file.display().to_string()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{bad}: {stderr}");
        let place = format!("{}:4", file.display());
        assert!(
            stderr.contains(&place),
            "{bad}: {stderr:?} does not name {place}"
        );
        assert!(
            stderr.to_lowercase().contains(expect),
            "{bad}: {stderr:?} does not say {expect:?}"
        );
        // Nothing after the bad line was imported, and the import says what was.
        let log = common::export(&data);
        assert!(
            log.len() <= 2,
            "{bad}: lines after the bad one were imported"
        );
        let said = format!(
            "stopped in file 1 of 1; before that line: {} accepted, 0 duplicates",
            log.len()
        );
        assert!(
            stderr.contains(&said),
            "{bad}: {stderr:?} does not say {said:?}"
        );
        // Fixing the line and importing again completes the log, in order.
        let fixed = [good(1), good(2), good(3)];
        let file = write(tmp.path(), "fixed.ndjson", &fixed);
        let got = import(&data, &[&file]);
        assert_eq!(got.accepted + got.duplicates, 3, "{bad}: {got:?}");
        let bodies: Vec<String> = common::export(&data).into_iter().map(|e| e.body).collect();
        let want: Vec<String> = (1..=3)
            .map(|s| serde_json::to_string(&callgear("end", s)).expect("JSON"))
            .collect();
        assert_eq!(bodies, want, "{bad}");
    };
    // Not NDJSON.
    check(
        r#"{"at":"2024-04-05T09:00:01Z","path":"/end","body":{"#,
        "ndjson",
    );
    check("[1, 2, 3]", "ndjson");
    check("just text", "ndjson");
    // NDJSON, but not a recorded-stream line.
    check(r#"{"path":"/end","body":{}}"#, "\"at\"");
    check(r#"{"at":"yesterday","path":"/end","body":{}}"#, "rfc 3339");
    check(
        r#"{"at":"2024-04-05T09:00:01Z","path":"/hangup","body":{}}"#,
        "hangup",
    );
    check(r#"{"at":"2024-04-05T09:00:01Z","path":"/end"}"#, "\"body\"");
    // An `event` line that is not a native event callfold knows.
    check(
        r#"{"at":"2024-04-05T09:02:00Z","event":{"type":"agent_status","agent":"a1"}}"#,
        "event",
    );
    check(r#"{"at":"2024-04-05T09:02:00Z","event":[1]}"#, "event");
    // A `quarantine` line that is not one `export` writes.
    check(
        r#"{"at":"2024-04-05T09:02:00Z","quarantine":{"source":"fax","kind":"end","reason":"r","raw":"x"}}"#,
        "\"fax\"",
    );
    check(
        r#"{"at":"2024-04-05T09:02:00Z","quarantine":{"source":"callgear","kind":"end","reason":"r","raw_hex":"zz"}}"#,
        "not hex",
    );
    check(
        r#"{"at":"2024-04-05T09:02:00Z","quarantine":{"source":"callgear","kind":"end","reason":"r"}}"#,
        "\"raw\"",
    );
}

/// A `graphql` line the API refuses (here: an unknown agent) is what the agent UI
/// saw: it is reported with file and line, counted, and the import goes on.
#[test]
fn a_refused_graphql_line_is_reported_and_the_import_goes_on() {
    let (tmp, data) = common::temp();
    let good = |session: u64| stream_line("2024-04-05T09:00:01Z", "end", &callgear("end", session));
    let lines = [
        good(1),
        r#"{"at":"2024-04-05T09:02:00Z","graphql":"mutation { addNote(ticketId: \"missed-1\", body: \"x\") { id } }","variables":{},"agent":"nobody"}"#.to_string(),
        good(2),
    ];
    let file = write(tmp.path(), "refused.ndjson", &lines);
    let output = run(&data, &["import", &file.display().to_string()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("2 accepted"), "{stdout}");
    assert!(stdout.contains("1 graphql (1 with errors)"), "{stdout}");
    let place = format!("{}:2", file.display());
    assert!(
        stderr.contains(&place) && stderr.contains("unknown agent"),
        "{stderr}"
    );
    // The refused operation recorded nothing: the log holds the two deliveries.
    assert_eq!(common::export(&data).len(), 2);
}

#[test]
fn a_missing_file_fails_the_import_naming_it() {
    let (tmp, data) = common::temp();
    let missing = tmp.path().join("no-such-stream.ndjson");
    let output = run(&data, &["import", &missing.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-stream.ndjson"), "{stderr}");
}

#[test]
fn importing_the_same_file_twice_gives_only_duplicates() {
    let (tmp, data) = common::temp();
    let calls = recorded_calls(4_100_000_000..4_100_000_012);
    let mut lines: Vec<String> = calls
        .iter()
        .map(|(at, kind, body)| stream_line(at, kind, body))
        .collect();
    lines.push(stream_line_raw(
        "2024-04-05T10:00:00Z",
        "end",
        "{\"call_info\":",
    ));
    let file = write(tmp.path(), "day.ndjson", &lines);
    let n = calls.len() as u64;
    assert_eq!(import(&data, &[&file]), summary(n, 0, 1));
    let first = common::export_raw(&data);
    assert_eq!(import(&data, &[&file]), summary(0, n, 1));
    assert_eq!(
        common::export_raw(&data),
        first,
        "a repeated import changed the log"
    );
    assert_eq!(
        quarantine_list(&data).len(),
        1,
        "the broken line was kept twice"
    );

    // Two files in one run; the second repeats part of the first and adds one.
    let extra = callgear("end", 4_100_000_999);
    let mut second: Vec<String> = lines[..5].to_vec();
    second.push(stream_line("2024-04-05T11:00:00Z", "end", &extra));
    let second = write(tmp.path(), "retries.ndjson", &second);
    assert_eq!(import(&data, &[&file, &second]), summary(1, n + 5, 1));
    let log = common::export(&data);
    assert_eq!(log.len() as u64, n + 1);
    assert_eq!(
        log[n as usize].body,
        serde_json::to_string(&extra).expect("JSON")
    );
}

#[tokio::test]
async fn export_then_import_into_an_empty_data_dir_is_byte_identical() {
    let (tmp, data) = common::temp();
    // Part of the log from a recorded stream, in two time zones ...
    let calls = recorded_calls(4_200_000_000..4_200_000_006);
    let mut lines: Vec<String> = calls
        .iter()
        .map(|(at, kind, body)| stream_line(at, kind, body))
        .collect();
    let moscow = callgear("end", 4_200_000_100);
    lines.push(
        json!({"at": "2024-04-05T09:30:00.5Z", "path": "/end", "tz": "Europe/Moscow", "body": moscow})
            .to_string(),
    );
    lines.push(stream_line_raw(
        "2024-04-05T09:31:00Z",
        "recording",
        "{\r\n  \"call_info\": {\"call_session_id\": 4200000101},\r\n  \"notification_name\": \"Записанный разговор\"\r\n}",
    ));
    let file = write(tmp.path(), "day.ndjson", &lines);
    let imported = import(&data, &[&file]);
    assert_eq!(imported.duplicates, 0);
    // ... and part of it live, over HTTP.
    let server = Server::start(&data);
    let http = client();
    let mut live = 0;
    for (i, kind) in common::KINDS.iter().enumerate() {
        let position = post(
            &http,
            &server.url(kind),
            bytes(&callgear(kind, 4_200_001_000 + i as u64)),
        )
        .await
        .accepted();
        assert_eq!(position, imported.accepted + live);
        live += 1;
    }
    server.stop();

    let exported = common::export_raw(&data);
    let total = imported.accepted + live;
    assert_eq!(
        exported.iter().filter(|b| **b == b'\n').count() as u64,
        total
    );

    let (copy_tmp, copy) = common::temp();
    let export_file = copy_tmp.path().join("export.ndjson");
    std::fs::write(&export_file, &exported).expect("write export");
    assert_eq!(import(&copy, &[&export_file]), summary(total, 0, 0));
    let again = common::export_raw(&copy);
    assert!(
        again == exported,
        "export → import → export differs:\n{}\n---\n{}",
        String::from_utf8_lossy(&exported),
        String::from_utf8_lossy(&again)
    );
    // The export is the log: importing it back into the original changes nothing.
    assert_eq!(import(&data, &[&export_file]), summary(0, total, 0));
}

/// A backup keeps the quarantine: `export` writes every quarantined delivery
/// after the log, and `import` puts it back as it was (raw bytes, receive time,
/// source, kind, reason), whatever the bytes (here: malformed JSON, bytes that
/// are not UTF-8, a contact-centre event of an unknown version).
#[tokio::test]
async fn export_keeps_the_quarantine_and_import_restores_it() {
    let (tmp, data) = common::temp();
    let broken = "{\"call_info\": {\"call_session_id\": 4400000000";
    let lines = [
        stream_line(
            "2024-04-05T09:00:01Z",
            "end",
            &callgear("end", 4_400_000_001),
        ),
        stream_line_raw("2024-04-05T09:00:02.5Z", "recording", broken),
    ];
    let file = write(tmp.path(), "day.ndjson", &lines);
    assert_eq!(import(&data, &[&file]), summary(1, 0, 1));
    let server = Server::start(&data);
    let http = client();
    let not_utf8: Vec<u8> = vec![b'{', 0xff, 0xfe, b'}'];
    let reply = common::try_post(&http, &server.url("handset"), not_utf8.clone())
        .await
        .expect("POST");
    assert_eq!(reply.status, 422, "{reply:?}");
    let feed = server.at(&format!("/webhooks/events/{}", common::TOKEN));
    let version_2 = r#"{"v":2,"type":"call_ended","at":"2024-04-05T09:03:10Z","call_id":"c-1"}"#;
    let reply = common::try_post(&http, &feed, version_2.as_bytes().to_vec())
        .await
        .expect("POST");
    assert_eq!(reply.status, 422, "{reply:?}");
    server.stop();
    let before = quarantine_list(&data);
    assert_eq!(before.len(), 3, "{before:#?}");

    let exported = common::export_raw(&data);
    let text = String::from_utf8(exported.clone()).expect("export is UTF-8");
    let kinds: Vec<bool> = text
        .lines()
        .map(|line| line.contains("\"quarantine\":"))
        .collect();
    assert_eq!(kinds, [false, true, true, true], "{text}");

    let (copy_tmp, copy) = common::temp();
    let export_file = copy_tmp.path().join("export.ndjson");
    std::fs::write(&export_file, &exported).expect("write export");
    assert_eq!(import(&copy, &[&export_file]), summary(1, 0, 3));
    assert_eq!(quarantine_list(&copy), before);
    for entry in &before {
        let id = entry["id"].as_u64().expect("id");
        assert_eq!(quarantine_show(&copy, id), quarantine_show(&data, id));
    }
    assert_eq!(
        quarantine_show(&copy, before[1]["id"].as_u64().expect("id")),
        not_utf8
    );
    assert!(
        common::export_raw(&copy) == exported,
        "export → import → export differs"
    );
    // Importing the backup into the original keeps one copy of each.
    import(&data, &[&export_file]);
    assert_eq!(quarantine_list(&data), before);
}

/// `callfold export | head`: when the reader goes away, export stops quietly
/// with the status of a process ended by SIGPIPE (141), not an error message.
#[test]
fn export_into_a_closed_pipe_stops_quietly() {
    use std::io::Read;
    let (tmp, data) = common::temp();
    let lines: Vec<String> = recorded_calls(4_500_000_000..4_500_000_400)
        .iter()
        .map(|(at, kind, body)| stream_line(at, kind, body))
        .collect();
    let file = write(tmp.path(), "many.ndjson", &lines);
    import(&data, &[&file]);
    let whole = common::export_raw(&data);
    assert!(
        whole.len() > 1 << 18,
        "more than a pipe holds: {}",
        whole.len()
    );

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callfold"))
        .args(["export", "--data-dir"])
        .arg(&data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn export");
    let mut first = [0u8; 16];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the export's first bytes");
    // Reading end closed (dropped above); the export is still writing.
    let output = child.wait_with_output().expect("export ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(&first, &whole[..16]);
}

#[tokio::test]
async fn live_and_imported_deliveries_are_one_log_with_one_dedupe() {
    let (tmp, data) = common::temp();
    let live: Vec<(&str, Vec<u8>)> = ["handset", "endleg", "end"]
        .into_iter()
        .map(|kind| (kind, bytes(&callgear(kind, 4_300_000_000))))
        .collect();
    let server = Server::start(&data);
    let http = client();
    for (expected, (kind, body)) in live.iter().enumerate() {
        assert_eq!(
            post(&http, &server.url(kind), body.clone())
                .await
                .accepted(),
            expected as u64
        );
    }
    server.stop();

    // The same deliveries recorded elsewhere (other formatting), plus a new one.
    let recording = callgear("recording", 4_300_000_000);
    let mut lines: Vec<String> = live
        .iter()
        .map(|(kind, body)| {
            let value: serde_json::Value = serde_json::from_slice(body).expect("JSON");
            stream_line_raw(
                "2024-04-05T09:00:00Z",
                kind,
                &serde_json::to_string_pretty(&value).expect("JSON"),
            )
        })
        .collect();
    lines.push(stream_line("2024-04-05T09:05:00Z", "recording", &recording));
    let file = write(tmp.path(), "same.ndjson", &lines);
    assert_eq!(import(&data, &[&file]), summary(1, 3, 0));

    // And the server recognises what the import appended.
    let server = Server::start(&data);
    assert_eq!(
        post(&http, &server.url("recording"), bytes(&recording))
            .await
            .duplicate(),
        3
    );
    let next = bytes(&callgear("end", 4_300_000_001));
    assert_eq!(post(&http, &server.url("end"), next).await.accepted(), 4);
    server.stop();
}

/// `event` lines carrying contact-centre events (docs/events.md, format version 1):
/// appended with a content dedupe key, a string `event` holds exact bytes, and a
/// malformed event stops the import naming file and line.
#[test]
fn event_lines_carry_contact_centre_events() {
    let (tmp, data) = common::temp();
    let started = r#"{"v":1,"type":"call_started","at":"2024-04-05T09:00:00Z","call_id":"c-1","kind":"inbound","phone":"+79161234567"}"#;
    // The same event, other key order and whitespace, and an unknown field.
    let again = r#"{ "call_id": "c-1", "kind": "inbound", "phone": "+79161234567", "type": "call_started", "v": 1, "at": "2024-04-05T12:00:00+03:00", "vendor": 7 }"#;
    let queued = r#"{"v":1,"type":"queue_entered","at":"2024-04-05T09:00:12Z","call_id":"c-1","queue":"Support"}"#;
    let pretty = "{\n  \"v\": 1,\n  \"type\": \"agent_presence\",\n  \"at\": \"2024-04-05T08:55:00Z\",\n  \"agent_id\": \"alice\",\n  \"presence\": \"ready\"\n}";
    let line = |at: &str, event: &str| format!(r#"{{"at":"{at}","event":{event}}}"#);
    let lines = [
        line("2024-04-05T09:00:00.100Z", started),
        line("2024-04-05T09:00:12.100Z", queued),
        line("2024-04-05T09:00:13Z", again),
        json!({"at": "2024-04-05T09:00:14Z", "event": pretty}).to_string(),
    ];
    let file = write(tmp.path(), "feed.ndjson", &lines);
    assert_eq!(import(&data, &[&file]), summary(3, 1, 0));
    assert_eq!(import(&data, &[&file]), summary(0, 4, 0));
    let exported = String::from_utf8(common::export_raw(&data)).expect("UTF-8");
    let exported: Vec<&str> = exported.lines().collect();
    assert_eq!(
        exported,
        vec![
            line("2024-04-05T09:00:00.100Z", started),
            line("2024-04-05T09:00:12.100Z", queued),
            json!({"at": "2024-04-05T09:00:14Z", "event": pretty}).to_string(),
        ]
    );
    assert!(quarantine_list(&data).is_empty());

    let check = |bad: &str, expect: &str| {
        let (tmp, data) = common::temp();
        let ended = r#"{"v":1,"type":"call_ended","at":"2024-04-05T09:03:10Z","call_id":"c-1"}"#;
        let lines = [
            line("2024-04-05T09:00:00Z", started),
            line("2024-04-05T09:00:12Z", queued),
            line("2024-04-05T09:01:00Z", bad),
            line("2024-04-05T09:03:10Z", ended),
        ];
        let file = write(tmp.path(), "feed.ndjson", &lines);
        let output = run(&data, &["import", &file.display().to_string()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{bad}: {stderr}");
        let place = format!("{}:3", file.display());
        assert!(
            stderr.contains(&place),
            "{bad}: {stderr:?} does not name {place}"
        );
        assert!(
            stderr.contains(expect),
            "{bad}: {stderr:?} does not say {expect:?}"
        );
        // The lines before it are in the log, nothing after it.
        let log = String::from_utf8(common::export_raw(&data)).expect("UTF-8");
        assert_eq!(log.lines().count(), 2, "{bad}: {log}");
        assert!(quarantine_list(&data).is_empty(), "{bad}");
    };
    check(
        r#"{"v":2,"type":"call_ended","at":"2024-04-05T09:03:10Z","call_id":"c-1"}"#,
        "version 2",
    );
    check(
        r#"{"v":1,"type":"queue_left","at":"2024-04-05T09:00:40Z","call_id":"c-1","queue":"Support"}"#,
        "missing field `reason`",
    );
    check(
        r#"{"v":1,"type":"agent_answered","at":"2024-04-05T09:00:40Z","call_id":"c-1","agent_id":""}"#,
        "`agent_id` is empty",
    );
}
