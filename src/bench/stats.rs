//! `callfold bench stats`: one-month statistics queries over a store of
//! millions of calls (issue 5).
//!
//! Replaying millions of calls through the log and the helpdesk fold takes
//! hours on this machine (docs/benchmarks.md, "Read models"), so the
//! statistics read model is filled directly: generated call records and
//! tickets go through `projections::stats::BulkLoader`, the same write path the
//! projector's batches use (contributions, buckets, callbacks per phone), into
//! a fresh `Views`. Generation is not measured. Then random one-month periods
//! (local months in four time zones) are queried, directly on `Views`
//! (baseline) and through the real GraphQL schema in-process.

use super::calls::Rng;
use super::Stats;
use crate::app::Store;
use anyhow::{bail, Context, Result};
use domain::stats::calls::{AgentShare, CallRecord, CallSource, CallWay, LostStage};
use domain::stats::Period;
use domain::{CallDirection, Message, MessageKind, Ticket, Timestamp};
use std::process::ExitCode;
use std::time::Instant;

/// 2024-01-01T00:00:00Z.
const EPOCH_MICROS: i64 = 1_704_067_200_000_000;
const SECOND: i64 = 1_000_000;
const ZONES: [&str; 4] = ["UTC", "Europe/Moscow", "Asia/Kolkata", "America/New_York"];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub calls: u64,
    pub agents: u64,
    pub queues: u64,
    pub days: u64,
    pub seed: u64,
}

fn at(seconds: i64) -> Timestamp {
    Timestamp(EPOCH_MICROS + seconds * SECOND)
}

/// The call starts of one day, in order: a triangular distribution around
/// 12:00 UTC (two draws), as the load of a day peaks.
fn day_starts(rng: &mut Rng, day: u64, count: u64) -> Vec<i64> {
    let mut starts: Vec<i64> = (0..count)
        .map(|_| day as i64 * 86_400 + (rng.below(43_200) + rng.below(43_200)) as i64)
        .collect();
    starts.sort_unstable();
    starts
}

fn agent(i: u64) -> String {
    format!("agent-{i:04}")
}

fn call_and_ticket(
    rng: &mut Rng,
    shape: &Shape,
    i: u64,
    start: i64,
) -> (CallRecord, Option<Ticket>) {
    let customers = (shape.calls / 3).max(1);
    let phone = format!("7916{:07}", rng.below(customers));
    let native = rng.below(2) == 0;
    let outbound = rng.below(4) == 0;
    let first = rng.below(shape.agents);
    let wait = if outbound {
        5 + rng.below(25) as u32
    } else if rng.below(10) == 0 {
        60 + rng.below(300) as u32
    } else {
        rng.below(45) as u32
    };
    let lost = !outbound && rng.below(8) == 0;
    let answered = if outbound { rng.below(3) != 0 } else { !lost };
    let talk = if answered {
        let long = rng.below(5) == 0;
        20 + rng.below(if long { 1_200 } else { 300 }) as u32
    } else {
        0
    };
    let mut agents = Vec::new();
    let lost_stage = lost.then(|| match rng.below(10) {
        0..=2 => LostStage::Menu,
        3..=7 => LostStage::Queue,
        _ => LostStage::Agent,
    });
    if outbound || answered || lost_stage == Some(LostStage::Agent) {
        agents.push(AgentShare {
            agent_id: agent(first),
            offered: !outbound,
            answered,
            talk_seconds: talk,
        });
        if answered && !outbound && rng.below(10) == 0 {
            // A transfer: the second agent talks too.
            agents.push(AgentShare {
                agent_id: agent((first + 1 + rng.below(shape.agents - 1)) % shape.agents),
                offered: true,
                answered: true,
                talk_seconds: 30 + rng.below(200) as u32,
            });
        }
    }
    let end = start + i64::from(wait) + i64::from(talk) + 2;
    let queue = (native && !(lost_stage == Some(LostStage::Menu)))
        .then(|| format!("queue-{:02}", rng.below(shape.queues)));
    let record = CallRecord {
        key: if native {
            format!("cc-{i}")
        } else {
            format!("cg-{}", 3_000_000_000 + i)
        },
        source: if native {
            CallSource::Native
        } else {
            CallSource::CallGear
        },
        way: if outbound {
            CallWay::Outbound
        } else {
            CallWay::Inbound
        },
        phone: Some(phone),
        queue,
        started_at: at(start),
        answered_at: answered.then(|| at(start + i64::from(wait))),
        ended_at: Some(at(end)),
        answered,
        wait_seconds: wait,
        talk_seconds: talk,
        hold_seconds: None,
        after_call_seconds: None,
        agents,
        lost_stage,
        recorded: answered,
        callback: None,
    };
    // A ticket per call except a lost call in the menu (grouped missed calls, R9).
    let ticket = (lost_stage != Some(LostStage::Menu)).then(|| {
        let created = at(end);
        let assignee = record.agents.first().map(|a| a.agent_id.clone());
        let direction = if outbound {
            CallDirection::Outbound
        } else {
            CallDirection::Inbound
        };
        let customer = format!("cus-{}", record.phone.as_deref().unwrap_or(""));
        let mut ticket = Ticket {
            assignee_id: assignee.clone(),
            missed: lost,
            missed_call_count: u32::from(lost),
            ..Ticket::open_call(format!("t-{i}"), customer, direction, created)
        };
        if answered {
            ticket.messages.push(Message {
                id: format!("m-{i}"),
                kind: MessageKind::Call,
                author_id: assignee.clone(),
                body: None,
                session_id: None,
                recording_urls: vec![format!("https://media.example/{i}.mp3")],
                in_progress: false,
                created_at: created,
            });
        }
        // Agents act on it minutes to days later; most get closed.
        let mut t = end;
        for _ in 0..rng.below(4) {
            let days_later = rng.below(3) == 0;
            t += 60 + rng.below(if days_later { 172_800 } else { 7_200 }) as i64;
            ticket.activity_at.push(at(t));
        }
        if outbound && answered {
            ticket.closings.push(created); // R11: closed at creation
        } else if rng.below(10) < 7 {
            t += 60 + rng.below(86_400) as i64;
            ticket.closings.push(at(t));
            ticket.activity_at.push(at(t));
            if rng.below(12) == 0 {
                t += 600 + rng.below(86_400) as i64;
                ticket.reopened_at.push(at(t));
                t += 600 + rng.below(86_400) as i64;
                ticket.closings.push(at(t));
            }
        }
        ticket
    });
    (record, ticket)
}

