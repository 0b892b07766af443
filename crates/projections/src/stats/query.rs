//! Reading the statistics: a period is cut into aligned blocks, and each
//! block's bucket gives its part of every figure (`docs/statistics.md`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::stats::period::{self, quarter_of, Block, LocalHour};
use domain::stats::{Agg, Breakdown, CallRecordPage, Dim, Period};
use domain::Timestamp;

use crate::codec::{self, Kind};
use crate::stats::encode::{self, Acc};
use crate::stats::keys::{self, Family};
use crate::views::Views;
use crate::Error;

/// The most call records one page holds.
pub const CALL_RECORDS_FIRST_MAX: usize = 1_000;

/// Sums of quarters `[from, to)`: all tickets / calls, and (`dims`) every
/// agent and queue, by dimension key. Each block of the period adds its
/// first-in-block sums minus its cross-block pairs whose predecessor is at or
/// after `from` (read straight from the stored bytes).
fn sums(
    tree: &sled::Tree,
    family: Family,
    from: i64,
    to: i64,
    dims: bool,
) -> Result<(Agg, BTreeMap<Vec<u8>, Agg>), Error> {
    // A whole breakdown adds up big values: dense sums. A row of the hours
    // reads one or two small buckets: sparse sums.
    let mut dense = Acc::default();
    let mut sparse = Agg::new();
    let mut by_dim: HashMap<Vec<u8>, Acc> = HashMap::new();
    for block in period::decompose(from, to) {
        let key = keys::bucket(family, block, false);
        if let Some(value) = tree.get(&key)? {
            if dims {
                encode::add_bucket_part(&key, &value, from, &mut dense)?;
            } else {
                let part = encode::bucket_part(&key, &value, from)?;
                if sparse.is_empty() {
                    sparse = part;
                } else {
                    sparse.merge(&part, 1);
                }
            }
        }
        if dims {
            let key = keys::bucket(family, block, true);
            if let Some(value) = tree.get(&key)? {
                encode::add_dims_parts(&key, &value, from, &mut by_dim)?;
            }
        }
    }
    let by_dim = by_dim
        .into_iter()
        .map(|(dim, acc)| (dim, acc.into_agg()))
        .filter(|(_, agg)| !agg.is_empty())
        .collect();
    let all = if dims { dense.into_agg() } else { sparse };
    Ok((all, by_dim))
}

fn breakdown(
    views: &Views,
    family: Family,
    period: &Period,
    by_dim: bool,
    hours: bool,
) -> Result<Breakdown, Error> {
    let _read = views.read_gate();
    let tree = &views.tree();
    let (from, to) = period.quarters();
    let mut out = Breakdown::default();
    let (overall, by_dim) = sums(tree, family, from, to, by_dim)?;
    out.overall = overall;
    {
        for (dim, agg) in by_dim {
            match keys::parse_dim(&dim) {
                Some(Dim::Agent(id)) => out.agents.push((id, agg)),
                Some(Dim::Queue(name)) => out.queues.push((name, agg)),
                Some(Dim::All) | None => {
                    return Err(Error::Corrupt {
                        key: keys::describe(&dim),
                        reason: "unknown statistics dimension".into(),
                    })
                }
            }
        }
    }
    if hours {
        let rows: Vec<(LocalHour, i64, Vec<Block>)> = period
            .local_hours()
            .into_iter()
            .map(|row| {
                let (from, to) = (quarter_of(row.from), quarter_of(row.to));
                (row, from, period::decompose(from, to))
            })
            .collect();
        let values = everything_buckets(
            tree,
            family,
            rows.iter()
                .flat_map(|(_, _, blocks)| blocks.iter().copied()),
        )?;
        for (row, from, blocks) in rows {
            let mut agg = Agg::new();
            for block in blocks {
                if let Some(value) = values.get(&block) {
                    let key = keys::bucket(family, block, false);
                    let part = encode::bucket_part(&key, value, from)?;
                    if agg.is_empty() {
                        agg = part;
                    } else {
                        agg.merge(&part, 1);
                    }
                }
            }
            out.hours.push((row, agg));
        }
    }
    Ok(out)
}

