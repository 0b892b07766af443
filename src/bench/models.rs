//! `callfold bench rebuild|graphql`: the read models (issue 3).
//!
//! Both generate a realistic stream ([`super::calls`]) into a fresh log first;
//! generation is not measured.

use super::calls::{self, Counts, Rng, Shape};
use super::Stats;
use crate::app::Store;
use crate::datadir;
use anyhow::{bail, Context, Result};
use domain::directory::MappingTimeline;
use eventlog::{AppendOutcome, EventLog, NewEvent, Receipt, SledLog};
use ingest::Ingestor;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Events per append request while filling the log.
const CHUNK_EVENTS: usize = 4096;
/// Envelopes per `EventLog::read` in the baseline (the projector's batch bound).
const READ_BATCH: usize = projections::BATCH_EVENTS_MAX;

/// Generates `shape` into the log in `data_dir`; returns what was generated.
fn fill(data_dir: &Path, shape: &Shape) -> Result<Counts> {
    let log = Arc::new(datadir::open_log(data_dir)?);
    let ingestor = Ingestor::new(log.clone(), ingest::Options::default());
    let started = Instant::now();
    let mut in_flight: VecDeque<Receipt<Vec<AppendOutcome>>> = VecDeque::new();
    let check = |receipt: Receipt<Vec<AppendOutcome>>| -> Result<()> {
        let outcomes = receipt.wait()?;
        if let Some(o) = outcomes
            .iter()
            .find(|o| !matches!(o, AppendOutcome::Accepted(_)))
        {
            bail!("the generated stream repeats a delivery: {o:?}");
        }
        Ok(())
    };
    let counts = calls::generate(shape, &ingestor, CHUNK_EVENTS, |chunk: Vec<NewEvent>| {
        in_flight.push_back(log.append(chunk, None));
        if in_flight.len() > 2 {
            check(in_flight.pop_front().expect("three in flight"))?;
        }
        Ok(())
    })?;
    for receipt in in_flight {
        check(receipt)?;
    }
    eprintln!(
        "generated {} events ({} deliveries, {} agent actions; {} sessions, {} customers, \
         busiest customer {} calls) in {:.1?}",
        counts.events(),
        counts.deliveries,
        counts.native,
        counts.sessions,
        counts.customers,
        counts.calls_per_customer_max,
        started.elapsed()
    );
    if log.head() != counts.events() {
        bail!("log head {} != {} generated", log.head(), counts.events());
    }
    Ok(counts)
}

/// Reads the whole log in batches, decoding every envelope; calls `each` per batch.
fn read_all(
    log: &dyn EventLog,
    mut each: impl FnMut(&[eventlog::Envelope]) -> Result<()>,
) -> Result<u64> {
    let head = log.head();
    let mut position = 0;
    while position < head {
        let batch = log.read(position, READ_BATCH)?;
        if batch.is_empty() {
            bail!("log read stopped at {position} of {head}");
        }
        each(&batch)?;
        position += batch.len() as u64;
    }
    Ok(position)
}

fn scratch(name: &str) -> Result<PathBuf> {
    let dir = super::tempfile_dir()?.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(dir)
}

/// The generated stream's description, kept beside a reusable log.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    shape: Shape,
    counts: Counts,
}

const MANIFEST: &str = "bench-stream.json";

/// Where a bench's stream lives: a scratch directory (removed afterwards) or
/// a kept `--data-dir`, whose log is reused when its shape matches.
struct Place {
    dir: PathBuf,
    keep: bool,
}

