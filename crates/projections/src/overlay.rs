//! The write overlay: a domain [`Store`] over the committed views.
//!
//! During a batch every record the domain reads is loaded once and kept; every
//! put lands here, so later reads in the batch see it. [`Overlay::commit`]
//! turns the dirty records, the re-indexed tickets and the checkpoint into one
//! atomic sled batch. The overlay lives for one batch (at most
//! `Options::batch_events_max` events), which bounds what it holds.
//!
//! It also keeps the archive's inputs: contact-centre call records
//! ([`Overlay::after_event`] adds each contact event to its call's record) and
//! the calls whose archive summary must be recomputed. A CallGear call's
//! summary depends on the directory (operators → agents), so pending
//! summaries are computed before an event that may change the directory
//! ([`Overlay::before_event`]) and at the end of the batch: each is then what
//! it would be right after the call's last event, whatever the batch size.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use domain::agent::UpsertAgent;
use domain::directory::MappingTimeline;
use domain::timeline::{callgear_summary, ContactCallRecord};
use domain::{CallSummary, Changed, Event, NativeEvent, TicketId};
use domain::{CustomerId, Desk, Directory, Phone, PhoneRecord, SessionId, SessionRecord, Store};

use crate::archive;
use crate::codec::{self, Kind};
use crate::index::{self, TicketView};
use crate::keys;
use crate::views::Views;
use crate::write::{Commit, OnRun, Writer};
use crate::Error;

struct Slot<T> {
    /// `None`: no such record (or deleted), or lent out.
    value: Option<T>,
    dirty: bool,
    /// Lent out by `take_session` until `put_session` or `keep_session`.
    lent: bool,
}

/// Reading a record while it is lent out is a bug in the caller
/// (`domain::Store::take_session`), not a missing record.
fn unlent<T>(slot: &Slot<T>) -> Option<&T> {
    assert!(
        !slot.lent,
        "a record read while lent out (Store::take_session)"
    );
    slot.value.as_ref()
}

type Slots<K, T> = RefCell<BTreeMap<K, Slot<T>>>;

pub(crate) struct Overlay<'v> {
    views: &'v Views,
    directory: Slots<(), Directory>,
    /// The directory's timeline, built once per overlay; a put forgets it.
    timeline: RefCell<Option<MappingTimeline>>,
    phones: Slots<Phone, PhoneRecord>,
    sessions: Slots<SessionId, SessionRecord>,
    desks: Slots<CustomerId, Desk>,
    contacts: Slots<String, ContactCallRecord>,
    /// Calls whose archive summary is not computed yet.
    pending_sessions: BTreeSet<SessionId>,
    pending_contacts: BTreeSet<String>,
    /// Archive summaries computed in this batch, by archive id.
    archive: BTreeMap<String, CallSummary>,
}

/// Calls `f` with the record under `key`, loading it once.
fn with<K: Ord + Clone, T, R>(
    slots: &Slots<K, T>,
    key: &K,
    load: impl FnOnce() -> Result<Option<T>, Error>,
    f: impl FnOnce(Option<&T>) -> R,
) -> Result<R, Error> {
    if let Some(slot) = slots.borrow().get(key) {
        return Ok(f(unlent(slot)));
    }
    let value = load()?;
    let result = f(value.as_ref());
    let slot = Slot {
        value,
        dirty: false,
        lent: false,
    };
    slots.borrow_mut().insert(key.clone(), slot);
    Ok(result)
}

fn read<K: Ord + Clone, T: Clone>(
    slots: &Slots<K, T>,
    key: &K,
    load: impl FnOnce() -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    with(slots, key, load, |value| value.cloned())
}

fn write<K: Ord, T>(slots: &mut Slots<K, T>, key: K, value: Option<T>) {
    slots.get_mut().insert(
        key,
        Slot {
            value,
            dirty: true,
            lent: false,
        },
    );
}