/// The stored "everything" buckets of `blocks` (the hour rows of a period:
/// hundreds of small buckets). A level whose wanted blocks are at least half
/// of the blocks between its first and last is read with one range scan (a
/// month of hours: one walk along the leaves instead of ~720 descents), the
/// others one by one.
fn everything_buckets(
    tree: &sled::Tree,
    family: Family,
    blocks: impl Iterator<Item = Block>,
) -> Result<HashMap<Block, sled::IVec>, Error> {
    let mut by_level: BTreeMap<u8, BTreeSet<i64>> = BTreeMap::new();
    for block in blocks {
        by_level.entry(block.level).or_default().insert(block.start);
    }
    let mut out = HashMap::new();
    for (level, starts) in by_level {
        let (Some(&first), Some(&last)) = (starts.first(), starts.last()) else {
            continue;
        };
        let size = period::LEVELS[usize::from(level)];
        let span = (last - first) / size + 1;
        if (starts.len() as i64) * 2 >= span {
            let low = keys::bucket(
                family,
                Block {
                    level,
                    start: first,
                },
                false,
            );
            let high = keys::bucket(family, Block { level, start: last }, true);
            for entry in tree.range(low..=high) {
                let (key, value) = entry?;
                if let Some(start) = keys::everything_bucket_start(&key) {
                    if starts.contains(&start) {
                        out.insert(Block { level, start }, value);
                    }
                }
            }
        } else {
            for start in starts {
                let block = Block { level, start };
                if let Some(value) = tree.get(keys::bucket(family, block, false))? {
                    out.insert(block, value);
                }
            }
        }
    }
    Ok(out)
}

impl Views {
    /// Ticket figures (CALLS channel) of `period`: overall, by assignee when
    /// `by_agent`, per local hour when `hours`.
    pub fn ticket_statistics(
        &self,
        period: &Period,
        by_agent: bool,
        hours: bool,
    ) -> Result<Breakdown, Error> {
        breakdown(self, Family::Tickets, period, by_agent, hours)
    }

    /// Call KPIs of `period`: overall, by agent and queue when `by_dim`, per
    /// local hour when `hours`.
    pub fn call_statistics(
        &self,
        period: &Period,
        by_dim: bool,
        hours: bool,
    ) -> Result<Breakdown, Error> {
        breakdown(self, Family::Calls, period, by_dim, hours)
    }

    /// Call records that started in `[from, to)`, in start order, `first` at
    /// most ([`CALL_RECORDS_FIRST_MAX`]), after the cursor `after`.
    pub fn call_records(
        &self,
        from: Timestamp,
        to: Timestamp,
        first: usize,
        after: Option<&str>,
    ) -> Result<CallRecordPage, Error> {
        let first = first.min(CALL_RECORDS_FIRST_MAX);
        let _read = self.read_gate();
        let mut start = keys::call_time(from);
        if let Some(cursor) = after {
            let bad = || Error::BadCursor(cursor.to_owned());
            let bytes = cursor
                .strip_prefix("c1.")
                .and_then(|hex_text| hex::decode(hex_text).ok())
                .ok_or_else(bad)?;
            let mut key = vec![keys::PREFIX, keys::CALL];
            key.extend_from_slice(&bytes);
            key.push(0); // strictly after
            start = start.max(key);
        }
        let end = keys::call_time(to);
        let mut page = CallRecordPage::default();
        let mut last_key = None;
        for entry in self.tree().range(start..end) {
            let (key, value) = entry?;
            if page.records.len() == first {
                page.has_next_page = true;
                break;
            }
            page.records
                .push(codec::decode(Kind::CallRecord, &key, &value)?);
            last_key = Some(key);
        }
        page.end_cursor = last_key.map(|key| format!("c1.{}", hex::encode(&key[2..])));
        Ok(page)
    }

    /// One call's record, by key (`cg-<session>`, `cc-<call id>`).
    pub fn call_record(&self, call_key: &str) -> Result<Option<domain::stats::CallRecord>, Error> {
        let _read = self.read_gate();
        crate::stats::StatsBatch::new(self).load_call(call_key)
    }
}
