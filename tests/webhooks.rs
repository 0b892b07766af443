//! The CallGear webhook endpoints of the real `callfold serve` (CONTRACT.md,
//! "Webhooks"): replies, positions, dedupe, refusals, quarantine, restart.

mod common;

use common::{bytes, callgear, client, post, quarantine_list, quarantine_show, Server, KINDS};
use serde_json::Value;

const INBOUND: u64 = 3_392_144_960;
const OUTBOUND: u64 = 3_392_145_077;

/// A realistic sequence: an inbound call (picked up, leg ends, call ends,
/// recording) and an outbound one, one notification of every kind.
fn one_of_each_kind() -> Vec<(&'static str, Vec<u8>)> {
    [
        ("handset", INBOUND),
        ("endleg", INBOUND),
        ("end", INBOUND),
        ("recording", INBOUND),
        ("callout", OUTBOUND),
        ("legout", OUTBOUND),
    ]
    .into_iter()
    .map(|(kind, session)| (kind, bytes(&callgear(kind, session))))
    .collect()
}

/// The log, read back through `callfold export`, holds exactly `expect`
/// (kind, body) at positions 0, 1, 2, ...
fn assert_log(data_dir: &std::path::Path, expect: &[(&str, &[u8])]) {
    let log = common::export(data_dir);
    let got: Vec<(String, String)> = log
        .iter()
        .map(|e| (e.path.clone(), e.body.clone()))
        .collect();
    let want: Vec<(String, String)> = expect
        .iter()
        .map(|(kind, body)| {
            (
                format!("/{kind}"),
                String::from_utf8(body.to_vec()).expect("UTF-8 body"),
            )
        })
        .collect();
    assert_eq!(got, want, "the log differs from what was acknowledged");
    for entry in &log {
        assert_eq!(entry.tz.as_deref(), Some("UTC"), "{entry:?}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&entry.at).is_ok(),
            "receive time {:?} is not RFC 3339",
            entry.at
        );
    }
}

#[tokio::test]
async fn every_kind_is_accepted_at_gap_free_positions() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let deliveries = one_of_each_kind();
    let mut kinds: Vec<&str> = deliveries.iter().map(|(kind, _)| *kind).collect();
    kinds.sort_unstable();
    let mut all = KINDS;
    all.sort_unstable();
    assert_eq!(kinds, all, "one delivery of every kind");
    for (expected, (kind, body)) in deliveries.iter().enumerate() {
        let reply = post(&http, &server.url(kind), body.clone()).await;
        assert_eq!(
            reply.json,
            serde_json::json!({"status": "accepted", "position": expected}),
            "{kind}"
        );
    }
    let health = http
        .get(server.at("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    server.stop();
    let expect: Vec<(&str, &[u8])> = deliveries.iter().map(|(k, b)| (*k, &b[..])).collect();
    assert_log(&data, &expect);
    assert!(quarantine_list(&data).is_empty());
}

#[tokio::test]
async fn the_content_type_does_not_matter() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let cases = [
        None,
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=windows-1251"),
    ];
    let mut expect = Vec::new();
    for (i, content_type) in cases.into_iter().enumerate() {
        let body = bytes(&callgear("end", INBOUND + i as u64));
        let mut request = http.post(server.url("end")).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("POST");
        assert_eq!(response.status().as_u16(), 200, "{content_type:?}");
        let reply: Value = response.json().await.expect("JSON reply");
        assert_eq!(reply["position"], i, "{content_type:?}: {reply}");
        expect.push(body);
    }
    server.stop();
    let expect: Vec<(&str, &[u8])> = expect.iter().map(|b| ("end", &b[..])).collect();
    assert_log(&data, &expect);
}

