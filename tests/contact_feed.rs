//! The native contact-centre feed over HTTP (`POST /webhooks/events/{token}`,
//! docs/events.md) on the real `callfold serve`: single events and NDJSON batches,
//! dedupe, refusals, quarantine and its retry, and the export/import round trip.

mod common;

use common::{client, quarantine_list, quarantine_show, run, run_ok, Reply, Server};
use serde_json::{json, Value};
use std::path::Path;

/// A contact-centre event (format version 1) as compact JSON, fields in this order.
fn event(kind: &str, at: &str, fields: &[(&str, Value)]) -> String {
    let mut text = format!(r#"{{"v":1,"type":"{kind}","at":"{at}""#);
    for (name, value) in fields {
        text.push_str(&format!(",\"{name}\":{value}"));
    }
    text.push('}');
    text
}

/// One inbound call, as the contact centre reports it: menu, queue, an agent.
fn inbound_call(call_id: &str) -> Vec<String> {
    let call = || ("call_id", json!(call_id));
    vec![
        event(
            "call_started",
            "2024-04-05T09:00:00Z",
            &[
                call(),
                ("kind", json!("inbound")),
                ("phone", json!("+79161234567")),
                ("line", json!("+74993720692")),
            ],
        ),
        event(
            "menu_entered",
            "2024-04-05T09:00:01Z",
            &[call(), ("menu", json!("Main menu"))],
        ),
        event(
            "queue_entered",
            "2024-04-05T09:00:12Z",
            &[call(), ("queue", json!("Support"))],
        ),
        event(
            "agent_offered",
            "2024-04-05T09:00:40Z",
            &[call(), ("agent_id", json!("alice"))],
        ),
        event(
            "agent_answered",
            "2024-04-05T09:00:44Z",
            &[call(), ("agent_id", json!("alice"))],
        ),
        event(
            "queue_left",
            "2024-04-05T09:00:44Z",
            &[
                call(),
                ("queue", json!("Support")),
                ("reason", json!("answered")),
            ],
        ),
        event(
            "agent_hung_up",
            "2024-04-05T09:03:10Z",
            &[call(), ("agent_id", json!("alice"))],
        ),
        event("call_ended", "2024-04-05T09:03:10Z", &[call()]),
    ]
}

fn events_url(server: &Server) -> String {
    server.at(&format!("/webhooks/events/{}", common::TOKEN))
}

async fn post_as(url: &str, body: impl Into<reqwest::Body>, content_type: Option<&str>) -> Reply {
    let mut request = client().post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("reply body");
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, json }
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> Reply {
    post_as(url, body, None).await
}

/// `callfold export`, one parsed line per log position (the `quarantine`
/// lines after the log are left out).
fn exported(data_dir: &Path) -> Vec<Value> {
    let raw = common::export_raw(data_dir);
    String::from_utf8(raw)
        .expect("export is UTF-8")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("export line is JSON"))
        .filter(|line| line.get("quarantine").is_none())
        .collect()
}

/// The exact raw bytes of every log entry that `export` wrote as an `event` line
/// (an object is its own text; a string holds the bytes). The `quarantine`
/// lines after the log are left out.
fn exported_events(data_dir: &Path) -> Vec<String> {
    let raw = String::from_utf8(common::export_raw(data_dir)).expect("UTF-8");
    raw.lines()
        .filter_map(|line| {
            #[derive(serde::Deserialize)]
            struct Line<'a> {
                #[serde(borrow)]
                event: Option<&'a serde_json::value::RawValue>,
                quarantine: Option<serde::de::IgnoredAny>,
            }
            let line: Line = serde_json::from_str(line).expect("an export line");
            if line.quarantine.is_some() {
                return None;
            }
            let text = line.event.expect("an event line").get();
            Some(if text.starts_with('"') {
                serde_json::from_str::<String>(text).expect("a JSON string")
            } else {
                text.to_string()
            })
        })
        .collect()
}

/// The results of a batch reply as (line, status, position or quarantine id).
fn results(reply: &Reply) -> Vec<(u64, String, u64)> {
    reply.json["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {reply:?}"))
        .iter()
        .map(|r| {
            let id = r
                .get("position")
                .or_else(|| r.get("quarantine_id"))
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("no position or quarantine id in {r}"));
            let status = r["status"].as_str().expect("status").to_string();
            (r["line"].as_u64().expect("line"), status, id)
        })
        .collect()
}

