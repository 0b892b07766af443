//! Shared helpers of the end-to-end tests: the real `callfold` binary as a child
//! process on a fresh data dir, a real HTTP client over loopback, CallGear bodies.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its address, or to stop.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables the tests set themselves; inherited values are dropped.
const CALLFOLD_ENV: [&str; 5] = [
    "CALLFOLD_DATA_DIR",
    "CALLFOLD_WEBHOOK_TOKEN",
    "CALLFOLD_ADMIN_TOKEN",
    "CALLFOLD_TIMEZONE",
    "RUST_LOG",
];

/// The six CallGear suffixes (CONTRACT.md).
pub const KINDS: [&str; 6] = ["handset", "endleg", "end", "recording", "legout", "callout"];

/// The token the tests configure unless they test the generated one.
pub const TOKEN: &str = "e2e-secret_token-0123456789";

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callfold"));
    for name in CALLFOLD_ENV {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
    command
}

/// `callfold serve` as a child process; killed (SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub address: SocketAddr,
    /// The printed integration URL: `http://ADDR/webhooks/callgear/TOKEN`.
    pub integration_url: String,
    pub data_dir: PathBuf,
    stderr_path: PathBuf,
}

impl Server {
    /// Starts a server with `CALLFOLD_WEBHOOK_TOKEN` = [`TOKEN`].
    pub fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[("CALLFOLD_WEBHOOK_TOKEN", TOKEN)])
    }

    /// Starts a server with exactly these `CALLFOLD_*` variables.
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        match Server::try_start_with(data_dir, env) {
            Ok(server) => server,
            Err(message) => panic!("callfold serve did not start: {message}"),
        }
    }

    /// Like [`Server::start_with`], but a server that exits before printing its
    /// address is an `Err` with its stderr.
    pub fn try_start_with(data_dir: &Path, env: &[(&str, &str)]) -> Result<Server, String> {
        std::fs::create_dir_all(data_dir).expect("create data dir");
        // Beside the data dir, so a test's tempdir holds it and the server's own
        // files stay alone in the data dir.
        let stderr_path = data_dir.with_extension(format!("serve-{}.stderr", unique()));
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr file");
        let mut command = binary();
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn callfold serve");
        let stdout = child.stdout.take().expect("piped stdout");
        // Read stdout on a thread (and keep draining it), so a silent server
        // cannot hang the test and a chatty one cannot block on a full pipe.
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut lines = Vec::new();
        while lines.len() < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().expect("wait for callfold serve");
                    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    return Err(format!(
                        "{status}; stdout so far {lines:?}; stderr:\n{stderr}"
                    ));
                }
            }
        }
        let address = lines[0]
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line {:?}", lines[0]))
            .parse::<SocketAddr>()
            .expect("a socket address");
        assert!(address.ip().is_loopback(), "{address}");
        let integration_url = lines[1]
            .strip_prefix("CallGear integration URL: ")
            .unwrap_or_else(|| panic!("second line {:?}", lines[1]))
            .to_string();
        Ok(Server {
            child: Some(child),
            address,
            integration_url,
            data_dir: data_dir.to_path_buf(),
            stderr_path,
        })
    }

    /// The webhook token, as the integration URL shows it.
    pub fn token(&self) -> &str {
        let prefix = format!("http://{}/webhooks/callgear/", self.address);
        self.integration_url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("integration URL {:?}", self.integration_url))
    }

    /// The URL CallGear posts a `kind` notification to.
    pub fn url(&self, kind: &str) -> String {
        format!("{}/{kind}", self.integration_url)
    }

    /// A URL on this server.
    pub fn at(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then waits for the exit; asserts it was clean (exit 0).
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        signal(&mut child, libc::SIGTERM);
        let status = wait_bounded(&mut child, STOP_TIMEOUT);
        assert!(
            status.success(),
            "callfold serve exited with {status} after SIGTERM; stderr:\n{}",
            self.stderr()
        );
    }

    /// SIGKILL: the process dies at once, whatever it was doing.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        signal(&mut child, libc::SIGKILL);
        let status = wait_bounded(&mut child, STOP_TIMEOUT);
        assert!(!status.success(), "SIGKILL gave {status}");
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends `signal` to a child that has not been reaped yet (so its pid is still ours).
fn signal(child: &mut Child, signal: libc::c_int) {
    if child.try_wait().expect("try_wait").is_some() {
        panic!("callfold serve had already exited");
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    #[allow(
        unsafe_code,
        reason = "kill(2) on our own unreaped child: no memory is involved"
    )]
    // SAFETY: kill(2) takes plain integers; the pid is our child, not yet reaped.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal}) failed");
}

