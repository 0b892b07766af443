//! The helpdesk read model in its own sled database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use domain::command::Verdict;
use domain::directory::MappingTimeline;
use domain::session::Call;
use domain::timeline::{callgear_archive, ArchiveId, CallArchive, ContactCallRecord};
use domain::{Agent, AgentId, Customer, NativeEvent, Phone, SessionId, Ticket, TicketId};

use crate::codec::{self, Kind};
use crate::index::TicketView;
use crate::keys;
use crate::overlay::Overlay;
use crate::Error;

/// The tree inside the views database that holds the helpdesk projection.
const TREE: &str = "helpdesk";
/// sled's page cache for the views, unless told otherwise ([`Views::open_with_cache`]):
/// an upper bound (it holds only pages that were read), sized to keep a year of
/// statistics buckets of a centre of 10M calls a year (2.1 GB) decoded in memory.
/// At 512 MiB, random months of such a store re-read their buckets from disk:
/// p99 ≈ 300 ms instead of ≈ 30–55 ms (`docs/benchmarks.md`).
pub const CACHE_CAPACITY_BYTES: u64 = 3072 << 20;

/// The helpdesk read model: records, ticket indexes and checkpoint, in one sled
/// tree. Cheap to clone; every clone shares the same database. Reads see
/// committed state only, each read call a consistent one (a commit waits for
/// running reads, and a read for a running commit) — except during a rebuild,
/// whose runs go in side by side with reads: a reader then sees a partly
/// built model (`callfold rebuild` runs with no server on the data dir).
#[derive(Clone)]
pub struct Views {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the database lives, and its page cache: `clear` opens a new one there.
    path: PathBuf,
    cache_bytes: u64,
    /// Replaced by a new, empty database by `clear`, under the gate.
    store: RwLock<Store>,
    /// Mirrors the stored checkpoint.
    checkpoint: AtomicU64,
    /// Readers share it; a commit's `apply_batch` takes it alone.
    gate: RwLock<()>,
    /// What is derived from the committed directory, built on first use and
    /// forgotten by a commit that writes the directory (and by `clear`).
    directory: Mutex<Option<Arc<DirectoryCache>>>,
}

/// Keys of one kind in the tree and their bytes ([`Views::stored_sizes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredSize {
    pub keys: u64,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

/// The committed directory's agents and operator timeline.
pub(crate) struct DirectoryCache {
    pub agents: BTreeMap<AgentId, Agent>,
    pub timeline: MappingTimeline,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("checkpoint", &self.checkpoint())
            .finish()
    }
}

/// An open views database and its helpdesk tree.
struct Store {
    db: sled::Db,
    tree: sled::Tree,
}

fn open_store(path: &Path, cache_bytes: u64) -> Result<Store, Error> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .mode(sled::Mode::HighThroughput)
        // Every commit flushes; nothing to do on a timer.
        .flush_every_ms(None)
        .open()?;
    let tree = db.open_tree(TREE)?;
    Ok(Store { db, tree })
}

/// Where [`replace_with_empty`] moves a database before deleting it.
fn cleared_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".cleared");
    path.with_file_name(name)
}