#[tokio::test]
async fn a_repeated_delivery_is_a_duplicate_and_the_head_stays() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let first = callgear("endleg", INBOUND);
    let second = callgear("end", INBOUND);
    let third = callgear("recording", INBOUND);
    assert_eq!(
        post(&http, &server.url("endleg"), bytes(&first))
            .await
            .accepted(),
        0
    );
    assert_eq!(
        post(&http, &server.url("end"), bytes(&second))
            .await
            .accepted(),
        1
    );

    // Retries repeat the same body; a re-serialised body (other whitespace and
    // key order) is the same delivery too.
    let pretty = serde_json::to_vec_pretty(&first).expect("JSON");
    let check = |url: String, body: Vec<u8>, original: u64| {
        let http = http.clone();
        async move {
            let reply = post(&http, &url, body).await;
            assert_eq!(
                reply.json,
                serde_json::json!({"status": "duplicate", "position": original}),
                "{url}"
            );
        }
    };
    check(server.url("endleg"), bytes(&first), 0).await;
    check(server.url("end"), bytes(&second), 1).await;
    check(server.url("endleg"), bytes(&first), 0).await;
    check(server.url("endleg"), pretty, 0).await;

    // The head did not move: the next new delivery gets position 2.
    assert_eq!(
        post(&http, &server.url("recording"), bytes(&third))
            .await
            .accepted(),
        2
    );
    server.stop();
    assert_log(
        &data,
        &[
            ("endleg", &bytes(&first)),
            ("end", &bytes(&second)),
            ("recording", &bytes(&third)),
        ],
    );
}

#[tokio::test]
async fn wrong_token_or_unknown_kind_is_404_and_stores_nothing() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let good = bytes(&callgear("handset", INBOUND));
    let broken = b"{\"call_info\": {\"call_session_id\": 1".to_vec();
    let base = format!("http://{}/webhooks/callgear", server.address);
    let token = server.token().to_string();
    assert_eq!(token, common::TOKEN);
    let cases: Vec<(String, &Vec<u8>)> = vec![
        (format!("{base}/wrong-token/handset"), &good),
        (format!("{base}/wrong-token/handset"), &broken),
        (
            format!("{base}/{}/handset", &token[..token.len() - 1]),
            &good,
        ),
        (format!("{base}/{token}x/handset"), &good),
        (format!("{base}/{}/handset", token.to_uppercase()), &good),
        (format!("{base}//handset"), &good),
        (format!("{base}/{token}/hangup"), &good),
        (format!("{base}/{token}/hangup"), &broken),
        (format!("{base}/{token}/HANDSET"), &good),
        (format!("{base}/{token}"), &good),
        (format!("{base}/{token}/handset/extra"), &good),
        (
            format!("http://{}/webhooks/other/{token}/handset", server.address),
            &good,
        ),
    ];
    for (url, body) in &cases {
        let reply = post(&http, url, body.to_vec()).await;
        assert_eq!(reply.status, 404, "{url}: {reply:?}");
    }
    // Nothing was appended: the first real delivery gets position 0.
    assert_eq!(
        post(&http, &server.url("handset"), good.clone())
            .await
            .accepted(),
        0
    );
    server.stop();
    assert_log(&data, &[("handset", &good)]);
    assert!(
        quarantine_list(&data).is_empty(),
        "a refused delivery was quarantined"
    );
}

/// A valid body padded with trailing whitespace to exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let mut body = bytes(&callgear("recording", INBOUND));
    assert!(body.len() < len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413_and_stores_nothing() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    const MIB: usize = 1 << 20;
    let limit = padded(MIB);
    assert_eq!(
        post(&http, &server.url("recording"), limit.clone())
            .await
            .accepted(),
        0
    );
    for len in [MIB + 1, MIB + 4096, 3 * MIB] {
        let reply = post(&http, &server.url("recording"), padded(len)).await;
        assert_eq!(reply.status, 413, "{len} bytes: {reply:?}");
        assert_eq!(reply.json["error"], "body_too_large", "{reply:?}");
    }
    // Over the limit and unreadable: still 413, not quarantined.
    let reply = post(&http, &server.url("end"), vec![b'['; MIB + 1]).await;
    assert_eq!(reply.status, 413, "{reply:?}");
    let next = bytes(&callgear("end", INBOUND));
    assert_eq!(
        post(&http, &server.url("end"), next.clone())
            .await
            .accepted(),
        1
    );
    server.stop();
    assert_log(&data, &[("recording", &limit), ("end", &next)]);
    assert!(quarantine_list(&data).is_empty());
}

