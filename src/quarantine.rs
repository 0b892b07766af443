//! `callfold quarantine`: what could not be read, and re-processing it.

use crate::datadir;
use anyhow::{bail, Result};
use eventlog::EventLog;
use ingest::{Ingestor, Outcome};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// One line per quarantined delivery: id, receive time, source/kind, reason (default).
    List {
        /// NDJSON with the full raw body instead.
        #[arg(long)]
        json: bool,
    },
    /// Write one delivery's exact raw body to stdout.
    Show { id: u64 },
    /// Re-read deliveries with the current parsers (CallGear bodies, contact-centre
    /// events); those that now parse are appended to the log (deduplicated) and
    /// leave the quarantine.
    Retry {
        /// Only this one (default: all).
        id: Option<u64>,
    },
}

pub fn run(data_dir: &Path, action: Option<Action>) -> Result<ExitCode> {
    datadir::require_store(data_dir)?;
    let log = Arc::new(datadir::open_log(data_dir)?);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match action.unwrap_or(Action::List { json: false }) {
        Action::List { json } => {
            let records = log.quarantined()?;
            for r in &records {
                if json {
                    let line = serde_json::json!({
                        "id": r.id,
                        "at": r.received_at.to_rfc3339(),
                        "source": r.source.as_str(),
                        "kind": r.kind,
                        "reason": r.reason,
                        "body": String::from_utf8_lossy(&r.raw),
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{}\t{}\t{}/{}\t{} bytes\t{}",
                        r.id,
                        r.received_at,
                        r.source.as_str(),
                        r.kind,
                        r.raw.len(),
                        r.reason
                    )?;
                }
            }
            if !json {
                eprintln!("{} quarantined deliveries", records.len());
            }
        }
        Action::Show { id } => {
            let Some(record) = log.quarantined()?.into_iter().find(|r| r.id == id) else {
                bail!("no quarantined delivery with id {id}");
            };
            out.write_all(&record.raw)?;
        }
        Action::Retry { id } => {
            let ingestor = Ingestor::new(log.clone(), datadir::ingest_options()?);
            let results = ingestor.reprocess_quarantine_blocking(id)?;
            if id.is_some() && results.is_empty() {
                bail!(
                    "no quarantined delivery with id {} (CallGear or contact-centre event)",
                    id.unwrap_or_default()
                );
            }
            let (mut appended, mut duplicates, mut still) = (0, 0, 0);
            for (record, outcome) in &results {
                match outcome {
                    Outcome::Accepted(p) => {
                        appended += 1;
                        writeln!(out, "{}\taccepted at position {p}", record.id)?;
                    }
                    Outcome::Duplicate(p) => {
                        duplicates += 1;
                        writeln!(out, "{}\tduplicate of position {p}", record.id)?;
                    }
                    Outcome::Quarantined { reason, .. } => {
                        still += 1;
                        writeln!(out, "{}\tstill unreadable: {reason}", record.id)?;
                    }
                }
            }
            eprintln!("{appended} appended, {duplicates} duplicates, {still} still quarantined");
        }
    }
    Ok(ExitCode::SUCCESS)
}
