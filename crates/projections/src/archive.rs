//! The call archive: one view per call (either feed) and the indexes behind
//! `calls(filter, first, after)`.
//!
//! Each call has a view record (`A` + archive id: its `CallSummary`), one entry
//! in the newest-start-first order (`a` + sort key) and one entry per filter
//! value (`x` + field + value + sort key): each customer phone, each agent shown
//! on the timeline, the direction, the outcome. The sort key is the call's
//! start (descending) then its archive id.
//!
//! Summaries are computed right after the event that changed the call (in the
//! projector's batch), so what is stored never depends on batch boundaries; the
//! commit compares each with the committed view and rewrites the index entries
//! that changed.

use std::collections::BTreeSet;
use std::ops::Bound;

use domain::contact::CallKind;
use domain::{CallSummary, Outcome, Phone, Timestamp};

use crate::codec::{self, Kind};
use crate::keys::{self, CallField};
use crate::views::Views;
use crate::write::Writer;
use crate::Error;

/// The most calls one `calls` page returns; larger `first` values are clamped.
pub const CALLS_FIRST_MAX: usize = 500;

fn sort_key(summary: &CallSummary) -> Vec<u8> {
    keys::sort_key(summary.started_at, &summary.id)
}

fn fields(summary: &CallSummary) -> Vec<CallField<'_>> {
    let mut fields = vec![
        CallField::Direction(summary.direction),
        CallField::Outcome(summary.outcome),
    ];
    fields.extend(summary.phones.iter().map(CallField::Phone));
    fields.extend(summary.agents.iter().map(|a| CallField::Agent(a)));
    fields
}

fn index_keys(summary: &CallSummary) -> BTreeSet<Vec<u8>> {
    let sort_key = sort_key(summary);
    let mut out = BTreeSet::new();
    let mut order = keys::call_order_prefix().to_vec();
    order.extend_from_slice(&sort_key);
    out.insert(order);
    for field in fields(summary) {
        let mut key = keys::call_index_prefix(&field);
        key.extend_from_slice(&sort_key);
        out.insert(key);
    }
    out
}

/// Stages the change of one call's view and index entries.
pub(crate) fn stage(
    writer: &mut Writer<'_>,
    id: &str,
    old: Option<&CallSummary>,
    new: Option<&CallSummary>,
) -> Result<(), Error> {
    writer.move_index_entries(
        &old.map(index_keys).unwrap_or_default(),
        &new.map(index_keys).unwrap_or_default(),
    )?;
    match new {
        Some(summary) => writer.insert(keys::archive(id), codec::encode(Kind::Archive, summary)),
        None => writer.remove(keys::archive(id)),
    }
}

/// GraphQL `CallFilter`: every given criterion must hold. `phone` may be
/// formatted any way and matches any customer number of the call; `agent_id`
/// matches the agents shown on the call's timeline; the period is
/// `[from, to)` on the call's start; `direction` and `outcome` match any of the
/// listed values (an empty list matches nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub phone: Option<String>,
    pub agent_id: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub direction: Option<Vec<CallKind>>,
    pub outcome: Option<Vec<Outcome>>,
}

/// GraphQL `CallConnection`.
pub type CallPage = crate::keys::Page<CallSummary>;

const CURSOR_PREFIX: &str = "c1.";

fn cursor(sort_key: &[u8]) -> String {
    keys::cursor(CURSOR_PREFIX, sort_key)
}

fn parse_cursor(text: &str) -> Result<Vec<u8>, Error> {
    keys::parse_cursor(CURSOR_PREFIX, text)
}

/// The 8 bytes of a sort key that order by time.
fn time_part(at: Timestamp) -> Vec<u8> {
    let mut key = keys::sort_key(at, "");
    key.truncate(8);
    key
}

struct Criteria {
    phone: Option<Phone>,
    agent_id: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    direction: Option<Vec<CallKind>>,
    outcome: Option<BTreeSet<Outcome>>,
}

impl Criteria {
    /// `None`: the filter matches nothing.
    fn resolve(filter: &CallFilter) -> Option<Criteria> {
        let direction = filter.direction.as_ref().map(|list| {
            let mut distinct: Vec<CallKind> = Vec::new();
            for kind in list {
                if !distinct.contains(kind) {
                    distinct.push(*kind);
                }
            }
            distinct
        });
        let outcome = filter
            .outcome
            .as_ref()
            .map(|list| list.iter().copied().collect::<BTreeSet<_>>());
        if direction.as_ref().is_some_and(Vec::is_empty)
            || outcome.as_ref().is_some_and(BTreeSet::is_empty)
        {
            return None;
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from >= to {
                return None;
            }
        }
        let phone = match &filter.phone {
            Some(text) => Some(Phone::normalize(text)?),
            None => None,
        };
        Some(Criteria {
            phone,
            agent_id: filter.agent_id.clone(),
            from: filter.from,
            to: filter.to,
            direction,
            outcome,
        })
    }

    /// The index prefixes whose entries are the candidates, and whether the
    /// other criteria must be checked on each candidate's view.
    fn sources(&self) -> (Vec<Vec<u8>>, bool) {
        let listed = usize::from(self.phone.is_some())
            + usize::from(self.agent_id.is_some())
            + usize::from(self.direction.is_some())
            + usize::from(self.outcome.is_some());
        let residual = listed > 1;
        let sources = if let Some(phone) = &self.phone {
            vec![keys::call_index_prefix(&CallField::Phone(phone))]
        } else if let Some(agent) = &self.agent_id {
            vec![keys::call_index_prefix(&CallField::Agent(agent))]
        } else if let Some(outcomes) = &self.outcome {
            outcomes
                .iter()
                .map(|o| keys::call_index_prefix(&CallField::Outcome(*o)))
                .collect()
        } else if let Some(directions) = &self.direction {
            directions
                .iter()
                .map(|d| keys::call_index_prefix(&CallField::Direction(*d)))
                .collect()
        } else {
            vec![keys::call_order_prefix().to_vec()]
        };
        (sources, residual)
    }