fn result(line: u64, status: &str, id: u64) -> (u64, String, u64) {
    (line, status.to_string(), id)
}

/// A sample of a Prometheus text page (`name{labels}` exactly as printed).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[tokio::test]
async fn a_single_event_is_accepted_once_and_a_resend_is_a_duplicate() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-1001");
    assert_eq!(post(&url, call[0].clone()).await.accepted(), 0);
    assert_eq!(post(&url, call[1].clone()).await.accepted(), 1);

    // The same event again: as it was, re-serialised with other whitespace and key
    // order, with a trailing newline, and with a field callfold does not know.
    let resends = [
        call[0].clone(),
        r#"{ "call_id" : "c-1001", "line": "+74993720692", "kind": "inbound",
             "phone": "+79161234567", "at": "2024-04-05T12:00:00+03:00", "type": "call_started", "v": 1 }"#
            .to_string(),
        format!("{}\n", call[0]),
        call[0].replacen("{", r#"{"vendor_trace":"abc","#, 1),
    ];
    for body in resends {
        let reply = post(&url, body.clone()).await;
        assert_eq!(
            reply.json,
            json!({"status": "duplicate", "position": 0}),
            "{body}"
        );
    }
    // The head did not move.
    assert_eq!(post(&url, call[2].clone()).await.accepted(), 2);

    // Metrics count each event under its type.
    let page = client()
        .get(server.at("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let count = |kind: &str, outcome: &str| {
        sample(
            &page,
            &format!(r#"callfold_deliveries_total{{kind="{kind}",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(count("call_started", "accepted"), Some(1.0), "{page}");
    assert_eq!(count("call_started", "duplicate"), Some(4.0), "{page}");
    assert_eq!(count("queue_entered", "accepted"), Some(1.0), "{page}");
    server.stop();

    assert_eq!(exported_events(&data), call[..3].to_vec());
    for line in exported(&data) {
        assert!(
            line["event"].is_object(),
            "compact events export as objects: {line}"
        );
        assert!(line.get("path").is_none(), "{line}");
    }
    assert!(quarantine_list(&data).is_empty());
}

#[tokio::test]
async fn an_ndjson_batch_is_appended_in_order_with_one_result_per_line() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-2001");

    // Lines 1, 2, 4 and 5 hold events; line 3 is blank, line 2 ends in CRLF.
    let body = format!(
        "{}\n{}\r\n   \n{}\n{}\n",
        call[0], call[1], call[2], call[3]
    );
    let reply = post(&url, body.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json["status"], "accepted", "{reply:?}");
    assert_eq!(
        (
            &reply.json["events"],
            &reply.json["accepted"],
            &reply.json["duplicates"],
            &reply.json["quarantined"]
        ),
        (&json!(4), &json!(4), &json!(0), &json!(0)),
        "{reply:?}"
    );
    assert_eq!(
        results(&reply),
        vec![
            result(1, "accepted", 0),
            result(2, "accepted", 1),
            result(4, "accepted", 2),
            result(5, "accepted", 3),
        ]
    );

    // The batch again with two more lines, one of them repeating an earlier line.
    let again = format!("{body}{}\n{}", call[4], call[1]);
    let reply = post(&url, again).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        results(&reply),
        vec![
            result(1, "duplicate", 0),
            result(2, "duplicate", 1),
            result(4, "duplicate", 2),
            result(5, "duplicate", 3),
            result(6, "accepted", 4),
            result(7, "duplicate", 1),
        ]
    );
    assert_eq!(reply.json["duplicates"], 5);

    // A batch of one, when the sender says it sends NDJSON.
    let reply = post_as(&url, call[5].clone(), Some("application/x-ndjson")).await;
    assert_eq!(results(&reply), vec![result(1, "accepted", 5)], "{reply:?}");
    // The same line without that content type is a single event.
    let reply = post(&url, call[5].clone()).await;
    assert_eq!(reply.json, json!({"status": "duplicate", "position": 5}));
    server.stop();

    assert_eq!(exported_events(&data), call[..6].to_vec());
    assert!(quarantine_list(&data).is_empty());
}

#[tokio::test]
async fn a_malformed_line_is_quarantined_and_the_good_lines_are_durable() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-3001");
    let empty_id = event(
        "call_ended",
        "2024-04-05T09:03:10Z",
        &[("call_id", json!(""))],
    );
    let not_json = r#"{"v":1,"type":"agent_presence","at":"2024-04-05T09:00:00Z","agent_id":"bob","presence":"#;
    let body = [
        call[0].as_str(),
        empty_id.as_str(),
        call[1].as_str(),
        not_json,
    ]
    .join("\n");

    let reply = post(&url, body.clone()).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(reply.json["status"], "quarantined", "{reply:?}");
    assert_eq!(reply.json["error"], "malformed_body", "{reply:?}");
    let message = reply.json["message"].as_str().expect("message");
    assert!(
        message.contains("2 of 4") && message.contains("line 2"),
        "{message}"
    );
    assert_eq!(
        (&reply.json["accepted"], &reply.json["quarantined"]),
        (&json!(2), &json!(2))
    );
    let got = results(&reply);
    assert_eq!(
        (got[0].clone(), got[2].clone()),
        (result(1, "accepted", 0), result(3, "accepted", 1))
    );
    let bad = &reply.json["results"];
    assert_eq!(bad[1]["line"], 2, "{reply:?}");
    assert_eq!(bad[1]["status"], "quarantined", "{reply:?}");
    assert_eq!(bad[1]["field"], "call_id", "{reply:?}");
    assert!(
        bad[1]["message"]
            .as_str()
            .unwrap()
            .contains("`call_id` is empty"),
        "{reply:?}"
    );
    assert_eq!(bad[3]["line"], 4, "{reply:?}");
    assert!(
        bad[3]["message"].as_str().unwrap().contains("not JSON"),
        "{reply:?}"
    );
    let ids = [got[1].2, got[3].2];
    assert_ne!(ids[0], ids[1]);

    // Resending the whole batch is safe: the good lines are duplicates, the bad
    // ones are kept once, under the same quarantine ids.
    let reply = post(&url, body).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(
        results(&reply),
        vec![
            result(1, "duplicate", 0),
            result(2, "quarantined", ids[0]),
            result(3, "duplicate", 1),
            result(4, "quarantined", ids[1]),
        ]
    );
    // The next event gets the next position.
    assert_eq!(post(&url, call[2].clone()).await.accepted(), 2);
    server.stop();

    assert_eq!(exported_events(&data), call[..3].to_vec());
    let listed = quarantine_list(&data);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    for (id, kind, raw, reason) in [
        (ids[0], "call_ended", empty_id.as_str(), "call_id"),
        (ids[1], "event", not_json, "not JSON"),
    ] {
        let entry = listed
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("quarantine id {id} is not listed: {listed:#?}"));
        assert_eq!(entry["source"], "native", "{entry}");
        assert_eq!(entry["kind"], kind, "{entry}");
        assert!(
            entry["reason"].as_str().unwrap().contains(reason),
            "{entry}"
        );
        assert_eq!(quarantine_show(&data, id), raw.as_bytes());
    }
}

