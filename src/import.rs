//! `callfold import`: recorded streams through the same path as live delivery.

use crate::app::Store;
use crate::datadir;
use crate::progress::Progress;
use crate::stream::{parse_line, Item};
use anyhow::{bail, Context, Result};
use ingest::Item as LogItem;
use ingest::{Delivery, Ingestor, Outcome, Submitted};
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Lines handed to the log in one append request (one group commit).
const CHUNK_LINES_MAX: usize = 4096;
/// Chunks queued in the log while the next one is parsed.
const CHUNKS_IN_FLIGHT_MAX: usize = 2;
/// A line longer than this is refused (the body bound plus room for escaping).
const LINE_BYTES_MAX: usize = 8 << 20;

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// `graphql` lines run, and how many of them answered with errors.
    pub graphql: u64,
    pub graphql_rejected: u64,
}

/// Runs the `graphql` lines of a stream against the store being imported into.
pub struct GraphQlRunner {
    schema: api::CallfoldSchema,
    runtime: tokio::runtime::Runtime,
}

impl GraphQlRunner {
    pub fn new(store: &Store) -> Result<GraphQlRunner> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(GraphQlRunner {
            schema: api::schema(store.api()),
            runtime,
        })
    }

    /// Executes one operation as `agent` at time `at`; the GraphQL response.
    pub fn execute(
        &self,
        document: String,
        variables: Option<serde_json::Value>,
        agent: Option<String>,
        at: domain::Timestamp,
    ) -> async_graphql::Response {
        self.execute_operation(document, None, variables, agent, at)
    }

    /// [`GraphQlRunner::execute`] for the operation named `operation` of a
    /// document that holds several.
    pub fn execute_operation(
        &self,
        document: String,
        operation: Option<String>,
        variables: Option<serde_json::Value>,
        agent: Option<String>,
        at: domain::Timestamp,
    ) -> async_graphql::Response {
        let mut request = async_graphql::Request::new(document);
        if let Some(operation) = operation {
            request = request.operation_name(operation);
        }
        if let Some(variables) = variables {
            request = request.variables(async_graphql::Variables::from_json(variables));
        }
        // Command-line use has full rights: access to the data dir is the authority.
        let actor = api::Actor {
            role: api::auth::Role::Admin,
            agent_id: agent,
            at,
        };
        self.runtime
            .block_on(api::execute(&self.schema, request, actor))
    }
}

impl Summary {
    /// "N accepted, N duplicates, N quarantined[, N graphql (N with errors)]".
    fn counts(&self) -> String {
        let mut line = format!(
            "{} accepted, {} duplicates, {} quarantined",
            self.accepted, self.duplicates, self.quarantined
        );
        if self.graphql > 0 {
            line.push_str(&format!(
                ", {} graphql ({} with errors)",
                self.graphql, self.graphql_rejected
            ));
        }
        line
    }

    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Accepted(_) => self.accepted += 1,
            Outcome::Duplicate(_) => self.duplicates += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }
}

pub fn run(data_dir: &Path, files: &[PathBuf]) -> Result<ExitCode> {
    // Every file readable before the data dir is touched (or created).
    for file in files {
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    }
    let store = Store::open(data_dir, None)?;
    let ingestor = Ingestor::new(store.log.clone(), datadir::ingest_options()?);
    let graphql = GraphQlRunner::new(&store)?;
    let mut total = Summary::default();
    for (done, file) in files.iter().enumerate() {
        if let Err(error) = import_into(&ingestor, Some(&graphql), file, &mut total) {
            // What went in before the error stays in the log: say how much.
            eprintln!(
                "callfold: stopped in file {} of {}; before that line: {}",
                done + 1,
                files.len(),
                total.counts()
            );
            return Err(error);
        }
    }
    store
        .catch_up()
        .context("bringing the read models up to date")?;
    println!("imported {} file(s): {}", files.len(), total.counts());
    Ok(ExitCode::SUCCESS)
}

/// Imports one file. Lines before a bad line stay imported; importing the same
/// file again after fixing it is safe, since repeats are recognised as duplicates.
pub fn import_file(
    ingestor: &Ingestor,
    graphql: Option<&GraphQlRunner>,
    file: &Path,
) -> Result<Summary> {
    let mut summary = Summary::default();
    import_into(ingestor, graphql, file, &mut summary)?;
    Ok(summary)
}

