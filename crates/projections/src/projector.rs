//! The worker that folds the event log into [`Views`]: Options → Service → Handle.
//!
//! [`Projector`] (the service) applies batches on the caller's thread:
//! [`Projector::catch_up_blocking`] for CLI commands, [`Projector::rebuild_blocking`]
//! for `callfold rebuild`. [`Projector::spawn`] starts a dedicated thread (sled is
//! synchronous) that follows the log's durable head and returns a [`Handle`] for
//! async callers ([`Handle::wait_for`]). Whoever applies holds one lock, so the
//! worker and a blocking catch-up never interleave batches.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use eventlog::{EventLog, Position};
use tokio::sync::{broadcast, watch};

use crate::overlay::Overlay;
use crate::views::Views;
use crate::write::{Commit, REBUILD_RUN_ENTRIES};
use crate::Error;

/// The projection's name (tracing field `projection`, metrics label).
pub const NAME: &str = "helpdesk";

/// Upper bound on [`Options::batch_events_max`].
pub const BATCH_EVENTS_MAX: usize = 1024;

/// Upper bound on [`Options::rebuild_events_max`]: what one rebuild span may
/// hold in memory (every record its events touch, decoded).
pub const REBUILD_EVENTS_MAX: usize = 1 << 20;

/// How the projector runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Envelopes read, applied and committed together (1..=[`BATCH_EVENTS_MAX`]).
    pub batch_events_max: usize,
    /// Envelopes a rebuild applies in one overlay before writing
    /// (1..=[`REBUILD_EVENTS_MAX`]); each desk is re-derived once per span.
    pub rebuild_events_max: usize,
    /// Entries a rebuild writes per sorted run (1..=[`REBUILD_RUN_ENTRIES`]):
    /// what one run holds in memory; the default is the bound. Smaller runs
    /// are for tests (they make a small log go through the writer threads).
    pub rebuild_run_entries: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            batch_events_max: BATCH_EVENTS_MAX,
            rebuild_events_max: REBUILD_EVENTS_MAX,
            rebuild_run_entries: REBUILD_RUN_ENTRIES,
        }
    }
}

/// Where the projection stands, as [`Handle::progress`] publishes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The next log position to apply.
    pub checkpoint: Position,
    /// Set when the worker stopped on an error (it does not retry).
    pub failure: Option<String>,
}

/// Batches of changes kept for slow subscribers; one that falls further behind
/// is told how many it missed (`RecvError::Lagged`).
pub const CHANGES_QUEUE_MAX: usize = 1024;

/// What one committed batch changed, published after the commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchChanges {
    /// The checkpoint after the batch: everything below it is in the views.
    pub checkpoint: Position,
    /// Tickets whose content changed, appeared or moved.
    pub tickets: BTreeSet<domain::TicketId>,
    /// Call notifications in the batch, in log order.
    pub calls: Vec<CallActivity>,
    /// The live dashboard (`Views::dashboard`) changed.
    pub dashboard: bool,
}

/// How far [`Projector::rebuild_blocking_with`] has got. A rebuild applies
/// the log in spans ([`Options::rebuild_events_max`]) and writes each span
/// after applying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebuildProgress {
    /// The events below `position` are applied (those of the current span in
    /// memory, not written yet); `head` is where the rebuild stops.
    Applying { position: Position, head: Position },
    /// The span ending at `position` is being written: `entries` (records and
    /// index entries) are queued for the writer or written so far.
    Writing { position: Position, entries: usize },
}

/// A rebuild's progress reports.
pub type OnRebuildProgress<'p> = &'p mut dyn FnMut(RebuildProgress);

/// A call notification that agent UIs hear about live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallActivity {
    pub position: Position,
    pub session_id: domain::SessionId,
    pub kind: domain::CallGearKind,
    /// The operator of the leg (`/handset`, `/endleg`), where given.
    pub employee_id: Option<u64>,
    /// `notification_time`, else the receive time.
    pub at: domain::Timestamp,
}

struct Shared {
    views: Views,
    log: Arc<dyn EventLog>,
    batch_events_max: usize,
    rebuild_events_max: usize,
    rebuild_run_entries: usize,
    /// Held while a batch is applied and committed.
    apply: Mutex<()>,
    progress: watch::Sender<Progress>,
    changes: broadcast::Sender<Arc<BatchChanges>>,
}

/// The helpdesk projector (the service).
pub struct Projector {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("checkpoint", &self.checkpoint())
            .finish()
    }
}

impl Shared {
    fn lag(&self) -> u64 {
        self.log.head().saturating_sub(self.views.checkpoint())
    }

