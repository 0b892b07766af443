//! Where a commit's entries go: one atomic sled batch, or — while rebuilding,
//! when no checkpoint is stored — sorted runs of single inserts.
//!
//! sled applies a `Batch` in hash order, and each insert copies the leaf it
//! lands in; inserting in key order keeps consecutive inserts in the same
//! leaves and measured about twice as fast (`docs/benchmarks.md`). A rebuild
//! does not need atomicity: [`crate::Views::open`] clears a tree without a
//! checkpoint, and the checkpoint goes in last.
//!
//! A rebuild's runs are inserted by threads of their own ("views-writer-N",
//! [`REBUILD_WRITERS`] of them, each taking the next full run) while the
//! commit goes on encoding and staging the next run: the inserts, most of a
//! rebuild's commit, overlap the rest of it and each other. Every key is
//! staged once per commit (checked in debug builds), so the runs of a commit
//! hold distinct keys and the order in which they go in does not matter; and
//! a commit reads a record (to compare the old ticket or call with the new)
//! before it stages it, so what the commit reads does not depend on how far
//! the threads have got.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;

use crate::views::Views;
use crate::Error;

/// Entries buffered in a rebuild before they are written, sorted (bounds the
/// encoded values held in memory); the default and upper bound of
/// [`crate::Options::rebuild_run_entries`].
pub const REBUILD_RUN_ENTRIES: usize = 262_144;

/// Full runs waiting for a writer thread besides those being inserted: a
/// rebuild holds at most this + [`REBUILD_WRITERS`] + 1 runs of encoded
/// entries (queued, being inserted, filling).
pub(crate) const REBUILD_RUNS_QUEUED: usize = 1;

/// How a span's overlay is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// One atomic sled batch: records, index entries and the checkpoint.
    Atomic,
    /// During a rebuild, while no checkpoint is stored: sorted runs of
    /// `run_entries` (≤ [`REBUILD_RUN_ENTRIES`]) inserts; with `checkpoint`,
    /// the checkpoint is written after the last run.
    Rebuild {
        checkpoint: bool,
        run_entries: usize,
    },
}

impl Commit {
    /// A rebuild span that is not the last writes no checkpoint.
    pub(crate) fn writes_checkpoint(self) -> bool {
        !matches!(
            self,
            Commit::Rebuild {
                checkpoint: false,
                ..
            }
        )
    }
}

type Run = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

enum Sink {
    Batch(sled::Batch),
    Sorted {
        run: Run,
        /// Entries per run.
        run_entries: usize,
        /// Started with the first full run.
        background: Option<Background>,
        /// Every key staged by this commit: the writer threads rely on no
        /// key being staged twice (checked in debug builds, so in the tests).
        #[cfg(debug_assertions)]
        staged: std::collections::HashSet<Vec<u8>>,
    },
}

/// Threads inserting a rebuild's full runs: the runs of one commit hold
/// distinct keys, so they may go in in any order, side by side (two against
/// one: `docs/benchmarks.md`, "Two writer threads, and the old views not opened").
pub(crate) const REBUILD_WRITERS: usize = 2;

/// The threads inserting full runs, each taking the next queued run.
struct Background {
    runs: Option<mpsc::SyncSender<Run>>,
    threads: Vec<thread::JoinHandle<Result<(), Error>>>,
    /// Set by a thread that stopped on an error: the next `send` reports it
    /// instead of queueing more runs for the thread still running.
    failed: Arc<AtomicBool>,
}

impl Background {
    fn start(views: &Views) -> Result<Background, Error> {
        let (runs, queued) = mpsc::sync_channel::<Run>(REBUILD_RUNS_QUEUED);
        let queued = Arc::new(Mutex::new(queued));
        let mut background = Background {
            runs: Some(runs),
            threads: Vec::with_capacity(REBUILD_WRITERS),
            failed: Arc::new(AtomicBool::new(false)),
        };
        for n in 0..REBUILD_WRITERS {
            let views = views.clone();
            let queued = Arc::clone(&queued);
            let failed = Arc::clone(&background.failed);
            let insert_runs = move || loop {
                // The lock is held only while waiting for the next run.
                let next = queued.lock().unwrap_or_else(PoisonError::into_inner).recv();
                match next {
                    Ok(run) => views.write_sorted(run)?,
                    Err(mpsc::RecvError) => return Ok(()),
                }
            };
            let thread = thread::Builder::new()
                .name(format!("views-writer-{n}"))
                .spawn(move || {
                    let result = insert_runs();
                    if result.is_err() {
                        failed.store(true, Ordering::Release);
                    }
                    result
                })?;
            background.threads.push(thread);
        }
        Ok(background)
    }