const TICKETS_QUERY: &str = "query($p: StatisticsPeriod!) { ticketStatistics(period: $p) {
  overall { newTickets newCustomerTickets reopenedTickets ticketsInWork ticketsWithReply closedTickets repliesToClose averageCloseSeconds closeSlaBreaches firstResponseTime { value reason } }
  agents { agentId figures { newTickets reopenedTickets ticketsInWork ticketsWithReply closedTickets averageCloseSeconds closeSlaBreaches } }
  hours { localStart figures { newAndReopenedTickets ticketsInWork } } } }";

const CALLS_QUERY: &str = "query($p: StatisticsPeriod!) { callStatistics(period: $p) {
  overall { offered answered lost serviceLevel sl: serviceLevel(includeAbandoned: false) lostCallRate averageSpeedOfAnswer averageHandleTime averageTalkTime averageWaitTime callsOver5Minutes calledBack averageCallbackLatency }
  queues { queue figures { offered answered lost serviceLevel lostCallRate averageSpeedOfAnswer averageHandleTime } }
  agents { agentId figures { offered answered lost averageHandleTime averageTalkTime callsOver5Minutes } }
  hours { localStart figures { offered answered lost serviceLevel } } } }";

const TICKETS_OVERALL: &str = "query($p: StatisticsPeriod!) { ticketStatistics(period: $p) {
  overall { newTickets newCustomerTickets reopenedTickets ticketsInWork ticketsWithReply closedTickets repliesToClose averageCloseSeconds closeSlaBreaches firstResponseTime { value reason } } } }";

const CALLS_OVERALL: &str = "query($p: StatisticsPeriod!) { callStatistics(period: $p) {
  overall { offered answered lost serviceLevel sl: serviceLevel(includeAbandoned: false) lostCallRate averageSpeedOfAnswer averageHandleTime averageTalkTime averageWaitTime callsOver5Minutes calledBack averageCallbackLatency } } }";

fn periods(rng: &mut Rng, count: u64, days: u64) -> Result<Vec<(Period, serde_json::Value)>> {
    let months = (days / 31).clamp(1, 11);
    (0..count)
        .map(|_| {
            let month = 2 + rng.below(months) as u32;
            let zone = ZONES[rng.below(ZONES.len() as u64) as usize];
            let (from, to) = (
                format!("2024-{month:02}-01"),
                if month == 12 {
                    "2025-01-01".to_owned()
                } else {
                    format!("2024-{:02}-01", month + 1)
                },
            );
            let period = Period::parse(&from, &to, zone).map_err(|e| anyhow::anyhow!(e.0))?;
            Ok((
                period,
                serde_json::json!({"from": from, "to": to, "timeZone": zone}),
            ))
        })
        .collect()
}

fn size_of(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let p = entry.path();
            total += if p.is_dir() {
                size_of(&p)
            } else {
                entry.metadata().map_or(0, |m| m.len())
            };
        }
    }
    total
}