    fn fail(&self, error: &Error) {
        tracing::error!(projection = NAME, checkpoint = self.views.checkpoint(), %error, "projection stopped");
        self.progress
            .send_modify(|p| p.failure = Some(error.to_string()));
    }

    /// Applies and commits one batch; returns how many envelopes it applied.
    fn step(&self) -> Result<usize, Error> {
        let _apply = self.apply.lock().unwrap_or_else(PoisonError::into_inner);
        let from = self.views.checkpoint();
        self.apply_span(from, self.batch_events_max, Commit::Atomic, None)
    }

    /// Applies up to `events_max` envelopes from `from` into one overlay
    /// (reading the log [`BATCH_EVENTS_MAX`] at a time), re-derives each desk
    /// they touched once, and commits. Returns how many envelopes it applied.
    /// A rebuild's span reports to `progress` after each read and each run.
    fn apply_span(
        &self,
        from: Position,
        events_max: usize,
        commit: Commit,
        mut progress: Option<(OnRebuildProgress<'_>, Position)>,
    ) -> Result<usize, Error> {
        let span = tracing::debug_span!("project", projection = NAME, position = from);
        let _span = span.enter();
        let mut overlay = Overlay::new(&self.views);
        // Each desk the span touches is re-derived once, after its last event.
        let mut pending = domain::state::Pending::default();
        let mut statistics = crate::stats::StatsBatch::new(&self.views);
        let mut tickets = BTreeSet::new();
        let listening = self.changes.receiver_count() > 0;
        let mut calls = Vec::new();
        let mut ahead = match commit {
            Commit::Rebuild { .. } => Some(ReadAhead::start(&self.log, from, events_max)?),
            Commit::Atomic => None,
        };
        let mut next = from;
        while next - from < events_max as u64 {
            let envelopes = match &mut ahead {
                Some(ahead) => ahead.next()?,
                None => {
                    let want = (events_max - (next - from) as usize).min(BATCH_EVENTS_MAX);
                    self.log.read(next, want)?
                }
            };
            if envelopes.is_empty() {
                break;
            }
            for envelope in &envelopes {
                if envelope.position != next {
                    return Err(Error::Gap {
                        expected: next,
                        found: envelope.position,
                    });
                }
                overlay.before_event(&envelope.event)?;
                crate::stats::before_event(&mut statistics, &overlay, &envelope.event)?;
                let changed = domain::state::apply_deferred(
                    &mut overlay,
                    &envelope.event,
                    envelope.received_at,
                    &mut pending,
                )?;
                overlay.after_event(&envelope.event, &changed)?;
                crate::stats::observe(&mut statistics, &envelope.event, &changed)?;
                tickets.extend(changed.tickets);
                if let (true, domain::Event::CallGear(n)) = (listening, &envelope.event) {
                    calls.push(CallActivity {
                        position: envelope.position,
                        session_id: n.call_session_id(),
                        kind: n.kind,
                        employee_id: n.employee_info.employee_id,
                        at: n.notification_time.unwrap_or(envelope.received_at),
                    });
                }
                next += 1;
            }
            if let Some((report, head)) = &mut progress {
                report(RebuildProgress::Applying {
                    position: next,
                    head: *head,
                });
            }
        }
        if next == from {
            return Ok(0);
        }
        tickets.extend(domain::state::settle(&mut overlay, &mut pending)?.tickets);
        crate::stats::settle(&mut statistics, &overlay)?;
        tracing::debug!(
            projection = NAME,
            events = next - from,
            records = overlay.dirty_records(),
            "applied; committing"
        );
        let published = listening.then(|| tickets.clone());
        let dashboard = statistics.dashboard_changed;
        let mut on_run = progress.map(|(report, _)| {
            move |entries| {
                report(RebuildProgress::Writing {
                    position: next,
                    entries,
                })
            }
        });
        let on_run = on_run.as_mut().map(|f| f as &mut dyn FnMut(usize));
        let stats = overlay.commit(next, tickets, commit, statistics, on_run)?;
        tracing::debug!(
            events = next - from,
            records = stats.records_written,
            tickets = stats.tickets_reindexed,
            entries = stats.entries_written,
            calls = stats.calls_reindexed,
            checkpoint = next,
            "committed"
        );
        if commit.writes_checkpoint() {
            self.progress.send_modify(|p| p.checkpoint = next);
        }
        if let Some(tickets) = published {
            // Nobody listening is not an error.
            let _ = self.changes.send(Arc::new(BatchChanges {
                checkpoint: next,
                tickets,
                calls,
                dashboard,
            }));
        }
        Ok((next - from) as usize)
    }

    /// Clears the views and applies the log up to its head in spans of
    /// `rebuild_events_max`. Only the last span writes the checkpoint: until
    /// then the tree holds records without one, which [`Views::open`] clears
    /// if the rebuild is interrupted.
    fn rebuild(&self, progress: OnRebuildProgress<'_>) -> Result<Position, Error> {
        let _apply = self.apply.lock().unwrap_or_else(PoisonError::into_inner);
        tracing::info!(projection = NAME, "rebuilding from position 0");
        self.views.clear()?;
        self.progress.send_modify(|p| p.checkpoint = 0);
        let head = self.log.head();
        let mut next = 0;
        while next < head {
            let span = usize::try_from(head - next)
                .unwrap_or(usize::MAX)
                .min(self.rebuild_events_max);
            let commit = Commit::Rebuild {
                checkpoint: next + span as u64 >= head,
                run_entries: self.rebuild_run_entries,
            };
            let applied = self.apply_span(next, span, commit, Some((&mut *progress, head)))?;
            if applied == 0 {
                break;
            }
            next += applied as u64;
            tracing::info!(projection = NAME, position = next, head, "rebuilt up to");
        }
        if next < head {
            // The log ended before its head (it cannot shrink): commit what we have.
            self.views.commit(sled::Batch::default(), next, false)?;
            self.progress.send_modify(|p| p.checkpoint = next);
        }
        Ok(next)
    }

    fn catch_up(&self) -> Result<Position, Error> {
        let head = self.log.head();
        while self.views.checkpoint() < head {
            if self.step()? == 0 {
                break;
            }
        }
        Ok(self.views.checkpoint())
    }
}

impl Projector {
    /// A projector of `log` into `views`. Applies nothing until asked.
    pub fn new(options: Options, views: Views, log: Arc<dyn EventLog>) -> Projector {
        let batch_events_max = options.batch_events_max.clamp(1, BATCH_EVENTS_MAX);
        let rebuild_events_max = options.rebuild_events_max.clamp(1, REBUILD_EVENTS_MAX);
        let rebuild_run_entries = options.rebuild_run_entries.clamp(1, REBUILD_RUN_ENTRIES);
        let (progress, _) = watch::channel(Progress {
            checkpoint: views.checkpoint(),
            failure: None,
        });
        Projector {
            shared: Arc::new(Shared {
                views,
                log,
                batch_events_max,
                rebuild_events_max,
                rebuild_run_entries,
                apply: Mutex::new(()),
                progress,
                changes: broadcast::channel(CHANGES_QUEUE_MAX).0,
            }),
        }
    }