/// Deletes what an interrupted [`replace_with_empty`] left.
fn remove_cleared(path: &Path) -> Result<(), Error> {
    let cleared = cleared_path(path);
    if cleared.exists() {
        std::fs::remove_dir_all(&cleared).map_err(|source| Error::Replace {
            path: cleared.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Empties the views by replacing their database with a new one: the old
/// directory is renamed aside (one atomic step), a new database is opened at
/// `path`, and the old directory is deleted. Dropping the tree instead made
/// sled free its pages one by one, each after a scan of its free list
/// (quadratic: a third of a 1M-event rebuild over existing views), and left
/// the old pages' space in the files. The caller drops its handles on the
/// old database after this returns (with `path` already renamed, they can
/// only write into the renamed directory, which is deleted next).
fn replace_with_empty(path: &Path, cache_bytes: u64) -> Result<Store, Error> {
    remove_cleared(path)?;
    if path.exists() {
        std::fs::rename(path, cleared_path(path)).map_err(|source| Error::Replace {
            path: path.display().to_string(),
            source,
        })?;
    }
    open_store(path, cache_bytes)
}

fn parse_checkpoint(bytes: &[u8]) -> Result<u64, Error> {
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| Error::Corrupt {
        key: "checkpoint".into(),
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl Views {
    /// Opens (or creates) the views database at `path` (e.g. `DATA_DIR/views`).
    ///
    /// A tree holding records but no checkpoint is the trace of an interrupted
    /// rebuild (the checkpoint is written with the first records): it is cleared.
    pub fn open(path: impl AsRef<Path>) -> Result<Views, Error> {
        Views::open_with_cache(path, CACHE_CAPACITY_BYTES)
    }

    /// [`Views::open`] with a page cache of `cache_bytes` (what stays decoded
    /// in memory: statistics buckets, index pages, hot records).
    pub fn open_with_cache(path: impl AsRef<Path>, cache_bytes: u64) -> Result<Views, Error> {
        let path = path.as_ref().to_path_buf();
        remove_cleared(&path)?;
        let mut store = open_store(&path, cache_bytes)?;
        let layout = store.tree.get(keys::LAYOUT)?;
        let current = keys::LAYOUT_VERSION.to_be_bytes();
        if !store.tree.is_empty() && layout.as_deref() != Some(&current[..]) {
            // Written by a build with another layout (e.g. before the archive):
            // start over; the projector rebuilds everything from the log.
            tracing::warn!(
                projection = crate::NAME,
                "views of another layout: clearing, they are rebuilt from the log"
            );
            store = replace_with_empty(&path, cache_bytes)?;
        }
        let checkpoint = match store.tree.get(keys::CHECKPOINT)? {
            Some(bytes) => parse_checkpoint(&bytes)?,
            None => {
                if !store.tree.is_empty() {
                    tracing::warn!(
                        projection = crate::NAME,
                        "views without a checkpoint: clearing"
                    );
                    store = replace_with_empty(&path, cache_bytes)?;
                }
                0
            }
        };
        remove_cleared(&path)?;
        Ok(Views::with_store(path, cache_bytes, store, checkpoint))
    }

    /// New, empty views at `path`, whatever was there discarded unopened
    /// (`callfold rebuild`, which rebuilds from position zero anyway: sled
    /// reads a whole database when it opens one, 3.9–4.5 s of a cold start
    /// for the views of 1M deliveries, only to throw them away). The old directory goes as in
    /// [`Views::open`]'s clearing: renamed aside, then deleted; interrupted,
    /// the next open finds empty views or the old ones, and deletes what was
    /// renamed. Only for a data dir no process holds open.
    pub fn open_empty_with_cache(path: impl AsRef<Path>, cache_bytes: u64) -> Result<Views, Error> {
        let path = path.as_ref().to_path_buf();
        let store = replace_with_empty(&path, cache_bytes)?;
        remove_cleared(&path)?;
        Ok(Views::with_store(path, cache_bytes, store, 0))
    }

    fn with_store(path: PathBuf, cache_bytes: u64, store: Store, checkpoint: u64) -> Views {
        Views {
            inner: Arc::new(Inner {
                path,
                cache_bytes,
                store: RwLock::new(store),
                checkpoint: AtomicU64::new(checkpoint),
                gate: RwLock::new(()),
                directory: Mutex::new(None),
            }),
        }
    }

    /// The next log position to apply: every event below it is in the views.
    pub fn checkpoint(&self) -> u64 {
        self.inner.checkpoint.load(Ordering::Acquire)
    }

    pub(crate) fn read_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.inner
            .gate
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The helpdesk tree (a handle: [`Views::clear`] replaces it).
    pub(crate) fn tree(&self) -> sled::Tree {
        self.inner
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .tree
            .clone()
    }

    fn db(&self) -> sled::Db {
        self.inner
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .db
            .clone()
    }

    /// A committed record.
    pub(crate) fn load<T>(&self, kind: Kind, key: &[u8]) -> Result<Option<T>, Error>
    where
        T: rkyv::Archive,
        T::Archived: for<'a> rkyv::bytecheck::CheckBytes<
                rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>,
            > + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
    {
        match self.tree().get(key)? {
            Some(bytes) => codec::decode(kind, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn ticket_view(&self, id: &str) -> Result<Option<TicketView>, Error> {
        self.load(Kind::Ticket, &keys::ticket(id))
    }

    /// The committed directory's agents and timeline (cached until a commit writes the directory).
    pub(crate) fn directory_cache(&self) -> Result<Arc<DirectoryCache>, Error> {
        let mut cached = self
            .inner
            .directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = &*cached {
            return Ok(Arc::clone(cache));
        }
        let directory = self
            .load::<domain::Directory>(Kind::Directory, &keys::directory())?
            .unwrap_or_default();
        let cache = Arc::new(DirectoryCache {
            agents: directory.agents(),
            timeline: directory.timeline(),
        });
        *cached = Some(Arc::clone(&cache));
        Ok(cache)
    }

    pub(crate) fn forget_directory_if(&self, directory_written: bool) {
        if directory_written {
            self.forget_directory();
        }
    }

    fn forget_directory(&self) {
        *self
            .inner
            .directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Writes one batch (records, indexes, checkpoint) atomically, then flushes.
    /// `directory_written`: the batch holds a new directory.
    pub(crate) fn commit(
        &self,
        mut batch: sled::Batch,
        checkpoint: u64,
        directory_written: bool,
    ) -> Result<(), Error> {
        batch.insert(keys::CHECKPOINT, &checkpoint.to_be_bytes());
        batch.insert(keys::LAYOUT, &keys::LAYOUT_VERSION.to_be_bytes());
        {
            let _exclusive = self
                .inner
                .gate
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            self.tree().apply_batch(batch)?;
            if directory_written {
                self.forget_directory();
            }
            self.inner.checkpoint.store(checkpoint, Ordering::Release);
        }
        self.db().flush()?;
        Ok(())
    }

    /// Writes a batch without a checkpoint (rebuild only: while no checkpoint
    /// is stored, see [`Views::open`]); not flushed.
    pub(crate) fn write(&self, batch: sled::Batch) -> Result<(), Error> {
        let _exclusive = self
            .inner
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.tree().apply_batch(batch)?;
        Ok(())
    }

    /// Inserts (or removes) entries one by one in key order, without a
    /// checkpoint (rebuild only, like [`Views::write`]); not flushed.
    pub(crate) fn write_sorted(
        &self,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), Error> {
        // Shared: the runs of a rebuild go in side by side (a rebuild's
        // readers see a partly built model anyway).
        let _shared = self.read_gate();
        let tree = self.tree();
        for (key, value) in entries {
            match value {
                Some(value) => tree.insert(key, value)?,
                None => tree.remove(key)?,
            };
        }
        Ok(())
    }

    pub(crate) fn flush(&self) -> Result<(), Error> {
        self.db().flush()?;
        Ok(())
    }

    /// Forgets everything: the views' database is replaced by a new, empty
    /// one ([`replace_with_empty`]), unless it is empty already. If this is interrupted, the next
    /// [`Views::open`] finds either the old views (the rename had not
    /// happened), or the new ones without a checkpoint, which it clears, and
    /// deletes the renamed directory if it is still there.
    pub(crate) fn clear(&self) -> Result<(), Error> {
        let _exclusive = self
            .inner
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.checkpoint.store(0, Ordering::Release);
        if self.tree().is_empty() {
            // Already empty (e.g. `callfold rebuild`'s fresh views): nothing
            // to set aside.
            self.forget_directory();
            return Ok(());
        }
        let empty = replace_with_empty(&self.inner.path, self.inner.cache_bytes)?;
        let old = std::mem::replace(
            &mut *self
                .inner
                .store
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            empty,
        );
        drop(old);
        self.forget_directory();
        remove_cleared(&self.inner.path)
    }

    /// A read-only view of the committed records, as a domain `Store`.
    fn committed(&self) -> Overlay<'_> {
        Overlay::new(self)
    }

    /// A ticket by id.
    pub fn ticket(&self, id: &str) -> Result<Option<Ticket>, Error> {
        let _read = self.read_gate();
        Ok(self.ticket_view(id)?.map(|view| view.ticket))
    }

    /// A customer by id; `None` until the customer exists (first ticket or profile edit, R2).
    pub fn customer(&self, id: &str) -> Result<Option<Customer>, Error> {
        let _read = self.read_gate();
        Ok(self
            .load::<domain::Desk>(Kind::Desk, &keys::desk(id))?
            .and_then(|desk| desk.customer))
    }

    /// The customer a phone number resolves to now; any formatting of the
    /// number (`+7 (499) 372-06-92`, `74993720692`). `None` for text without digits.
    pub fn customer_by_phone(&self, phone: &str) -> Result<Option<Customer>, Error> {
        let Some(phone) = Phone::normalize(phone) else {
            return Ok(None);
        };
        let _read = self.read_gate();
        domain::state::customer_by_phone(&self.committed(), &phone)
    }

    /// A call session as read models show it.
    pub fn call(&self, session_id: SessionId) -> Result<Option<Call>, Error> {
        let _read = self.read_gate();
        domain::state::find_call(&self.committed(), session_id)
    }

    /// A contact-centre call's record (its distinct events), by `call_id`.
    pub fn contact_call(&self, call_id: &str) -> Result<Option<ContactCallRecord>, Error> {
        let _read = self.read_gate();
        self.load(Kind::ContactCall, &keys::contact_call(call_id))
    }

    /// A call of either feed as the archive shows it (timeline and summary),
    /// by archive id: `"123"` (CallGear session) or `"cc:<call_id>"`. The
    /// timeline is folded from the call's record on each read.
    pub fn archived_call(&self, id: &str) -> Result<Option<CallArchive>, Error> {
        let Some(id) = ArchiveId::parse(id) else {
            return Ok(None);
        };
        let _read = self.read_gate();
        Ok(match id {
            ArchiveId::CallGear(session) => {
                match self.load::<domain::SessionRecord>(Kind::Session, &keys::session(session))? {
                    Some(record) => {
                        Some(callgear_archive(&record, &self.directory_cache()?.timeline))
                    }
                    None => None,
                }
            }
            ArchiveId::Contact(call_id) => self
                .load::<ContactCallRecord>(Kind::ContactCall, &keys::contact_call(call_id))?
                .map(|record| record.fold()),
        })
    }

    /// The tickets holding a call, sorted by id.
    pub fn call_tickets(&self, session_id: SessionId) -> Result<Vec<TicketId>, Error> {
        let _read = self.read_gate();
        Ok(self
            .load::<domain::SessionRecord>(Kind::Session, &keys::session(session_id))?
            .map(|record| record.tickets)
            .unwrap_or_default())
    }

    /// One agent, by id (a map lookup in the cached directory).
    pub fn agent(&self, id: &str) -> Result<Option<Agent>, Error> {
        let _read = self.read_gate();
        Ok(self.directory_cache()?.agents.get(id).cloned())
    }

    /// Current agents, by id.
    pub fn agents(&self) -> Result<Vec<Agent>, Error> {
        let _read = self.read_gate();
        Ok(self.directory_cache()?.agents.values().cloned().collect())
    }

    /// Validates an agent's command against the committed state
    /// ([`domain::command::validate`]): the event to append, or a rejection.
    /// Wait for the projection to reach the log head first where it matters.
    pub fn validate(&self, action: &NativeEvent) -> Result<Verdict, Error> {
        let _read = self.read_gate();
        domain::command::validate(&self.committed(), action)
    }

    /// What the tree holds, per kind of key (as `docs/projections.md` names
    /// them: `D`, `P`, `S`, `C`, `T`, `o`, `i`, `@`; statistics keys by their
    /// first two bytes, `sb`, `sc` …): keys, key bytes, value bytes.
    /// A full scan: for benchmarks and operators, not for request paths.
    pub fn stored_sizes(&self) -> Result<BTreeMap<String, StoredSize>, Error> {
        let _read = self.read_gate();
        let mut sizes: BTreeMap<String, StoredSize> = BTreeMap::new();
        for entry in self.tree().iter() {
            let (key, value) = entry?;
            let kind_len = if key.first() == Some(&crate::stats::keys::PREFIX) {
                2
            } else {
                1
            };
            let kind = String::from_utf8_lossy(&key[..key.len().min(kind_len)]).into_owned();
            let size = sizes.entry(kind).or_default();
            size.keys += 1;
            size.key_bytes += key.len() as u64;
            size.value_bytes += value.len() as u64;
        }
        Ok(sizes)
    }

    /// Every key and value in key order, checkpoint included, each as
    /// `u32 BE length + bytes`: equal dumps mean byte-identical read models.
    pub fn dump(&self) -> Result<Vec<u8>, Error> {
        let _read = self.read_gate();
        let mut out = Vec::new();
        for entry in self.tree().iter() {
            let (key, value) = entry?;
            for bytes in [&key[..], &value[..]] {
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
        Ok(out)
    }
}
