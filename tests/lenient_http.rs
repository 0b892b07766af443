//! Lenient reading of CallGear bodies over the real HTTP endpoint (SPEC §1,
//! "Observed formats"): numbers as strings, null and missing fields, list fields
//! as null / array / comma-separated string, `""value""` repair, local
//! `notification_time` in `CALLFOLD_TIMEZONE`. Dedupe is over the parsed
//! notification, so "same delivery" and "different delivery" are visible here.
//!
//! Several of these fail against the temporary stub parser (it only reads
//! `call_info.call_session_id` as an integer); they pass once the lenient parser
//! is merged.

mod common;

use common::{bytes, callgear, client, post, Server, CUSTOMER_PHONE};
use serde_json::{json, Value};

/// Posts `body` (as given, byte for byte) and expects `expect`: `"accepted"`,
/// `"duplicate"` or `"quarantined"`.
async fn check(
    server: &Server,
    http: &reqwest::Client,
    name: &str,
    kind: &str,
    raw: Vec<u8>,
    expect: &str,
) {
    let reply = post(http, &server.url(kind), raw.clone()).await;
    let got = match (reply.status, reply.json["status"].as_str()) {
        (200, Some(status)) => status.to_string(),
        (422, _) => "quarantined".to_string(),
        _ => format!("{reply:?}"),
    };
    assert_eq!(
        got,
        expect,
        "{name}: {reply:?}\nbody: {}",
        String::from_utf8_lossy(&raw)
    );
}

fn with(mut body: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut body);
    body
}

#[tokio::test]
async fn numbers_may_come_as_strings() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let cases: Vec<(&str, Value)> = vec![
        (
            "call_session_id",
            with(callgear("end", 6_000_000_001), |b| {
                b["call_info"]["call_session_id"] = json!("6000000001");
            }),
        ),
        (
            "employee_id",
            with(callgear("end", 6_000_000_002), |b| {
                b["employee_info"]["employee_id"] = json!("5821");
            }),
        ),
        (
            "durations",
            with(callgear("end", 6_000_000_003), |b| {
                b["call_info"]["talk_time_duration"] = json!("45");
                b["call_info"]["total_time_duration"] = json!("62");
                b["call_info"]["wait_time_duration"] = json!("17");
                b["call_record_file_info"]["call_record_duration"] = json!("45");
            }),
        ),
        (
            "leg ids",
            with(callgear("endleg", 6_000_000_004), |b| {
                b["leg_id"] = json!("60000000041");
                b["leg_ids"] = json!(["60000000041", "60000000042"]);
            }),
        ),
        (
            "everything",
            with(callgear("endleg", 6_000_000_005), |b| {
                b["call_info"]["call_session_id"] = json!("6000000005");
                b["employee_info"]["employee_id"] = json!("5821");
                b["call_info"]["talk_time_duration"] = json!("45");
                b["leg_id"] = json!("60000000051");
            }),
        ),
    ];
    for (name, body) in &cases {
        let kind = body_kind(body);
        check(&server, &http, name, kind, bytes(body), "accepted").await;
    }
    // A number as a string is the same number: the typed body is a duplicate.
    for (name, body) in &cases {
        let kind = body_kind(body);
        let session = session_of(body);
        check(
            &server,
            &http,
            name,
            kind,
            bytes(&callgear(kind, session)),
            "duplicate",
        )
        .await;
    }
    server.stop();
}

fn body_kind(body: &Value) -> &'static str {
    match body["notification_name"].as_str() {
        Some("Завершение плеча") => "endleg",
        Some("Завершение звонка") => "end",
        other => panic!("unexpected test body {other:?}"),
    }
}

fn session_of(body: &Value) -> u64 {
    let id = &body["call_info"]["call_session_id"];
    id.as_u64()
        .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
        .expect("session id")
}