/// Dirty records into the batch.
fn stage<K, T>(
    writer: &mut Writer<'_>,
    slots: Slots<K, T>,
    kind: Kind,
    key: impl Fn(&K) -> Vec<u8>,
) -> Result<(), Error>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    for (k, slot) in slots.into_inner() {
        assert!(!slot.lent, "a record still lent out at commit");
        if !slot.dirty {
            continue;
        }
        match slot.value {
            Some(value) => writer.insert(key(&k), codec::encode(kind, &value))?,
            None => writer.remove(key(&k))?,
        }
    }
    Ok(())
}

impl<'v> Overlay<'v> {
    pub(crate) fn new(views: &'v Views) -> Overlay<'v> {
        Overlay {
            views,
            directory: RefCell::default(),
            timeline: RefCell::default(),
            phones: RefCell::default(),
            sessions: RefCell::default(),
            desks: RefCell::default(),
            contacts: RefCell::default(),
            pending_sessions: BTreeSet::new(),
            pending_contacts: BTreeSet::new(),
            archive: BTreeMap::new(),
        }
    }

    /// Calls `f` with the session as this batch has it, without a copy.
    pub(crate) fn with_session<R>(
        &self,
        id: SessionId,
        f: impl FnOnce(Option<&SessionRecord>) -> R,
    ) -> Result<R, Error> {
        with(
            &self.sessions,
            &id,
            || self.views.load(Kind::Session, &keys::session(id)),
            f,
        )
    }

    fn with_desk<R>(&self, id: &str, f: impl FnOnce(Option<&Desk>) -> R) -> Result<R, Error> {
        with(
            &self.desks,
            &id.to_owned(),
            || self.views.load(Kind::Desk, &keys::desk(id)),
            f,
        )
    }

    /// A contact-centre call's record as this batch has it (statistics read it too).
    pub(crate) fn contact(&self, call_id: &str) -> Result<Option<ContactCallRecord>, Error> {
        read(&self.contacts, &call_id.to_owned(), || {
            self.views
                .load(Kind::ContactCall, &keys::contact_call(call_id))
        })
    }

    /// Call before applying `event`: an event that may change the operator
    /// mapping first settles the summaries computed with the mapping so far.
    pub(crate) fn before_event(&mut self, event: &Event) -> Result<(), Error> {
        if let Event::Native(native) = event {
            if matches!(**native, NativeEvent::UpsertAgent(_)) {
                self.settle_archive()?;
            }
        }
        Ok(())
    }

    /// Call after applying `event` (which changed `changed`): a contact event
    /// joins its call's record; a call whose events changed waits for its
    /// summary. A CallGear summary depends only on the session's notifications
    /// (and the mapping), so only a notification that changed its session
    /// marks it, not the filings, edits and refolds that rewrite a session's
    /// tickets.
    pub(crate) fn after_event(&mut self, event: &Event, changed: &Changed) -> Result<(), Error> {
        match event {
            Event::Contact(contact) => {
                if let Some(call_id) = contact.call_id() {
                    let mut record = self
                        .contact(call_id)?
                        .unwrap_or_else(|| ContactCallRecord::new(call_id));
                    if record.add(contact) {
                        write(&mut self.contacts, call_id.to_owned(), Some(record));
                        self.pending_contacts.insert(call_id.to_owned());
                    }
                }
            }
            Event::CallGear(notification) => {
                let session = notification.call_session_id();
                if changed.sessions.contains(&session) {
                    self.pending_sessions.insert(session);
                }
            }
            Event::Native(_) => {}
        }
        Ok(())
    }

    /// Computes the summaries of every pending call.
    fn settle_archive(&mut self) -> Result<(), Error> {
        if !self.pending_sessions.is_empty() {
            let timeline = self.timeline()?;
            for id in std::mem::take(&mut self.pending_sessions) {
                let summary = self.with_session(id, |record| {
                    record.map(|record| callgear_summary(record, &timeline))
                })?;
                if let Some(summary) = summary {
                    self.archive.insert(summary.id.clone(), summary);
                }
            }
        }
        for call_id in std::mem::take(&mut self.pending_contacts) {
            if let Some(record) = self.contact(&call_id)? {
                let summary = record.fold().summary;
                self.archive.insert(summary.id.clone(), summary);
            }
        }
        Ok(())
    }

    /// The ticket as the overlay has it now, with the phones it is indexed under:
    /// the customer phones of the ticket's calls (each session's contact number).
    /// (`state::find_ticket`, borrowing the desk instead of copying it.)
    fn ticket_view(&self, id: &str) -> Result<Option<TicketView>, Error> {
        let Some(origin) = domain::ids::ticket_origin(id) else {
            return Ok(None);
        };
        let Some(route) = self.with_session(origin, |s| s.and_then(|s| s.route.clone()))? else {
            return Ok(None);
        };
        let Some(ticket) =
            self.with_desk(&route, |d| d.and_then(|d| d.tickets.get(id).cloned()))?
        else {
            return Ok(None);
        };
        let mut phones = BTreeSet::new();
        for &session in &ticket.calls {
            if let Some(phone) = self.with_session(session, |s| s.and_then(|r| r.phone()))? {
                phones.insert(phone);
            }
        }
        Ok(Some(TicketView {
            ticket,
            phones: phones.into_iter().collect(),
        }))
    }

    /// Writes every put, the index entries of `tickets` (and of the tickets of
    /// every rewritten session) and `checkpoint` in one atomic batch.
    pub(crate) fn commit(
        mut self,
        checkpoint: u64,
        mut tickets: BTreeSet<TicketId>,
        commit: Commit,
        mut statistics: crate::stats::StatsBatch<'_>,
        on_run: Option<OnRun<'_>>,
    ) -> Result<CommitStats, Error> {
        self.settle_archive()?;
        // A session's phone may change without its tickets' content changing.
        for slot in self.sessions.borrow().values() {
            if let (true, Some(record)) = (slot.dirty, &slot.value) {
                tickets.extend(record.tickets.iter().cloned());
            }
        }
        // Both borrows shortened to the commit's own.
        let on_run = on_run.map(|f| f as OnRun<'_>);
        let mut writer = Writer::new(self.views, commit).on_run(on_run);
        let mut stats = CommitStats {
            records_written: self.dirty_records(),
            ..CommitStats::default()
        };
        for id in &tickets {
            let old = self.views.ticket_view(id)?;
            let new = self.ticket_view(id)?;
            if old != new {
                index::stage(&mut writer, id, old.as_ref(), new.as_ref())?;
                stats.tickets_reindexed += 1;
                statistics.ticket_changed(
                    old.as_ref().map(|v| &v.ticket),
                    new.as_ref().map(|v| &v.ticket),
                );
            }
        }
        for (id, summary) in &self.archive {
            let old = self.views.archive_view(id)?;
            if old.as_ref() != Some(summary) {
                archive::stage(&mut writer, id, old.as_ref(), Some(summary))?;
                stats.calls_reindexed += 1;
            }
        }
        statistics.stage(&mut writer)?;
        let Overlay {
            views: _,
            directory,
            timeline: _,
            phones,
            sessions,
            desks,
            contacts,
            ..
        } = self;
        let directory_written = dirty_count(&directory) > 0;
        stage(&mut writer, directory, Kind::Directory, |()| {
            keys::directory().to_vec()
        })?;
        stage(&mut writer, phones, Kind::Phone, keys::phone)?;
        stage(&mut writer, sessions, Kind::Session, |id| {
            keys::session(*id).to_vec()
        })?;
        stage(&mut writer, desks, Kind::Desk, |id| keys::desk(id))?;
        stage(&mut writer, contacts, Kind::ContactCall, |id| {
            keys::contact_call(id)
        })?;
        stats.entries_written = writer.entries;
        let checkpoint = commit.writes_checkpoint().then_some(checkpoint);
        writer.finish(checkpoint, directory_written)?;
        Ok(stats)
    }
}

impl Overlay<'_> {
    /// Records changed so far (for tracing).
    pub(crate) fn dirty_records(&self) -> usize {
        dirty_count(&self.directory)
            + dirty_count(&self.phones)
            + dirty_count(&self.sessions)
            + dirty_count(&self.desks)
            + dirty_count(&self.contacts)
    }
}

fn dirty_count<K, T>(slots: &Slots<K, T>) -> usize {
    slots.borrow().values().filter(|s| s.dirty).count()
}

/// What one commit wrote (for tracing).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CommitStats {
    pub records_written: usize,
    pub tickets_reindexed: usize,
    pub entries_written: usize,
    pub calls_reindexed: usize,
}

