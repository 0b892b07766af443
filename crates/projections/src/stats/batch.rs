//! The statistics side of one projector batch: bucket deltas, call records
//! and live state, staged into the same atomic sled batch as the helpdesk
//! records they derive from.
//!
//! Everything written is a pure function of the current tickets, calls and
//! contact events (sums of contributions, with exact integer arithmetic;
//! empty sums removed), so any batching of the same log gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use domain::stats::calls::{self, CallRecord};
use domain::stats::{tickets, Agg, Block, Dim, StatEvent};
use domain::{Ticket, Timestamp};

use crate::codec::{self, Kind};
use crate::stats::encode::{self, Bucket};
use crate::stats::keys::{self, Family};
use crate::views::Views;
use crate::Error;

#[derive(Default)]
pub(crate) struct BucketDelta {
    first: Agg,
    cross: BTreeMap<i64, Agg>,
}

fn apply(bucket: &mut Bucket, delta: &BucketDelta) {
    bucket.first.merge(&delta.first, 1);
    encode::merge_series(&mut bucket.cross, &delta.cross, 1);
}

/// Per family and block: the delta of each dimension (dim key bytes).
pub(crate) type Deltas = BTreeMap<(Family, Block), BTreeMap<Vec<u8>, BucketDelta>>;

/// Pending statistics writes of one batch; reads see them first.
pub(crate) struct StatsBatch<'v> {
    views: &'v Views,
    buckets: Deltas,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The live dashboard changed in this batch.
    pub dashboard_changed: bool,
    /// CallGear sessions and contact-centre calls changed since the last
    /// [`crate::stats::settle`]: their records are derived then.
    pub dirty_sessions: BTreeSet<domain::SessionId>,
    pub dirty_contacts: BTreeSet<String>,
    /// Phone numbers whose calls changed: their callbacks are re-derived
    /// once, when the batch is staged.
    dirty_phones: BTreeSet<String>,
}

/// What one ticket or call adds to one dimension.
type Contribution = (Dim, StatEvent);

fn sort_key(c: &Contribution) -> (&Dim, Timestamp, Option<Timestamp>, &[(u32, i64)]) {
    (&c.0, c.1.at, c.1.prev, c.1.value.entries())
}

fn ticket_contributions(ticket: Option<&Ticket>) -> Vec<Contribution> {
    let Some(ticket) = ticket else {
        return Vec::new();
    };
    let events = tickets::events(ticket);
    let mut out = Vec::new();
    for dim in tickets::dims(ticket) {
        out.extend(events.iter().map(|e| (dim.clone(), e.clone())));
    }
    out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    out
}

fn call_contributions(call: Option<&CallRecord>) -> Vec<Contribution> {
    let Some(call) = call else {
        return Vec::new();
    };
    let mut out: Vec<Contribution> = calls::contributions(call)
        .into_iter()
        .map(|(dim, value)| {
            (
                dim,
                StatEvent {
                    at: call.started_at,
                    prev: None,
                    value,
                },
            )
        })
        .collect();
    out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    out
}