#[tokio::test]
async fn a_wrong_token_is_404_and_stores_nothing() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let good = inbound_call("c-4001")[0].clone();
    let broken = "{\"v\":1,".to_string();
    let base = server.at("/webhooks/events");
    let token = common::TOKEN;
    let cases = [
        (format!("{base}/wrong-token"), &good),
        (format!("{base}/wrong-token"), &broken),
        (format!("{base}/{}", &token[..token.len() - 1]), &good),
        (format!("{base}/{token}x"), &good),
        (format!("{base}/{}", token.to_uppercase()), &good),
        (format!("{base}/"), &good),
        (base.clone(), &good),
        (format!("{base}/{token}/call_started"), &good),
    ];
    for (url, body) in &cases {
        let reply = post(url, (*body).clone()).await;
        assert_eq!(reply.status, 404, "{url}: {reply:?}");
    }
    // Nothing was stored: the first event with the right token gets position 0.
    assert_eq!(post(&events_url(&server), good.clone()).await.accepted(), 0);
    server.stop();
    assert_eq!(exported_events(&data), vec![good]);
    assert!(quarantine_list(&data).is_empty());
}

#[tokio::test]
async fn bodies_over_one_mebibyte_or_a_thousand_events_are_413_and_store_nothing() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let presence = |i: usize| {
        event(
            "agent_presence",
            &format!("2024-04-05T09:{:02}:{:02}Z", (i / 60) % 60, i % 60),
            &[
                ("agent_id", json!(format!("agent-{i}"))),
                ("presence", json!("ready")),
            ],
        )
    };
    // 1,001 events (well under 1 MiB): too many.
    let over: Vec<String> = (0..1001).map(|i| presence(10_000 + i)).collect();
    let body = over.join("\n");
    assert!(body.len() < 1 << 20);
    let reply = post(&url, body).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.json["error"], "too_many_events", "{reply:?}");
    assert_eq!(reply.json["limit_events"], 1000, "{reply:?}");
    assert!(
        reply.json["message"].as_str().unwrap().contains("1001"),
        "{reply:?}"
    );

    // A body over 1 MiB: readable events, padded with blank lines.
    let mut big = over[..10].join("\n").into_bytes();
    big.resize((1 << 20) + 1, b'\n');
    let reply = post(&url, big).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert_eq!(reply.json["error"], "body_too_large", "{reply:?}");
    let reply = post(&url, vec![b'{'; 3 << 20]).await;
    assert_eq!(reply.status, 413, "{reply:?}");

    // Exactly 1,000 events are one batch: positions from 0, nothing of the above.
    let limit: Vec<String> = (0..1000).map(presence).collect();
    let reply = post_as(&url, limit.join("\n"), Some("application/x-ndjson")).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json["message"]);
    let got = results(&reply);
    assert_eq!(got.len(), 1000);
    for (i, (line, status, position)) in got.into_iter().enumerate() {
        assert_eq!(
            (line, status.as_str(), position),
            (i as u64 + 1, "accepted", i as u64)
        );
    }
    server.stop();
    assert_eq!(exported_events(&data), limit);
    assert!(quarantine_list(&data).is_empty());
}

