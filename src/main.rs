//! `callfold`: the binary. Commands are in CONTRACT.md; each lives in its module.

mod app;
mod bench;
mod datadir;
mod export;
mod import;
mod progress;
mod quarantine;
mod query;
mod report;
mod serve;
mod stream;
mod telemetry;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the projector and the rebuild
/// allocate and free many small records and index keys, and glibc malloc's
/// free lists took a third or more of a rebuild's samples
/// (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "callfold", version, about = "Event-sourced call/ticket engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DataDirArg {
    /// The data directory (the event log and everything derived from it).
    #[arg(
        long,
        env = "CALLFOLD_DATA_DIR",
        default_value = "./callfold-data",
        global = true
    )]
    pub data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the webhook endpoints, the projection workers and the GraphQL API.
    Serve {
        #[command(flatten)]
        data: DataDirArg,
        /// Address to listen on (IP:PORT); port 0 picks a free port (printed at start).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Append recorded streams (NDJSON) to the log exactly as live delivery would.
    Import {
        #[command(flatten)]
        data: DataDirArg,
        /// Recorded stream files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write the whole log to stdout as a recorded stream.
    Export {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Run one GraphQL document against the store.
    Query {
        #[command(flatten)]
        data: DataDirArg,
        /// Act as this agent (mutations record it as the acting agent).
        #[arg(long)]
        agent: Option<String>,
        /// Variables as a JSON object.
        #[arg(long)]
        variables: Option<String>,
        /// Which operation to run, when the document holds several.
        #[arg(long)]
        operation: Option<String>,
        /// The document, or `@path` to read it from a file.
        document: String,
    },
    /// Re-derive every read model from the log.
    Rebuild {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Print the blake3 digest of every read model (after catching up with the log).
    Digest {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// List, show and re-process quarantined deliveries.
    Quarantine {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        action: Option<quarantine::Action>,
    },
    /// Reports from the statistics (CSV on stdout; see docs/statistics.md).
    Report {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        which: report::Report,
    },
    /// Benchmarks (see docs/benchmarks.md).
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result = match cli.command {
        Command::Serve { data, listen } => serve::run(&data.data_dir, &listen.to_string()),
        Command::Import { data, files } => import::run(&data.data_dir, &files),
        Command::Export { data } => export::run(&data.data_dir),
        Command::Quarantine { data, action } => quarantine::run(&data.data_dir, action),
        Command::Bench { which } => bench::run(which),
        Command::Report { data, which } => report::run(&data.data_dir, which),
        Command::Query {
            data,
            agent,
            variables,
            operation,
            document,
        } => query::run(
            &data.data_dir,
            query::Acting { agent, operation },
            &document,
            variables.as_deref(),
        ),
        Command::Rebuild { data } => query::rebuild(&data.data_dir),
        Command::Digest { data } => query::digest(&data.data_dir),
    };
    match result {
        Ok(code) => code,
        // The reader of stdout went away (`callfold export | head`): stop quietly,
        // with the status a shell gives a process ended by SIGPIPE.
        Err(error) if is_broken_pipe(&error) => ExitCode::from(141),
        Err(error) => {
            eprintln!("callfold: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => Some(io.kind()),
            // serde_json's writer keeps the io::Error inside (not as `source`).
            None => cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, "outer: inner: ...", leaving out a cause whose
/// text the one before already ends with (many errors print their source).
fn describe(error: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !previous.is_empty() && previous.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        previous = text;
    }
    out
}