#[tokio::test]
async fn null_and_missing_fields_are_accepted() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let nulls = |session: u64| {
        with(callgear("end", session), |b| {
            for field in [
                "notification_name",
                "virtual_phone_number",
                "notification_time",
                "external_id",
                "leg_id",
                "leg_ids",
                "last_scenario_operation_name",
                "group_ids",
            ] {
                b[field] = Value::Null;
            }
            for field in [
                "contact_phone_number",
                "communication_number",
                "contact_id",
                "contact_full_name",
            ] {
                b["contact_info"][field] = Value::Null;
            }
            for field in ["employee_full_name", "employee_id"] {
                b["employee_info"][field] = Value::Null;
            }
            for field in [
                "call_source",
                "direction",
                "scenario_name",
                "talk_time_duration",
                "total_time_duration",
                "wait_time_duration",
                "tag_names",
                "is_lost",
            ] {
                b["call_info"][field] = Value::Null;
            }
            b["call_record_file_info"] = json!({"file_link": null, "call_record_duration": null});
        })
    };
    let missing = |session: u64| json!({"call_info": {"call_session_id": session}});
    let cases: Vec<(&str, &str, Value)> = vec![
        ("every optional field null", "end", nulls(6_100_000_001)),
        ("only the session id", "handset", missing(6_100_000_002)),
        (
            "no employee (missed call)",
            "end",
            with(callgear("end", 6_100_000_003), |b| {
                b.as_object_mut().expect("object").remove("employee_info");
                b["call_info"]["is_lost"] = json!(true);
            }),
        ),
        (
            "no recording info",
            "endleg",
            with(callgear("endleg", 6_100_000_004), |b| {
                b.as_object_mut()
                    .expect("object")
                    .remove("call_record_file_info");
            }),
        ),
        (
            "empty sub-objects",
            "recording",
            with(callgear("recording", 6_100_000_005), |b| {
                b["contact_info"] = json!({});
                b["employee_info"] = json!({});
            }),
        ),
    ];
    for (name, kind, body) in &cases {
        check(&server, &http, name, kind, bytes(body), "accepted").await;
    }
    server.stop();
}

#[tokio::test]
async fn list_fields_may_be_null_an_array_or_a_comma_separated_string() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    // (field path, kind, as an array, as a comma-separated string)
    let lists: Vec<(&[&str], &str, Value, Value)> = vec![
        (&["call_info", "tag_names"], "end", json!(["VIP", "Продажи"]), json!("VIP,Продажи")),
        (&["leg_ids"], "endleg", json!([71, 72, 73]), json!("71,72,73")),
        (&["group_ids"], "end", json!([301, 302]), json!("301,302")),
        (
            &["call_record_file_info", "record_file_links"],
            "recording",
            json!(["https://app.callgear.com/system/media/talk/1/a/", "https://app.callgear.com/system/media/talk/1/b/"]),
            json!("https://app.callgear.com/system/media/talk/1/a/,https://app.callgear.com/system/media/talk/1/b/"),
        ),
    ];
    for (i, (path, kind, array, comma)) in lists.into_iter().enumerate() {
        let session = 6_200_000_000 + i as u64;
        let set = |value: Value| {
            with(callgear(kind, session), |b| {
                let mut slot = b;
                for key in path {
                    slot = &mut slot[*key];
                }
                *slot = value;
            })
        };
        let name = path.join(".");
        check(
            &server,
            &http,
            &format!("{name} = array"),
            kind,
            bytes(&set(array)),
            "accepted",
        )
        .await;
        // The same list written as a string is the same delivery.
        check(
            &server,
            &http,
            &format!("{name} = string"),
            kind,
            bytes(&set(comma)),
            "duplicate",
        )
        .await;
        // null is an empty list: a different notification, also accepted.
        check(
            &server,
            &http,
            &format!("{name} = null"),
            kind,
            bytes(&set(Value::Null)),
            "accepted",
        )
        .await;
        // And an empty string is the empty list again.
        check(
            &server,
            &http,
            &format!("{name} = \"\""),
            kind,
            bytes(&set(json!(""))),
            "duplicate",
        )
        .await;
    }
    server.stop();
}

#[tokio::test]
async fn doubled_quotes_from_a_quoted_template_variable_are_repaired() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let clean = callgear("end", 6_300_000_001);
    let text = serde_json::to_string(&clean).expect("JSON");
    // An admin typed "{{contact_phone_number}}" and "{{employee_full_name}}" in
    // the template: CallGear rendered ""79161234567"" and ""Анна Смирнова"".
    let phone = format!("\"{CUSTOMER_PHONE}\"");
    let doubled = text
        .replace(&phone, &format!("\"{phone}\""))
        .replace("\"Анна Смирнова\"", "\"\"Анна Смирнова\"\"");
    assert_ne!(doubled, text);
    assert!(
        serde_json::from_str::<Value>(&doubled).is_err(),
        "the test body must be broken JSON"
    );
    check(
        &server,
        &http,
        "doubled quotes",
        "end",
        doubled.into_bytes(),
        "accepted",
    )
    .await;
    // Repaired, it reads as the clean body: the clean one is a duplicate.
    check(
        &server,
        &http,
        "clean after doubled",
        "end",
        text.into_bytes(),
        "duplicate",
    )
    .await;
    // A quoted numeric variable renders as a plain string number.
    let quoted_id = serde_json::to_string(&callgear("handset", 6_300_000_002))
        .expect("JSON")
        .replace(":6300000002,", ":\"6300000002\",");
    assert!(quoted_id.contains(":\"6300000002\","), "{quoted_id}");
    check(
        &server,
        &http,
        "quoted session id",
        "handset",
        quoted_id.into_bytes(),
        "accepted",
    )
    .await;
    server.stop();
}