#[tokio::test]
async fn other_versions_unknown_types_and_missing_fields_are_refused_and_quarantined() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let ended = event(
        "call_ended",
        "2024-04-05T09:03:10Z",
        &[("call_id", json!("c-5001"))],
    );
    // (body, field, words of the message, quarantine kind)
    let cases = [
        (
            ended.replace("\"v\":1", "\"v\":2"),
            "v",
            "version 2",
            "call_ended",
        ),
        (
            ended.replace("\"v\":1,", ""),
            "v",
            "missing field `v`",
            "call_ended",
        ),
        (
            ended.replace("call_ended", "call_teleported"),
            "type",
            "unknown event type \"call_teleported\"",
            "event",
        ),
        (
            ended.replace("\"type\":\"call_ended\",", ""),
            "type",
            "missing field `type`",
            "event",
        ),
        (
            event(
                "queue_entered",
                "2024-04-05T09:00:12Z",
                &[("call_id", json!("c-5001"))],
            ),
            "queue",
            "missing field `queue`",
            "queue_entered",
        ),
        (
            ended.replace("2024-04-05T09:03:10Z", "05.04.2024 09:03"),
            "at",
            "not an RFC 3339 time",
            "call_ended",
        ),
        (
            event(
                "outbound_ordered",
                "2024-04-05T10:00:00Z",
                &[
                    ("call_id", json!("c-5002")),
                    ("queue", json!("Callout")),
                    ("phone", json!("+79161234567")),
                    ("mode", json!("telepathic")),
                ],
            ),
            "mode",
            "unknown variant `telepathic`",
            "outbound_ordered",
        ),
    ];
    let mut ids = Vec::new();
    for (body, field, words, _) in &cases {
        let reply = post(&url, body.clone()).await;
        assert_eq!(reply.status, 422, "{body}: {reply:?}");
        assert_eq!(reply.json["status"], "quarantined", "{reply:?}");
        assert_eq!(reply.json["error"], "malformed_body", "{reply:?}");
        assert_eq!(reply.json["field"], *field, "{body}: {reply:?}");
        let message = reply.json["message"].as_str().expect("message");
        assert!(message.contains(words), "{body}: {message}");
        ids.push(reply.json["quarantine_id"].as_u64().expect("quarantine_id"));
    }
    // A readable event still goes to position 0: nothing refused was appended.
    assert_eq!(post(&url, ended.clone()).await.accepted(), 0);
    server.stop();

    assert_eq!(exported_events(&data), vec![ended]);
    let listed = quarantine_list(&data);
    assert_eq!(listed.len(), cases.len(), "{listed:#?}");
    for ((body, _, _, kind), id) in cases.iter().zip(ids) {
        let entry = listed.iter().find(|e| e["id"] == id).expect("listed");
        assert_eq!(
            (&entry["source"], &entry["kind"], &entry["body"]),
            (&json!("native"), &json!(kind), &json!(body)),
        );
    }
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_quarantined_exactly() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-6001");
    // Latin-1 "Zürich" in a queue name.
    let mut latin1 = br#"{"v":1,"type":"queue_entered","at":"2024-04-05T09:00:12Z","call_id":"c-6001","queue":"Z"#.to_vec();
    latin1.extend_from_slice(b"\xfcrich\"}");

    let reply = post(&url, latin1.clone()).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("not UTF-8"),
        "{reply:?}"
    );
    let single_id = reply.json["quarantine_id"].as_u64().expect("id");

    // The same bytes as line 2 of a batch: the same quarantine record; the
    // other lines go to the log.
    let mut batch = call[0].clone().into_bytes();
    batch.push(b'\n');
    batch.extend_from_slice(&latin1);
    batch.extend_from_slice(b"\r\n");
    batch.extend_from_slice(call[1].as_bytes());
    let reply = post(&url, batch).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    assert_eq!(
        results(&reply),
        vec![
            result(1, "accepted", 0),
            result(2, "quarantined", single_id),
            result(3, "accepted", 1),
        ]
    );
    server.stop();

    assert_eq!(quarantine_show(&data, single_id), latin1);
    assert_eq!(quarantine_list(&data).len(), 1);
    assert_eq!(exported_events(&data), call[..2].to_vec());
}

