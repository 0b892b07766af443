//! Running the service (issue 6): health, readiness, metrics, status and lag,
//! read-your-writes, and a graceful shutdown under load that loses nothing.

mod common;

use common::{bytes, callgear, client, post, try_post, Server, TOKEN};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "ops-admin-0123456789";

fn start(data: &std::path::Path) -> Server {
    Server::start_with(
        data,
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", TOKEN),
            ("CALLFOLD_ADMIN_TOKEN", ADMIN),
        ],
    )
}

async fn graphql(server: &Server, min_position: Option<u64>, query: &str) -> (u16, Value) {
    let mut request = client()
        .post(server.at("/graphql"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .json(&json!({ "query": query }));
    if let Some(position) = min_position {
        request = request.header("x-callfold-min-position", position.to_string());
    }
    let response = request.send().await.expect("POST /graphql");
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get(url: &str) -> (u16, String) {
    let response = client().get(url).send().await.expect("GET");
    (
        response.status().as_u16(),
        response.text().await.expect("text"),
    )
}

/// The value of one sample line `name{labels} value` of a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_status_and_read_your_writes() {
    let (_tmp, data) = common::temp();
    let server = start(&data);
    assert_eq!(get(&server.at("/healthz")).await, (200, "ok".to_string()));
    assert_eq!(get(&server.at("/readyz")).await.0, 200);

    let http = client();
    let missed = |session: u64| {
        let mut body = callgear("end", session);
        body["call_info"]["talk_time_duration"] = json!(0);
        body["call_info"]["is_lost"] = json!(true);
        bytes(&body)
    };
    let first = post(&http, &server.url("end"), missed(7001))
        .await
        .accepted();
    post(&http, &server.url("end"), missed(7001))
        .await
        .duplicate();
    let last = post(&http, &server.url("end"), missed(7002))
        .await
        .accepted();
    let broken = post(&http, &server.url("end"), &b"{"[..]).await;
    assert_eq!(broken.status, 422);

    // Read-your-writes: with the last position, the query sees both missed calls.
    let (status, body) = graphql(
        &server,
        Some(last),
        "{ tickets(filter: {missed: true}) { totalCount nodes { id missedCallCount } } \
           status { logHead projections { name checkpoint lag } } }",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["tickets"]["totalCount"], 1,
        "R9 groups them: {body}"
    );
    assert_eq!(
        body["data"]["tickets"]["nodes"][0]["missedCallCount"], 2,
        "{body}"
    );
    let status_field = &body["data"]["status"];
    assert_eq!(status_field["logHead"], last + 1);
    assert_eq!(status_field["projections"][0]["name"], "helpdesk");
    assert_eq!(status_field["projections"][0]["checkpoint"], last + 1);
    assert_eq!(status_field["projections"][0]["lag"], 0);
    assert_eq!(first, 0);

    // A position the log has not reached yet: a bounded wait, then 503.
    let started = Instant::now();
    let (status, body) = graphql(&server, Some(last + 1000), "{ agents { id } }").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_YET");
    assert!(started.elapsed() < Duration::from_secs(30));
    let (status, _) = graphql(&server, None, "{ agents { id } }").await;
    assert_eq!(status, 200);
    // Not a position: a clear 400.
    let response = client()
        .post(server.at("/graphql"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("x-callfold-min-position", "soon")
        .json(&json!({"query": "{ agents { id } }"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 400);

    // Documents nested too deep, or too complex, are refused before they run.
    let deep = "{ tickets { nodes { customer { tickets { customer { tickets { customer { tickets \
                { customer { tickets { customer { tickets { customer { id } } } } } } } } } } } } } }";
    let (status, body) = graphql(&server, None, deep).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].is_null(), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.to_lowercase().contains("nested too deep"), "{body}");
    // 500 tickets a page × 20 fields each exceeds the bound of 5,000.
    let fields: String = (0..20).map(|i| format!("f{i}: id ")).collect();
    let page = format!("{{ tickets(first: 500) {{ nodes {{ {fields} }} }} }}");
    let (_, body) = graphql(&server, None, &page).await;
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(message.to_lowercase().contains("complex"), "{body}");
    // The same selection on a page of 50 is fine.
    let page = format!("{{ tickets(first: 50) {{ nodes {{ {fields} }} }} }}");
    let (_, body) = graphql(&server, None, &page).await;
    assert!(body.get("errors").is_none(), "{body}");

    // Metrics count what happened, by kind and outcome.
    let (status, page) = get(&server.at("/metrics")).await;
    assert_eq!(status, 200);
    let check = |series: &str, expect: f64| {
        assert_eq!(sample(&page, series), Some(expect), "{series} in\n{page}");
    };
    check(
        r#"callfold_deliveries_total{kind="end",outcome="accepted"}"#,
        2.0,
    );
    check(
        r#"callfold_deliveries_total{kind="end",outcome="duplicate"}"#,
        1.0,
    );
    check(
        r#"callfold_deliveries_total{kind="end",outcome="quarantined"}"#,
        1.0,
    );
    check(
        r#"callfold_projection_lag_events{projection="helpdesk"}"#,
        0.0,
    );
    check("callfold_log_head", (last + 1) as f64);
    for series in [
        "callfold_log_commit_seconds_count",
        r#"callfold_delivery_seconds_count{kind="end"}"#,
        "callfold_graphql_request_seconds_count",
    ] {
        assert!(
            sample(&page, series).is_some_and(|n| n >= 1.0),
            "{series} in\n{page}"
        );
    }
}

/// SIGTERM while deliveries are in flight: the server stops accepting, finishes
/// what it acknowledged, exits 0, and every acknowledged delivery is in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_loses_no_acknowledged_delivery() {
    const TASKS: u64 = 12;
    const PER_TASK_MAX: u64 = 300;
    const ACKS_BEFORE_STOP: usize = 200;
    let (_tmp, data) = common::temp();
    let server = start(&data);
    let url = server.url("endleg");
    let acks: Arc<Mutex<HashMap<u64, Vec<u8>>>> = Arc::default();
    let mut senders = Vec::new();
    for task in 0..TASKS {
        let (url, acks) = (url.clone(), acks.clone());
        senders.push(tokio::spawn(async move {
            let http = client();
            for i in 0..PER_TASK_MAX {
                let body = bytes(&callgear("endleg", 50_000 + task * 1_000 + i));
                match try_post(&http, &url, body.clone()).await {
                    Ok(reply) if reply.status == 200 => {
                        let position = reply.accepted();
                        acks.lock().expect("lock").insert(position, body);
                    }
                    // Refused or cut off during shutdown: not acknowledged.
                    _ => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while acks.lock().expect("lock").len() < ACKS_BEFORE_STOP && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGTERM and wait for exit 0, while the senders keep sending.
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .expect("stop");
    for sender in senders {
        sender.await.expect("sender");
    }
    let acks = acks.lock().expect("lock").clone();
    assert!(!acks.is_empty(), "no delivery was acknowledged");
    // The stop came while deliveries were still being sent.
    assert!(
        (acks.len() as u64) < TASKS * PER_TASK_MAX,
        "every delivery finished before the stop"
    );
    let log = common::export(&data);
    for (position, body) in &acks {
        let entry = log
            .get(*position as usize)
            .unwrap_or_else(|| panic!("position {position} lost"));
        assert_eq!(
            entry.body.as_bytes(),
            &body[..],
            "position {position} differs"
        );
    }
    // And the log goes on after a restart.
    let server = start(&data);
    let next = post(
        &client(),
        &server.url("end"),
        bytes(&callgear("end", 99_999)),
    )
    .await
    .accepted();
    assert_eq!(next, log.len() as u64);
}

/// `serve` on a data dir that does not exist yet, with no token configured:
/// it creates the directory, generates both tokens, and serves.
#[test]
fn serve_starts_on_a_fresh_data_dir_without_configuration() {
    use std::io::BufRead;
    let (tmp, _) = common::temp();
    let data = tmp.path().join("not/yet/there");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callfold"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("CALLFOLD_ADMIN_TOKEN")
        .env_remove("CALLFOLD_WEBHOOK_TOKEN")
        .env_remove("CALLFOLD_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn callfold serve");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("listening on "), "{first:?}");
    assert!(data.join("admin_token").is_file());
    assert!(data.join("webhook_token").is_file());
}

/// Off a terminal (stderr piped, as under cron or CI), `import` and `rebuild`
/// print plain progress lines on stderr: every `CALLFOLD_PROGRESS_SECS`
/// seconds (0 here: at every update; by default 10, so a short run prints
/// none). Results stay on stdout.
#[test]
fn long_commands_print_plain_progress_lines_off_a_terminal() {
    let (tmp, data) = common::temp();
    let lines: Vec<String> = (0..40u64)
        .map(|i| {
            common::stream_line(
                &format!("2024-04-05T09:{:02}:00Z", i % 60),
                "end",
                &callgear("end", 4_600_000_000 + i),
            )
        })
        .collect();
    let file = tmp.path().join("calls.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write stream");
    let size = std::fs::metadata(&file).expect("size").len();
    let every = [("CALLFOLD_PROGRESS_SECS", "0")];

    let output = common::run_with(&data, &["import", &file.display().to_string()], &every);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let progress: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("import "))
        .collect();
    assert_eq!(progress.len(), 40, "one line per stream line: {stderr}");
    let last = format!("{size}/{size} bytes (100%), line 40,");
    assert!(progress[39].contains(&last), "{stderr}");
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("imported 1 file(s): 40 accepted"),
        "the result on stdout"
    );

    let output = common::run_with(&data, &["rebuild"], &every);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rebuild: 40/40 events applied (100%)"),
        "{stderr}"
    );
    let writing = stderr
        .lines()
        .find(|l| l.starts_with("rebuild: writing the views up to event 40: "))
        .unwrap_or_else(|| panic!("no writing line: {stderr}"));
    let entries: u64 = writing
        .trim_start_matches("rebuild: writing the views up to event 40: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{writing}"));
    assert!(entries > 40, "{writing}");

    // By default a short run prints no progress line.
    let output = common::run(&data, &["rebuild"]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("rebuild: "), "{stderr}");

    let output = common::run_with(&data, &["rebuild"], &[("CALLFOLD_PROGRESS_SECS", "soon")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CALLFOLD_PROGRESS_SECS"));
}

/// `callfold rebuild` discards the old views without opening them, so it must
/// never run beside a server: it opens (and so locks) the log first, and a
/// server holding the data dir stops it before the views are touched. Once
/// the server is gone the rebuild runs, and gives the same read models.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_refuses_a_data_dir_a_server_holds_and_leaves_its_views_alone() {
    let (_tmp, data) = common::temp();
    let server = start(&data);
    let http = client();
    let mut last = 0;
    // Three missed calls from three numbers: three missed-call tickets (R8).
    for (session, phone) in [
        (8101, "74950000101"),
        (8102, "74950000102"),
        (8103, "74950000103"),
    ] {
        let mut body = callgear("end", session);
        body["call_info"]["talk_time_duration"] = json!(0);
        body["call_info"]["is_lost"] = json!(true);
        body["contact_info"]["contact_phone_number"] = json!(phone);
        last = post(&http, &server.url("end"), bytes(&body))
            .await
            .accepted();
    }
    let query = "{ tickets { totalCount nodes { id status } } }";
    let (status, before) = graphql(&server, Some(last), query).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["data"]["tickets"]["totalCount"], 3, "{before}");

    let output = common::run(&data, &["rebuild"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("callfold serve"),
        "names the cause: {stderr}"
    );
    assert!(
        !data.join("views.cleared").exists(),
        "the server's views were not moved"
    );
    let (status, after) = graphql(&server, None, query).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after, before, "the running server's views are intact");
    server.stop();

    let digest = |data: &std::path::Path| common::run_ok(data, &["digest"]);
    let served = digest(&data);
    common::run_ok(&data, &["rebuild"]);
    assert!(!data.join("views.cleared").exists());
    assert_eq!(
        digest(&data),
        served,
        "the rebuild gives the same read models"
    );
}