    pub fn views(&self) -> &Views {
        &self.shared.views
    }

    /// The next log position to apply.
    pub fn checkpoint(&self) -> Position {
        self.shared.views.checkpoint()
    }

    /// Events in the log not yet in the views: log head − checkpoint.
    pub fn lag(&self) -> u64 {
        self.shared.lag()
    }

    /// Applies every event up to the log head as it is now; returns the checkpoint.
    pub fn catch_up_blocking(&self) -> Result<Position, Error> {
        self.shared.catch_up()
    }

    /// Clears the views and re-applies the log from position 0 in spans of
    /// [`Options::rebuild_events_max`] (then whatever was appended meanwhile);
    /// returns the checkpoint.
    pub fn rebuild_blocking(&self) -> Result<Position, Error> {
        self.rebuild_blocking_with(&mut |_| {})
    }

    /// [`Projector::rebuild_blocking`], reporting how far it has got to
    /// `progress` (after every read of the log and every run written; not
    /// during the catch-up with what was appended meanwhile).
    pub fn rebuild_blocking_with(
        &self,
        progress: OnRebuildProgress<'_>,
    ) -> Result<Position, Error> {
        self.shared.rebuild(progress)?;
        self.shared.catch_up()
    }

    /// Starts the worker thread: it applies batches until it reaches the log
    /// head, then waits for the head to move. It stops on the first error
    /// (recorded in [`Progress::failure`]) and when the last [`Handle`] is
    /// dropped or [`Handle::shutdown`] is called.
    pub fn spawn(self) -> Result<Handle, Error> {
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name(format!("projection-{NAME}"))
            .spawn(move || run(&shared, stop_rx))?;
        Ok(Handle {
            shared: self.shared,
            worker: Arc::new(Worker {
                stop,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }
}

fn run(shared: &Shared, mut stop: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => return shared.fail(&Error::Spawn(error)),
    };
    let mut head = shared.log.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        match shared.step() {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => return shared.fail(&error),
        }
        let checkpoint = shared.views.checkpoint();
        let stopped = runtime.block_on(async {
            tokio::select! {
                moved = head.wait_for(|head| *head > checkpoint) => moved.is_err(),
                _ = stop.wait_for(|stop| *stop) => true,
            }
        });
        if stopped {
            return;
        }
    }
}

/// Batches of the log queued by [`ReadAhead`] ahead of the apply.
pub(crate) const READ_AHEAD_BATCHES: usize = 4;

type Batch = Result<Vec<eventlog::Envelope>, eventlog::Error>;

/// Reads (and decodes) a rebuild span's envelopes on a thread of its own
/// ("log-reader"), [`BATCH_EVENTS_MAX`] at a time, at most
/// [`READ_AHEAD_BATCHES`] batches ahead: the read overlaps the fold, which
/// otherwise leaves the second core idle until the span is written.
struct ReadAhead {
    batches: Option<std::sync::mpsc::Receiver<Batch>>,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    fn start(
        log: &Arc<dyn EventLog>,
        from: Position,
        events_max: usize,
    ) -> Result<ReadAhead, Error> {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Batch>(READ_AHEAD_BATCHES);
        let log = Arc::clone(log);
        let end = from.saturating_add(events_max as u64);
        let thread = std::thread::Builder::new()
            .name("log-reader".into())
            .spawn(move || {
                let mut next = from;
                while next < end {
                    let want = usize::try_from(end - next)
                        .unwrap_or(usize::MAX)
                        .min(BATCH_EVENTS_MAX);
                    let batch = log.read(next, want);
                    let last = match &batch {
                        Ok(envelopes) => envelopes.last().map(|e| e.position),
                        Err(_) => None,
                    };
                    // A closed receiver: the apply stopped; so do we.
                    if sender.send(batch).is_err() {
                        return;
                    }
                    match last {
                        Some(position) => next = position + 1,
                        // The end of the log, or an error (sent).
                        None => return,
                    }
                }
            })?;
        Ok(ReadAhead {
            batches: Some(batches),
            thread: Some(thread),
        })
    }

    /// The next batch in log order; empty at the end of the span or the log.
    fn next(&mut self) -> Result<Vec<eventlog::Envelope>, Error> {
        match self.batches.as_ref().map(std::sync::mpsc::Receiver::recv) {
            Some(Ok(batch)) => Ok(batch?),
            // The thread is gone without saying why: it panicked (else it
            // sends an error or an empty batch, or the span is complete).
            Some(Err(_)) | None => {
                if let Some(Err(panic)) = self.thread.take().map(JoinHandle::join) {
                    std::panic::resume_unwind(panic);
                }
                Ok(Vec::new())
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing the queue first makes a reader blocked on a full queue stop.
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    stop: watch::Sender<bool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    fn stop(&self) {
        self.stop.send_replace(true);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running projector. Clones share the worker; it stops when the last clone
/// is dropped (after its current batch).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    worker: Arc<Worker>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("progress", &*self.shared.progress.borrow())
            .finish()
    }
}

impl Handle {
    pub fn views(&self) -> &Views {
        &self.shared.views
    }

    /// The next log position to apply.
    pub fn checkpoint(&self) -> Position {
        self.shared.views.checkpoint()
    }

    /// Events in the log not yet in the views: log head − checkpoint.
    pub fn lag(&self) -> u64 {
        self.shared.lag()
    }

    /// What each batch committed from now on changed (for live subscriptions).
    pub fn changes(&self) -> broadcast::Receiver<Arc<BatchChanges>> {
        self.shared.changes.subscribe()
    }

    /// Watches the checkpoint and failures.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.shared.progress.subscribe()
    }

    /// Waits until the event at `position` is in the views (checkpoint >
    /// `position`), at most `timeout`; returns the checkpoint then. Use the
    /// position an append returned, for read-your-writes.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<Position, Error> {
        let mut progress = self.progress();
        let reached = async move {
            progress
                .wait_for(|p| p.checkpoint > position || p.failure.is_some())
                .await
                .map(|p| p.clone())
        };
        let stopped = |reason: String| Error::Stopped {
            projection: NAME,
            reason,
        };
        match tokio::time::timeout(timeout, reached).await {
            Err(_) => Err(Error::Timeout {
                projection: NAME,
                position,
                checkpoint: self.checkpoint(),
                waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Ok(Err(_)) => Err(stopped("progress channel closed".into())),
            Ok(Ok(p)) if p.checkpoint > position => Ok(p.checkpoint),
            Ok(Ok(p)) => Err(stopped(p.failure.clone().unwrap_or_default())),
        }
    }

    /// Applies up to the current log head on the calling thread (taking turns
    /// with the worker).
    pub fn catch_up_blocking(&self) -> Result<Position, Error> {
        self.shared.catch_up()
    }

    /// Stops the worker after its current batch and waits for it.
    pub fn shutdown(self) {
        self.worker.stop();
    }
}
