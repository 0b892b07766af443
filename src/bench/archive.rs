//! `callfold bench archive`: the call archive (SPEC §4).
//!
//! Generates a seeded stream of contact-centre calls (not measured) into a
//! fresh log, interleaved by time as a contact centre reports them: 45 %
//! inbound answered from a queue (some with a welcome message or a consult),
//! 15 % abandoned in the queue, 15 % callbacks (one to three attempts), 15 %
//! outbound (manual or dialer), 10 % agent to agent. Then:
//!
//! * baseline: a plain read of the whole log (every envelope decoded);
//! * the fold alone: every call's events into `ContactCallRecord`s in memory,
//!   then one `fold()` per call;
//! * the projection: `Projector::rebuild_blocking` into fresh views (records,
//!   summaries, archive indexes, checkpoint);
//! * `calls(filter)` pages straight on `Views` against the same pages through
//!   the real GraphQL schema (with each call's timeline).

use super::calls::Rng;
use crate::app::Store;
use crate::datadir;
use anyhow::{bail, Context, Result};
use domain::contact::{CallKind, ContactBody, ContactEvent, DialMode, DialResult, QueueExit};
use domain::timeline::ContactCallRecord;
use domain::Timestamp;
use eventlog::{AppendOutcome, EventLog, SledLog};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// 2024-04-01T00:00:00Z.
const START_US: i64 = 1_711_929_600_000_000;
const QUEUES: [&str; 4] = ["Support", "Sales", "Billing", "Callout"];

fn at(seconds: i64) -> Timestamp {
    Timestamp(START_US + seconds * 1_000_000)
}

fn agent(rng: &mut Rng, agents: u64) -> String {
    format!("agent-{}", rng.below(agents))
}

/// An agent other than `not`.
fn other_agent(rng: &mut Rng, agents: u64, not: &str) -> String {
    loop {
        let b = agent(rng, agents);
        if b != not || agents < 2 {
            return b;
        }
    }
}

fn phone(rng: &mut Rng, customers: u64) -> String {
    format!("45{:08}", rng.below(customers))
}

