//! The embedded backend: one sled tree, one writer thread, group commit.
//!
//! Keys in the `log` tree carry a one-byte prefix so that one atomic sled batch
//! covers an envelope, its dedupe entry and quarantine bookkeeping:
//! - `L` + position (u64 big-endian) → [`Envelope`]
//! - `D` + dedupe key (32 bytes) → position (u64 big-endian)
//! - `Q` + quarantine id (u64 big-endian) → [`QuarantineRecord`]
//! - `H` + blake3(source, kind, raw) → quarantine id (u64 big-endian)

use crate::envelope::{Envelope, QuarantineRecord};
use crate::{
    AppendOutcome, DedupeKey, Error, EventLog, NewEvent, NewQuarantine, Position,
    QuarantineOutcome, Receipt,
};
use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot, watch};

const PREFIX_LOG: u8 = b'L';
const PREFIX_DEDUPE: u8 = b'D';
const PREFIX_QUARANTINE: u8 = b'Q';
const PREFIX_QUARANTINE_HASH: u8 = b'H';

/// How the sled log is opened. Every queue and batch has a bound.
#[derive(Clone, Debug)]
pub struct Options {
    /// The sled directory.
    pub path: PathBuf,
    /// Pending requests the writer queue holds; beyond it appends fail with
    /// [`Error::Overloaded`] at once (the HTTP edge answers 503).
    pub queue_requests_max: usize,
    /// Events one group commit takes at most.
    pub batch_events_max: usize,
    /// Raw bytes one group commit takes at most (a single larger request still
    /// commits, alone).
    pub batch_bytes_max: usize,
    /// Events one append request may carry.
    pub request_events_max: usize,
    /// Quarantined deliveries kept at most; beyond it quarantining fails.
    pub quarantine_records_max: u64,
    /// sled's page cache.
    pub cache_capacity_bytes: u64,
}

impl Options {
    pub fn new(path: impl Into<PathBuf>) -> Options {
        Options {
            path: path.into(),
            queue_requests_max: 8192,
            batch_events_max: 4096,
            batch_bytes_max: 16 << 20,
            request_events_max: 65_536,
            quarantine_records_max: 100_000,
            cache_capacity_bytes: 256 << 20,
        }
    }
}

enum Request {
    Append {
        events: Vec<NewEvent>,
        expected_head: Option<Position>,
        reply: oneshot::Sender<Result<Vec<AppendOutcome>, Error>>,
    },
    Quarantine {
        item: NewQuarantine,
        reply: oneshot::Sender<Result<QuarantineOutcome, Error>>,
    },
    RemoveQuarantined {
        id: u64,
        reply: oneshot::Sender<Result<bool, Error>>,
    },
}

impl Request {
    fn size(&self) -> (usize, usize) {
        match self {
            Request::Append { events, .. } => {
                (events.len(), events.iter().map(|e| e.raw.len()).sum())
            }
            Request::Quarantine { item, .. } => (1, item.raw.len()),
            Request::RemoveQuarantined { .. } => (1, 0),
        }
    }
}

/// The sled-backed [`EventLog`].
pub struct SledLog {
    tree: sled::Tree,
    tx: Option<mpsc::Sender<Request>>,
    head: watch::Receiver<Position>,
    writer: Mutex<Option<JoinHandle<()>>>,
    request_events_max: usize,
}

impl std::fmt::Debug for SledLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledLog")
            .field("head", &*self.head.borrow())
            .finish()
    }
}

fn key(prefix: u8, id: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn key_hash(prefix: u8, hash: &[u8; 32]) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = prefix;
    k[1..].copy_from_slice(hash);
    k
}