/// What a kept store holds (`--data-dir`): written once loading is done.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    shape: Shape,
    tickets: u64,
    load_seconds: f64,
}

const MANIFEST: &str = "bench-stats.json";

/// Fills `views` with the generated calls and tickets; returns the tickets.
fn load(views: &projections::Views, shape: &Shape) -> Result<u64> {
    let started = Instant::now();
    let mut rng = Rng::new(shape.seed);
    let mut loader = projections::stats::BulkLoader::new(views);
    let mut tickets = 0u64;
    // Day by day, in time order, as a live centre would fill it.
    let mut i = 0u64;
    for day in 0..shape.days {
        // Items come in time order: the blocks that end before this day are
        // written once, at the next commit.
        loader.advance(at(day as i64 * 86_400));
        let count = shape.calls / shape.days + u64::from(day < shape.calls % shape.days);
        for start in day_starts(&mut rng, day, count) {
            let (record, ticket) = call_and_ticket(&mut rng, shape, i, start);
            loader.call(record)?;
            if let Some(ticket) = ticket {
                loader.ticket(&ticket)?;
                tickets += 1;
            }
            i += 1;
            if i % 500_000 == 0 {
                eprintln!("{i} calls loaded in {:.1?}", started.elapsed());
            }
        }
    }
    loader.flush()?;
    Ok(tickets)
}