impl Store for Overlay<'_> {
    type Error = Error;

    fn directory(&self) -> Result<Directory, Error> {
        let value = read(&self.directory, &(), || {
            self.views.load(Kind::Directory, &keys::directory())
        })?;
        Ok(value.unwrap_or_default())
    }

    fn timeline(&self) -> Result<MappingTimeline, Error> {
        if let Some(timeline) = &*self.timeline.borrow() {
            return Ok(timeline.clone());
        }
        // Until the batch writes a directory, it is the committed one.
        let written = self.directory.borrow().get(&()).is_some_and(|s| s.dirty);
        let timeline = if written {
            self.with_directory(Directory::timeline)?
        } else {
            self.views.directory_cache()?.timeline.clone()
        };
        *self.timeline.borrow_mut() = Some(timeline.clone());
        Ok(timeline)
    }

    fn phone(&self, phone: &Phone) -> Result<Option<PhoneRecord>, Error> {
        read(&self.phones, phone, || {
            self.views.load(Kind::Phone, &keys::phone(phone))
        })
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, Error> {
        read(&self.sessions, &id, || {
            self.views.load(Kind::Session, &keys::session(id))
        })
    }

    fn desk(&self, id: &str) -> Result<Option<Desk>, Error> {
        read(&self.desks, &id.to_owned(), || {
            self.views.load(Kind::Desk, &keys::desk(id))
        })
    }

    fn put_directory(&mut self, directory: Directory) -> Result<(), Error> {
        *self.timeline.get_mut() = None;
        write(&mut self.directory, (), Some(directory));
        Ok(())
    }

    fn with_directory<R>(&self, f: impl FnOnce(&Directory) -> R) -> Result<R, Error> {
        let empty = Directory::default();
        with(
            &self.directory,
            &(),
            || self.views.load(Kind::Directory, &keys::directory()),
            |directory| f(directory.unwrap_or(&empty)),
        )
    }

    fn insert_upsert(&mut self, upsert: &UpsertAgent) -> Result<bool, Error> {
        self.with_directory(|_| ())?; // loaded
        let slot = self
            .directory
            .get_mut()
            .get_mut(&())
            .expect("the directory slot was just loaded");
        let directory = slot.value.get_or_insert_with(Directory::default);
        let timeline = self.timeline.get_mut();
        // A rename (or any upsert that moves no operator) keeps the timeline.
        if timeline
            .as_ref()
            .is_some_and(|timeline| directory.changes_mapping(timeline, upsert))
        {
            *timeline = None;
        }
        let inserted = directory.insert(upsert.clone());
        if inserted {
            slot.dirty = true;
        }
        Ok(inserted)
    }

    fn put_phone(&mut self, record: PhoneRecord) -> Result<(), Error> {
        write(&mut self.phones, record.phone.clone(), Some(record));
        Ok(())
    }

    fn put_session(&mut self, record: SessionRecord) -> Result<(), Error> {
        write(&mut self.sessions, record.id, Some(record));
        Ok(())
    }

    fn take_session(&mut self, id: SessionId) -> Result<Option<SessionRecord>, Error> {
        self.with_session(id, |_| ())?; // loaded
        let slot = self
            .sessions
            .get_mut()
            .get_mut(&id)
            .expect("the session slot was just loaded");
        let record = slot.value.take();
        slot.lent = record.is_some();
        Ok(record)
    }

    fn keep_session(&mut self, record: SessionRecord) -> Result<(), Error> {
        if let Some(slot) = self.sessions.get_mut().get_mut(&record.id) {
            if slot.lent {
                slot.lent = false;
                slot.value = Some(record);
            }
        }
        Ok(())
    }

    fn put_desk(&mut self, desk: Desk) -> Result<(), Error> {
        write(&mut self.desks, desk.id.clone(), Some(desk));
        Ok(())
    }

    fn delete_desk(&mut self, id: &str) -> Result<(), Error> {
        write(&mut self.desks, id.to_owned(), None);
        Ok(())
    }
}
