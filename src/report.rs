//! `callfold report`: reports from the statistics read model as CSV on stdout.

use crate::app::Store;
use anyhow::{Context, Result};
use domain::stats::period;
use domain::stats::CallRecord;
use domain::Timestamp;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Report {
    /// Call detail records: one CSV row per call that started in [from, to)
    /// (columns in docs/statistics.md).
    Cdr {
        /// RFC 3339, a local date (YYYY-MM-DD) or local date and time (YYYY-MM-DDThh:mm).
        #[arg(long)]
        from: String,
        /// Exclusive; same forms as --from.
        #[arg(long)]
        to: String,
        /// IANA time zone of local dates and of the times in the report
        /// (default: CALLFOLD_TIMEZONE, else UTC).
        #[arg(long)]
        tz: Option<String>,
    },
}

/// The CDR columns, in order (docs/statistics.md).
pub const CDR_COLUMNS: [&str; 19] = [
    "call_key",
    "source",
    "direction",
    "phone",
    "queue",
    "started_at",
    "answered_at",
    "ended_at",
    "answered",
    "wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "after_call_seconds",
    "agents",
    "answering_agents",
    "outcome",
    "callback_at",
    "callback_seconds",
    "recorded",
];

pub fn run(data_dir: &Path, report: Report) -> Result<ExitCode> {
    crate::datadir::require_store(data_dir)?;
    match report {
        Report::Cdr { from, to, tz } => cdr(data_dir, &from, &to, tz.as_deref()),
    }
}

fn local(t: Timestamp, zone: chrono_tz::Tz) -> String {
    t.to_datetime()
        .map(|dt| {
            dt.with_timezone(&zone)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
        })
        .unwrap_or_default()
}

fn row(record: &CallRecord, zone: chrono_tz::Tz) -> Vec<String> {
    let opt_time = |t: Option<Timestamp>| t.map(|t| local(t, zone)).unwrap_or_default();
    let opt_num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let agents = |answering: bool| {
        record
            .agents
            .iter()
            .filter(|a| !answering || a.answered)
            .map(|a| a.agent_id.as_str())
            .collect::<Vec<_>>()
            .join(";")
    };
    vec![
        record.key.clone(),
        match record.source {
            domain::stats::CallSource::CallGear => "callgear",
            domain::stats::CallSource::Native => "native",
        }
        .to_owned(),
        match record.way {
            domain::stats::CallWay::Inbound => "inbound",
            domain::stats::CallWay::Outbound => "outbound",
            domain::stats::CallWay::Internal => "internal",
        }
        .to_owned(),
        record
            .phone
            .as_ref()
            .map(|p| format!("+{p}"))
            .unwrap_or_default(),
        record.queue.clone().unwrap_or_default(),
        local(record.started_at, zone),
        opt_time(record.answered_at),
        opt_time(record.ended_at),
        yes(record.answered),
        record.wait_seconds.to_string(),
        record.talk_seconds.to_string(),
        opt_num(record.hold_seconds),
        opt_num(record.after_call_seconds),
        agents(false),
        agents(true),
        record.outcome().to_owned(),
        opt_time(record.callback.as_ref().map(|c| c.at)),
        record
            .callback
            .as_ref()
            .map(|c| c.latency_seconds.to_string())
            .unwrap_or_default(),
        yes(record.recorded),
    ]
}

fn cdr(data_dir: &Path, from: &str, to: &str, tz: Option<&str>) -> Result<ExitCode> {
    let zone = match tz {
        Some(name) => period::parse_zone(name)?,
        None => crate::datadir::timezone()?,
    };
    let from_at = period::parse_time(from, zone).context("--from")?;
    let to_at = period::parse_time(to, zone).context("--to")?;
    if from_at >= to_at {
        anyhow::bail!("--from ({from_at}) must be before --to ({to_at})");
    }
    let store = Store::open(data_dir, None)?;
    store
        .catch_up()
        .context("bringing the read models up to date")?;
    let views = store.projector.views();
    let stdout = std::io::stdout();
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(stdout.lock()));
    out.write_record(CDR_COLUMNS)?;
    let mut after: Option<String> = None;
    let mut rows = 0u64;
    loop {
        let page = views.call_records(
            from_at,
            to_at,
            projections::stats::CALL_RECORDS_FIRST_MAX,
            after.as_deref(),
        )?;
        for record in &page.records {
            out.write_record(row(record, zone))?;
            rows += 1;
        }
        if !page.has_next_page {
            break;
        }
        after = page.end_cursor;
    }
    out.flush()?;
    drop(out);
    std::io::stderr().flush().ok();
    eprintln!("{rows} calls");
    Ok(ExitCode::SUCCESS)
}