#[tokio::test]
async fn notification_time_is_local_time_of_the_configured_zone() {
    let (_tmp, data) = common::temp();
    let server = Server::start_with(
        &data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", common::TOKEN),
            ("CALLFOLD_TIMEZONE", "Europe/Moscow"),
        ],
    );
    let http = client();
    let at = |time: &str| {
        with(callgear("endleg", 6_400_000_001), |b| {
            b["notification_time"] = json!(time);
        })
    };
    check(
        &server,
        &http,
        "seconds",
        "endleg",
        bytes(&at("2024-04-05 12:00:01")),
        "accepted",
    )
    .await;
    // The same instant with microseconds is the same notification ...
    check(
        &server,
        &http,
        "microseconds",
        "endleg",
        bytes(&at("2024-04-05 12:00:01.000000")),
        "duplicate",
    )
    .await;
    // ... a later one is not.
    check(
        &server,
        &http,
        "later",
        "endleg",
        bytes(&at("2024-04-05 12:00:01.250000")),
        "accepted",
    )
    .await;
    check(
        &server,
        &http,
        "a second later",
        "endleg",
        bytes(&at("2024-04-05 12:00:02")),
        "accepted",
    )
    .await;
    server.stop();
    // The zone is recorded with every entry, so a replay reads the same times.
    let log = common::export(&data);
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(
        log.iter().all(|e| e.tz.as_deref() == Some("Europe/Moscow")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn distinct_legs_of_one_session_are_distinct_deliveries() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let session = 6_500_000_001;
    let leg = |leg_id: u64, employee_id: u64, talk: u64| {
        with(callgear("endleg", session), |b| {
            b["leg_id"] = json!(leg_id);
            b["employee_info"]["employee_id"] = json!(employee_id);
            b["call_info"]["talk_time_duration"] = json!(talk);
        })
    };
    // Offered to one operator (no answer), then talked with another (transfer).
    let offered = leg(65_000_000_011, 5821, 0);
    let talked = leg(65_000_000_012, 5822, 45);
    assert_eq!(
        post(&http, &server.url("endleg"), bytes(&offered))
            .await
            .accepted(),
        0
    );
    assert_eq!(
        post(&http, &server.url("endleg"), bytes(&talked))
            .await
            .accepted(),
        1
    );
    assert_eq!(
        post(&http, &server.url("endleg"), bytes(&offered))
            .await
            .duplicate(),
        0
    );
    // Unknown extra fields do not make a new delivery.
    let extended = with(talked.clone(), |b| {
        b["callgear_added_this_later"] = json!("x")
    });
    assert_eq!(
        post(&http, &server.url("endleg"), bytes(&extended))
            .await
            .duplicate(),
        1
    );
    server.stop();
}

#[tokio::test]
async fn a_body_without_a_readable_session_id_is_quarantined() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let cases: Vec<(&str, Value)> = vec![
        (
            "no call_info",
            with(callgear("end", 1), |b| {
                b.as_object_mut().expect("object").remove("call_info");
            }),
        ),
        (
            "no session id",
            with(callgear("end", 2), |b| {
                b["call_info"]
                    .as_object_mut()
                    .expect("object")
                    .remove("call_session_id");
            }),
        ),
        (
            "null session id",
            with(callgear("end", 3), |b| {
                b["call_info"]["call_session_id"] = Value::Null
            }),
        ),
        (
            "text session id",
            with(callgear("end", 4), |b| {
                b["call_info"]["call_session_id"] = json!("abc")
            }),
        ),
    ];
    for (name, body) in &cases {
        let reply = post(&http, &server.url("end"), bytes(body)).await;
        assert_eq!(reply.status, 422, "{name}: {reply:?}");
        assert_eq!(reply.json["error"], "malformed_body", "{name}");
        assert_eq!(
            reply.json["field"], "call_info.call_session_id",
            "{name}: {reply:?}"
        );
    }
    server.stop();
    assert_eq!(common::quarantine_list(&data).len(), cases.len());
    assert!(common::export(&data).is_empty());
}