    /// Queues `run`; waits while the queue is full. A thread's error stops
    /// the commit here, at the next run, not at its end.
    fn send(&mut self, run: Run) -> Result<(), Error> {
        let sent = match &self.runs {
            Some(runs) if !self.failed.load(Ordering::Acquire) => runs.send(run).is_ok(),
            _ => false,
        };
        if sent {
            return Ok(());
        }
        // A thread stopped on an error (or every thread did): the first error.
        self.join()?;
        Err(Error::Stopped {
            projection: crate::NAME,
            reason: "the views-writer threads stopped before every run was written".into(),
        })
    }

    /// Waits until every queued run is inserted; the first thread's error, if
    /// any. Every thread is joined before a thread's panic is raised again.
    fn join(&mut self) -> Result<(), Error> {
        self.runs = None;
        let mut result = Ok(());
        let mut panic = None;
        for thread in self.threads.drain(..) {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    if result.is_ok() {
                        result = Err(error);
                    }
                }
                Err(payload) => {
                    panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        result
    }
}

impl Drop for Background {
    /// A commit given up half way still waits for its threads.
    fn drop(&mut self) {
        self.runs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Told the entries staged so far each time a rebuild queues a full run (and
/// once more when the last run is written).
pub(crate) type OnRun<'p> = &'p mut dyn FnMut(usize);

/// The entries of one commit.
pub(crate) struct Writer<'v> {
    views: &'v Views,
    sink: Sink,
    /// Entries written (or staged), for tracing.
    pub entries: usize,
    on_run: Option<OnRun<'v>>,
}

impl<'v> Writer<'v> {
    pub(crate) fn new(views: &'v Views, commit: Commit) -> Writer<'v> {
        Writer {
            views,
            sink: match commit {
                Commit::Atomic => Sink::Batch(sled::Batch::default()),
                Commit::Rebuild { run_entries, .. } => Sink::Sorted {
                    run: BTreeMap::new(),
                    run_entries: run_entries.clamp(1, REBUILD_RUN_ENTRIES),
                    background: None,
                    #[cfg(debug_assertions)]
                    staged: std::collections::HashSet::new(),
                },
            },
            entries: 0,
            on_run: None,
        }
    }

    /// Reports progress to `on_run` (rebuild runs only; an atomic batch has none).
    pub(crate) fn on_run(mut self, on_run: Option<OnRun<'v>>) -> Writer<'v> {
        self.on_run = on_run;
        self
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
            Sink::Sorted {
                run,
                run_entries,
                background,
                #[cfg(debug_assertions)]
                staged,
            } => {
                #[cfg(debug_assertions)]
                assert!(
                    staged.insert(key.clone()),
                    "a rebuild commit staged {key:?} twice"
                );
                run.insert(key, value);
                if run.len() >= *run_entries {
                    let full = std::mem::take(run);
                    match background {
                        Some(background) => background.send(full)?,
                        None => background
                            .insert(Background::start(self.views)?)
                            .send(full)?,
                    }
                    // `send` waits while the queue is full, so this follows
                    // the writer threads to within REBUILD_WRITERS + 1 runs.
                    if let Some(on_run) = &mut self.on_run {
                        on_run(self.entries);
                    }
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
        let Writer {
            views,
            sink,
            entries,
            on_run,
        } = self;
        match sink {
            Sink::Batch(batch) => match checkpoint {
                Some(checkpoint) => views.commit(batch, checkpoint, directory_written),
                None => {
                    views.write(batch)?;
                    views.forget_directory_if(directory_written);
                    views.flush()
                }
            },
            Sink::Sorted {
                run, background, ..
            } => {
                // Else the last full run's report already said `entries`.
                let last_run_staged = !run.is_empty();
                match background {
                    Some(mut background) => {
                        background.send(run)?;
                        background.join()?;
                    }
                    None => views.write_sorted(run)?,
                }
                if let (true, Some(on_run)) = (last_run_staged, on_run) {
                    on_run(entries);
                }
                match checkpoint {
                    Some(checkpoint) => {
                        views.commit(sled::Batch::default(), checkpoint, directory_written)
                    }
                    None => {
                        views.forget_directory_if(directory_written);
                        views.flush()
                    }
                }
            }
        }
    }
}
