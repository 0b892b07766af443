use anyhow::Result;
use std::process::ExitCode;
#[derive(clap::Subcommand, Debug)]
pub enum Which {
    Ingest,
}
pub fn run(_which: Which) -> Result<ExitCode> {
    anyhow::bail!("wip")
}
