//! `callfold import`: recorded streams through the same path as live delivery.

use crate::datadir;
use crate::stream::{parse_line, Item};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ingest::{Delivery, Ingestor, Outcome, Submitted};
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
}

impl Summary {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Accepted(_) => self.accepted += 1,
            Outcome::Duplicate(_) => self.duplicates += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
        }
    }
}

pub fn run(data_dir: &Path, files: &[PathBuf]) -> Result<ExitCode> {
    let log = Arc::new(datadir::open_log(data_dir)?);
    let ingestor = Ingestor::new(log, datadir::ingest_options()?);
    let mut total = Summary::default();
    for file in files {
        let summary = import_file(&ingestor, file)?;
        total.accepted += summary.accepted;
        total.duplicates += summary.duplicates;
        total.quarantined += summary.quarantined;
    }
    println!(
        "imported {} file(s): {} accepted, {} duplicates, {} quarantined",
        files.len(),
        total.accepted,
        total.duplicates,
        total.quarantined
    );
    Ok(ExitCode::SUCCESS)
}

/// Imports one file. Lines before a bad line stay imported; importing the same
/// file again after fixing it is safe, since repeats are recognised as duplicates.
pub fn import_file(ingestor: &Ingestor, file: &Path) -> Result<Summary> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let progress =
        ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    progress.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("static progress template"),
    );
    progress.set_message(file.display().to_string());
    let mut reader = std::io::BufReader::with_capacity(1 << 20, handle);
    let mut summary = Summary::default();
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
        progress.inc(read as u64);
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
                submit(ingestor, &mut chunk, &mut in_flight, &mut summary)?;
                drain(&mut in_flight, &mut summary)?;
                progress.abandon();
                bail!("{}:{number}: {reason}", file.display());
            }
        };
        let Item::CallGear {
            kind,
            raw,
            at,
            timezone,
        } = item;
        chunk.push(Delivery {
            kind,
            raw,
            received_at: at,
            timezone,
        });
        if chunk.len() >= CHUNK_LINES_MAX {
            submit(ingestor, &mut chunk, &mut in_flight, &mut summary)?;
        }
    }
    submit(ingestor, &mut chunk, &mut in_flight, &mut summary)?;
    drain(&mut in_flight, &mut summary)?;
    progress.finish_and_clear();
    Ok(summary)
}

/// Queues `chunk` in the log; waits for the oldest queued chunk first when
/// [`CHUNKS_IN_FLIGHT_MAX`] are already queued.
fn submit(
    ingestor: &Ingestor,
    chunk: &mut Vec<Delivery>,
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
    in_flight.push_back(ingestor.submit_many_blocking(std::mem::take(chunk))?);
    Ok(())
}

fn drain(in_flight: &mut VecDeque<Submitted>, summary: &mut Summary) -> Result<()> {
    while let Some(submitted) = in_flight.pop_front() {
        submitted.wait()?.iter().for_each(|o| summary.add(o));
    }
    Ok(())
}
