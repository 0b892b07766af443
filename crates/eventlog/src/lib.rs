//! The append-only event log: the source of truth of callfold.
//!
//! The port is [`EventLog`]: append a batch (optionally at an expected head), read
//! from a position, subscribe to the durable head. [`SledLog`] is the embedded
//! backend. Quarantined deliveries (bodies that could not be read) live beside the
//! log in the same store, written by the same writer with the same durability.
//!
//! Durability (see ARCHITECTURE.md): one writer thread takes a bounded batch of
//! pending requests, writes them in one atomic sled batch, flushes sled, then
//! `fdatasync`s the data file (and fsyncs new blob files), and only then answers
//! every request of the batch and publishes the new durable head.

mod envelope;
mod error;
mod sled_log;

pub use envelope::{Envelope, QuarantineRecord, FORMAT_VERSION};
pub use error::Error;
pub use sled_log::{Options, SledLog};

use domain::{Event, Source, Timestamp};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::{oneshot, watch};

/// Log positions start at 0 and have no gaps.
pub type Position = u64;

/// A content hash that identifies a delivery; the same key is never appended twice.
pub type DedupeKey = [u8; 32];

/// An event to append, with everything its envelope keeps.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub received_at: Timestamp,
    pub source: Source,
    /// The delivery kind: the CallGear suffix (`handset`, ...) or a native event type.
    pub kind: String,
    pub dedupe_key: DedupeKey,
    /// IANA zone in which local times in `raw` were read; empty if none.
    pub time_zone: String,
    /// The exact bytes received, kept so a parser fix can re-derive the event.
    pub raw: Vec<u8>,
    pub event: Event,
}

/// A delivery that could not be read, kept with the reason.
#[derive(Clone, Debug)]
pub struct NewQuarantine {
    pub received_at: Timestamp,
    pub source: Source,
    pub kind: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// What happened to one appended event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Appended at this position.
    Accepted(Position),
    /// The same dedupe key was appended before, at this position; nothing appended.
    Duplicate(Position),
}

impl AppendOutcome {
    pub fn position(self) -> Position {
        match self {
            AppendOutcome::Accepted(p) | AppendOutcome::Duplicate(p) => p,
        }
    }
}

/// What happened to one quarantined delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuarantineOutcome {
    /// Kept under this quarantine id.
    Stored(u64),
    /// The same bytes (same source and kind) are already in quarantine under this id.
    AlreadyThere(u64),
}

impl QuarantineOutcome {
    pub fn id(self) -> u64 {
        match self {
            QuarantineOutcome::Stored(id) | QuarantineOutcome::AlreadyThere(id) => id,
        }
    }
}

/// A future answer from the log's writer, resolved once the request is durable.
///
/// Usable from async code (`.await`) and from plain threads (`wait`).
#[must_use = "a receipt resolves only when awaited; dropping it does not cancel the write"]
pub struct Receipt<T> {
    rx: oneshot::Receiver<Result<T, Error>>,
}

impl<T> Receipt<T> {
    pub(crate) fn new(rx: oneshot::Receiver<Result<T, Error>>) -> Self {
        Receipt { rx }
    }

    pub(crate) fn failed(error: Error) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(error));
        Receipt { rx }
    }

    /// Blocks the current thread until the answer arrives. Not for async contexts.
    pub fn wait(self) -> Result<T, Error> {
        self.rx.blocking_recv().unwrap_or(Err(Error::Closed))
    }
}

impl<T> Future for Receipt<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|answer| answer.unwrap_or(Err(Error::Closed)))
    }
}

/// The event log port. Another engine (e.g. NATS JetStream) can stand behind it.
pub trait EventLog: Send + Sync {
    /// Appends `events` in order, atomically and durably, skipping duplicates.
    /// With `expected_head`, fails with [`Error::Conflict`] unless the log's next
    /// position is exactly that when the batch is written.
    fn append(
        &self,
        events: Vec<NewEvent>,
        expected_head: Option<Position>,
    ) -> Receipt<Vec<AppendOutcome>>;

    /// Keeps an unreadable delivery, durably.
    fn quarantine(&self, item: NewQuarantine) -> Receipt<QuarantineOutcome>;

    /// Removes a quarantined delivery (after it was re-processed).
    fn remove_quarantined(&self, id: u64) -> Receipt<bool>;

    /// Up to `max` durable envelopes starting at `from`, in position order.
    fn read(&self, from: Position, max: usize) -> Result<Vec<Envelope>, Error>;

    /// The position the next append will get: every position below it is durable.
    fn head(&self) -> Position;

    /// Watches the durable head; changes after every committed batch.
    fn subscribe(&self) -> watch::Receiver<Position>;

    /// Every quarantined delivery, oldest first.
    fn quarantined(&self) -> Result<Vec<QuarantineRecord>, Error>;
}
