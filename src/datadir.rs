//! The data directory: where the log lives, the webhook token, configuration.

use anyhow::{bail, Context, Result};
use eventlog::{Options, SledLog};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("log")
}

/// For the commands that read a store (`query`, `export`, `rebuild`, `digest`,
/// `quarantine`, `report`): the data dir must hold an event log already, so
/// that a mistyped `--data-dir` is an error rather than a new, empty store.
pub fn require_store(data_dir: &Path) -> Result<()> {
    if log_path(data_dir).is_dir() {
        return Ok(());
    }
    bail!(
        "{} is not a callfold data dir: it has no event log (`log/`). Check --data-dir or \
         CALLFOLD_DATA_DIR; `callfold import` and `callfold serve` create a new one",
        data_dir.display()
    )
}

/// Opens the log; a clear message when another process holds it.
pub fn open_log(data_dir: &Path) -> Result<SledLog> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    SledLog::open(Options::new(log_path(data_dir))).with_context(|| {
        format!(
            "cannot open the event log in {} (is a `callfold serve` using this data dir?)",
            data_dir.display()
        )
    })
}

/// The views' page cache: `CALLFOLD_VIEWS_CACHE_MB` (MiB, 16 – 65,536),
/// default [`projections::VIEWS_CACHE_BYTES`].
pub fn views_cache_bytes() -> Result<u64> {
    match std::env::var("CALLFOLD_VIEWS_CACHE_MB") {
        Ok(text) if !text.trim().is_empty() => match text.trim().parse::<u64>() {
            Ok(mb) if (16..=65_536).contains(&mb) => Ok(mb << 20),
            _ => bail!(
                "CALLFOLD_VIEWS_CACHE_MB={text:?} must be a whole number of MiB from 16 to 65536"
            ),
        },
        _ => Ok(projections::VIEWS_CACHE_BYTES),
    }
}

/// Opens the read models in `DATA_DIR/views`.
pub fn open_views(data_dir: &Path) -> Result<projections::Views> {
    let path = data_dir.join("views");
    projections::Views::open_with_cache(&path, views_cache_bytes()?)
        .with_context(|| format!("cannot open the read models in {}", path.display()))
}

/// Empty read models in `DATA_DIR/views`, what was there discarded unopened
/// (`callfold rebuild`, after it has opened, and so locked, the log).
pub fn open_views_empty(data_dir: &Path) -> Result<projections::Views> {
    let path = data_dir.join("views");
    projections::Views::open_empty_with_cache(&path, views_cache_bytes()?)
        .with_context(|| format!("cannot replace the read models in {}", path.display()))
}

/// `CALLFOLD_TIMEZONE` (IANA name), default UTC.
pub fn timezone() -> Result<chrono_tz::Tz> {
    match std::env::var("CALLFOLD_TIMEZONE") {
        Ok(name) if !name.trim().is_empty() => chrono_tz::Tz::from_str(name.trim())
            .map_err(|_| anyhow::anyhow!("CALLFOLD_TIMEZONE={name:?} is not an IANA time zone")),
        _ => Ok(chrono_tz::UTC),
    }
}

pub fn ingest_options() -> Result<ingest::Options> {
    Ok(ingest::Options {
        timezone: timezone()?,
    })
}

/// The webhook token: `CALLFOLD_WEBHOOK_TOKEN`, else the one kept in the data
/// dir, else a new random one, kept there (mode 0600) for the next start.
pub fn webhook_token(data_dir: &Path) -> Result<String> {
    secret(data_dir, "CALLFOLD_WEBHOOK_TOKEN", "webhook_token")
}

/// The GraphQL administrator token: `CALLFOLD_ADMIN_TOKEN`, else the one kept in
/// `DATA_DIR/admin_token`, else a new random one kept there (mode 0600).
pub fn admin_token(data_dir: &Path) -> Result<String> {
    secret(data_dir, "CALLFOLD_ADMIN_TOKEN", "admin_token")
}

fn secret(data_dir: &Path, variable: &str, file: &str) -> Result<String> {
    if let Ok(token) = std::env::var(variable) {
        let token = token.trim().to_string();
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("{variable} must be non-empty and use only A-Z a-z 0-9 - _");
        }
        return Ok(token);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let path = data_dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let mut secret = [0u8; 24];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let token = hex::encode(secret);
    write_private(&path, &token).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(token)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
