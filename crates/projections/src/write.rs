//! Where a commit's entries go: one atomic sled batch, or — while rebuilding,
//! when no checkpoint is stored — sorted runs of single inserts.
//!
//! sled applies a `Batch` in hash order, and each insert copies the leaf it
//! lands in; inserting in key order keeps consecutive inserts in the same
//! leaves and measured about twice as fast (`docs/benchmarks.md`). A rebuild
//! does not need atomicity: [`crate::Views::open`] clears a tree without a
//! checkpoint, and the checkpoint goes in last.

use std::collections::{BTreeMap, BTreeSet};

use crate::views::Views;
use crate::Error;

/// Entries buffered in a rebuild before they are written, sorted (bounds the
/// encoded values held in memory).
pub(crate) const REBUILD_WRITE_ENTRIES: usize = 262_144;

/// How a span's overlay is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// One atomic sled batch: records, index entries and the checkpoint.
    Atomic,
    /// During a rebuild, while no checkpoint is stored: sorted runs of at
    /// most [`REBUILD_WRITE_ENTRIES`] inserts; with `checkpoint`, the
    /// checkpoint is written after the last run.
    Rebuild { checkpoint: bool },
}

enum Sink {
    Batch(sled::Batch),
    Sorted(BTreeMap<Vec<u8>, Option<Vec<u8>>>),
}

/// The entries of one commit.
pub(crate) struct Writer<'v> {
    views: &'v Views,
    sink: Sink,
    /// Entries written (or staged), for tracing.
    pub entries: usize,
}

impl<'v> Writer<'v> {
    pub(crate) fn new(views: &'v Views, commit: Commit) -> Writer<'v> {
        Writer {
            views,
            sink: match commit {
                Commit::Atomic => Sink::Batch(sled::Batch::default()),
                Commit::Rebuild { .. } => Sink::Sorted(BTreeMap::new()),
            },
            entries: 0,
        }
    }

    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: Vec<u8>) -> Result<(), Error> {
        self.put(key.into(), Some(value))
    }

    pub(crate) fn remove(&mut self, key: impl Into<Vec<u8>>) -> Result<(), Error> {
        self.put(key.into(), None)
    }

    /// Moves a record's index entries (empty values) from `old` to `new`:
    /// the keys only in `old` go, the keys only in `new` come.
    pub(crate) fn move_index_entries(
        &mut self,
        old: &BTreeSet<Vec<u8>>,
        new: &BTreeSet<Vec<u8>>,
    ) -> Result<(), Error> {
        for key in old.difference(new) {
            self.remove(key.as_slice())?;
        }
        for key in new.difference(old) {
            self.insert(key.as_slice(), Vec::new())?;
        }
        Ok(())
    }

    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), Error> {
        self.entries += 1;
        match &mut self.sink {
            Sink::Batch(batch) => match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            },
            Sink::Sorted(sorted) => {
                sorted.insert(key, value);
                if sorted.len() >= REBUILD_WRITE_ENTRIES {
                    self.views.write_sorted(std::mem::take(sorted))?;
                }
            }
        }
        Ok(())
    }

    /// Writes what is left; with `checkpoint`, the checkpoint with it (and the
    /// views flushed). `directory_written`: a new directory is among the entries.
    pub(crate) fn finish(
        self,
        checkpoint: Option<u64>,
        directory_written: bool,
    ) -> Result<(), Error> {
        match (self.sink, checkpoint) {
            (Sink::Batch(batch), Some(checkpoint)) => {
                self.views.commit(batch, checkpoint, directory_written)
            }
            (Sink::Sorted(sorted), Some(checkpoint)) => {
                self.views.write_sorted(sorted)?;
                self.views
                    .commit(sled::Batch::default(), checkpoint, directory_written)
            }
            (Sink::Batch(batch), None) => {
                self.views.write(batch)?;
                self.views.forget_directory_if(directory_written);
                self.views.flush()
            }
            (Sink::Sorted(sorted), None) => {
                self.views.write_sorted(sorted)?;
                self.views.forget_directory_if(directory_written);
                self.views.flush()
            }
        }
    }
}
