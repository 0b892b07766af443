//! `callfold bench`: throughput and latency measured against a baseline taken in
//! the same run (the machine is shared and noisy; ratios travel, absolutes don't).

use crate::datadir;
use anyhow::{bail, Context, Result};
use domain::{CallGearKind, Timestamp};
use eventlog::{EventLog, NewEvent, Options, SledLog};
use ingest::{Delivery, Ingestor, Prepared};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod archive;
mod calls;
mod models;
mod stats;

#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// Webhook ingestion over HTTP against raw sled appends of the same envelopes.
    Ingest {
        /// Deliveries per measured phase.
        #[arg(long, default_value_t = 100_000)]
        deliveries: u64,
        /// Concurrent keep-alive connections (and concurrent raw appenders).
        #[arg(long, default_value_t = 64)]
        connections: u64,
        /// Also post `deliveries` contact-centre events to `/webhooks/events` in
        /// NDJSON batches of this many (at most 1000), against raw appends of the
        /// same events in requests of the same size; 0 skips it.
        #[arg(long, default_value_t = 0)]
        events_batch: u64,
    },
    /// `import` of a recorded stream against raw chunked appends.
    Import {
        #[arg(long, default_value_t = 500_000)]
        lines: u64,
    },
    /// Webhook acknowledgement → live call event at a WebSocket subscriber.
    Subscribe {
        /// Calls posted one after another (each waits for its event).
        #[arg(long, default_value_t = 500)]
        calls: u64,
    },
    /// `Projector::rebuild_blocking` over a generated stream against a plain read of the log.
    Rebuild {
        /// CallGear deliveries in the generated stream (agent actions come on top).
        #[arg(long, default_value_t = 1_000_000)]
        deliveries: u64,
        /// Agents, one CallGear operator each.
        #[arg(long, default_value_t = 3_000)]
        agents: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the generated log (and views) in DIR instead of a scratch
        /// directory; a later run with the same shape reuses the log.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Events per rebuild span (`projections::Options::rebuild_events_max`).
        #[arg(long, default_value_t = projections::REBUILD_EVENTS_MAX)]
        span: usize,
    },
    /// One-month statistics queries over a generated store of millions of calls.
    Stats {
        #[arg(long, default_value_t = 10_000_000)]
        calls: u64,
        #[arg(long, default_value_t = 500)]
        agents: u64,
        #[arg(long, default_value_t = 20)]
        queues: u64,
        /// Days the calls spread over, from 2024-01-01.
        #[arg(long, default_value_t = 366)]
        days: u64,
        /// Timed queries per row.
        #[arg(long, default_value_t = 200)]
        queries: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the generated store in DIR; a later run with the same shape
        /// reuses it (no loading).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
    /// GraphQL latency of ticket lookups against the same lookups on the views.
    Graphql {
        /// Tickets in the store (approximately: the stream is sized for it).
        #[arg(long, default_value_t = 1_000_000)]
        tickets: u64,
        #[arg(long, default_value_t = 3_000)]
        agents: u64,
        /// Timed queries per lookup kind and path.
        #[arg(long, default_value_t = 5_000)]
        queries: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep the generated log and views in DIR; a later run with the same
        /// shape reuses both (the views are only brought up to date).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
    },
    /// The call archive: a contact-centre stream folded and projected, `calls` pages.
    Archive {
        /// Contact-centre calls in the generated stream (≈ 9 events each).
        #[arg(long, default_value_t = 50_000)]
        calls: u64,
        #[arg(long, default_value_t = 200)]
        agents: u64,
        /// Distinct customer phone numbers.
        #[arg(long, default_value_t = 20_000)]
        customers: u64,
        /// Timed `calls` pages per path.
        #[arg(long, default_value_t = 1_000)]
        queries: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(which: Which) -> Result<ExitCode> {
    match which {
        Which::Ingest {
            deliveries,
            connections,
            events_batch,
        } => ingest(deliveries, connections.max(1), events_batch),
        Which::Import { lines } => import(lines),
        Which::Subscribe { calls } => subscribe(calls.max(1)),
        Which::Rebuild {
            deliveries,
            agents,
            seed,
            data_dir,
            span,
        } => models::rebuild(deliveries, agents, seed, data_dir, span),
        Which::Stats {
            calls,
            agents,
            queues,
            days,
            queries,
            seed,
            data_dir,
        } => stats::run(
            stats::Shape {
                calls,
                agents,
                queues,
                days,
                seed,
            },
            queries.max(1),
            data_dir,
        ),
        Which::Graphql {
            tickets,
            agents,
            queries,
            seed,
            data_dir,
        } => models::graphql(tickets, agents, queries, seed, data_dir),
        Which::Archive {
            calls,
            agents,
            customers,
            queries,
            seed,
        } => archive::archive(calls, agents.max(1), customers.max(1), queries, seed),
    }
}

/// A realistic `/endleg` body (the seed template, rendered), unique per `i`.
pub fn body(i: u64) -> Vec<u8> {
    let session = 1_000_000_000 + i / 4;
    serde_json::json!({
        "notification_name": "Call leg finished",
        "virtual_phone_number": "74993720692",
        "notification_time": format!("2024-04-05 12:{:02}:{:02}.{:06}", (i / 60) % 60, i % 60, i % 1_000_000),
        "external_id": null,
        "contact_info": {
            "contact_phone_number": format!("7916{:07}", i % 10_000_000),
            "communication_number": "74993720692",
            "contact_id": i,
            "contact_full_name": "Ivan Petrov"
        },
        "employee_info": {"employee_full_name": "Anna Smirnova", "employee_id": 4021 + (i % 50)},
        "call_info": {
            "call_source": "va", "direction": "in", "call_session_id": session,
            "scenario_name": "Support line", "is_operator": true,
            "talk_time_duration": 95, "total_time_duration": 130, "wait_time_duration": 35,
            "tag_names": "vip,callback", "is_lost": false
        },
        "call_record_file_info": {"file_link": format!("https://records.example/{session}.mp3"), "call_record_duration": 95},
        "leg_id": 7_000_000_000u64 + i,
        "leg_ids": [7_000_000_000u64 + i]
    })
    .to_string()
    .into_bytes()
}

struct Stats {
    count: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Stats {
    fn per_second(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank] as f64 / 1000.0
    }
}

/// One markdown row: name, count, an optional extra cell, p50, p99, max.
fn print_latency_row(name: &str, extra: &str, stats: &mut Stats) {
    let (p50, p99, max) = (
        stats.percentile_ms(50.0),
        stats.percentile_ms(99.0),
        stats.percentile_ms(100.0),
    );
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(" {extra} |")
    };
    println!(
        "| {name} | {} |{extra} {p50:.2} | {p99:.2} | {max:.2} |",
        stats.count
    );
}

fn prepared_events(ingestor: &Ingestor, from: u64, count: u64) -> Result<Vec<NewEvent>> {
    (from..from + count)
        .map(|i| {
            let delivery = Delivery {
                kind: CallGearKind::EndLeg,
                raw: body(i),
                received_at: Timestamp(1_712_307_600_000_000 + i as i64),
                timezone: None,
            };
            match ingestor.prepare(delivery) {
                Prepared::Event(e) => Ok(e),
                Prepared::Quarantine { item, .. } => {
                    bail!("benchmark body {i} did not parse: {}", item.reason)
                }
            }
        })
        .collect()
}

fn ingest(deliveries: u64, connections: u64, events_batch: u64) -> Result<ExitCode> {
    if events_batch > ingest::feed::BATCH_EVENTS_MAX as u64 {
        bail!(
            "--events-batch {events_batch}: the endpoint takes at most {} events per request",
            ingest::feed::BATCH_EVENTS_MAX
        );
    }
    let scratch = tempfile_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // Baseline: the same envelopes, appended one per request by `connections`
    // concurrent appenders, with the same group commit and sync policy.
    let raw_dir = scratch.join("raw");
    let log = Arc::new(SledLog::open(Options::new(&raw_dir))?);
    let ingestor = Ingestor::new(log.clone(), ingest::Options::default());
    let events = prepared_events(&ingestor, 0, deliveries)?;
    eprintln!("raw baseline: {deliveries} appends, {connections} concurrent appenders");
    let mut raw = runtime.block_on(raw_appends(log.clone(), events, connections))?;
    drop(ingestor);
    drop(log);

    // The real server, as its own process, over loopback HTTP.
    let (mut child, address) = start_server(
        &scratch.join("server"),
        &[("CALLFOLD_WEBHOOK_TOKEN", "bench")],
    )?;
    eprintln!(
        "http: {deliveries} deliveries over {connections} keep-alive connections to {address}"
    );
    let http = runtime.block_on(http_posts(address.clone(), deliveries, connections));
    let events = if events_batch == 0 || http.is_err() {
        None
    } else {
        eprintln!(
            "http events: {deliveries} contact-centre events in NDJSON batches of \
             {events_batch} over {connections} connections"
        );
        Some(runtime.block_on(http_event_batches(
            address,
            deliveries,
            events_batch,
            connections,
        )))
    };
    let _ = child.kill();
    let _ = child.wait();
    let mut http = http?;
    let events = events.transpose()?;

    // The events' baseline: the same envelopes appended in requests of the same size.
    let events_raw = match events {
        None => None,
        Some(_) => {
            let log = Arc::new(SledLog::open(Options::new(scratch.join("raw-events")))?);
            let batches = contact_batches(deliveries, events_batch)?;
            eprintln!("raw events baseline: {deliveries} appends in batches of {events_batch}");
            Some(runtime.block_on(raw_batch_appends(log, batches, connections))?)
        }
    };
    let _ = std::fs::remove_dir_all(&scratch);

    let ratio = http.per_second() / raw.per_second();
    println!("| phase | deliveries | per second | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, stats) in [
        ("raw sled appends (baseline)", &mut raw),
        ("HTTP webhooks", &mut http),
    ] {
        let per_second = format!("{:.0}", stats.per_second());
        print_latency_row(name, &per_second, stats);
    }
    println!("\nHTTP / raw throughput: {ratio:.2}");
    if let (Some(mut events), Some(mut events_raw)) = (events, events_raw) {
        println!(
            "\n| phase (batches of {events_batch}; latency per request) | events | per second \
             | p50 ms | p99 ms | max ms |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        for (name, stats) in [
            (
                "raw sled appends, one request per batch (baseline)",
                &mut events_raw,
            ),
            ("HTTP events endpoint, NDJSON", &mut events),
        ] {
            let per_second = format!("{:.0}", stats.per_second());
            print_latency_row(name, &per_second, stats);
        }
        println!(
            "\nHTTP events / raw batches: {:.2}; HTTP events / raw single appends: {:.2}",
            events.per_second() / events_raw.per_second(),
            events.per_second() / raw.per_second()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A contact-centre event, unique per `i`: eight events per call, as one call
/// goes (start, menu, queue, offer, answer, leave the queue, hang up, end).
pub fn contact_line(i: u64) -> String {
    let call = format!("c-{}", 1_000_000 + i / 8);
    let at = Timestamp(1_712_307_600_000_000 + i as i64 * 1_000).to_rfc3339();
    let agent = format!("agent-{}", (i / 8) % 50);
    let head = |kind: &str| format!(r#"{{"v":1,"type":"{kind}","at":"{at}","call_id":"{call}""#);
    match i % 8 {
        0 => format!(
            r#"{},"kind":"inbound","phone":"+7916{:07}","line":"+74993720692"}}"#,
            head("call_started"),
            i % 10_000_000
        ),
        1 => format!(r#"{},"menu":"Main menu"}}"#, head("menu_entered")),
        2 => format!(r#"{},"queue":"Support"}}"#, head("queue_entered")),
        3 => format!(r#"{},"agent_id":"{agent}"}}"#, head("agent_offered")),
        4 => format!(r#"{},"agent_id":"{agent}"}}"#, head("agent_answered")),
        5 => format!(
            r#"{},"queue":"Support","reason":"answered"}}"#,
            head("queue_left")
        ),
        6 => format!(r#"{},"agent_id":"{agent}"}}"#, head("agent_hung_up")),
        _ => format!("{}}}", head("call_ended")),
    }
}

/// The contact-centre events `0..count` as prepared log entries, in batches.
fn contact_batches(count: u64, batch: u64) -> Result<Vec<Vec<NewEvent>>> {
    let mut batches = Vec::new();
    let mut current = Vec::with_capacity(batch as usize);
    for i in 0..count {
        let raw = contact_line(i).into_bytes();
        match ingest::prepare_contact(raw, Timestamp(1_712_307_600_000_000 + i as i64)) {
            Prepared::Event(event) => current.push(event),
            Prepared::Quarantine { item, .. } => {
                bail!("benchmark event {i} did not read: {}", item.reason)
            }
        }
        if current.len() as u64 == batch {
            batches.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        batches.push(current);
    }
    Ok(batches)
}

async fn raw_batch_appends(
    log: Arc<SledLog>,
    batches: Vec<Vec<NewEvent>>,
    workers: u64,
) -> Result<Stats> {
    let count = batches.iter().map(|b| b.len() as u64).sum();
    let mut shares: Vec<Vec<Vec<NewEvent>>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, batch) in batches.into_iter().enumerate() {
        shares[i % workers as usize].push(batch);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in shares {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share.len());
            for batch in share {
                let t = Instant::now();
                log.append(batch, None).await?;
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, eventlog::Error>(latencies)
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    Ok(Stats {
        count,
        elapsed: started.elapsed(),
        latencies_us,
    })
}

async fn http_event_batches(
    address: String,
    count: u64,
    batch: u64,
    connections: u64,
) -> Result<Stats> {
    let url = format!("http://{address}/webhooks/events/bench");
    // Bodies are made before the clock starts.
    let mut bodies = Vec::new();
    let mut from = 0;
    while from < count {
        let to = (from + batch).min(count);
        let lines: Vec<String> = (from..to).map(contact_line).collect();
        bodies.push((to - from, lines.join("\n")));
        from = to;
    }
    let mut shares: Vec<Vec<(u64, String)>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, body) in bodies.into_iter().enumerate() {
        shares[i % connections as usize].push(body);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in shares {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut latencies = Vec::with_capacity(share.len());
            for (events, body) in share {
                let t = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let reply: serde_json::Value = response.json().await?;
                if !status.is_success() || reply["accepted"] != events {
                    bail!("unexpected answer {status}: {reply}");
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok(latencies)
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    Ok(Stats {
        count,
        elapsed: started.elapsed(),
        latencies_us,
    })
}

async fn raw_appends(log: Arc<SledLog>, events: Vec<NewEvent>, workers: u64) -> Result<Stats> {
    let count = events.len() as u64;
    let mut shares: Vec<Vec<NewEvent>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, e) in events.into_iter().enumerate() {
        shares[i % workers as usize].push(e);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in shares {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share.len());
            for event in share {
                let t = Instant::now();
                log.append(vec![event], None).await?;
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, eventlog::Error>(latencies)
        }));
    }
    let mut latencies_us = Vec::with_capacity(count as usize);
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    Ok(Stats {
        count,
        elapsed: started.elapsed(),
        latencies_us,
    })
}

async fn http_posts(address: String, deliveries: u64, connections: u64) -> Result<Stats> {
    let url = format!("http://{address}/webhooks/callgear/bench/endleg");
    // Bodies are made before the clock starts.
    let mut shares: Vec<Vec<Vec<u8>>> = (0..connections).map(|_| Vec::new()).collect();
    for i in 0..deliveries {
        shares[(i % connections) as usize].push(body(i));
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for share in shares {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task with one idle connection: a keep-alive connection each.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?;
            let mut latencies = Vec::with_capacity(share.len());
            for body in share {
                let t = Instant::now();
                let response = client.post(&url).body(body).send().await?;
                let status = response.status();
                let text = response.text().await?;
                if !status.is_success() || !text.contains("\"accepted\"") {
                    bail!("unexpected answer {status}: {text}");
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok(latencies)
        }));
    }
    let mut latencies_us = Vec::with_capacity(deliveries as usize);
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    Ok(Stats {
        count: deliveries,
        elapsed: started.elapsed(),
        latencies_us,
    })
}

fn import(lines: u64) -> Result<ExitCode> {
    let scratch = tempfile_dir()?;
    // Baseline: the prepared envelopes appended in import-sized chunks.
    let log = Arc::new(SledLog::open(Options::new(scratch.join("raw")))?);
    let ingestor = Ingestor::new(log.clone(), ingest::Options::default());
    let events = prepared_events(&ingestor, 0, lines)?;
    eprintln!("raw baseline: {lines} events in chunks of 4096");
    let started = Instant::now();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<NewEvent> = events.by_ref().take(4096).collect();
        log.append(chunk, None).wait()?;
    }
    let raw = lines as f64 / started.elapsed().as_secs_f64();
    drop(ingestor);
    drop(log);

    let file = scratch.join("stream.ndjson");
    write_stream(&file, lines)?;
    let size = std::fs::metadata(&file)?.len();
    let data_dir = scratch.join("import");
    let log = Arc::new(datadir::open_log(&data_dir)?);
    let ingestor = Ingestor::new(log, ingest::Options::default());
    eprintln!("import: {lines} lines, {} MiB", size >> 20);
    let started = Instant::now();
    let summary = crate::import::import_file(&ingestor, None, &file)?;
    let imported = lines as f64 / started.elapsed().as_secs_f64();
    if summary.accepted != lines {
        bail!("import accepted {} of {lines} lines", summary.accepted);
    }
    drop(ingestor);
    let _ = std::fs::remove_dir_all(&scratch);
    println!("| phase | lines | lines per second |");
    println!("|---|---:|---:|");
    println!("| raw sled appends, chunks of 4096 (baseline) | {lines} | {raw:.0} |");
    println!("| callfold import (parse + dedupe + append) | {lines} | {imported:.0} |");
    println!("\nimport / raw: {:.2}", imported / raw);
    Ok(ExitCode::SUCCESS)
}

fn write_stream(path: &Path, lines: u64) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..lines {
        let at = Timestamp(1_712_307_600_000_000 + i as i64 * 1000).to_rfc3339();
        let body = String::from_utf8(body(i)).expect("JSON is UTF-8");
        writeln!(
            out,
            "{{\"at\":\"{at}\",\"path\":\"/endleg\",\"body\":{body}}}"
        )?;
    }
    out.flush()?;
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("callfold-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts `callfold serve` on a fresh data dir; returns the child and its address.
fn start_server(data_dir: &Path, env: &[(&str, &str)]) -> Result<(std::process::Child, String)> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().context("cannot start callfold serve")?;
    let mut stdout = std::io::BufReader::new(child.stdout.take().context("no stdout")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    // Keep reading what the server prints, so it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let address = first
        .trim()
        .strip_prefix("listening on ")
        .context("unexpected serve output")?
        .to_string();
    Ok((child, address))
}

/// A `/handset` of `session` for operator 101, stamped five minutes ahead (the
/// operator mapping holds from when it was recorded, R18).
fn handset_body(session: u64) -> Vec<u8> {
    let at = chrono::Utc::now() + chrono::Duration::seconds(300);
    serde_json::json!({
        "notification_time": at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        "contact_info": {"contact_phone_number": "79161234567"},
        "employee_info": {"employee_id": 101},
        "call_info": {"call_session_id": session, "direction": "in"}
    })
    .to_string()
    .into_bytes()
}

fn subscribe(calls: u64) -> Result<ExitCode> {
    let scratch = tempfile_dir()?;
    let (mut child, address) = start_server(
        &scratch.join("server"),
        &[
            ("CALLFOLD_WEBHOOK_TOKEN", "bench"),
            ("CALLFOLD_ADMIN_TOKEN", "bench-admin"),
        ],
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(subscribe_run(&address, calls));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&scratch);
    let (mut acks, mut events) = result?;
    println!("| phase | calls | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    print_latency_row("webhook send → 200 accepted (baseline)", "", &mut acks);
    print_latency_row(
        "200 accepted → call event at the subscriber",
        "",
        &mut events,
    );
    println!(
        "\nevent p99 / acknowledgement p99: {:.2}",
        events.percentile_ms(99.0) / acks.percentile_ms(99.0)
    );
    Ok(ExitCode::SUCCESS)
}

async fn subscribe_run(address: &str, calls: u64) -> Result<(Stats, Stats)> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let http = reqwest::Client::builder().no_proxy().build()?;
    let agent = r#"mutation { upsertAgent(id: "alice", name: "Alice", callgearEmployeeIds: ["101"]) { id } }"#;
    http.post(format!("http://{address}/graphql"))
        .bearer_auth("bench-admin")
        .json(&serde_json::json!({ "query": agent }))
        .send()
        .await?
        .error_for_status()?;
    let mut request = format!("ws://{address}/graphql/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = serde_json::json!({"type": "connection_init", "payload": {"authorization": "Bearer bench-admin"}});
    socket.send(Message::text(init.to_string())).await?;
    let subscription = serde_json::json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription { callEvents(agentId: \"alice\") { sessionId } }"}});
    socket.send(Message::text(subscription.to_string())).await?;
    let url = format!("http://{address}/webhooks/callgear/bench/handset");

    // Waits for the event of `session`; `None` after a bound.
    async fn event_for(
        socket: &mut (impl futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
                  + Unpin),
        session: u64,
        bound: Duration,
    ) -> Option<Instant> {
        let wanted = session.to_string();
        let deadline = Instant::now() + bound;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let message = tokio::time::timeout(left, socket.next())
                .await
                .ok()??
                .ok()?;
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(&text).ok()?;
                if value["payload"]["data"]["callEvents"]["sessionId"] == wanted.as_str() {
                    return Some(Instant::now());
                }
            }
        }
    }

    // Probe until the subscription is live.
    let mut session = 1_000_000u64;
    loop {
        http.post(&url)
            .body(handset_body(session))
            .send()
            .await?
            .error_for_status()?;
        if event_for(&mut socket, session, Duration::from_millis(500))
            .await
            .is_some()
        {
            break;
        }
        session += 1;
        if session > 1_000_040 {
            bail!("the subscription never delivered an event");
        }
    }
    let mut acks = Vec::with_capacity(calls as usize);
    let mut events = Vec::with_capacity(calls as usize);
    let started = Instant::now();
    for i in 0..calls {
        let session = 2_000_000 + i;
        let sent = Instant::now();
        http.post(&url)
            .body(handset_body(session))
            .send()
            .await?
            .error_for_status()?;
        let acknowledged = Instant::now();
        let Some(heard) = event_for(&mut socket, session, Duration::from_secs(10)).await else {
            bail!("no event for call {session} within 10 s");
        };
        acks.push((acknowledged - sent).as_micros() as u64);
        // The event may be read just before the HTTP answer is: that is 0.
        events.push(heard.saturating_duration_since(acknowledged).as_micros() as u64);
    }
    let elapsed = started.elapsed();
    Ok((
        Stats {
            count: calls,
            elapsed,
            latencies_us: acks,
        },
        Stats {
            count: calls,
            elapsed,
            latencies_us: events,
        },
    ))
}
