//! `callfold export`: the whole log as a recorded stream on stdout.

use crate::datadir;
use crate::stream::{CallGearLine, NativeLine};
use anyhow::{Context, Result};
use domain::Source;
use eventlog::{Envelope, EventLog};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const READ_BATCH: usize = 1024;

pub fn run(data_dir: &Path) -> Result<ExitCode> {
    let log = datadir::open_log(data_dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    write_all(&log, &mut out)?;
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

pub fn write_all(log: &dyn EventLog, out: &mut impl Write) -> Result<u64> {
    let mut from = 0;
    loop {
        let batch = log.read(from, READ_BATCH)?;
        if batch.is_empty() {
            return Ok(from);
        }
        for envelope in &batch {
            write_line(envelope, out)?;
        }
        from = batch.last().map(|e| e.position + 1).unwrap_or(from);
    }
}

fn write_line(envelope: &Envelope, out: &mut impl Write) -> Result<()> {
    match envelope.source {
        Source::CallGear => {
            let body = std::str::from_utf8(&envelope.raw).with_context(|| {
                format!("log position {}: raw body is not UTF-8", envelope.position)
            })?;
            let line = CallGearLine {
                at: envelope.received_at.to_rfc3339(),
                path: format!("/{}", envelope.kind),
                tz: &envelope.time_zone,
                body,
            };
            serde_json::to_writer(&mut *out, &line)?;
        }
        Source::Native => {
            let text = std::str::from_utf8(&envelope.raw).with_context(|| {
                format!(
                    "log position {}: native event is not UTF-8",
                    envelope.position
                )
            })?;
            let event: &serde_json::value::RawValue =
                serde_json::from_str(text).with_context(|| {
                    format!(
                        "log position {}: native event is not JSON",
                        envelope.position
                    )
                })?;
            let line = NativeLine {
                at: envelope.received_at.to_rfc3339(),
                event,
            };
            serde_json::to_writer(&mut *out, &line)?;
        }
    }
    out.write_all(b"\n")?;
    Ok(())
}
