//! Applying events to per-key records.
//!
//! State is split into records a projection can keep in sled under their key:
//!
//! | record | key | holds |
//! |---|---|---|
//! | [`Directory`] | (one) | every `upsertAgent`: agents and operator mapping over time |
//! | [`PhoneRecord`] | phone digits | links of that phone to customers over time |
//! | [`SessionRecord`] | `call_session_id` | the session's notifications, filings, ticket edits, route |
//! | [`Desk`] | customer id | sessions routed there, profile edits; derived customer and tickets |
//!
//! [`apply`] reads and writes those records through the [`Store`] trait and
//! returns [`Changed`]: which keys it rewrote and which tickets' content changed.
//! It loads only what the event touches: the directory, the session, the phone,
//! and the desk(s) the session is routed to together with that desk's sessions.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use crate::agent::{
    CustomerId, Filing, LinkPhoneToCustomer, NativeEvent, SessionId, TicketEdit, TicketId,
    UpsertAgent,
};
use crate::callgear::CallGearNotification;
use crate::desk::{Customer, Desk, Ticket};
use crate::directory::{Directory, MappingTimeline};
use crate::event::Event;
use crate::ids;
use crate::phone::Phone;
use crate::session::{Call, SessionRecord};
use crate::time::Timestamp;

/// One link of a phone to a customer (R2).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct PhoneLink {
    pub at: Timestamp,
    pub customer_id: CustomerId,
}

/// The persisted record of one phone number (key: its digits).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct PhoneRecord {
    pub phone: Phone,
    /// Sorted by (time, customer).
    pub links: Vec<PhoneLink>,
}

impl PhoneRecord {
    pub fn new(phone: Phone) -> Self {
        PhoneRecord {
            phone,
            links: Vec::new(),
        }
    }

    /// The customer calls from this phone belong to at `at` (R2, R19).
    pub fn owner_at(&self, at: Timestamp) -> CustomerId {
        let index = self.links.partition_point(|link| link.at <= at);
        match self.links[..index].last() {
            Some(link) => link.customer_id.clone(),
            None => ids::customer_for_phone(&self.phone),
        }
    }

    /// The customer the phone belongs to after every link.
    pub fn current_owner(&self) -> CustomerId {
        self.owner_at(Timestamp(i64::MAX))
    }

    /// Every customer this phone has ever resolved to.
    pub fn owners(&self) -> BTreeSet<CustomerId> {
        let mut owners: BTreeSet<CustomerId> =
            self.links.iter().map(|l| l.customer_id.clone()).collect();
        owners.insert(ids::customer_for_phone(&self.phone));
        owners
    }
}

/// Where the projection keeps the records. Reads return owned copies; the
/// domain writes back every record it changed. `Error` is the store's own
/// (infrastructure) error, passed through untouched.
pub trait Store {
    type Error;
    fn directory(&self) -> Result<Directory, Self::Error>;
    /// The directory's operator mappings over time ([`Directory::timeline`]),
    /// read on every refold. A store may keep it between calls, as long as it
    /// forgets it when [`Store::put_directory`] writes a new directory.
    fn timeline(&self) -> Result<MappingTimeline, Self::Error> {
        Ok(self.directory()?.timeline())
    }
    fn phone(&self, phone: &Phone) -> Result<Option<PhoneRecord>, Self::Error>;
    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, Self::Error>;
    fn desk(&self, id: &str) -> Result<Option<Desk>, Self::Error>;
    fn put_directory(&mut self, directory: Directory) -> Result<(), Self::Error>;
    /// Calls `f` with the directory; a store may lend its own instead of a copy.
    fn with_directory<R>(&self, f: impl FnOnce(&Directory) -> R) -> Result<R, Self::Error> {
        Ok(f(&self.directory()?))
    }
    /// Records an agent upsert ([`Directory::insert`]); `false` when it was
    /// already known. A store may insert in place instead of copying the
    /// directory out and back (as the default does).
    fn insert_upsert(&mut self, upsert: &UpsertAgent) -> Result<bool, Self::Error> {
        let mut directory = self.directory()?;
        let inserted = directory.insert(upsert.clone());
        if inserted {
            self.put_directory(directory)?;
        }
        Ok(inserted)
    }
    fn put_phone(&mut self, record: PhoneRecord) -> Result<(), Self::Error>;
    fn put_session(&mut self, record: SessionRecord) -> Result<(), Self::Error>;
    /// Takes a session out to read or change it without a copy: the caller
    /// hands it back with [`Store::put_session`] (changed) or
    /// [`Store::keep_session`] (unchanged) before the store is asked for that
    /// session again. The default lends a copy.
    fn take_session(&mut self, id: SessionId) -> Result<Option<SessionRecord>, Self::Error> {
        self.session(id)
    }
    /// Hands back unchanged a session [`Store::take_session`] lent.
    fn keep_session(&mut self, record: SessionRecord) -> Result<(), Self::Error> {
        drop(record);
        Ok(())
    }
    fn put_desk(&mut self, desk: Desk) -> Result<(), Self::Error>;
    /// Removes a desk that holds nothing any more (see [`Desk::is_vacant`]).
    fn delete_desk(&mut self, id: &str) -> Result<(), Self::Error>;
}