    fn matches(&self, summary: &CallSummary) -> bool {
        self.phone
            .as_ref()
            .is_none_or(|p| summary.phones.contains(p))
            && self
                .agent_id
                .as_ref()
                .is_none_or(|a| summary.agents.contains(a))
            && self
                .direction
                .as_ref()
                .is_none_or(|d| d.contains(&summary.direction))
            && self
                .outcome
                .as_ref()
                .is_none_or(|o| o.contains(&summary.outcome))
            && self.from.is_none_or(|from| summary.started_at >= from)
            && self.to.is_none_or(|to| summary.started_at < to)
    }

    /// The key range of one index prefix that holds the period's calls.
    fn range(&self, prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
        let with = |part: &[u8]| {
            let mut key = prefix.to_vec();
            key.extend_from_slice(part);
            key
        };
        // Newer calls sort first: `to` bounds the start of the range, `from` its end.
        let lower = match self.to {
            Some(to) => Bound::Included(with(&time_part(Timestamp(to.0.saturating_sub(1))))),
            None => Bound::Included(prefix.to_vec()),
        };
        let upper = match self.from {
            Some(from) if from.0 > i64::MIN => {
                Bound::Excluded(with(&time_part(Timestamp(from.0 - 1))))
            }
            // Ids are UTF-8 (never a 0xFF byte): this is past every key of the prefix.
            _ => Bound::Excluded(with(&[0xFF; 9])),
        };
        (lower, upper)
    }
}

impl Views {
    pub(crate) fn archive_view(&self, id: &str) -> Result<Option<CallSummary>, Error> {
        self.load(Kind::Archive, &keys::archive(id))
    }

    /// The archived summary of a call by archive id (`"123"`, `"cc:<call_id>"`).
    pub fn call_summary(&self, id: &str) -> Result<Option<CallSummary>, Error> {
        let _read = self.read_gate();
        self.archive_view(id)
    }

    /// A page of calls matching `filter`, newest start first (then archive id),
    /// after the cursor `after`. `first` is clamped to [`CALLS_FIRST_MAX`];
    /// `first = 0` gives the count.
    pub fn calls(
        &self,
        filter: &CallFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<CallPage, Error> {
        let first = first.min(CALLS_FIRST_MAX);
        let after = after.map(parse_cursor).transpose()?;
        let Some(criteria) = Criteria::resolve(filter) else {
            return Ok(CallPage::default());
        };
        let (sources, residual) = criteria.sources();
        let _read = self.read_gate();

        let mut total_count = 0u64;
        // (sort key, summary) of matches after the cursor, in order.
        let mut page: Vec<(Vec<u8>, CallSummary)> = Vec::new();
        // One scan per prefix (several for a list of outcomes or directions: a
        // call has one of each, so the scans never overlap), merged by sort key.
        let scans: Vec<_> = sources
            .iter()
            .map(|prefix| {
                let skip = prefix.len();
                self.tree()
                    .range(criteria.range(prefix))
                    .keys()
                    .map(move |entry| entry.map(|key| key[skip..].to_vec()))
                    .peekable()
            })
            .collect();
        let candidates = Merge { scans };
        for sort_key in candidates {
            let sort_key = sort_key?;
            let id = keys::sort_key_id(&sort_key).ok_or_else(|| bad_entry(&sort_key))?;
            let later = after.as_ref().is_none_or(|a| sort_key > *a);
            let wanted = later && page.len() <= first;
            if !residual && !wanted {
                total_count += 1;
                continue;
            }
            let summary = self.archive_view(id)?.ok_or_else(|| Error::Corrupt {
                key: format!("archive index entry {id}"),
                reason: "no archived call".into(),
            })?;
            if !criteria.matches(&summary) {
                continue;
            }
            total_count += 1;
            if wanted {
                page.push((sort_key, summary));
            }
        }
        let has_next_page = page.len() > first;
        page.truncate(first);
        Ok(CallPage {
            end_cursor: page.last().map(|(key, _)| cursor(key)),
            nodes: page.into_iter().map(|(_, summary)| summary).collect(),
            total_count,
            has_next_page,
        })
    }
}

/// Sorted key scans merged into one sorted stream (errors first).
struct Merge<I: Iterator> {
    scans: Vec<std::iter::Peekable<I>>,
}

impl<I: Iterator<Item = Result<Vec<u8>, sled::Error>>> Iterator for Merge<I> {
    type Item = Result<Vec<u8>, sled::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, Vec<u8>)> = None;
        for index in 0..self.scans.len() {
            let key = match self.scans[index].peek() {
                None => continue,
                Some(Err(_)) => return self.scans[index].next(),
                Some(Ok(key)) => key,
            };
            if best.as_ref().is_none_or(|(_, b)| key < b) {
                best = Some((index, key.clone()));
            }
        }
        best.and_then(|(index, _)| self.scans[index].next())
    }
}

fn bad_entry(key: &[u8]) -> Error {
    Error::Corrupt {
        key: keys::describe(key),
        reason: "archive index entry without a call id".into(),
    }
}
