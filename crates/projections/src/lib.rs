//! Read models folded from the event log, kept in sled.
//!
//! The helpdesk projection (named [`NAME`]) keeps the domain's records
//! (directory, phones, sessions, customer desks) plus ticket indexes in one sled
//! tree of its own database ([`Views`], e.g. `DATA_DIR/views`). A [`Projector`]
//! pulls envelopes from an [`eventlog::EventLog`] in bounded batches, folds each
//! with [`domain::state::apply`] into a write overlay, and commits the overlay,
//! the re-indexed tickets and the checkpoint (the next log position to apply)
//! in one atomic sled batch. Restarting resumes from the checkpoint;
//! [`Projector::rebuild_blocking`] clears the views and replays from position 0.
//!
//! The same tree holds the call archive (SPEC §4): contact-centre call records
//! and one summary per call of either feed, indexed for [`Views::calls`]; the
//! timeline of a call is folded on read ([`Views::archived_call`]).
//!
//! Reads ([`Views::ticket`], [`Views::tickets`], ...) see committed state only.
//! `docs/projections.md` describes records, keys, indexes and checkpointing.
//!
//! Errors: everything here is an infrastructure failure ([`Error`]) except
//! [`Error::BadCursor`] (a client sent a cursor we did not issue). Domain
//! rejections come back inside [`domain::command::Verdict`] from [`Views::validate`].

mod archive;
mod codec;
mod error;
mod index;
mod keys;
mod overlay;
mod projector;
pub mod stats;
mod views;
mod write;

pub use archive::{CallFilter, CallPage, CALLS_FIRST_MAX};
pub use error::Error;
pub use index::{TicketFilter, TicketPage, TICKETS_FIRST_MAX};
pub use keys::Page;
pub use projector::{
    BatchChanges, CallActivity, Handle, OnRebuildProgress, Options, Progress, Projector,
    RebuildProgress, BATCH_EVENTS_MAX, CHANGES_QUEUE_MAX, NAME, REBUILD_EVENTS_MAX,
};
pub use views::{StoredSize, Views, CACHE_CAPACITY_BYTES as VIEWS_CACHE_BYTES};
pub use write::REBUILD_RUN_ENTRIES;