/// What one [`apply`] changed: rewritten records, and tickets whose content
/// changed (including tickets that appeared in or left a desk).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changed {
    pub agents: bool,
    pub phones: BTreeSet<Phone>,
    pub sessions: BTreeSet<SessionId>,
    pub customers: BTreeSet<CustomerId>,
    pub tickets: BTreeSet<TicketId>,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        *self == Changed::default()
    }

    /// Adds everything `other` changed.
    pub fn extend(&mut self, other: Changed) {
        self.agents |= other.agents;
        self.phones.extend(other.phones);
        self.sessions.extend(other.sessions);
        self.customers.extend(other.customers);
        self.tickets.extend(other.tickets);
    }
}

/// Desks whose tickets wait to be re-derived.
///
/// [`apply_deferred`] records what an event says (sessions, filings, edits,
/// routes, links, profiles) at once but only marks the desks it touched;
/// [`settle`] re-derives each marked desk once. A desk's tickets are a pure
/// function of its sessions' records, its profile edits and phones, and the
/// operator mapping, so settling once after many events gives exactly the
/// records that re-deriving after each event gives. The one input that is not
/// per desk, the mapping, is kept equal by settling before an `upsert_agent`
/// that changes it.
///
/// `Changed::tickets` of a settle compares each desk's tickets with those it
/// had when it was last settled: a ticket changed and changed back in between
/// is not reported (nothing a reader could see changed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    desks: BTreeSet<CustomerId>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.desks.is_empty()
    }

    /// Desks waiting to be settled.
    pub fn len(&self) -> usize {
        self.desks.len()
    }

    fn mark(&mut self, desk: &str) {
        if !self.desks.contains(desk) {
            self.desks.insert(desk.to_owned());
        }
    }
}

/// Applies one logged event. `received_at` is the envelope's receive time; it
/// stands in for a notification without `notification_time`.
pub fn apply<S: Store>(
    store: &mut S,
    event: &Event,
    received_at: Timestamp,
) -> Result<Changed, S::Error> {
    let mut pending = Pending::default();
    let mut changed = apply_deferred(store, event, received_at, &mut pending)?;
    changed.extend(settle(store, &mut pending)?);
    Ok(changed)
}

/// [`apply`] without re-deriving tickets: the desks to re-derive are added to
/// `pending`; call [`settle`] before reading tickets, customers or the
/// sessions' `tickets`. Applying a batch this way and settling once gives the
/// same records as [`apply`] per event (see [`Pending`]).
pub fn apply_deferred<S: Store>(
    store: &mut S,
    event: &Event,
    received_at: Timestamp,
    pending: &mut Pending,
) -> Result<Changed, S::Error> {
    let mut changed = Changed::default();
    match event {
        Event::CallGear(notification) => {
            apply_notification(store, notification, received_at, &mut changed, pending)?
        }
        Event::Native(native) => apply_native(store, native, &mut changed, pending)?,
        // Contact-centre events feed the timeline and statistics projections;
        // tickets come from CallGear calls and agent actions only.
        Event::Contact(_) => {}
    }
    Ok(changed)
}

/// Re-derives every desk in `pending` once and empties it.
pub fn settle<S: Store>(store: &mut S, pending: &mut Pending) -> Result<Changed, S::Error> {
    let mut changed = Changed::default();
    for desk in std::mem::take(&mut pending.desks) {
        refold(store, &desk, &mut changed)?;
    }
    Ok(changed)
}

