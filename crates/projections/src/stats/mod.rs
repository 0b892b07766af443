//! The statistics read model (SPEC §5, `docs/statistics.md`), kept in the
//! helpdesk tree under `s` and committed in the same atomic batch as the
//! records it derives from:
//!
//! * ticket figures from the ticket views the batch re-indexes (old view out,
//!   new view in);
//! * call KPIs from one [`domain::stats::CallRecord`] per call, re-derived
//!   whenever an event changes the call;
//! * the live dashboard from contact-centre events ([`live`]).
//!
//! Sums are kept per aligned time block (quarter hour … 4 weeks) and dimension
//! (all, agent, queue); a query adds up the few blocks its period is made of.

pub(crate) mod batch;
pub(crate) mod encode;
pub(crate) mod keys;
mod live;
mod query;

pub(crate) use batch::StatsBatch;
pub use query::CALL_RECORDS_FIRST_MAX;

use domain::{Changed, Event, Store};

use crate::overlay::Overlay;
use crate::Error;

/// Follows one applied event: notes the calls it changed, whose records
/// [`settle`] derives once per batch.
pub(crate) fn observe(
    stats: &mut StatsBatch<'_>,
    event: &Event,
    changed: &Changed,
) -> Result<(), Error> {
    stats
        .dirty_sessions
        .extend(changed.sessions.iter().copied());
    if let Event::Contact(contact) = event {
        live::observe(stats, contact)?;
        // The archive keeps the call's events (`Overlay::after_event` has
        // just added this one); its fold gives the call's record.
        if let Some(call_id) = contact.call_id() {
            stats.dirty_contacts.insert(call_id.to_owned());
        }
    }
    Ok(())
}

/// Before an event is applied: an `upsert_agent` may move operators, and a
/// CallGear call's agents are read through that mapping, so the calls noted
/// so far are derived first, with the mapping their events saw (as the desks
/// are, `docs/domain.md`): any batching gives the same records.
pub(crate) fn before_event(
    stats: &mut StatsBatch<'_>,
    overlay: &Overlay<'_>,
    event: &Event,
) -> Result<(), Error> {
    if let Event::Native(native) = event {
        if matches!(**native, domain::NativeEvent::UpsertAgent(_)) {
            settle(stats, overlay)?;
        }
    }
    Ok(())
}

/// Derives the record of every call noted since the last settle, once each
/// (a call with many events in a batch, or a rebuild span, is folded once).
pub(crate) fn settle(stats: &mut StatsBatch<'_>, overlay: &Overlay<'_>) -> Result<(), Error> {
    if stats.dirty_sessions.is_empty() && stats.dirty_contacts.is_empty() {
        return Ok(());
    }
    let timeline = overlay.timeline()?;
    for id in std::mem::take(&mut stats.dirty_sessions) {
        let record = overlay.with_session(id, |record| {
            record.and_then(|record| domain::stats::calls::from_callgear(&record.call(&timeline)))
        })?;
        if let Some(record) = record {
            stats.set_call(record)?;
        }
    }
    for call_id in std::mem::take(&mut stats.dirty_contacts) {
        if let Some(record) = overlay.contact(&call_id)? {
            let archive = record.fold();
            stats.set_call(domain::stats::calls::from_contact(&call_id, &archive))?;
        }
    }
    Ok(())
}

/// Writes statistics straight into the views, without the log: for the
/// statistics benchmark (a store of millions of calls generated in minutes)
/// and nothing else. The same code paths as the projector's batches, but the
/// checkpoint is left where it is, so a view filled this way does not match
/// its log.
///
/// Items are committed every `batch_items` (records in sorted runs, as a
/// rebuild writes them). The buckets of blocks that do not end before the
/// watermark ([`BulkLoader::advance`]) are carried to the next commit
/// instead of being read, merged and rewritten by every one of them: a
/// block's big per-agent value is written about once. The watermark is only
/// a hint: sums add up, so a late contribution to a written block is merged
/// into it, and the stored bytes are the same for any watermark and batch
/// size (`tests/bulk_loader.rs`).
pub struct BulkLoader<'v> {
    views: &'v crate::Views,
    batch: Option<StatsBatch<'v>>,
    pending: usize,
    batch_items: usize,
    /// Quarter hour before which later items are not expected to add.
    watermark: i64,
}

impl std::fmt::Debug for BulkLoader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkLoader")
            .field("pending", &self.pending)
            .field("batch_items", &self.batch_items)
            .field("watermark", &self.watermark)
            .finish()
    }
}

impl<'v> BulkLoader<'v> {
    /// Items (tickets, calls) written per commit by default.
    pub const BATCH_ITEMS: usize = 65_536;

    pub fn new(views: &'v crate::Views) -> BulkLoader<'v> {
        BulkLoader::with_batch_items(views, Self::BATCH_ITEMS)
    }

    /// A loader committing every `items` items (at least 1).
    pub fn with_batch_items(views: &'v crate::Views, items: usize) -> BulkLoader<'v> {
        BulkLoader {
            views,
            batch: None,
            pending: 0,
            batch_items: items.max(1),
            watermark: i64::MIN,
        }
    }

    /// Says that the items still to come add (almost) nothing before `now`:
    /// the blocks that end by then are written at the next commit, the
    /// others carried. Only a hint (see the type's description).
    pub fn advance(&mut self, now: domain::Timestamp) {
        self.watermark = self.watermark.max(domain::stats::period::quarter_of(now));
    }

    fn batch(&mut self) -> Result<&mut StatsBatch<'v>, Error> {
        if self.pending >= self.batch_items {
            self.commit(false)?;
        }
        self.pending += 1;
        Ok(self
            .batch
            .get_or_insert_with(|| StatsBatch::new(self.views)))
    }

    /// A ticket, as if it had just appeared.
    pub fn ticket(&mut self, ticket: &domain::Ticket) -> Result<(), Error> {
        self.batch()?.ticket_changed(None, Some(ticket));
        Ok(())
    }

    /// A call's record (its callback is derived, as in the projector).
    pub fn call(&mut self, record: domain::stats::CallRecord) -> Result<(), Error> {
        self.batch()?.set_call(record)
    }

    /// Commits the records and the buckets of the blocks that end by the
    /// watermark (`all`: every bucket).
    fn commit(&mut self, all: bool) -> Result<(), Error> {
        self.pending = 0;
        let Some(mut statistics) = self.batch.take() else {
            return Ok(());
        };
        // Callbacks first: they may change calls of any earlier block.
        statistics.settle_callbacks()?;
        let watermark = self.watermark;
        let open = if all {
            batch::Deltas::new()
        } else {
            statistics.take_buckets(|block| block.end() > watermark)
        };
        let mut writer = crate::write::Writer::new(
            self.views,
            crate::write::Commit::Rebuild {
                checkpoint: false,
                run_entries: crate::write::REBUILD_RUN_ENTRIES,
            },
        );
        statistics.stage(&mut writer)?;
        writer.finish(Some(self.views.checkpoint()), false)?;
        if !open.is_empty() {
            let mut next = StatsBatch::new(self.views);
            next.add_buckets(open);
            self.batch = Some(next);
        }
        Ok(())
    }

    /// Commits everything pending, every bucket included.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.commit(true)
    }
}