pub fn run(shape: Shape, queries: u64, kept: Option<std::path::PathBuf>) -> Result<ExitCode> {
    if shape.agents < 2 || shape.queues < 1 || shape.days < 31 {
        bail!("at least 2 agents, 1 queue and 31 days");
    }
    let data_dir = match &kept {
        Some(dir) => dir.clone(),
        None => super::tempfile_dir()?.join("stats"),
    };
    let manifest_path = data_dir.join(MANIFEST);
    let saved: Option<Manifest> = std::fs::read(&manifest_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|m: &Manifest| m.shape == shape);
    if saved.is_none() && data_dir.exists() {
        if kept.is_some() {
            eprintln!("{} holds another shape: loading anew", data_dir.display());
        }
        std::fs::remove_dir_all(&data_dir)?;
    }
    let store = Store::open(&data_dir, None)?;
    let views = store.projector.views().clone();
    let (tickets, load) = match saved {
        Some(m) => {
            eprintln!("reusing the store in {}", data_dir.display());
            (
                m.tickets,
                std::time::Duration::from_secs_f64(m.load_seconds),
            )
        }
        None => {
            let started = Instant::now();
            let tickets = load(&views, &shape)?;
            let load = started.elapsed();
            if kept.is_some() {
                let manifest = Manifest {
                    shape: shape.clone(),
                    tickets,
                    load_seconds: load.as_secs_f64(),
                };
                std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)?;
            }
            (tickets, load)
        }
    };
    let bytes = size_of(&data_dir.join("views"));
    eprintln!(
        "{} calls and {tickets} tickets, loaded in {load:.1?} ({:.0} calls/s); views on disk {:.2} GB",
        shape.calls,
        shape.calls as f64 / load.as_secs_f64(),
        bytes as f64 / 1e9
    );

    let sizes = views.stored_sizes()?;
    let mut rng = Rng::new(shape.seed ^ 0x5EED);
    let months = periods(&mut rng, queries, shape.days)?;
    // A check that the store holds what was generated: the months add up.
    let mut offered = 0i64;
    let all = Period::parse("2024-01-01", "2025-01-01", "UTC").map_err(|e| anyhow::anyhow!(e.0))?;
    let year = views.call_statistics(&all, false, false)?;
    offered += year.overall.get(domain::stats::calls::OFFERED)
        + year.overall.get(domain::stats::calls::OUTBOUND);
    if offered == 0 {
        bail!("the generated store has no calls");
    }

    // First touch of every distinct month (both breakdowns), timed on its
    // own: what a query costs before the page cache holds its buckets. Then
    // the measured rows run warm, as a server's cache holds what it was
    // asked recently.
    let mut distinct: Vec<&(Period, serde_json::Value)> = Vec::new();
    for month in &months {
        if !distinct.iter().any(|d| d.1 == month.1) {
            distinct.push(month);
        }
    }
    let mut cold = time_each(&distinct, |(p, _)| {
        views.ticket_statistics(p, true, true)?;
        views.call_statistics(p, true, true)?;
        Ok(())
    })?;
    for (p, _) in months.iter().take(20) {
        views.ticket_statistics(p, true, true)?;
        views.call_statistics(p, true, true)?;
    }
    let mut agents_seen = 0usize;
    let mut direct_tickets = time_each(&months, |(p, _)| {
        agents_seen += views.ticket_statistics(p, true, true)?.agents.len();
        Ok(())
    })?;
    let mut direct_calls = time_each(&months, |(p, _)| {
        views.call_statistics(p, true, true)?;
        Ok(())
    })?;
    let mut direct_tickets_overall = time_each(&months, |(p, _)| {
        views.ticket_statistics(p, false, false)?;
        Ok(())
    })?;
    let mut direct_calls_overall = time_each(&months, |(p, _)| {
        views.call_statistics(p, false, false)?;
        Ok(())
    })?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let schema = api::schema(store.api());
    let execute = |document: &str, p: &serde_json::Value| -> Result<usize> {
        let request = async_graphql::Request::new(document).variables(
            async_graphql::Variables::from_json(serde_json::json!({ "p": p })),
        );
        let actor = api::Actor {
            role: api::auth::Role::Supervisor,
            agent_id: None,
            at: Timestamp(0),
        };
        let response = runtime.block_on(api::execute(&schema, request, actor));
        if !response.errors.is_empty() {
            bail!("GraphQL errors: {:?}", response.errors);
        }
        Ok(serde_json::to_vec(&response.data)?.len())
    };
    for (_, p) in months.iter().take(20) {
        execute(TICKETS_QUERY, p)?;
        execute(CALLS_QUERY, p)?;
    }
    let mut response_bytes = 0usize;
    let mut graphql_tickets = time_each(&months, |(_, p)| {
        response_bytes += execute(TICKETS_QUERY, p)?;
        Ok(())
    })?;
    let mut graphql_calls = time_each(&months, |(_, p)| {
        response_bytes += execute(CALLS_QUERY, p)?;
        Ok(())
    })?;
    let mut graphql_tickets_overall =
        time_each(&months, |(_, p)| execute(TICKETS_OVERALL, p).map(drop))?;
    let mut graphql_calls_overall =
        time_each(&months, |(_, p)| execute(CALLS_OVERALL, p).map(drop))?;
    drop(schema);
    drop(store);
    if kept.is_none() {
        let _ = std::fs::remove_dir_all(&data_dir);
    }

    println!(
        "store: {} calls ({} agents, {} queues, {} days from 2024-01-01), {tickets} tickets, views {:.2} GB, \
         loaded in {load:.1?}; {queries} random local months per row (zones UTC, Europe/Moscow, \
         Asia/Kolkata, America/New_York), overall + {:.0} agents + queues + per-hour rows; \
         GraphQL responses {:.0} KB on average",
        shape.calls,
        shape.agents,
        shape.queues,
        shape.days,
        bytes as f64 / 1e9,
        agents_seen as f64 / queries as f64,
        response_bytes as f64 / (2.0 * queries as f64) / 1024.0,
    );
    super::models::print_sizes(&sizes);
    println!();
    println!(
        "views page cache {} MiB; first query of each of the {} distinct months (ticket + call \
         breakdowns, cold cache): p50 {:.2} ms, max {:.2} ms",
        crate::datadir::views_cache_bytes()? >> 20,
        distinct.len(),
        cold.percentile_ms(50.0),
        cold.percentile_ms(100.0),
    );
    println!();
    println!("| one-month query | path | p50 ms | p99 ms | max ms | GraphQL / direct p99 |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, direct, graphql) in [
        (
            "ticket statistics, overall",
            &mut direct_tickets_overall,
            &mut graphql_tickets_overall,
        ),
        (
            "call KPIs, overall",
            &mut direct_calls_overall,
            &mut graphql_calls_overall,
        ),
        (
            "ticket statistics, overall + agents + hours",
            &mut direct_tickets,
            &mut graphql_tickets,
        ),
        (
            "call KPIs, overall + agents + queues + hours",
            &mut direct_calls,
            &mut graphql_calls,
        ),
    ] {
        let (d50, d99, dmax) = (
            direct.percentile_ms(50.0),
            direct.percentile_ms(99.0),
            direct.percentile_ms(100.0),
        );
        let (g50, g99, gmax) = (
            graphql.percentile_ms(50.0),
            graphql.percentile_ms(99.0),
            graphql.percentile_ms(100.0),
        );
        println!("| {name} | `Views` (baseline) | {d50:.2} | {d99:.2} | {dmax:.2} | |");
        println!(
            "| {name} | GraphQL in-process | {g50:.2} | {g99:.2} | {gmax:.2} | {:.2} |",
            g99 / d99
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn time_each<T>(items: &[T], mut each: impl FnMut(&T) -> Result<()>) -> Result<Stats> {
    let mut latencies_us = Vec::with_capacity(items.len());
    let started = Instant::now();
    for item in items {
        let t = Instant::now();
        each(item).context("a timed query")?;
        latencies_us.push(t.elapsed().as_micros() as u64);
    }
    Ok(Stats {
        count: items.len() as u64,
        elapsed: started.elapsed(),
        latencies_us,
    })
}
