//! `callfold query`, `callfold rebuild` and `callfold digest`: the read models
//! from the command line.

use crate::app::Store;
use crate::import::GraphQlRunner;
use crate::progress::{self, Progress};
use anyhow::{Context, Result};
use domain::Timestamp;
use std::path::Path;
use std::process::ExitCode;

/// Who `callfold query` acts as, and which operation of the document it runs.
pub struct Acting {
    /// `--agent`: must be an agent of the directory.
    pub agent: Option<String>,
    /// `--operation`: the operation's name, for a document with several.
    pub operation: Option<String>,
}

/// Runs one document (`@path` reads it from a file) after the projections have
/// caught up; prints the GraphQL response; exit 1 if it has errors.
pub fn run(
    data_dir: &Path,
    acting: Acting,
    document: &str,
    variables: Option<&str>,
) -> Result<ExitCode> {
    let document = match document.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the GraphQL document {path}"))?,
        None => document.to_string(),
    };
    let variables = variables
        .map(|text| {
            serde_json::from_str::<serde_json::Value>(text).context("--variables is not JSON")
        })
        .transpose()?;
    crate::datadir::require_store(data_dir)?;
    let store = Store::open(data_dir, None)?;
    store
        .catch_up()
        .context("bringing the read models up to date")?;
    let runner = GraphQlRunner::new(&store)?;
    let now = Timestamp::from_datetime(chrono::Utc::now());
    let response = match unknown_agent(&store, acting.agent.as_deref())? {
        // Queries too, not only mutations: acting as nobody would quietly show
        // what nobody sees. Answered like the API refuses a mutation.
        Some(refusal) => refusal,
        None => runner.execute_operation(document, acting.operation, variables, acting.agent, now),
    };
    let failed = !response.errors.is_empty();
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A GraphQL error response when `agent` is not an agent of the directory.
fn unknown_agent(store: &Store, agent: Option<&str>) -> Result<Option<async_graphql::Response>> {
    let Some(agent) = agent else {
        return Ok(None);
    };
    let known = store
        .projector
        .views()
        .agent(agent)
        .context("cannot read the agents")?;
    Ok(known.is_none().then(|| {
        let mut error = async_graphql::ServerError::new(format!("unknown agent {agent}"), None);
        let mut extensions = async_graphql::ErrorExtensionValues::default();
        extensions.set("code", "REJECTED");
        error.extensions = Some(extensions);
        async_graphql::Response::from_errors(vec![error])
    }))
}

/// Re-derives every read model from position zero.
pub fn rebuild(data_dir: &Path) -> Result<ExitCode> {
    crate::datadir::require_store(data_dir)?;
    // The log first: it stays locked while the old views are discarded, so
    // a running server (which holds it) stops the rebuild before that.
    let log = std::sync::Arc::new(crate::datadir::open_log(data_dir)?);
    let started = std::time::Instant::now();
    let views = crate::datadir::open_views_empty(data_dir)?;
    let projector = projections::Projector::new(projections::Options::default(), views, log);
    let mut bar = RebuildBar::new()?;
    let head = projector.rebuild_blocking_with(&mut |step| bar.show(step));
    bar.finish();
    let head = head?;
    eprintln!(
        "rebuilt the read models from {head} events in {:.1?}",
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

/// `callfold rebuild`'s progress on stderr: a bar over the log while a span
/// is applied, a spinner with the entries while it is written (off a terminal,
/// a plain line now and then: [`Progress`]).
struct RebuildBar {
    progress: Progress,
    writing: bool,
}

impl RebuildBar {
    const APPLYING: &'static str =
        "applying the log {bar:40} {human_pos}/{human_len} events ({elapsed})";
    const WRITING: &'static str =
        "{spinner} writing the views up to event {human_pos}/{human_len}: {msg} entries ({elapsed})";

    fn new() -> Result<RebuildBar> {
        Ok(RebuildBar {
            progress: Progress::new(0, Self::APPLYING)?,
            writing: false,
        })
    }

    fn show(&mut self, step: projections::RebuildProgress) {
        let bar = self.progress.bar();
        match step {
            projections::RebuildProgress::Applying { position, head } => {
                if self.writing {
                    self.writing = false;
                    bar.disable_steady_tick();
                    bar.set_style(progress::style(Self::APPLYING));
                }
                bar.set_length(head);
                bar.set_position(position);
                self.progress.tick(|bar| {
                    format!(
                        "rebuild: {position}/{head} events applied ({}%), {}s",
                        progress::percent(position, head),
                        bar.elapsed().as_secs()
                    )
                });
            }
            projections::RebuildProgress::Writing { position, entries } => {
                if !self.writing {
                    self.writing = true;
                    bar.set_style(progress::style(Self::WRITING));
                    bar.enable_steady_tick(std::time::Duration::from_millis(250));
                }
                bar.set_position(position);
                bar.set_message(indicatif::HumanCount(entries as u64).to_string());
                self.progress.tick(|bar| {
                    format!(
                        "rebuild: writing the views up to event {position}: {entries} entries, {}s",
                        bar.elapsed().as_secs()
                    )
                });
            }
        }
    }

    fn finish(&self) {
        self.progress.bar().finish_and_clear();
    }
}

/// Prints the blake3 digest (hex) of every read model, after catching up with
/// the log: equal digests mean byte-identical read models (R17).
pub fn digest(data_dir: &Path) -> Result<ExitCode> {
    crate::datadir::require_store(data_dir)?;
    let store = Store::open(data_dir, None)?;
    store
        .catch_up()
        .context("bringing the read models up to date")?;
    let dump = store
        .projector
        .views()
        .dump()
        .context("cannot read the read models")?;
    println!("{}", blake3::hash(&dump).to_hex());
    Ok(ExitCode::SUCCESS)
}
