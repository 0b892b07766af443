//! `callfold export`: the whole log as a recorded stream on stdout, then the
//! deliveries in quarantine (`quarantine` lines), so that a backup loses nothing.

use crate::datadir;
use crate::stream::{CallGearLine, NativeLine, NativeTextLine, QuarantineFields, QuarantineLine};
use anyhow::{Context, Result};
use domain::Source;
use eventlog::{Envelope, EventLog};
use serde_json::value::RawValue;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const READ_BATCH: usize = 1024;

pub fn run(data_dir: &Path) -> Result<ExitCode> {
    datadir::require_store(data_dir)?;
    let log = datadir::open_log(data_dir)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    write_all(&log, &mut out)?;
    write_quarantined(&log, &mut out)?;
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

/// Every quarantined delivery, in quarantine id order, as it was kept (raw
/// bytes, receive time, source, kind, reason); returns how many.
pub fn write_quarantined(log: &dyn EventLog, out: &mut impl Write) -> Result<u64> {
    let records = log.quarantined()?;
    for record in &records {
        let line = QuarantineLine {
            at: record.received_at.to_rfc3339(),
            quarantine: QuarantineFields::new(
                record.source,
                &record.kind,
                &record.reason,
                &record.raw,
            ),
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(records.len() as u64)
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
            let at = envelope.received_at.to_rfc3339();
            match one_line_json(text) {
                Some(event) => serde_json::to_writer(&mut *out, &NativeLine { at, event })?,
                // Pretty-printed (or otherwise not one line of JSON as it stands): the
                // exact bytes as a string, which `import` reads back as they were.
                None => serde_json::to_writer(&mut *out, &NativeTextLine { at, event: text })?,
            }
        }
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// `text` as a JSON value to embed verbatim in one NDJSON line: only when it is
/// one JSON object exactly, with no line break and no surrounding whitespace (or
/// byte-order mark), so that the line's `event` text is byte for byte the raw.
fn one_line_json(text: &str) -> Option<&RawValue> {
    if !text.starts_with('{') || text.contains(['\n', '\r']) {
        return None;
    }
    let value: &RawValue = serde_json::from_str(text).ok()?;
    (value.get().len() == text.len()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::one_line_json;

    #[test]
    fn only_exact_one_line_objects_are_embedded() {
        let compact = r#"{"v":1,"type":"call_ended","at":"2024-04-05T09:00:00Z","call_id":"c"}"#;
        assert_eq!(one_line_json(compact).map(|v| v.get()), Some(compact));
        let spaced = r#"{ "v": 1, "call_id": "c" }"#;
        assert_eq!(one_line_json(spaced).map(|v| v.get()), Some(spaced));
        for text in [
            "{\n  \"v\": 1\n}",
            "{\"v\":1}\r\n",
            " {\"v\":1}",
            "{\"v\":1} ",
            "\u{feff}{\"v\":1}",
            "[1]",
            "{\"v\":",
        ] {
            assert!(one_line_json(text).is_none(), "{text:?}");
        }
    }
}