/// One call's events, starting at `start` seconds.
fn call(rng: &mut Rng, id: &str, start: i64, agents: u64, customers: u64) -> Vec<ContactEvent> {
    let mut out = Vec::new();
    let mut push = |seconds: i64, body: ContactBody| {
        out.push(ContactEvent {
            v: 1,
            at: at(seconds),
            body,
        })
    };
    let call_id = || id.to_owned();
    let queue = QUEUES[rng.below(3) as usize].to_owned();
    let kind = rng.below(100);
    let number = phone(rng, customers);
    let a = agent(rng, agents);
    let talk = rng.between(30, 600);
    if kind < 60 {
        // Inbound: menu, queue; answered (45), abandoned (15).
        push(
            start,
            ContactBody::CallStarted {
                call_id: call_id(),
                kind: CallKind::Inbound,
                phone: Some(number.clone()),
                line: None,
                agent_id: None,
                target_agent_id: None,
            },
        );
        let menu = rng.between(5, 40);
        push(
            start,
            ContactBody::MenuEntered {
                call_id: call_id(),
                menu: "Main".into(),
            },
        );
        push(
            start + menu,
            ContactBody::MenuLeft {
                call_id: call_id(),
                menu: "Main".into(),
            },
        );
        push(
            start + menu,
            ContactBody::QueueEntered {
                call_id: call_id(),
                queue: queue.clone(),
            },
        );
        let wait = rng.between(3, 300);
        let answer = start + menu + wait;
        if kind < 45 {
            push(
                answer - 1,
                ContactBody::AgentOffered {
                    call_id: call_id(),
                    agent_id: a.clone(),
                },
            );
            push(
                answer,
                ContactBody::QueueLeft {
                    call_id: call_id(),
                    queue,
                    reason: QueueExit::Answered,
                },
            );
            push(
                answer,
                ContactBody::AgentAnswered {
                    call_id: call_id(),
                    agent_id: a.clone(),
                },
            );
            if rng.percent(20) {
                push(
                    answer + 4,
                    ContactBody::MessagePlayed {
                        call_id: call_id(),
                        message: "Welcome".into(),
                        purpose: domain::contact::MessagePurpose::Welcome,
                        seconds: 4,
                    },
                );
            }
            if rng.percent(10) {
                let b = agent(rng, agents);
                push(
                    answer + 20,
                    ContactBody::ConsultStarted {
                        call_id: call_id(),
                        agent_id: a.clone(),
                        target_agent_id: b.clone(),
                    },
                );
                push(
                    answer + 25,
                    ContactBody::ConsultAnswered {
                        call_id: call_id(),
                        agent_id: a.clone(),
                        target_agent_id: b.clone(),
                    },
                );
                push(
                    answer + 25 + talk / 4,
                    ContactBody::ConsultEnded {
                        call_id: call_id(),
                        agent_id: a.clone(),
                        target_agent_id: b,
                    },
                );
            }
            push(
                answer + talk,
                ContactBody::AgentHungUp {
                    call_id: call_id(),
                    agent_id: a.clone(),
                },
            );
            push(answer + talk, ContactBody::CallEnded { call_id: call_id() });
            push(
                answer + talk + 30,
                ContactBody::SurveyRegistered {
                    call_id: call_id(),
                    agent_id: a,
                    survey: "resolved".into(),
                },
            );
        } else {
            push(
                answer,
                ContactBody::QueueLeft {
                    call_id: call_id(),
                    queue,
                    reason: QueueExit::Abandoned,
                },
            );
            push(answer, ContactBody::CallEnded { call_id: call_id() });
        }
    } else if kind < 75 {
        // Callback: ordered after waiting; one to three attempts.
        push(
            start,
            ContactBody::CallStarted {
                call_id: call_id(),
                kind: CallKind::Inbound,
                phone: Some(number.clone()),
                line: None,
                agent_id: None,
                target_agent_id: None,
            },
        );
        push(
            start,
            ContactBody::QueueEntered {
                call_id: call_id(),
                queue: queue.clone(),
            },
        );
        push(
            start + 60,
            ContactBody::QueueLeft {
                call_id: call_id(),
                queue: queue.clone(),
                reason: QueueExit::CallbackOrdered,
            },
        );
        push(
            start + 60,
            ContactBody::MenuEntered {
                call_id: call_id(),
                menu: "Callback".into(),
            },
        );
        push(
            start + 70,
            ContactBody::CallbackOrdered {
                call_id: call_id(),
                queue,
                phone: number,
            },
        );
        push(
            start + 75,
            ContactBody::MenuLeft {
                call_id: call_id(),
                menu: "Callback".into(),
            },
        );
        push(start + 75, ContactBody::CallEnded { call_id: call_id() });
        let mut t = start + rng.between(300, 1800);
        for attempt in 1..=3u8 {
            let answered = attempt == 3 || rng.percent(50);
            let b = agent(rng, agents);
            push(
                t,
                ContactBody::CallbackAttemptStarted {
                    call_id: call_id(),
                    attempt,
                    agent_id: Some(b.clone()),
                },
            );
            push(
                t + 2,
                ContactBody::AgentAnswered {
                    call_id: call_id(),
                    agent_id: b.clone(),
                },
            );
            let result = if answered {
                DialResult::Answered
            } else {
                DialResult::NoAnswer
            };
            push(
                t + 15,
                ContactBody::CallbackAttemptResult {
                    call_id: call_id(),
                    attempt,
                    result,
                },
            );
            let end = if answered { t + 15 + talk } else { t + 15 };
            push(
                end,
                ContactBody::AgentHungUp {
                    call_id: call_id(),
                    agent_id: b,
                },
            );
            push(end, ContactBody::CallEnded { call_id: call_id() });
            if answered {
                break;
            }
            t = end + rng.between(600, 3600);
        }
    } else if kind < 90 {
        // Outbound: manual (agent bound) or a dialer.
        let mode = [
            DialMode::Manual,
            DialMode::Preview,
            DialMode::Predictive,
            DialMode::Power,
        ][rng.below(4) as usize];
        let bound = matches!(mode, DialMode::Manual | DialMode::Preview);
        push(
            start,
            ContactBody::OutboundOrdered {
                call_id: call_id(),
                queue: "Callout".into(),
                phone: number,
                mode,
                agent_id: bound.then(|| a.clone()),
                campaign: (!bound).then(|| "spring".into()),
            },
        );
        let ring = rng.between(5, 40);
        if rng.percent(60) {
            push(
                start + ring,
                ContactBody::OutboundResult {
                    call_id: call_id(),
                    result: DialResult::Answered,
                },
            );
            if !bound {
                push(
                    start + ring + 1,
                    ContactBody::AgentAnswered {
                        call_id: call_id(),
                        agent_id: a.clone(),
                    },
                );
            }
            push(
                start + ring + talk,
                ContactBody::AgentHungUp {
                    call_id: call_id(),
                    agent_id: a,
                },
            );
            push(
                start + ring + talk,
                ContactBody::CallEnded { call_id: call_id() },
            );
        } else {
            push(
                start + ring,
                ContactBody::OutboundResult {
                    call_id: call_id(),
                    result: DialResult::NoAnswer,
                },
            );
            push(start + ring, ContactBody::CallEnded { call_id: call_id() });
        }
    } else {
        // Agent to agent.
        let b = other_agent(rng, agents, &a);
        push(
            start,
            ContactBody::CallStarted {
                call_id: call_id(),
                kind: CallKind::Internal,
                phone: None,
                line: None,
                agent_id: Some(a.clone()),
                target_agent_id: Some(b.clone()),
            },
        );
        push(
            start + 1,
            ContactBody::AgentAnswered {
                call_id: call_id(),
                agent_id: a.clone(),
            },
        );
        if rng.percent(70) {
            push(
                start + 10,
                ContactBody::AgentAnswered {
                    call_id: call_id(),
                    agent_id: b.clone(),
                },
            );
            push(
                start + 10 + talk,
                ContactBody::AgentHungUp {
                    call_id: call_id(),
                    agent_id: b,
                },
            );
        }
        push(
            start + 10 + talk,
            ContactBody::AgentHungUp {
                call_id: call_id(),
                agent_id: a,
            },
        );
        push(
            start + 10 + talk,
            ContactBody::CallEnded { call_id: call_id() },
        );
    }
    out
}