/// Bodies that cannot be read even leniently.
fn unreadable() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let whole = bytes(&callgear("end", 777));
    vec![
        ("truncated", "end", whole[..whole.len() / 2].to_vec()),
        ("cut after one byte", "endleg", b"{".to_vec()),
        (
            "an array",
            "handset",
            bytes(&serde_json::json!([callgear("handset", 778)])),
        ),
        ("a number", "recording", b"3392144960".to_vec()),
        ("a string", "legout", b"\"call_session_id\"".to_vec()),
        ("null", "callout", b"null".to_vec()),
        (
            "not JSON at all",
            "end",
            b"call_session_id=3392144960&is_lost=1".to_vec(),
        ),
        (
            "binary, not UTF-8",
            "recording",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xfe\xc3\x28{\"".to_vec(),
        ),
        ("empty", "handset", Vec::new()),
    ]
}

#[tokio::test]
async fn an_unreadable_body_is_422_and_quarantined_with_its_exact_bytes() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let http = client();
    let before = bytes(&callgear("handset", INBOUND));
    let after = bytes(&callgear("endleg", INBOUND));
    assert_eq!(
        post(&http, &server.url("handset"), before.clone())
            .await
            .accepted(),
        0
    );

    let mut quarantined: Vec<(u64, &str, Vec<u8>)> = Vec::new();
    for (name, kind, body) in unreadable() {
        let reply = post(&http, &server.url(kind), body.clone()).await;
        assert_eq!(reply.status, 422, "{name}: {reply:?}");
        assert_eq!(reply.json["error"], "malformed_body", "{name}: {reply:?}");
        let message = reply.json["message"].as_str().unwrap_or_default();
        assert!(
            !message.trim().is_empty(),
            "{name}: no message in {reply:?}"
        );
        let id = reply.json["quarantine_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: no quarantine_id in {reply:?}"));
        assert!(
            quarantined.iter().all(|(other, ..)| *other != id),
            "{name}: quarantine id {id} given twice"
        );
        // A retry of the same broken bytes is kept once, under the same id.
        let again = post(&http, &server.url(kind), body.clone()).await;
        assert_eq!(again.status, 422, "{name}: {again:?}");
        assert_eq!(again.json["quarantine_id"], id, "{name}: {again:?}");
        quarantined.push((id, kind, body));
    }
    // Nothing else was disturbed: the head is where it was.
    assert_eq!(
        post(&http, &server.url("endleg"), after.clone())
            .await
            .accepted(),
        1
    );

    // The data dir is locked while the server runs; read it afterwards.
    server.stop();
    assert_log(&data, &[("handset", &before), ("endleg", &after)]);
    let listed = quarantine_list(&data);
    assert_eq!(listed.len(), quarantined.len(), "{listed:#?}");
    for (id, kind, body) in &quarantined {
        let entry = listed
            .iter()
            .find(|e| e["id"] == *id)
            .unwrap_or_else(|| panic!("quarantine id {id} is not listed: {listed:#?}"));
        assert_eq!(entry["kind"], *kind, "{entry}");
        assert_eq!(entry["source"], "callgear", "{entry}");
        assert!(
            entry["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{entry}"
        );
        if let Ok(text) = std::str::from_utf8(body) {
            assert_eq!(entry["body"], Value::from(text), "{entry}");
        }
        assert_eq!(&quarantine_show(&data, *id), body, "quarantine show {id}");
    }
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let (_tmp, data) = common::temp();
    let deliveries = one_of_each_kind();
    let broken = b"{\"notification_name\": \"\xd0\x97\xd0\xb0\xd0\xb2\", \"call_info\": {".to_vec();
    let server = Server::start(&data);
    let http = client();
    for (expected, (kind, body)) in deliveries.iter().enumerate() {
        assert_eq!(
            post(&http, &server.url(kind), body.clone())
                .await
                .accepted(),
            expected as u64
        );
    }
    let reply = post(&http, &server.url("end"), broken.clone()).await;
    assert_eq!(reply.status, 422, "{reply:?}");
    let quarantine_id = reply.json["quarantine_id"].as_u64().expect("quarantine_id");
    server.stop();

    let server = Server::start(&data);
    for (original, (kind, body)) in deliveries.iter().enumerate() {
        let reply = post(&http, &server.url(kind), body.clone()).await;
        assert_eq!(reply.duplicate(), original as u64, "{kind} after restart");
    }
    let reply = post(&http, &server.url("end"), broken.clone()).await;
    assert_eq!(reply.json["quarantine_id"], quarantine_id, "{reply:?}");
    let next = bytes(&callgear("end", OUTBOUND));
    assert_eq!(
        post(&http, &server.url("end"), next.clone())
            .await
            .accepted(),
        6
    );
    server.stop();

    let mut expect: Vec<(&str, &[u8])> = deliveries.iter().map(|(k, b)| (*k, &b[..])).collect();
    expect.push(("end", &next));
    assert_log(&data, &expect);
    let listed = quarantine_list(&data);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(quarantine_show(&data, quarantine_id), broken);
}