#[tokio::test]
async fn quarantine_retry_rereads_contact_events() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-7001");
    assert_eq!(post(&url, call[0].clone()).await.accepted(), 0);
    let still_bad = call[1].replace("\"v\":1", "\"v\":3");
    let reply = post(&url, still_bad.clone()).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    let bad_id = reply.json["quarantine_id"].as_u64().expect("id");
    server.stop();

    // Records an older build quarantined but this one reads: one new event and
    // one already in the log. Written to the real store, as that build would have.
    let mut older = Vec::new();
    {
        let log = eventlog::SledLog::open(eventlog::Options::new(data.join("log")))
            .expect("open the log");
        for raw in [&call[2], &call[0]] {
            let stored = eventlog::EventLog::quarantine(
                &log,
                eventlog::NewQuarantine {
                    received_at: domain::Timestamp(1_712_307_612_000_000),
                    source: domain::Source::Native,
                    kind: "event".into(),
                    reason: "unknown event type (an older build)".into(),
                    raw: raw.clone().into_bytes(),
                },
            )
            .await
            .expect("quarantine");
            older.push(stored.id());
        }
        log.close();
    }

    // Retrying the one that still fails changes nothing.
    let out = String::from_utf8(run_ok(&data, &["quarantine", "retry", &bad_id.to_string()]))
        .expect("UTF-8");
    assert!(
        out.contains(&format!("{bad_id}\tstill unreadable: ")) && out.contains("version 3"),
        "{out}"
    );
    let output = run(&data, &["quarantine", "retry", "999"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("999"));

    // Retrying all appends what now reads and leaves the rest.
    let out = String::from_utf8(run_ok(&data, &["quarantine", "retry"])).expect("UTF-8");
    assert!(
        out.contains(&format!("{}\taccepted at position 1", older[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}\tduplicate of position 0", older[1])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{bad_id}\tstill unreadable")),
        "{out}"
    );
    let listed = quarantine_list(&data);
    let left: Vec<u64> = listed.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(left, vec![bad_id], "{listed:#?}");
    assert_eq!(
        exported_events(&data),
        vec![call[0].clone(), call[2].clone()]
    );
    let at = &exported(&data)[1]["at"];
    assert_eq!(
        at, "2024-04-05T09:00:12Z",
        "the record's receive time is kept"
    );
}