fn id_of(value: &[u8]) -> Result<u64, Error> {
    let bytes: [u8; 8] = value.try_into().map_err(|_| Error::Corrupt {
        key: "index entry".into(),
        reason: format!("{} bytes, expected 8", value.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// The id after the last key with `prefix`, or 0.
fn next_id(tree: &sled::Tree, prefix: u8) -> Result<u64, Error> {
    match tree.scan_prefix([prefix]).next_back() {
        Some(entry) => {
            let (k, _) = entry?;
            Ok(id_of(&k[1..])? + 1)
        }
        None => Ok(0),
    }
}

fn quarantine_hash(source: domain::Source, kind: &str, raw: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(source.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(kind.as_bytes());
    hasher.update(&[0]);
    hasher.update(raw);
    *hasher.finalize().as_bytes()
}

impl SledLog {
    /// Opens (or creates) the log and starts its writer thread.
    pub fn open(options: Options) -> Result<SledLog, Error> {
        std::fs::create_dir_all(&options.path)?;
        let db = sled::Config::new()
            .path(&options.path)
            .cache_capacity(options.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .use_compression(false)
            // We flush and sync explicitly after every group commit; no timer.
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree("log")?;
        let head = next_id(&tree, PREFIX_LOG)?;
        let next_quarantine_id = next_id(&tree, PREFIX_QUARANTINE)?;
        let quarantine_len = tree.scan_prefix([PREFIX_QUARANTINE]).count() as u64;
        db.flush()?;
        let syncer = Syncer::new(&options.path)?;
        // Make the directory entries of sled's files durable once.
        File::open(&options.path)?.sync_all()?;

        let (head_tx, head_rx) = watch::channel(head);
        let (tx, rx) = mpsc::channel(options.queue_requests_max);
        let writer = Writer {
            db,
            tree: tree.clone(),
            rx,
            head_tx,
            next_position: head,
            next_quarantine_id,
            quarantine_len,
            syncer,
            poisoned: None,
            options: options.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || writer.run())?;
        Ok(SledLog {
            tree,
            tx: Some(tx),
            head: head_rx,
            writer: Mutex::new(Some(handle)),
            request_events_max: options.request_events_max,
        })
    }

    fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Error>>) -> Request,
    ) -> Receipt<T> {
        let Some(tx) = &self.tx else {
            return Receipt::failed(Error::Closed);
        };
        let (reply, rx) = oneshot::channel();
        match tx.try_send(make(reply)) {
            Ok(()) => Receipt::new(rx),
            Err(mpsc::error::TrySendError::Full(_)) => Receipt::failed(Error::Overloaded),
            Err(mpsc::error::TrySendError::Closed(_)) => Receipt::failed(Error::Closed),
        }
    }

    /// Stops the writer after it has committed everything queued so far.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        drop(self.tx.take());
        let handle = self.writer.lock().map(|mut h| h.take()).unwrap_or(None);
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for SledLog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl EventLog for SledLog {
    fn append(
        &self,
        events: Vec<NewEvent>,
        expected_head: Option<Position>,
    ) -> Receipt<Vec<AppendOutcome>> {
        if events.len() > self.request_events_max {
            return Receipt::failed(Error::TooLarge(format!(
                "{} events in one append (at most {})",
                events.len(),
                self.request_events_max
            )));
        }
        self.send(|reply| Request::Append {
            events,
            expected_head,
            reply,
        })
    }

    fn quarantine(&self, item: NewQuarantine) -> Receipt<QuarantineOutcome> {
        self.send(|reply| Request::Quarantine { item, reply })
    }

    fn remove_quarantined(&self, id: u64) -> Receipt<bool> {
        self.send(|reply| Request::RemoveQuarantined { id, reply })
    }

    fn read(&self, from: Position, max: usize) -> Result<Vec<Envelope>, Error> {
        let head = *self.head.borrow();
        let end = head.min(from.saturating_add(max as u64));
        if from >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((end - from) as usize);
        for entry in self.tree.range(key(PREFIX_LOG, from)..key(PREFIX_LOG, end)) {
            let (k, v) = entry?;
            out.push(Envelope::decode(id_of(&k[1..])?, &v)?);
        }
        Ok(out)
    }

    fn head(&self) -> Position {
        *self.head.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<Position> {
        self.head.clone()
    }

    fn quarantined(&self) -> Result<Vec<QuarantineRecord>, Error> {
        let mut out = Vec::new();
        for entry in self.tree.scan_prefix([PREFIX_QUARANTINE]) {
            let (k, v) = entry?;
            out.push(QuarantineRecord::decode(id_of(&k[1..])?, &v)?);
        }
        Ok(out)
    }
}

/// Makes what sled flushed truly durable: sled 0.34 ends a flush with
/// `sync_file_range`, which neither flushes the drive cache nor covers blob files.
struct Syncer {
    data_file: File,
    blobs_dir: PathBuf,
    synced_blobs: BTreeSet<OsString>,
}

impl Syncer {
    fn new(path: &Path) -> std::io::Result<Syncer> {
        let mut syncer = Syncer {
            data_file: File::open(path.join("db"))?,
            blobs_dir: path.join("blobs"),
            synced_blobs: BTreeSet::new(),
        };
        syncer.sync()?;
        Ok(syncer)
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.data_file.sync_data()?;
        let entries = match std::fs::read_dir(&self.blobs_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = BTreeSet::new();
        let mut synced_new = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if !self.synced_blobs.contains(&name) {
                File::open(entry.path())?.sync_all()?;
                synced_new = true;
            }
            present.insert(name);
        }
        if synced_new {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        // Forget blobs sled has removed, so the set stays as small as the folder.
        self.synced_blobs = present;
        Ok(())
    }
}

struct Writer {
    db: sled::Db,
    tree: sled::Tree,
    rx: mpsc::Receiver<Request>,
    head_tx: watch::Sender<Position>,
    next_position: Position,
    next_quarantine_id: u64,
    quarantine_len: u64,
    syncer: Syncer,
    poisoned: Option<String>,
    options: Options,
}

enum Answer {
    Append(
        oneshot::Sender<Result<Vec<AppendOutcome>, Error>>,
        Result<Vec<AppendOutcome>, Error>,
    ),
    Quarantine(
        oneshot::Sender<Result<QuarantineOutcome, Error>>,
        Result<QuarantineOutcome, Error>,
    ),
    Remove(oneshot::Sender<Result<bool, Error>>, Result<bool, Error>),
}

impl Answer {
    fn send(self) {
        // A caller that went away no longer needs the answer; the write stands.
        match self {
            Answer::Append(tx, r) => drop(tx.send(r)),
            Answer::Quarantine(tx, r) => drop(tx.send(r)),
            Answer::Remove(tx, r) => drop(tx.send(r)),
        }
    }

    /// Replaces a successful answer with `error` (the batch did not commit).
    fn fail(self, error: &str) -> Answer {
        let err = || Error::Poisoned(error.to_string());
        match self {
            Answer::Append(tx, Ok(_)) => Answer::Append(tx, Err(err())),
            Answer::Quarantine(tx, Ok(_)) => Answer::Quarantine(tx, Err(err())),
            Answer::Remove(tx, Ok(_)) => Answer::Remove(tx, Err(err())),
            failed => failed,
        }
    }
}

impl Writer {
    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let (mut events, mut bytes) = first.size();
            let mut requests = vec![first];
            while events < self.options.batch_events_max && bytes < self.options.batch_bytes_max {
                match self.rx.try_recv() {
                    Ok(request) => {
                        let (e, b) = request.size();
                        events += e;
                        bytes += b;
                        requests.push(request);
                    }
                    Err(_) => break,
                }
            }
            self.commit(requests);
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "final flush of the event log failed");
        }
    }

    fn commit(&mut self, requests: Vec<Request>) {
        if let Some(reason) = &self.poisoned {
            for request in requests {
                let err = Error::Poisoned(reason.clone());
                match request {
                    Request::Append { reply, .. } => drop(reply.send(Err(err))),
                    Request::Quarantine { reply, .. } => drop(reply.send(Err(err))),
                    Request::RemoveQuarantined { reply, .. } => drop(reply.send(Err(err))),
                }
            }
            return;
        }
        let started = std::time::Instant::now();
        let mut batch = sled::Batch::default();
        let mut next_position = self.next_position;
        let mut next_quarantine_id = self.next_quarantine_id;
        let mut quarantine_len = self.quarantine_len;
        let mut pending_dedupe: HashMap<DedupeKey, Position> = HashMap::new();
        let mut pending_quarantine: HashMap<[u8; 32], u64> = HashMap::new();
        let mut answers = Vec::with_capacity(requests.len());
        let mut appended = 0u64;
        let mut changed = false;

        for request in requests {
            match request {
                Request::Append {
                    events,
                    expected_head,
                    reply,
                } => {
                    if let Some(expected) = expected_head {
                        if expected != next_position {
                            let err = Error::Conflict {
                                expected,
                                actual: next_position,
                            };
                            answers.push(Answer::Append(reply, Err(err)));
                            continue;
                        }
                    }
                    let mut outcomes = Vec::with_capacity(events.len());
                    let mut failure = None;
                    for event in events {
                        let known = match pending_dedupe.get(&event.dedupe_key) {
                            Some(&p) => Some(p),
                            None => match self.tree.get(key_hash(PREFIX_DEDUPE, &event.dedupe_key))
                            {
                                Ok(found) => {
                                    found.map(|v| id_of(&v)).transpose().unwrap_or_else(|e| {
                                        failure = Some(e);
                                        None
                                    })
                                }
                                Err(e) => {
                                    failure = Some(e.into());
                                    None
                                }
                            },
                        };
                        if failure.is_some() {
                            break;
                        }
                        if let Some(position) = known {
                            outcomes.push(AppendOutcome::Duplicate(position));
                            continue;
                        }
                        let position = next_position;
                        next_position += 1;
                        appended += 1;
                        pending_dedupe.insert(event.dedupe_key, position);
                        batch.insert(
                            &key_hash(PREFIX_DEDUPE, &event.dedupe_key)[..],
                            &position.to_be_bytes()[..],
                        );
                        let envelope = Envelope {
                            position,
                            received_at: event.received_at,
                            source: event.source,
                            kind: event.kind,
                            dedupe_key: event.dedupe_key,
                            time_zone: event.time_zone,
                            raw: event.raw,
                            event: event.event,
                        };
                        batch.insert(&key(PREFIX_LOG, position)[..], envelope.encode());
                        outcomes.push(AppendOutcome::Accepted(position));
                    }
                    if let Some(e) = failure {
                        // A read failed mid-request: nothing of this batch may commit.
                        self.poison(format!("dedupe lookup failed: {e}"));
                        answers.push(Answer::Append(reply, Err(e)));
                        self.finish_failed(answers);
                        return;
                    }
                    changed = true;
                    answers.push(Answer::Append(reply, Ok(outcomes)));
                }
                Request::Quarantine { item, reply } => {
                    let hash = quarantine_hash(item.source, &item.kind, &item.raw);
                    let known = match pending_quarantine.get(&hash) {
                        Some(&id) => Ok(Some(id)),
                        None => self
                            .tree
                            .get(key_hash(PREFIX_QUARANTINE_HASH, &hash))
                            .map_err(Error::from)
                            .and_then(|found| found.map(|v| id_of(&v)).transpose()),
                    };
                    let answer = match known {
                        Ok(Some(id)) => Ok(QuarantineOutcome::AlreadyThere(id)),
                        Ok(None) if quarantine_len >= self.options.quarantine_records_max => {
                            Err(Error::TooLarge(format!(
                                "the quarantine holds {quarantine_len} deliveries (at most {}); \
                                 re-process or clear it",
                                self.options.quarantine_records_max
                            )))
                        }
                        Ok(None) => {
                            let id = next_quarantine_id;
                            next_quarantine_id += 1;
                            quarantine_len += 1;
                            pending_quarantine.insert(hash, id);
                            let record = QuarantineRecord {
                                id,
                                received_at: item.received_at,
                                source: item.source,
                                kind: item.kind,
                                reason: item.reason,
                                raw: item.raw,
                            };
                            batch.insert(&key(PREFIX_QUARANTINE, id)[..], record.encode());
                            batch.insert(
                                &key_hash(PREFIX_QUARANTINE_HASH, &hash)[..],
                                &id.to_be_bytes()[..],
                            );
                            changed = true;
                            Ok(QuarantineOutcome::Stored(id))
                        }
                        Err(e) => Err(e),
                    };
                    answers.push(Answer::Quarantine(reply, answer));
                }
                Request::RemoveQuarantined { id, reply } => {
                    let found = self
                        .tree
                        .get(key(PREFIX_QUARANTINE, id))
                        .map_err(Error::from)
                        .and_then(|v| v.map(|v| QuarantineRecord::decode(id, &v)).transpose());
                    let answer = match found {
                        Ok(Some(record)) => {
                            let hash = quarantine_hash(record.source, &record.kind, &record.raw);
                            batch.remove(&key(PREFIX_QUARANTINE, id)[..]);
                            batch.remove(&key_hash(PREFIX_QUARANTINE_HASH, &hash)[..]);
                            quarantine_len = quarantine_len.saturating_sub(1);
                            changed = true;
                            Ok(true)
                        }
                        Ok(None) => Ok(false),
                        Err(e) => Err(e),
                    };
                    answers.push(Answer::Remove(reply, answer));
                }
            }
        }

        if changed {
            if let Err(e) = self.write_durably(batch) {
                let reason = format!("{e}");
                self.poison(reason.clone());
                let answers = answers.into_iter().map(|a| a.fail(&reason)).collect();
                self.finish_failed(answers);
                return;
            }
        }
        self.next_position = next_position;
        self.next_quarantine_id = next_quarantine_id;
        self.quarantine_len = quarantine_len;
        if appended > 0 {
            self.head_tx.send_replace(next_position);
        }
        metrics::histogram!("callfold_log_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("callfold_log_appended_events_total").increment(appended);
        metrics::gauge!("callfold_log_head").set(next_position as f64);
        tracing::debug!(
            appended,
            head = next_position,
            requests = answers.len(),
            commit_us = started.elapsed().as_micros() as u64,
            "group commit"
        );
        for answer in answers {
            answer.send();
        }
    }

    fn write_durably(&mut self, batch: sled::Batch) -> Result<(), Error> {
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        self.syncer.sync()?;
        Ok(())
    }

    fn poison(&mut self, reason: String) {
        tracing::error!(%reason, "event log write failed; refusing further writes until restart");
        self.poisoned = Some(reason);
    }

    fn finish_failed(&mut self, answers: Vec<Answer>) {
        let reason = self.poisoned.clone().unwrap_or_default();
        for answer in answers {
            answer.fail(&reason).send();
        }
    }
}