#[tokio::test]
async fn the_generated_token_is_kept_in_the_data_dir() {
    let (_tmp, data) = common::temp();
    let server = Server::start_with(&data, &[]);
    let token = server.token().to_string();
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric()),
        "weak or odd token {token:?}"
    );
    let http = client();
    let first = bytes(&callgear("handset", INBOUND));
    assert_eq!(
        post(&http, &server.url("handset"), first.clone())
            .await
            .accepted(),
        0
    );

    // Another data dir gets its own secret.
    let (_other_tmp, other_data) = common::temp();
    let other = Server::start_with(&other_data, &[]);
    assert_ne!(other.token(), token);
    let reply = post(
        &http,
        &other.url("handset").replace(other.token(), &token),
        first.clone(),
    )
    .await;
    assert_eq!(reply.status, 404, "{reply:?}");
    other.stop();
    server.stop();

    let stored = std::fs::read_to_string(data.join("webhook_token")).expect("webhook_token file");
    assert_eq!(stored.trim(), token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("webhook_token"))
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "webhook_token is readable by others: {mode:o}"
        );
    }

    let server = Server::start_with(&data, &[]);
    assert_eq!(server.token(), token, "the token changed on restart");
    assert_eq!(
        post(&http, &server.url("handset"), first.clone())
            .await
            .duplicate(),
        0
    );
    let second = bytes(&callgear("endleg", INBOUND));
    assert_eq!(
        post(&http, &server.url("endleg"), second.clone())
            .await
            .accepted(),
        1
    );
    server.stop();

    // CALLFOLD_WEBHOOK_TOKEN wins over the stored one.
    let server = Server::start_with(&data, &[("CALLFOLD_WEBHOOK_TOKEN", "configured-token")]);
    assert_eq!(server.token(), "configured-token");
    let stale = server.url("end").replace("configured-token", &token);
    assert_eq!(
        post(&http, &stale, bytes(&callgear("end", INBOUND)))
            .await
            .status,
        404
    );
    server.stop();
    assert_log(&data, &[("handset", &first), ("endleg", &second)]);
}

#[tokio::test]
async fn the_data_dir_is_locked_while_serving() {
    let (_tmp, data) = common::temp();
    let server = Server::start(&data);
    let body = bytes(&callgear("end", INBOUND));
    assert_eq!(
        post(&client(), &server.url("end"), body.clone())
            .await
            .accepted(),
        0
    );
    let output = common::run(&data, &["export"]);
    assert_eq!(output.status.code(), Some(1), "export ran beside a server");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("callfold serve"),
        "unclear message: {stderr}"
    );
    // sled's lock error is said once, not again as its own cause.
    assert_eq!(
        stderr.matches("could not acquire lock").count(),
        1,
        "repeated message: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "partial export: {:?}",
        output.stdout
    );
    server.stop();
    assert_log(&data, &[("end", &body)]);
}

#[test]
fn bad_configuration_stops_serve_at_start() {
    let check = |env: &[(&str, &str)], expect: &str| {
        let (_tmp, data) = common::temp();
        let error = match Server::try_start_with(&data, env) {
            Ok(_) => panic!("serve started with {env:?}"),
            Err(error) => error,
        };
        assert!(error.contains(expect), "{env:?}: {error}");
    };
    check(&[("CALLFOLD_TIMEZONE", "Mars/Base")], "CALLFOLD_TIMEZONE");
    check(
        &[("CALLFOLD_VIEWS_CACHE_MB", "lots")],
        "CALLFOLD_VIEWS_CACHE_MB",
    );
    check(&[("CALLFOLD_VIEWS_CACHE_MB", "8")], "from 16 to 65536");
    check(
        &[("CALLFOLD_WEBHOOK_TOKEN", "has/slash")],
        "CALLFOLD_WEBHOOK_TOKEN",
    );
    check(
        &[("CALLFOLD_WEBHOOK_TOKEN", "   ")],
        "CALLFOLD_WEBHOOK_TOKEN",
    );
}