const CALLS_QUERY: &str = "query($filter: CallFilter) { calls(filter: $filter, first: 20) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { sessionId direction phone outcome startedAt agentIds
            timeline { kind start seconds agentId place label } } } }";

pub fn archive(
    calls: u64,
    agents: u64,
    customers: u64,
    queries: u64,
    seed: u64,
) -> Result<ExitCode> {
    let data_dir = super::tempfile_dir()?.join("archive");
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    // Generate: calls over 30 days, their events interleaved by time.
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let span = 30 * 86_400;
    let mut events: Vec<ContactEvent> = Vec::new();
    for index in 0..calls {
        let start = (index as i64 * span) / calls.max(1) as i64;
        events.extend(call(
            &mut rng,
            &format!("c{index:07}"),
            start,
            agents,
            customers,
        ));
    }
    events.sort_by_key(|e| e.at);
    let log = Arc::new(datadir::open_log(&data_dir)?);
    let total = events.len() as u64;
    for chunk in events.chunks(4096) {
        let batch = chunk
            .iter()
            .map(|event| {
                let raw = serde_json::to_vec(event).expect("events serialise");
                ingest::contact_event(event.clone(), raw, event.at)
            })
            .collect();
        let outcomes = log.append(batch, None).wait()?;
        if outcomes
            .iter()
            .any(|o| !matches!(o, AppendOutcome::Accepted(_)))
        {
            bail!("the generated stream repeats an event");
        }
    }
    eprintln!(
        "generated {total} events of {calls} calls ({agents} agents, {customers} customers) in {:.1?}",
        started.elapsed()
    );

    // Baseline: read the whole log.
    let started = Instant::now();
    let mut read = 0u64;
    let head = log.head();
    while read < head {
        let batch = log.read(read, projections::BATCH_EVENTS_MAX)?;
        read += batch.len() as u64;
    }
    let baseline = started.elapsed();

    // The fold alone, in memory.
    let started = Instant::now();
    let mut records: BTreeMap<String, ContactCallRecord> = BTreeMap::new();
    for event in &events {
        let id = event.call_id().expect("a call event");
        records
            .entry(id.to_owned())
            .or_insert_with(|| ContactCallRecord::new(id))
            .add(event);
    }
    let mut answered = 0u64;
    for record in records.values() {
        answered += u64::from(record.fold().summary.answered);
    }
    let fold = started.elapsed();
    drop(records);
    drop(events);
    drop(log);

    // The projection, rebuilt from position 0.
    let log: Arc<SledLog> = Arc::new(datadir::open_log(&data_dir)?);
    let views = crate::datadir::open_views(&data_dir)?;
    let projector = projections::Projector::new(
        projections::Options::default(),
        views.clone(),
        log.clone() as Arc<dyn EventLog>,
    );
    let started = Instant::now();
    projector.rebuild_blocking()?;
    let rebuild = started.elapsed();
    drop(projector);
    drop(views);
    drop(log);

    // Archive pages: direct on the views, then through GraphQL.
    let store = Store::open(&data_dir, None)?;
    store.catch_up().context("views")?;
    let views = store.projector.views().clone();
    let stored = views
        .calls(&projections::CallFilter::default(), 0, None)?
        .total_count;
    let mut rng = Rng::new(seed ^ 0xA2C);
    let filters: Vec<projections::CallFilter> = (0..queries)
        .map(|i| {
            let mut filter = projections::CallFilter::default();
            match i % 4 {
                0 => filter.phone = Some(phone(&mut rng, customers)),
                1 => filter.agent_id = Some(agent(&mut rng, agents)),
                2 => {
                    filter.agent_id = Some(agent(&mut rng, agents));
                    let day = rng.between(0, 29);
                    filter.from = Some(at(day * 86_400));
                    filter.to = Some(at((day + 1) * 86_400));
                }
                _ => {
                    filter.outcome = Some(vec![domain::Outcome::Abandoned]);
                    let day = rng.between(0, 29);
                    filter.from = Some(at(day * 86_400));
                    filter.to = Some(at((day + 1) * 86_400));
                }
            }
            filter
        })
        .collect();
    for filter in &filters {
        views.calls(filter, 20, None)?;
    }
    let mut matches = 0u64;
    let mut direct = super::models::time_each(&filters, |filter| {
        let page = views.calls(filter, 20, None)?;
        for summary in &page.nodes {
            views.archived_call(&summary.id)?;
        }
        matches += page.total_count;
        Ok(())
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let schema = api::schema(store.api());
    let to_json = |filter: &projections::CallFilter| {
        let mut object = serde_json::Map::new();
        if let Some(p) = &filter.phone {
            object.insert("phone".into(), p.clone().into());
        }
        if let Some(a) = &filter.agent_id {
            object.insert("agentId".into(), a.clone().into());
        }
        if let Some(from) = filter.from {
            object.insert("from".into(), from.to_rfc3339().into());
        }
        if let Some(to) = filter.to {
            object.insert("to".into(), to.to_rfc3339().into());
        }
        if filter.outcome.is_some() {
            object.insert("outcome".into(), serde_json::json!(["ABANDONED"]));
        }
        serde_json::json!({ "filter": object })
    };
    let mut graphql = super::models::time_each(&filters, |filter| {
        let request = async_graphql::Request::new(CALLS_QUERY)
            .variables(async_graphql::Variables::from_json(to_json(filter)));
        let actor = api::Actor {
            role: api::auth::Role::Admin,
            agent_id: None,
            at: Timestamp(0),
        };
        let response = runtime.block_on(api::execute(&schema, request, actor));
        if !response.errors.is_empty() {
            bail!("GraphQL errors: {:?}", response.errors);
        }
        Ok(())
    })?;
    drop(schema);
    drop(store);
    let _ = std::fs::remove_dir_all(&data_dir);

    let rate = |d: std::time::Duration| total as f64 / d.as_secs_f64();
    println!(
        "archive: {total} events of {calls} calls ({stored} archived, {answered} answered), \
         {agents} agents, {customers} customers"
    );
    println!();
    println!("| phase | seconds | events/s |");
    println!("|---|---:|---:|");
    println!(
        "| log read (baseline) | {:.2} | {:.0} |",
        baseline.as_secs_f64(),
        rate(baseline)
    );
    println!(
        "| fold in memory (records + one fold per call) | {:.2} | {:.0} |",
        fold.as_secs_f64(),
        rate(fold)
    );
    println!(
        "| projection rebuild (views, indexes) | {:.2} | {:.0} |",
        rebuild.as_secs_f64(),
        rate(rebuild)
    );
    println!();
    println!(
        "{queries} `calls` pages of 20 (phone / agent / agent + day / abandoned + day), \
         {:.1} matches per filter on average",
        matches as f64 / queries.max(1) as f64
    );
    println!();
    println!("| path | pages | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    super::print_latency_row(
        "`Views::calls` + `archived_call` per node (baseline)",
        "",
        &mut direct,
    );
    super::print_latency_row("GraphQL in-process, with timelines", "", &mut graphql);
    Ok(ExitCode::SUCCESS)
}