impl Place {
    fn prepare(name: &str, data_dir: Option<PathBuf>, shape: &Shape) -> Result<(Place, Counts)> {
        let Some(dir) = data_dir else {
            let dir = scratch(name)?;
            let counts = fill(&dir, shape)?;
            return Ok((Place { dir, keep: false }, counts));
        };
        let manifest = dir.join(MANIFEST);
        if manifest.exists() {
            let saved: Manifest = serde_json::from_slice(&std::fs::read(&manifest)?)
                .with_context(|| format!("reading {}", manifest.display()))?;
            if saved.shape == *shape {
                eprintln!("reusing the generated log in {}", dir.display());
                return Ok((Place { dir, keep: true }, saved.counts));
            }
            eprintln!("{} holds another shape: generating anew", dir.display());
            std::fs::remove_dir_all(&dir)?;
        } else if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
            bail!(
                "{} is not empty and holds no {MANIFEST}: not a bench directory",
                dir.display()
            );
        }
        let counts = fill(&dir, shape)?;
        let saved = Manifest {
            shape: shape.clone(),
            counts: counts.clone(),
        };
        std::fs::write(&manifest, serde_json::to_vec_pretty(&saved)?)?;
        Ok((Place { dir, keep: true }, counts))
    }

    fn finish(self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
            // The per-process parent, when nothing else is in it.
            if let Some(parent) = self.dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

pub fn rebuild(
    deliveries: u64,
    agents: u64,
    seed: u64,
    data_dir: Option<PathBuf>,
    span: usize,
) -> Result<ExitCode> {
    let span = span.clamp(1, projections::REBUILD_EVENTS_MAX);
    let shape = Shape {
        agents,
        sessions: (deliveries as f64 / calls::DELIVERIES_PER_SESSION).ceil() as u64,
        seed,
    };
    let (place, counts) = Place::prepare("rebuild", data_dir, &shape)?;
    let data_dir = place.dir.clone();
    let log: Arc<SledLog> = Arc::new(datadir::open_log(&data_dir)?);
    let events = log.head();

    // Baseline: a plain sequential read of the log, every envelope decoded.
    eprintln!("baseline: reading {events} envelopes");
    let started = Instant::now();
    let mut bytes = 0u64;
    read_all(&*log, |batch| {
        bytes += batch.iter().map(|e| e.raw.len() as u64).sum::<u64>();
        Ok(())
    })?;
    let read = started.elapsed();

    // The domain fold alone, into `domain::State` in memory (with the
    // directory timeline kept between events, as the projector's overlay does),
    // desks re-derived once per rebuild span as `rebuild_blocking` does.
    eprintln!("domain fold into memory");
    let started = Instant::now();
    let mut memory = Memory::default();
    let mut pending = domain::state::Pending::default();
    let mut applied = 0usize;
    let settle = |memory: &mut Memory, pending: &mut domain::state::Pending| {
        domain::state::settle(memory, pending).unwrap_or_else(|never| match never {});
    };
    read_all(&*log, |batch| {
        for envelope in batch {
            domain::state::apply_deferred(
                &mut memory,
                &envelope.event,
                envelope.received_at,
                &mut pending,
            )
            .unwrap_or_else(|never| match never {});
            applied += 1;
            if applied % span == 0 {
                settle(&mut memory, &mut pending);
            }
        }
        Ok(())
    })?;
    settle(&mut memory, &mut pending);
    let fold = started.elapsed();
    let tickets_in_memory = memory.state.tickets().len() as u64;
    drop(memory);

    // The real thing: clear the views and apply the log from position 0.
    eprintln!("rebuild into sled views");
    let views = crate::datadir::open_views(&data_dir)?;
    let dyn_log: Arc<dyn EventLog> = log.clone();
    let options = projections::Options {
        rebuild_events_max: span,
        ..projections::Options::default()
    };
    let projector = projections::Projector::new(options, views.clone(), dyn_log);
    let started = Instant::now();
    let checkpoint = projector.rebuild_blocking()?;
    let rebuilt = started.elapsed();
    if checkpoint != events {
        bail!("rebuild stopped at {checkpoint} of {events}");
    }
    let tickets = views
        .tickets(&projections::TicketFilter::default(), 0, None)?
        .total_count;
    if tickets != tickets_in_memory {
        bail!("the views hold {tickets} tickets, the in-memory fold {tickets_in_memory}");
    }
    let views_bytes = dir_size(&data_dir.join("views"));
    let sizes = views.stored_sizes()?;
    drop(projector);
    drop(views);
    drop(log);
    place.finish();

    let per_second = |d: Duration| events as f64 / d.as_secs_f64();
    println!(
        "stream: {} deliveries + {} agent actions = {events} events ({} MiB raw); \
         {} sessions, {} customers (busiest: {} calls), {agents} agents; {tickets} tickets; \
         rebuild spans of {span} events",
        counts.deliveries,
        counts.native,
        bytes >> 20,
        counts.sessions,
        counts.customers,
        counts.calls_per_customer_max,
    );
    println!();
    println!("| phase | events | seconds | events per second | vs baseline |");
    println!("|---|---:|---:|---:|---:|");
    for (name, d) in [
        ("read + decode the log (baseline)", read),
        ("read + domain fold into memory (`domain::State`)", fold),
        ("`Projector::rebuild_blocking` into sled views", rebuilt),
    ] {
        println!(
            "| {name} | {events} | {:.1} | {:.0} | {:.2} |",
            d.as_secs_f64(),
            per_second(d),
            per_second(d) / per_second(read),
        );
    }
    let total = rebuilt.as_secs_f64();
    let fold_only = fold.saturating_sub(read).as_secs_f64();
    println!();
    println!(
        "rebuild / baseline throughput: {:.3}",
        read.as_secs_f64() / total
    );
    println!(
        "rebuild time split (estimate): log read {:.0} %, domain fold {:.0} %, \
         views (rkyv, indexes, sled writes) {:.0} %; views on disk {} MiB",
        100.0 * read.as_secs_f64() / total,
        100.0 * fold_only / total,
        100.0 * (total - fold.as_secs_f64()).max(0.0) / total,
        views_bytes >> 20,
    );
    print_sizes(&sizes);
    Ok(ExitCode::SUCCESS)
}

/// The markdown table of what the views hold per key kind.
pub(super) fn print_sizes(sizes: &std::collections::BTreeMap<String, projections::StoredSize>) {
    println!();
    println!("| views key kind | keys | key MiB | value MiB | value bytes per key |");
    println!("|---|---:|---:|---:|---:|");
    for (kind, size) in sizes {
        println!(
            "| `{kind}` | {} | {:.1} | {:.1} | {:.0} |",
            size.keys,
            size.key_bytes as f64 / f64::from(1 << 20),
            size.value_bytes as f64 / f64::from(1 << 20),
            size.value_bytes as f64 / size.keys.max(1) as f64,
        );
    }
}

/// `domain::State` that keeps the directory's timeline until the directory changes.
#[derive(Default)]
struct Memory {
    state: domain::State,
    timeline: std::cell::RefCell<Option<MappingTimeline>>,
}

impl domain::Store for Memory {
    type Error = Infallible;

    fn directory(&self) -> Result<domain::Directory, Infallible> {
        self.state.directory()
    }
    fn timeline(&self) -> Result<MappingTimeline, Infallible> {
        let mut cached = self.timeline.borrow_mut();
        Ok(cached
            .get_or_insert_with(|| self.state.directory.timeline())
            .clone())
    }
    fn phone(&self, phone: &domain::Phone) -> Result<Option<domain::PhoneRecord>, Infallible> {
        self.state.phone(phone)
    }
    fn session(&self, id: u64) -> Result<Option<domain::SessionRecord>, Infallible> {
        self.state.session(id)
    }
    fn desk(&self, id: &str) -> Result<Option<domain::Desk>, Infallible> {
        self.state.desk(id)
    }
    fn put_directory(&mut self, directory: domain::Directory) -> Result<(), Infallible> {
        *self.timeline.get_mut() = None;
        self.state.put_directory(directory)
    }
    fn with_directory<R>(&self, f: impl FnOnce(&domain::Directory) -> R) -> Result<R, Infallible> {
        self.state.with_directory(f)
    }
    fn insert_upsert(&mut self, upsert: &domain::agent::UpsertAgent) -> Result<bool, Infallible> {
        let timeline = self.timeline.get_mut();
        if timeline
            .as_ref()
            .is_some_and(|t| self.state.directory.changes_mapping(t, upsert))
        {
            *timeline = None;
        }
        self.state.insert_upsert(upsert)
    }
    fn put_phone(&mut self, record: domain::PhoneRecord) -> Result<(), Infallible> {
        self.state.put_phone(record)
    }
    fn put_session(&mut self, record: domain::SessionRecord) -> Result<(), Infallible> {
        self.state.put_session(record)
    }
    fn take_session(&mut self, id: u64) -> Result<Option<domain::SessionRecord>, Infallible> {
        self.state.take_session(id)
    }
    fn keep_session(&mut self, record: domain::SessionRecord) -> Result<(), Infallible> {
        self.state.keep_session(record)
    }
    fn put_desk(&mut self, desk: domain::Desk) -> Result<(), Infallible> {
        self.state.put_desk(desk)
    }
    fn delete_desk(&mut self, id: &str) -> Result<(), Infallible> {
        self.state.delete_desk(id)
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Tickets per generated session (measured on this mix: 0.882 at 0.28M, 1.1M and
/// 1.14M sessions; the stream is sized by it, so `--tickets N` stores at least N).
const TICKETS_PER_SESSION: f64 = 0.88;

const OPEN_TICKETS: &str = "query OpenTickets($customer: ID!) {
  tickets(filter: {customerId: $customer, status: [OPEN]}, first: 50) {
    totalCount
    nodes { id subject status missed missedCallCount createdAt updatedAt assignee { id name } }
    pageInfo { hasNextPage endCursor }
  }
}";

const TICKET: &str = "query Ticket($id: ID!) {
  ticket(id: $id) {
    id subject status missed missedCallCount createdAt updatedAt closedAt reopenedAt
    customer { id name phones }
    assignee { id name }
    messages { id kind body callSessionId recordingUrls inProgress createdAt }
    calls { sessionId direction phone answered startedAt endedAt waitSeconds talkSeconds recordingUrls }
  }
}";

pub fn graphql(
    tickets: u64,
    agents: u64,
    queries: u64,
    seed: u64,
    data_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    let shape = Shape {
        agents,
        sessions: (tickets as f64 / TICKETS_PER_SESSION).ceil() as u64,
        seed,
    };
    let (place, counts) = Place::prepare("graphql", data_dir, &shape)?;
    let data_dir = place.dir.clone();
    let started = Instant::now();
    {
        // New views are built the way `callfold rebuild` builds them (spans,
        // sorted runs, the checkpoint last); views already there are only
        // brought up to date below.
        let views = datadir::open_views(&data_dir)?;
        if views.checkpoint() == 0 {
            let log: Arc<dyn EventLog> = Arc::new(datadir::open_log(&data_dir)?);
            projections::Projector::new(projections::Options::default(), views, log)
                .rebuild_blocking()
                .context("building the views")?;
        }
    }
    let store = Store::open(&data_dir, None)?;
    store.catch_up().context("building the views")?;
    let views = store.projector.views().clone();
    let stored = views
        .tickets(&projections::TicketFilter::default(), 0, None)?
        .total_count;
    eprintln!(
        "views built from {} events in {:.1?}: {stored} tickets",
        counts.events(),
        started.elapsed()
    );

    // The ids to look up, drawn before any clock starts.
    let mut rng = Rng::new(seed ^ 0x5EED);
    let customers: Vec<String> = (0..queries)
        .map(|_| calls::customer_id(rng.below(counts.customers)))
        .collect();
    let mut ids: Vec<String> = Vec::with_capacity(queries as usize);
    while (ids.len() as u64) < queries {
        let session = calls::session_id(rng.below(counts.sessions));
        let held = views.call_tickets(session)?;
        if !held.is_empty() {
            ids.push(held[rng.below(held.len() as u64) as usize].clone());
        }
    }
    let open = projections::TicketFilter {
        status: Some(vec![domain::TicketStatus::Open]),
        ..projections::TicketFilter::default()
    };
    let by_customer = |c: &str| projections::TicketFilter {
        customer_id: Some(c.to_owned()),
        ..open.clone()
    };

    // Warm-up: every id once, straight on the views (sled's cache).
    for (customer, id) in customers.iter().zip(&ids) {
        views.tickets(&by_customer(customer), 50, None)?;
        views.ticket(id)?;
    }

    // Baseline: the same lookups on `projections::Views`.
    let mut found = 0u64;
    let mut direct_open = time_each(&customers, |c| {
        found += views.tickets(&by_customer(c), 50, None)?.total_count;
        Ok(())
    })?;
    let mut direct_ticket = time_each(&ids, |id| {
        views.ticket(id)?.context("a ticket id from call_tickets")?;
        Ok(())
    })?;

    // GraphQL, executed in-process on the real schema.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let schema = api::schema(store.api());
    let run = |document: &str, variables: serde_json::Value| -> Result<()> {
        let request = async_graphql::Request::new(document)
            .variables(async_graphql::Variables::from_json(variables));
        let actor = api::Actor {
            role: api::auth::Role::Admin,
            agent_id: None,
            at: domain::Timestamp(0),
        };
        let response = runtime.block_on(api::execute(&schema, request, actor));
        if !response.errors.is_empty() {
            bail!("GraphQL errors: {:?}", response.errors);
        }
        Ok(())
    };
    for (customer, id) in customers.iter().zip(&ids).take(200) {
        run(OPEN_TICKETS, serde_json::json!({ "customer": customer }))?;
        run(TICKET, serde_json::json!({ "id": id }))?;
    }
    let mut graphql_open = time_each(&customers, |c| {
        run(OPEN_TICKETS, serde_json::json!({ "customer": c }))
    })?;
    let mut graphql_ticket = time_each(&ids, |id| run(TICKET, serde_json::json!({ "id": id })))?;
    drop(schema);
    drop(store);
    place.finish();

    println!(
        "store: {stored} tickets from {} events ({} sessions, {} customers, busiest {} calls, \
         {agents} agents); {queries} queries per row, random customers / random tickets; \
         {:.2} open tickets per customer on average",
        counts.events(),
        counts.sessions,
        counts.customers,
        counts.calls_per_customer_max,
        found as f64 / queries as f64,
    );
    println!();
    println!("| lookup | path | p50 ms | p99 ms | max ms | GraphQL / direct p50 | p99 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, direct, graphql) in [
        (
            "open tickets of a customer",
            &mut direct_open,
            &mut graphql_open,
        ),
        ("ticket by id", &mut direct_ticket, &mut graphql_ticket),
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
        println!("| {name} | `Views` (baseline) | {d50:.3} | {d99:.3} | {dmax:.3} | | |");
        println!(
            "| {name} | GraphQL in-process | {g50:.3} | {g99:.3} | {gmax:.3} | {:.1} | {:.1} |",
            g50 / d50,
            g99 / d99
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `each` once per item, timing every call.
pub(super) fn time_each<T>(items: &[T], mut each: impl FnMut(&T) -> Result<()>) -> Result<Stats> {
    let mut latencies_us = Vec::with_capacity(items.len());
    let started = Instant::now();
    for item in items {
        let t = Instant::now();
        each(item)?;
        latencies_us.push(t.elapsed().as_micros() as u64);
    }
    Ok(Stats {
        count: items.len() as u64,
        elapsed: started.elapsed(),
        latencies_us,
    })
}