fn apply_notification<S: Store>(
    store: &mut S,
    notification: &CallGearNotification,
    received_at: Timestamp,
    changed: &mut Changed,
    pending: &mut Pending,
) -> Result<(), S::Error> {
    let id = notification.call_session_id();
    let stored = store.take_session(id)?;
    let lent = stored.is_some();
    let mut record = stored.unwrap_or_else(|| SessionRecord::new(id));
    if !record.add_notification(notification, received_at) {
        // a duplicate delivery changes nothing (R17)
        return if lent {
            store.keep_session(record)
        } else {
            Ok(())
        };
    }
    store.put_session(record)?;
    changed.sessions.insert(id);
    reroute(store, &[id], changed, pending)
}

fn apply_native<S: Store>(
    store: &mut S,
    event: &NativeEvent,
    changed: &mut Changed,
    pending: &mut Pending,
) -> Result<(), S::Error> {
    match event {
        NativeEvent::UpsertAgent(upsert) => {
            // Desks waiting to be re-derived are derived with the mapping
            // their events saw, as `apply` per event would have.
            if !pending.is_empty() {
                let timeline = store.timeline()?;
                if store.with_directory(|d| d.changes_mapping(&timeline, upsert))? {
                    changed.extend(settle(store, pending)?);
                }
            }
            if store.insert_upsert(upsert)? {
                changed.agents = true;
            }
        }
        NativeEvent::CreateTicketFromCall(_)
        | NativeEvent::AttachCallToTicket(_)
        | NativeEvent::SaveCallDraft(_) => {
            let filing = Filing::from_event(event).expect("a filing");
            let id = filing.session_id();
            let mut record = store.session(id)?.unwrap_or_else(|| SessionRecord::new(id));
            if record.add_filing(filing) {
                store.put_session(record)?;
                changed.sessions.insert(id);
                reroute(store, &[id], changed, pending)?;
            }
        }
        NativeEvent::LinkPhoneToCustomer(link) => link_phone(store, link, changed, pending)?,
        NativeEvent::UpsertCustomer(edit) => {
            let mut desk = match store.desk(&edit.customer_id)? {
                Some(desk) => desk,
                None => new_desk(store, &edit.customer_id)?,
            };
            if desk.add_profile_edit(edit.clone()) {
                store.put_desk(desk)?;
                pending.mark(&edit.customer_id);
            }
        }
        NativeEvent::SetTicketStatus(_)
        | NativeEvent::SetTicketAssignee(_)
        | NativeEvent::SetTicketSubject(_)
        | NativeEvent::AddNote(_)
        | NativeEvent::AddReply(_) => {
            let edit = TicketEdit::from_event(event).expect("a ticket edit");
            // Edits live with the session the ticket id names; ids we never issued are dropped.
            let Some(id) = ids::ticket_origin(edit.ticket_id()) else {
                return Ok(());
            };
            let mut record = store.session(id)?.unwrap_or_else(|| SessionRecord::new(id));
            if record.add_edit(edit) {
                store.put_session(record)?;
                changed.sessions.insert(id);
                reroute(store, &[id], changed, pending)?;
            }
        }
    }
    Ok(())
}

fn link_phone<S: Store>(
    store: &mut S,
    link: &LinkPhoneToCustomer,
    changed: &mut Changed,
    pending: &mut Pending,
) -> Result<(), S::Error> {
    let mut record = store
        .phone(&link.phone)?
        .unwrap_or_else(|| PhoneRecord::new(link.phone.clone()));
    let new_link = PhoneLink {
        at: link.at,
        customer_id: link.customer_id.clone(),
    };
    if record.links.contains(&new_link) {
        return Ok(());
    }
    let before = record.current_owner();
    let index = record
        .links
        .partition_point(|l| (l.at, &l.customer_id) <= (new_link.at, &new_link.customer_id));
    record.links.insert(index, new_link);
    let after = record.current_owner();
    let owners = record.owners();
    store.put_phone(record)?;
    changed.phones.insert(link.phone.clone());

    // The phone moves from its previous customer to the new one (R29).
    if before != after {
        if let Some(mut desk) = store.desk(&before)? {
            desk.phones.remove(&link.phone);
            store.put_desk(desk)?;
            changed.customers.insert(before.clone());
        }
        let mut desk = match store.desk(&after)? {
            Some(desk) => desk,
            None => new_desk(store, &after)?,
        };
        desk.phones.insert(link.phone.clone());
        store.put_desk(desk)?;
        changed.customers.insert(after.clone());
    }

    // Sessions from this phone that end after the link follow it (R19).
    let mut sessions = Vec::new();
    for owner in &owners {
        if let Some(desk) = store.desk(owner)? {
            for id in &desk.sessions {
                let phone = store.session(*id)?.and_then(|s| s.phone());
                if phone.as_ref() == Some(&link.phone) {
                    sessions.push(*id);
                }
            }
        }
    }
    reroute(store, &sessions, changed, pending)?;
    pending.mark(&before);
    pending.mark(&after);
    Ok(())
}

