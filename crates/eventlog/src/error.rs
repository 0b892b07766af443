use crate::Position;

/// Errors of the event log. Conflicts (retry) are kept apart from failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log moved on since the caller read it.
    #[error("conflict: expected the log head at {expected}, found {actual}")]
    Conflict {
        expected: Position,
        actual: Position,
    },
    #[error("storage failure: {0}")]
    Storage(#[from] sled::Error),
    #[error("disk sync failure: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record could not be decoded (format version or checksum).
    #[error("corrupt record at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A previous durability failure: the log refuses writes until restarted,
    /// because what reached the disk is unknown (fail-stop).
    #[error("the log stopped accepting writes after an earlier failure: {0}")]
    Poisoned(String),
    /// The request exceeds a size bound.
    #[error("request too large: {0}")]
    TooLarge(String),
    /// The writer queue is full: retry later.
    #[error("the log is overloaded: its write queue is full")]
    Overloaded,
    /// The writer has shut down.
    #[error("the log is closed")]
    Closed,
}