#[tokio::test]
async fn export_and_import_of_http_events_is_byte_identical_and_keeps_dedupe_keys() {
    let (tmp, data) = common::temp();
    let server = Server::start(&data);
    let url = events_url(&server);
    let call = inbound_call("c-8001");
    // A pretty-printed single event (CRLF line ends, as some senders write), one
    // with a byte-order mark, a batch, a compact single event, and a CallGear
    // delivery in between.
    let pretty_value: Value = serde_json::from_str(&call[0]).expect("JSON");
    let pretty = serde_json::to_string_pretty(&pretty_value)
        .expect("JSON")
        .replace('\n', "\r\n");
    let bom = format!("\u{feff}{}", call[1]);
    let batch = format!("{}\n{}\n", call[2], call[3]);
    assert_eq!(post(&url, pretty.clone()).await.accepted(), 0);
    assert_eq!(post(&url, bom.clone()).await.accepted(), 1);
    let reply = post(&url, batch).await;
    assert_eq!(
        results(&reply),
        vec![result(1, "accepted", 2), result(2, "accepted", 3)]
    );
    let callgear = common::bytes(&common::callgear("end", 3_392_144_960));
    assert_eq!(
        common::post(&client(), &server.url("end"), callgear)
            .await
            .accepted(),
        4
    );
    assert_eq!(post(&url, call[4].clone()).await.accepted(), 5);
    server.stop();

    let first = common::export_raw(&data);
    let lines: Vec<Value> = exported(&data);
    assert_eq!(lines.len(), 6);
    assert_eq!(first.iter().filter(|b| **b == b'\n').count(), 6);
    // Raw bytes that are not one line of JSON as they stand go out as a string.
    assert_eq!(lines[0]["event"], json!(pretty));
    assert_eq!(lines[1]["event"], json!(bom));
    assert!(lines[2]["event"].is_object() && lines[3]["event"].is_object());
    assert_eq!(lines[4]["path"], "/end");

    let (copy_tmp, copy) = common::temp();
    let file = tmp.path().join("export.ndjson");
    std::fs::write(&file, &first).expect("write export");
    let summary =
        String::from_utf8(run_ok(&copy, &["import", &file.display().to_string()])).expect("UTF-8");
    assert!(
        summary.contains("6 accepted, 0 duplicates, 0 quarantined"),
        "{summary}"
    );
    let again = common::export_raw(&copy);
    assert!(
        again == first,
        "export → import → export differs:\n{}\n---\n{}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&again)
    );

    // Every envelope is the same, dedupe key included.
    let envelopes = |dir: &Path| {
        let log = eventlog::SledLog::open(eventlog::Options::new(dir.join("log"))).expect("log");
        let read = eventlog::EventLog::read(&log, 0, 100).expect("read");
        log.close();
        read
    };
    let (original, imported) = (envelopes(&data), envelopes(&copy));
    assert_eq!(original.len(), 6);
    for (a, b) in original.iter().zip(&imported) {
        assert_eq!(
            (
                a.position,
                a.received_at,
                a.source,
                &a.kind,
                a.dedupe_key,
                &a.time_zone,
                &a.raw,
                &a.event
            ),
            (
                b.position,
                b.received_at,
                b.source,
                &b.kind,
                b.dedupe_key,
                &b.time_zone,
                &b.raw,
                &b.event
            ),
        );
    }
    assert_eq!(original[0].raw, pretty.as_bytes());

    // And the server on the copy recognises the events it never received itself.
    let server = Server::start(&copy);
    let url = events_url(&server);
    assert_eq!(post(&url, call[0].clone()).await.duplicate(), 0);
    assert_eq!(post(&url, pretty).await.duplicate(), 0);
    assert_eq!(post(&url, call[3].clone()).await.duplicate(), 3);
    assert_eq!(post(&url, call[5].clone()).await.accepted(), 6);
    server.stop();
    drop(copy_tmp);
}