/// A fresh desk; a desk created from a phone (`cus-<digits>`) holds that phone
/// unless the phone is linked to another customer by now (R29).
fn new_desk<S: Store>(store: &S, id: &str) -> Result<Desk, S::Error> {
    let mut desk = Desk::new(id.to_owned());
    let phone = id.strip_prefix("cus-").and_then(Phone::normalize);
    if let Some(phone) = phone.filter(|p| ids::customer_for_phone(p) == id) {
        let owner = store
            .phone(&phone)?
            .map_or_else(|| id.to_owned(), |r| r.current_owner());
        if owner == id {
            desk.phones.insert(phone);
        }
    }
    Ok(desk)
}

/// The desk a session belongs to (R19): the owner of the caller's phone when
/// the call ends. Click-to-call calls too: routing never depends on another
/// session's record, so it cannot depend on which session arrived first (R17).
fn route<S: Store>(store: &S, record: &SessionRecord) -> Result<Option<CustomerId>, S::Error> {
    let Some(phone) = record.phone() else {
        return Ok(None);
    };
    let at = record.routing_at().unwrap_or_default();
    Ok(Some(match store.phone(&phone)? {
        Some(phone_record) => phone_record.owner_at(at),
        None => ids::customer_for_phone(&phone),
    }))
}

/// Routes `sessions` anew (R19) and marks the desks they leave and join.
fn reroute<S: Store>(
    store: &mut S,
    sessions: &[SessionId],
    changed: &mut Changed,
    pending: &mut Pending,
) -> Result<(), S::Error> {
    for &id in sessions {
        let Some(mut record) = store.take_session(id)? else {
            continue;
        };
        let new_route = route(store, &record)?;
        if new_route == record.route {
            store.keep_session(record)?;
        } else {
            if let Some(old) = &record.route {
                if let Some(mut desk) = store.desk(old)? {
                    desk.sessions.remove(&id);
                    store.put_desk(desk)?;
                }
                pending.mark(old);
            }
            if let Some(new) = &new_route {
                let mut desk = match store.desk(new)? {
                    Some(desk) => desk,
                    None => new_desk(store, new)?,
                };
                desk.sessions.insert(id);
                store.put_desk(desk)?;
            }
            record.route = new_route.clone();
            record.tickets.clear();
            store.put_session(record)?;
            changed.sessions.insert(id);
        }
        if let Some(new) = &new_route {
            pending.mark(new);
        }
    }
    Ok(())
}

/// Re-derives one desk from its sessions and writes back what changed.
fn refold<S: Store>(store: &mut S, customer: &str, changed: &mut Changed) -> Result<(), S::Error> {
    let Some(mut desk) = store.desk(customer)? else {
        return Ok(());
    };
    let timeline = store.timeline()?;
    let mut records = Vec::with_capacity(desk.sessions.len());
    for &id in &desk.sessions {
        if let Some(record) = store.take_session(id)? {
            records.push(record);
        }
    }
    let calls: Vec<Call> = records.iter().map(|r| r.call(&timeline)).collect();
    let pairs: Vec<(&SessionRecord, &Call)> = records.iter().zip(calls.iter()).collect();
    let before_tickets = std::mem::take(&mut desk.tickets);
    let before_customer = desk.customer.take();
    desk.refold(&pairs);

    for id in before_tickets.keys().chain(desk.tickets.keys()) {
        if before_tickets.get(id) != desk.tickets.get(id) {
            changed.tickets.insert(id.clone());
        }
    }
    let mut holding: BTreeMap<SessionId, Vec<TicketId>> = BTreeMap::new();
    for ticket in desk.tickets.values() {
        for session in &ticket.calls {
            holding.entry(*session).or_default().push(ticket.id.clone());
        }
    }
    for mut record in records {
        let tickets = holding.remove(&record.id).unwrap_or_default();
        if record.tickets != tickets {
            record.tickets = tickets;
            changed.sessions.insert(record.id);
            store.put_session(record)?;
        } else {
            store.keep_session(record)?;
        }
    }
    if desk.is_vacant() {
        // Same as never created: the state must not keep traces of delivery order (R17).
        store.delete_desk(&desk.id)?;
        changed.customers.insert(desk.id.clone());
    } else if desk.tickets != before_tickets || desk.customer != before_customer {
        changed.customers.insert(desk.id.clone());
        store.put_desk(desk)?;
    }
    Ok(())
}

