//! The crash test (SPEC §7, "Nothing lost"): `callfold serve` is killed with
//! SIGKILL while deliveries are in flight, restarted on the same data dir, and
//! every acknowledged delivery must be there, at its position, byte for byte.

mod common;

use common::{bytes, callgear, client, post, try_post, Server, KINDS};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Kill/restart cycles.
const CYCLES: u64 = 3;
/// Concurrent senders.
const TASKS: u64 = 16;
/// Deliveries one sender attempts per cycle at most.
const PER_TASK_MAX: u64 = 400;
/// The kill comes once this many deliveries of the cycle are acknowledged ...
const ACKS_BEFORE_KILL: usize = 300;
/// ... or after this long, whichever is first (a bound, not an expectation).
const CYCLE_TIME_MAX: Duration = Duration::from_secs(12);
/// One delivery in `BIG_EVERY` carries a large body (~200 KiB).
const BIG_EVERY: u64 = 11;

/// An acknowledged delivery.
#[derive(Clone, Debug)]
struct Ack {
    position: u64,
    kind: &'static str,
    body: Vec<u8>,
}

/// The body a sender posts: distinct session ids, all six kinds, some large.
fn delivery(cycle: u64, task: u64, i: u64) -> (&'static str, Vec<u8>) {
    let session = 5_000_000_000 + cycle * 1_000_000 + task * 10_000 + i;
    let kind = KINDS[(i % KINDS.len() as u64) as usize];
    let mut body = callgear(kind, session);
    if (task * 7 + i) % BIG_EVERY == 5 {
        let tags: Vec<String> = (0..6000).map(|t| format!("тег-{session}-{t:05}")).collect();
        body["call_info"]["tag_names"] = serde_json::json!(tags);
    }
    (kind, bytes(&body))
}

/// What the senders of one cycle share.
struct Cycle {
    http: reqwest::Client,
    /// The integration URL of the server under test.
    base: String,
    cycle: u64,
    deadline: Instant,
    killed: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    sent: Arc<Mutex<HashSet<Vec<u8>>>>,
}

/// Posts until the server dies, the per-task bound or the deadline.
async fn sender(shared: Arc<Cycle>, task: u64) {
    let cycle = shared.cycle;
    for i in 0..PER_TASK_MAX {
        if Instant::now() > shared.deadline || shared.killed.load(Ordering::SeqCst) {
            return;
        }
        let (kind, body) = delivery(cycle, task, i);
        shared.sent.lock().expect("sent").insert(body.clone());
        let url = format!("{}/{kind}", shared.base);
        match try_post(&shared.http, &url, body.clone()).await {
            Ok(reply) if reply.status == 200 && reply.json["status"] == "accepted" => {
                let position = reply.json["position"].as_u64().expect("position");
                shared.acks.lock().expect("acks").push(Ack {
                    position,
                    kind,
                    body,
                });
            }
            // Once the server is being killed, any failure is expected.
            _ if shared.killed.load(Ordering::SeqCst) => return,
            Ok(reply) => panic!("cycle {cycle} task {task}: unexpected reply {reply:?}"),
            Err(e) => panic!("cycle {cycle} task {task}: request failed before the kill: {e}"),
        }
    }
}