impl<'v> StatsBatch<'v> {
    pub(crate) fn new(views: &'v Views) -> StatsBatch<'v> {
        StatsBatch {
            views,
            buckets: BTreeMap::new(),
            writes: BTreeMap::new(),
            dashboard_changed: false,
            dirty_sessions: BTreeSet::new(),
            dirty_contacts: BTreeSet::new(),
            dirty_phones: BTreeSet::new(),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if let Some(pending) = self.writes.get(key) {
            return Ok(pending.clone());
        }
        Ok(self.views.tree().get(key)?.map(|v| v.to_vec()))
    }

    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub(crate) fn remove(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    /// The keys under `prefix`, committed or pending, without pending removals.
    pub(crate) fn keys_with_prefix(&self, prefix: &[u8]) -> Result<BTreeSet<Vec<u8>>, Error> {
        let mut out = BTreeSet::new();
        for entry in self.views.tree().scan_prefix(prefix) {
            out.insert(entry?.0.to_vec());
        }
        for (key, value) in self.writes.range(prefix.to_vec()..) {
            if !key.starts_with(prefix) {
                break;
            }
            match value {
                Some(_) => out.insert(key.clone()),
                None => out.remove(key),
            };
        }
        Ok(out)
    }

    /// One event of one dimension, added (`sign` 1) or taken away (−1).
    fn add_event(&mut self, family: Family, dim: &Dim, event: &StatEvent, sign: i64) {
        let dim = keys::dim_bytes(dim);
        let quarter = domain::stats::period::quarter_of(event.at);
        for block in Block::all_containing(quarter) {
            let start = block.start_time();
            let cross = match event.prev {
                None => None,
                Some(p) if p < start => Some(domain::stats::period::quarter_of(p)),
                // The predecessor is in this block (or not before the event):
                // the event is not its chain's first here.
                Some(_) => continue,
            };
            let by_dim = self.buckets.entry((family, block)).or_default();
            if !by_dim.contains_key(&dim) {
                by_dim.insert(dim.clone(), BucketDelta::default());
            }
            let delta = by_dim.get_mut(&dim).expect("inserted above");
            delta.first.merge(&event.value, sign);
            if let Some(quarter) = cross {
                delta
                    .cross
                    .entry(quarter)
                    .or_default()
                    .merge(&event.value, sign);
            }
        }
    }

    /// Replaces `old`'s contributions with `new`'s (equal ones untouched).
    fn replace(&mut self, family: Family, old: Vec<Contribution>, new: Vec<Contribution>) {
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => sort_key(a).cmp(&sort_key(b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    self.add_event(family, &old[i].0, &old[i].1, -1);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    self.add_event(family, &new[j].0, &new[j].1, 1);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// A ticket's view changed (appeared, changed, or left).
    pub(crate) fn ticket_changed(&mut self, old: Option<&Ticket>, new: Option<&Ticket>) {
        self.replace(
            Family::Tickets,
            ticket_contributions(old),
            ticket_contributions(new),
        );
    }

    pub(crate) fn load_call(&self, call_key: &str) -> Result<Option<CallRecord>, Error> {
        let Some(start) = self.get(&keys::call_key(call_key))? else {
            return Ok(None);
        };
        let Some(start) = keys::unordered(&start) else {
            return Err(Error::Corrupt {
                key: keys::describe(&keys::call_key(call_key)),
                reason: "not a time".into(),
            });
        };
        let key = keys::call(Timestamp(start), call_key);
        match self.get(&key)? {
            Some(bytes) => codec::decode(Kind::CallRecord, &key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn store_call(&mut self, old: Option<&CallRecord>, new: Option<&CallRecord>) {
        self.replace(
            Family::Calls,
            call_contributions(old),
            call_contributions(new),
        );
        if let Some(old) = old {
            self.remove(keys::call(old.started_at, &old.key));
            if let Some(phone) = &old.phone {
                self.remove(keys::phone_call(phone, old.started_at, &old.key));
            }
        }
        match new {
            Some(new) => {
                self.put(
                    keys::call(new.started_at, &new.key),
                    codec::encode(Kind::CallRecord, new),
                );
                self.put(
                    keys::call_key(&new.key),
                    keys::ordered(new.started_at.micros()).to_vec(),
                );
                if let Some(phone) = &new.phone {
                    self.put(
                        keys::phone_call(phone, new.started_at, &new.key),
                        Vec::new(),
                    );
                }
            }
            None => {
                if let Some(old) = old {
                    self.remove(keys::call_key(&old.key));
                }
            }
        }
    }

    /// Sets a call's record; the callbacks of the lost calls of its phone
    /// number(s) are re-derived when the batch is staged (its own included).
    pub(crate) fn set_call(&mut self, mut new: CallRecord) -> Result<(), Error> {
        let old = self.load_call(&new.key)?;
        new.callback = match (&old, new.is_lost()) {
            (Some(old), true) => old.callback.clone(),
            _ => None,
        };
        if old.as_ref() == Some(&new) {
            return Ok(());
        }
        self.store_call(old.as_ref(), Some(&new));
        self.dirty_phones.extend(old.and_then(|o| o.phone));
        self.dirty_phones.extend(new.phone);
        Ok(())
    }

    fn recompute_callbacks(&mut self, phone: &str) -> Result<(), Error> {
        let prefix = keys::phone_prefix(phone);
        let mut records = Vec::new();
        for key in self.keys_with_prefix(&prefix)? {
            let call_key = String::from_utf8_lossy(&key[prefix.len() + 8..]).into_owned();
            if let Some(record) = self.load_call(&call_key)? {
                records.push(record);
            }
        }
        let refs: Vec<&CallRecord> = records.iter().collect();
        for (key, callback) in calls::callbacks(&refs) {
            let Some(record) = records.iter().find(|r| r.key == key) else {
                continue;
            };
            if record.callback != callback {
                let mut updated = record.clone();
                updated.callback = callback;
                self.store_call(Some(record), Some(&updated));
            }
        }
        Ok(())
    }

    /// Re-derives the callbacks of every phone number whose calls changed
    /// since the last time (once per number); [`StatsBatch::stage`] does it
    /// first.
    pub(crate) fn settle_callbacks(&mut self) -> Result<(), Error> {
        for phone in std::mem::take(&mut self.dirty_phones) {
            self.recompute_callbacks(&phone)?;
        }
        Ok(())
    }

    /// Takes the bucket deltas of the blocks `take` selects out of this batch
    /// (they are not staged with it). Sums only add up, so a delta staged in
    /// a later batch instead gives the same bytes.
    pub(crate) fn take_buckets(&mut self, mut take: impl FnMut(Block) -> bool) -> Deltas {
        let (taken, kept) = std::mem::take(&mut self.buckets)
            .into_iter()
            .partition(|((_, block), _)| take(*block));
        self.buckets = kept;
        taken
    }

    /// Adds deltas taken from an earlier batch ([`StatsBatch::take_buckets`]).
    pub(crate) fn add_buckets(&mut self, deltas: Deltas) {
        for (block, by_dim) in deltas {
            let mine = self.buckets.entry(block).or_default();
            for (dim, delta) in by_dim {
                let into = mine.entry(dim).or_default();
                into.first.merge(&delta.first, 1);
                for (quarter, agg) in delta.cross {
                    into.cross.entry(quarter).or_default().merge(&agg, 1);
                }
            }
        }
    }

    /// Writes everything into `batch`.
    pub(crate) fn stage(mut self, batch: &mut crate::write::Writer<'_>) -> Result<(), Error> {
        debug_assert!(
            self.dirty_sessions.is_empty() && self.dirty_contacts.is_empty(),
            "calls noted but not settled"
        );
        self.settle_callbacks()?;
        let tree = self.views.tree();
        let all = keys::dim_bytes(&Dim::All);
        for ((family, block), mut deltas) in self.buckets {
            deltas.retain(|_, d| !(d.first.is_empty() && d.cross.values().all(Agg::is_empty)));
            if deltas.is_empty() {
                continue;
            }
            if let Some(delta) = deltas.remove(&all) {
                let key = keys::bucket(family, block, false);
                let mut bucket = match tree.get(&key)? {
                    Some(bytes) => Bucket::decode(&key, &bytes)?,
                    None => Bucket::default(),
                };
                apply(&mut bucket, &delta);
                if bucket.is_empty() {
                    batch.remove(key)?;
                } else {
                    batch.insert(key, bucket.encode())?;
                }
            }
            if deltas.is_empty() {
                continue;
            }
            let key = keys::bucket(family, block, true);
            let mut dims: BTreeMap<Vec<u8>, Bucket> = match tree.get(&key)? {
                Some(bytes) => encode::decode_dims(&key, &bytes)?.into_iter().collect(),
                None => BTreeMap::new(),
            };
            for (dim, delta) in deltas {
                let bucket = dims.entry(dim).or_default();
                apply(bucket, &delta);
            }
            dims.retain(|_, b| !b.is_empty());
            if dims.is_empty() {
                batch.remove(key)?;
            } else {
                let dims: Vec<(Vec<u8>, Bucket)> = dims.into_iter().collect();
                batch.insert(key, encode::encode_dims(&dims))?;
            }
        }
        for (key, value) in self.writes {
            match value {
                Some(value) => batch.insert(key, value)?,
                None => batch.remove(key)?,
            }
        }
        Ok(())
    }
}