/// Finds a ticket: its id names its session, the session its desk.
pub fn find_ticket<S: Store>(store: &S, id: &str) -> Result<Option<Ticket>, S::Error> {
    let Some(origin) = ids::ticket_origin(id) else {
        return Ok(None);
    };
    let Some(route) = store.session(origin)?.and_then(|s| s.route) else {
        return Ok(None);
    };
    Ok(store
        .desk(&route)?
        .and_then(|mut desk| desk.tickets.remove(id)))
}

/// The customer a phone resolves to now (R2); `None` while that customer does not exist.
pub fn customer_by_phone<S: Store>(store: &S, phone: &Phone) -> Result<Option<Customer>, S::Error> {
    let owner = match store.phone(phone)? {
        Some(record) => record.current_owner(),
        None => ids::customer_for_phone(phone),
    };
    Ok(store.desk(&owner)?.and_then(|desk| desk.customer))
}

/// The call of a session as read models show it.
pub fn find_call<S: Store>(store: &S, id: SessionId) -> Result<Option<Call>, S::Error> {
    let Some(record) = store.session(id)? else {
        return Ok(None);
    };
    Ok(Some(record.call(&store.timeline()?)))
}

/// Everything in memory: for tests, replays and small deployments.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub directory: Directory,
    pub phones: BTreeMap<Phone, PhoneRecord>,
    pub sessions: BTreeMap<SessionId, SessionRecord>,
    pub desks: BTreeMap<CustomerId, Desk>,
}

impl Store for State {
    type Error = Infallible;

    fn directory(&self) -> Result<Directory, Infallible> {
        Ok(self.directory.clone())
    }
    fn phone(&self, phone: &Phone) -> Result<Option<PhoneRecord>, Infallible> {
        Ok(self.phones.get(phone).cloned())
    }
    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, Infallible> {
        Ok(self.sessions.get(&id).cloned())
    }
    fn desk(&self, id: &str) -> Result<Option<Desk>, Infallible> {
        Ok(self.desks.get(id).cloned())
    }
    fn put_directory(&mut self, directory: Directory) -> Result<(), Infallible> {
        self.directory = directory;
        Ok(())
    }
    fn with_directory<R>(&self, f: impl FnOnce(&Directory) -> R) -> Result<R, Infallible> {
        Ok(f(&self.directory))
    }
    fn insert_upsert(&mut self, upsert: &UpsertAgent) -> Result<bool, Infallible> {
        Ok(self.directory.insert(upsert.clone()))
    }
    fn put_phone(&mut self, record: PhoneRecord) -> Result<(), Infallible> {
        self.phones.insert(record.phone.clone(), record);
        Ok(())
    }
    fn put_session(&mut self, record: SessionRecord) -> Result<(), Infallible> {
        self.sessions.insert(record.id, record);
        Ok(())
    }
    fn take_session(&mut self, id: SessionId) -> Result<Option<SessionRecord>, Infallible> {
        Ok(self.sessions.remove(&id))
    }
    fn keep_session(&mut self, record: SessionRecord) -> Result<(), Infallible> {
        self.sessions.insert(record.id, record);
        Ok(())
    }
    fn put_desk(&mut self, desk: Desk) -> Result<(), Infallible> {
        self.desks.insert(desk.id.clone(), desk);
        Ok(())
    }
    fn delete_desk(&mut self, id: &str) -> Result<(), Infallible> {
        self.desks.remove(id);
        Ok(())
    }
}

fn infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

impl State {
    pub fn apply(&mut self, event: &Event, received_at: Timestamp) -> Changed {
        infallible(apply(self, event, received_at))
    }

    pub fn ticket(&self, id: &str) -> Option<Ticket> {
        infallible(find_ticket(self, id))
    }

    /// All tickets, by id.
    pub fn tickets(&self) -> BTreeMap<TicketId, Ticket> {
        self.desks
            .values()
            .flat_map(|d| d.tickets.iter().map(|(id, t)| (id.clone(), t.clone())))
            .collect()
    }

    pub fn customer(&self, id: &str) -> Option<Customer> {
        self.desks.get(id).and_then(|d| d.customer.clone())
    }

    pub fn customer_by_phone(&self, phone: &Phone) -> Option<Customer> {
        infallible(customer_by_phone(self, phone))
    }

    pub fn call(&self, id: SessionId) -> Option<Call> {
        infallible(find_call(self, id))
    }
}