fn wait_bounded(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("callfold serve did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A fresh temporary directory; the data dir is `data` inside it.
pub fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("callfold-e2e-")
        .tempdir()
        .expect("tempdir");
    let data = dir.path().join("data");
    (dir, data)
}

// ---------------------------------------------------------------------------
// Commands

/// Runs `callfold SUBCOMMAND --data-dir DIR REST...` to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    run_with(data_dir, args, &[])
}

pub fn run_with(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let (subcommand, rest) = args.split_first().expect("a subcommand");
    let mut command = binary();
    command
        .arg(subcommand)
        .arg("--data-dir")
        .arg(data_dir)
        .args(rest)
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callfold");
    // Bounded: read both pipes on threads, wait with a deadline.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(data_dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = run(data_dir, args);
    assert!(
        output.status.success(),
        "callfold {args:?} failed with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `callfold export`, exactly as written.
pub fn export_raw(data_dir: &Path) -> Vec<u8> {
    run_ok(data_dir, &["export"])
}

/// One exported line: the log entry at position = its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub at: String,
    pub path: String,
    pub tz: Option<String>,
    pub body: String,
}

/// `callfold export`, one entry per log position (the `quarantine` lines
/// after the log are left out).
pub fn export(data_dir: &Path) -> Vec<Exported> {
    let raw = export_raw(data_dir);
    let text = String::from_utf8(raw).expect("export is UTF-8");
    text.lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("export line {line:?} is not JSON: {e}"))
        })
        .filter(|value| value.get("quarantine").is_none())
        .map(|value| {
            let line = value.to_string();
            Exported {
                at: value["at"].as_str().expect("at").to_string(),
                path: value["path"].as_str().expect("path").to_string(),
                tz: value["tz"].as_str().map(str::to_string),
                body: value["body"]
                    .as_str()
                    .unwrap_or_else(|| panic!("export body is a string: {line}"))
                    .to_string(),
            }
        })
        .collect()
}

/// `callfold quarantine list --json`, one JSON object per delivery.
pub fn quarantine_list(data_dir: &Path) -> Vec<Value> {
    let raw = run_ok(data_dir, &["quarantine", "list", "--json"]);
    String::from_utf8(raw)
        .expect("quarantine list is UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("quarantine line is JSON"))
        .collect()
}

/// `callfold quarantine show ID`: the exact raw bytes.
pub fn quarantine_show(data_dir: &Path, id: u64) -> Vec<u8> {
    run_ok(data_dir, &["quarantine", "show", &id.to_string()])
}

// ---------------------------------------------------------------------------
// HTTP

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        // Loopback only; never through a proxy from the environment.
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A reply: status and the JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
}

impl Reply {
    /// The position of an accepted delivery; panics otherwise.
    pub fn accepted(&self) -> u64 {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.json["status"], "accepted", "{self:?}");
        self.json["position"].as_u64().expect("position")
    }

    /// The original position of a duplicate delivery; panics otherwise.
    pub fn duplicate(&self) -> u64 {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.json["status"], "duplicate", "{self:?}");
        self.json["position"].as_u64().expect("position")
    }
}

pub async fn try_post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Result<Reply> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await?;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Reply { status, json })
}