/// [`import_file`], adding to `summary` (which counts the lines before a bad
/// one when it fails).
fn import_into(
    ingestor: &Ingestor,
    graphql: Option<&GraphQlRunner>,
    file: &Path,
    summary: &mut Summary,
) -> Result<()> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let progress = Progress::new(
        size,
        "{msg} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    )?;
    progress.bar().set_message(file.display().to_string());
    let mut reader = std::io::BufReader::with_capacity(1 << 20, handle);
    let mut in_flight = VecDeque::new();
    let mut chunk = Vec::with_capacity(CHUNK_LINES_MAX);
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_line(&mut line)
            .with_context(|| format!("{}:{}: cannot read", file.display(), number + 1))?;
        if read == 0 {
            break;
        }
        number += 1;
        progress.bar().inc(read as u64);
        progress.tick(|bar| {
            format!(
                "import {}: {}/{} bytes ({}%), line {number}, {}s",
                file.display(),
                bar.position(),
                size,
                crate::progress::percent(bar.position(), size),
                bar.elapsed().as_secs()
            )
        });
        if read > LINE_BYTES_MAX {
            bail!(
                "{}:{number}: line longer than {LINE_BYTES_MAX} bytes",
                file.display()
            );
        }
        let item = match parse_line(&line) {
            Ok(Some(item)) => item,
            Ok(None) => continue,
            Err(reason) => {
                submit(ingestor, &mut chunk, &mut in_flight, summary)?;
                drain(&mut in_flight, summary)?;
                progress.bar().abandon();
                bail!("{}:{number}: {reason}", file.display());
            }
        };
        match item {
            Item::CallGear {
                kind,
                raw,
                at,
                timezone,
            } => {
                chunk.push(LogItem::CallGear(Delivery {
                    kind,
                    raw,
                    received_at: at,
                    timezone,
                }));
            }
            Item::Native { at, raw } => {
                let event = match ingest::parse_event_line(raw, at) {
                    Ok(event) => event,
                    Err(reason) => {
                        submit(ingestor, &mut chunk, &mut in_flight, summary)?;
                        drain(&mut in_flight, summary)?;
                        progress.bar().abandon();
                        bail!("{}:{number}: \"event\": {reason}", file.display());
                    }
                };
                chunk.push(LogItem::Native(event));
            }
            Item::Quarantine {
                at,
                source,
                kind,
                reason,
                raw,
            } => {
                // Kept as it was exported: its reason, not a new parse (`quarantine
                // retry` re-reads it with the current parsers).
                ingestor
                    .log()
                    .quarantine(eventlog::NewQuarantine {
                        received_at: at,
                        source,
                        kind,
                        reason,
                        raw,
                    })
                    .wait()
                    .with_context(|| format!("{}:{number}: cannot quarantine", file.display()))?;
                summary.quarantined += 1;
            }
            Item::GraphQl {
                at,
                document,
                variables,
                agent,
            } => {
                let Some(runner) = graphql else {
                    bail!(
                        "{}:{number}: `graphql` lines are not run here",
                        file.display()
                    );
                };
                // Everything before this line must be in the log (and applied) first.
                submit(ingestor, &mut chunk, &mut in_flight, summary)?;
                drain(&mut in_flight, summary)?;
                let response = runner.execute(document, variables, agent, at);
                summary.graphql += 1;
                if !response.errors.is_empty() {
                    summary.graphql_rejected += 1;
                    let messages: Vec<String> =
                        response.errors.iter().map(|e| e.message.clone()).collect();
                    progress.println(&format!(
                        "{}:{number}: graphql: {}",
                        file.display(),
                        messages.join("; ")
                    ));
                }
            }
        }
        if chunk.len() >= CHUNK_LINES_MAX {
            submit(ingestor, &mut chunk, &mut in_flight, summary)?;
        }
    }
    submit(ingestor, &mut chunk, &mut in_flight, summary)?;
    drain(&mut in_flight, summary)?;
    progress.bar().finish_and_clear();
    Ok(())
}

/// Queues `chunk` in the log; waits for the oldest queued chunk first when
/// [`CHUNKS_IN_FLIGHT_MAX`] are already queued.
fn submit(
    ingestor: &Ingestor,
    chunk: &mut Vec<LogItem>,
    in_flight: &mut VecDeque<Submitted>,
    summary: &mut Summary,
) -> Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    if in_flight.len() >= CHUNKS_IN_FLIGHT_MAX {
        if let Some(oldest) = in_flight.pop_front() {
            oldest.wait()?.iter().for_each(|o| summary.add(o));
        }
    }
    in_flight.push_back(ingestor.submit_items_blocking(std::mem::take(chunk))?);
    Ok(())
}

fn drain(in_flight: &mut VecDeque<Submitted>, summary: &mut Summary) -> Result<()> {
    while let Some(submitted) = in_flight.pop_front() {
        submitted.wait()?.iter().for_each(|o| summary.add(o));
    }
    Ok(())
}
