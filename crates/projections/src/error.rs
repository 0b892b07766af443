/// Errors of the projections. All but [`Error::BadCursor`] are infrastructure
/// failures: the read model could not be read or written, or is not up to date.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("view storage failure: {0}")]
    Storage(#[from] sled::Error),
    /// Emptying the views (a rebuild) could not move or delete their old directory.
    #[error("cannot replace the views database {path}: {source}")]
    Replace {
        path: String,
        source: std::io::Error,
    },
    #[error("event log failure: {0}")]
    Log(#[from] eventlog::Error),
    /// A stored view record could not be decoded (format version or layout).
    #[error("corrupt view record at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// The log handed back an envelope at another position than asked for.
    #[error("event log gap: expected position {expected}, read {found}")]
    Gap { expected: u64, found: u64 },
    /// A pagination cursor this crate did not issue (a client error).
    #[error("invalid cursor {0:?}")]
    BadCursor(String),
    /// The projection did not reach a position in time.
    #[error("projection {projection} did not reach log position {position} within {waited_ms} ms (checkpoint {checkpoint})")]
    Timeout {
        projection: &'static str,
        position: u64,
        checkpoint: u64,
        waited_ms: u64,
    },
    /// The projector's worker stopped (after a failure, or shut down).
    #[error("projection {projection} stopped: {reason}")]
    Stopped {
        projection: &'static str,
        reason: String,
    },
    #[error("could not start the projector thread: {0}")]
    Spawn(#[from] std::io::Error),
}