/// Every acknowledged delivery is recognised by the running server as a
/// duplicate at its acknowledged position.
async fn assert_all_known(server: &Server, http: &reqwest::Client, acked: &[Ack]) {
    let chunks: Vec<Vec<Ack>> = acked
        .chunks(acked.len().div_ceil(TASKS as usize).max(1))
        .map(<[Ack]>::to_vec)
        .collect();
    let mut handles = Vec::new();
    for chunk in chunks {
        let http = http.clone();
        let base = server.integration_url.clone();
        handles.push(tokio::spawn(async move {
            for ack in chunk {
                let reply = post(&http, &format!("{base}/{}", ack.kind), ack.body.clone()).await;
                assert_eq!(
                    reply.json,
                    serde_json::json!({"status": "duplicate", "position": ack.position}),
                    "an acknowledged {} delivery is not where it was acknowledged",
                    ack.kind
                );
            }
        }));
    }
    for handle in handles {
        handle.await.expect("checker task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_deliveries_survive_sigkill() {
    let (_tmp, data) = common::temp();
    let http = client();
    let sent: Arc<Mutex<HashSet<Vec<u8>>>> = Arc::default();
    let mut acked: Vec<Ack> = Vec::new();
    let mut server = Server::start(&data);

    for cycle in 0..CYCLES {
        let shared = Arc::new(Cycle {
            http: http.clone(),
            base: server.integration_url.clone(),
            cycle,
            deadline: Instant::now() + CYCLE_TIME_MAX,
            killed: AtomicBool::new(false),
            acks: Mutex::new(Vec::new()),
            sent: sent.clone(),
        });
        let senders: Vec<_> = (0..TASKS)
            .map(|task| tokio::spawn(sender(shared.clone(), task)))
            .collect();
        while shared.acks.lock().expect("acks").len() < ACKS_BEFORE_KILL
            && Instant::now() < shared.deadline
            && !senders.iter().all(|s| s.is_finished())
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The senders are still posting: the kill lands mid-flight.
        shared.killed.store(true, Ordering::SeqCst);
        server.kill();
        for s in senders {
            s.await.expect("sender task");
        }
        let new_acks = std::mem::take(&mut *shared.acks.lock().expect("acks"));
        assert!(
            !new_acks.is_empty(),
            "cycle {cycle}: nothing was acknowledged before the kill"
        );
        eprintln!(
            "cycle {cycle}: {} acknowledged before the SIGKILL",
            new_acks.len()
        );
        acked.extend(new_acks);

        server = Server::start(&data);
        assert_all_known(&server, &http, &acked).await;
        // The log still appends, right after everything acknowledged.
        let (kind, body) = delivery(cycle, TASKS, 0);
        sent.lock().expect("sent").insert(body.clone());
        let position = post(&http, &server.url(kind), body.clone())
            .await
            .accepted();
        let highest = acked.iter().map(|a| a.position).max().expect("acks");
        assert!(
            position > highest,
            "probe at {position}, an ack at {highest}"
        );
        acked.push(Ack {
            position,
            kind,
            body,
        });
    }
    let head = acked.last().expect("a probe").position + 1;
    server.stop();

    // Read the whole log back: positions 0..head, no gap, exact bytes.
    let log = common::export(&data);
    eprintln!(
        "{} acknowledged, {} sent, {} in the log",
        acked.len(),
        sent.lock().expect("sent").len(),
        log.len()
    );
    assert_eq!(
        log.len() as u64,
        head,
        "the log is not gap-free up to its head"
    );
    let mut positions = HashMap::new();
    for ack in &acked {
        if let Some(other) = positions.insert(ack.position, ack.kind) {
            panic!(
                "position {} acknowledged twice ({other}, {})",
                ack.position, ack.kind
            );
        }
        let entry = &log[ack.position as usize];
        assert_eq!(entry.path, format!("/{}", ack.kind), "at {}", ack.position);
        assert!(
            entry.body.as_bytes() == ack.body,
            "position {}: the body differs from the acknowledged one",
            ack.position
        );
    }
    // Unacknowledged in-flight deliveries may or may not be there, but nothing
    // is there that was not sent, and nothing twice.
    let sent = sent.lock().expect("sent");
    let mut seen = HashSet::new();
    for (position, entry) in log.iter().enumerate() {
        assert!(
            sent.contains(entry.body.as_bytes()),
            "position {position} holds a body nobody sent"
        );
        assert!(
            seen.insert(&entry.body),
            "position {position} repeats a delivery"
        );
    }
    assert!(
        acked.len() as u64 >= CYCLES * 2,
        "too few acknowledgements to mean anything"
    );
}