pub async fn post(client: &reqwest::Client, url: &str, body: impl Into<reqwest::Body>) -> Reply {
    try_post(client, url, body)
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

// ---------------------------------------------------------------------------
// CallGear bodies (the templates of seeds/002, rendered with realistic values)

/// The customer's number, as CallGear sends it (digits, no `+`).
pub const CUSTOMER_PHONE: &str = "79161234567";
/// The virtual number the customer dialled.
pub const VIRTUAL_PHONE: &str = "74993720692";

/// A rendered notification of `kind` for call session `session_id`.
pub fn callgear(kind: &str, session_id: u64) -> Value {
    let outbound = matches!(kind, "legout" | "callout");
    let name = match kind {
        "handset" => "Поднятие трубки",
        "endleg" => "Завершение плеча",
        "end" => "Завершение звонка",
        "recording" => "Записанный разговор",
        "legout" => "Исходящее плечо",
        "callout" => "Исходящий звонок",
        other => panic!("not a CallGear kind: {other}"),
    };
    let answered = !matches!(kind, "handset" | "callout");
    let (talk, wait, total) = if answered { (45, 17, 62) } else { (0, 17, 17) };
    let file_link =
        format!("https://app.callgear.com/system/media/talk/{session_id}/a1b2c3d4e5f6/");
    let mut body = json!({
        "notification_name": name,
        "virtual_phone_number": VIRTUAL_PHONE,
        "notification_time": "2024-04-05 12:00:01",
        "external_id": null,
        "contact_info": {
            "contact_phone_number": CUSTOMER_PHONE,
            "communication_number": VIRTUAL_PHONE,
            "contact_id": null,
            "contact_full_name": "Иван Петров"
        },
        "employee_info": {
            "employee_full_name": "Анна Смирнова",
            "employee_id": 5821
        },
        "call_info": {
            "call_source": if outbound { "callapi" } else { "va" },
            "direction": if outbound { "out" } else { "in" },
            "call_session_id": session_id,
            "scenario_name": "Основной сценарий",
            "talk_time_duration": talk,
            "total_time_duration": total,
            "wait_time_duration": wait,
            "tag_names": null,
            "is_lost": false
        },
        "call_record_file_info": {
            "file_link": if answered { Value::from(file_link.clone()) } else { Value::Null },
            "call_record_duration": if answered { Value::from(talk) } else { Value::Null }
        },
        "leg_id": session_id * 10 + 1,
        "leg_ids": [session_id * 10 + 1, session_id * 10 + 2]
    });
    match kind {
        "endleg" => body["call_info"]["is_operator"] = json!(true),
        "end" => {
            body["last_scenario_operation_name"] = json!("Переадресация на сотрудника");
            body["group_ids"] = json!([301]);
        }
        "recording" => {
            body["call_record_file_info"]["record_file_links"] = json!([file_link]);
        }
        _ => {}
    }
    body
}

/// The body as bytes (compact JSON).
pub fn bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).expect("JSON")
}

/// One recorded-stream line with an object body.
pub fn stream_line(at: &str, kind: &str, body: &Value) -> String {
    json!({"at": at, "path": format!("/{kind}"), "body": body}).to_string()
}

/// One recorded-stream line with a raw string body.
pub fn stream_line_raw(at: &str, kind: &str, raw: &str) -> String {
    json!({"at": at, "path": format!("/{kind}"), "body": raw}).to_string()
}

/// A CallGear notification with the fields the call/ticket rules read, built on
/// [`callgear`]'s rendered template.
#[derive(Debug, Clone)]
pub struct Notification {
    pub kind: &'static str,
    pub session_id: u64,
    /// `notification_time`, UTC, `YYYY-MM-DD hh:mm:ss`.
    pub time: String,
    pub phone: String,
    pub employee_id: Option<u64>,
    pub outbound: bool,
    pub talk_seconds: u32,
    pub wait_seconds: u32,
    pub total_seconds: u32,
    pub is_lost: bool,
    pub leg_id: Option<u64>,
    pub recording: Option<String>,
    pub external_id: Option<String>,
}

impl Notification {
    pub fn new(kind: &'static str, session_id: u64, time: &str, phone: &str) -> Notification {
        Notification {
            kind,
            session_id,
            time: time.to_string(),
            phone: phone.to_string(),
            employee_id: None,
            outbound: matches!(kind, "legout" | "callout"),
            talk_seconds: 0,
            wait_seconds: 0,
            total_seconds: 0,
            is_lost: false,
            leg_id: None,
            recording: None,
            external_id: None,
        }
    }

    /// The rendered body.
    pub fn body(&self) -> Value {
        let mut body = callgear(self.kind, self.session_id);
        body["notification_time"] = json!(self.time);
        body["external_id"] = json!(self.external_id);
        body["contact_info"]["contact_phone_number"] = json!(self.phone);
        body["employee_info"]["employee_id"] = json!(self.employee_id);
        if self.employee_id.is_none() {
            body["employee_info"]["employee_full_name"] = Value::Null;
        }
        let info = &mut body["call_info"];
        info["direction"] = json!(if self.outbound { "out" } else { "in" });
        info["talk_time_duration"] = json!(self.talk_seconds);
        info["wait_time_duration"] = json!(self.wait_seconds);
        info["total_time_duration"] = json!(self.total_seconds);
        info["is_lost"] = json!(self.is_lost);
        body["leg_id"] = json!(self.leg_id);
        let file = &mut body["call_record_file_info"];
        file["file_link"] = json!(self.recording);
        file["call_record_duration"] = match &self.recording {
            Some(_) => json!(self.talk_seconds),
            None => Value::Null,
        };
        if self.kind == "recording" {
            file["record_file_links"] = json!(self.recording.iter().collect::<Vec<_>>());
        }
        body
    }
}
