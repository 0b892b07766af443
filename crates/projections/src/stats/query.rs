//! Reading the statistics: a period is cut into aligned blocks, and each
//! block's bucket gives its part of every figure (`docs/statistics.md`).

use std::collections::BTreeMap;

use domain::stats::period::{self, quarter_of};
use domain::stats::{Agg, Block, Breakdown, CallRecordPage, Dim, Period};
use domain::Timestamp;

use crate::codec::{self, Kind};
use crate::stats::encode::{self, Bucket};
use crate::stats::keys::{self, Family};
use crate::views::Views;
use crate::Error;

/// The most call records one page holds.
pub const CALL_RECORDS_FIRST_MAX: usize = 1_000;

/// What a block adds to a period that starts at quarter `from`: its
/// first-in-block sums minus the pairs whose predecessor is at or after `from`.
fn block_part(
    tree: &sled::Tree,
    family: Family,
    block: Block,
    dim: &[u8],
    bucket: &Bucket,
    from: i64,
) -> Result<Agg, Error> {
    let mut sum = bucket.first.clone();
    if bucket.cross.is_empty() {
        return Ok(sum);
    }
    let from_day = period::day_of(period::quarter_start(from));
    let later = bucket.cross.partition_point(|(day, _)| *day <= from_day);
    for (_, agg) in &bucket.cross[later..] {
        sum.merge(agg, -1);
    }
    let same_day = bucket.cross[..later]
        .last()
        .is_some_and(|(day, _)| *day == from_day);
    if same_day {
        let key = keys::fine(family, block, from_day, dim);
        if let Some(bytes) = tree.get(&key)? {
            for (quarter, agg) in encode::decode_series(encode::FINE, &key, &bytes)? {
                if quarter >= from {
                    sum.merge(&agg, -1);
                }
            }
        }
    }
    Ok(sum)
}

/// Sums of quarters `[from, to)`, every dimension.
fn sums_by_dim(
    tree: &sled::Tree,
    family: Family,
    from: i64,
    to: i64,
) -> Result<BTreeMap<Vec<u8>, Agg>, Error> {
    let mut out: BTreeMap<Vec<u8>, Agg> = BTreeMap::new();
    for block in period::decompose(from, to) {
        let prefix = keys::block_prefix(family, block);
        for entry in tree.scan_prefix(&prefix) {
            let (key, value) = entry?;
            let dim = &key[prefix.len()..];
            let bucket = Bucket::decode(&key, &value)?;
            let part = block_part(tree, family, block, dim, &bucket, from)?;
            out.entry(dim.to_vec()).or_default().merge(&part, 1);
        }
    }
    out.retain(|_, agg| !agg.is_empty());
    Ok(out)
}

/// Sums of quarters `[from, to)` for one dimension.
fn sums_of(
    tree: &sled::Tree,
    family: Family,
    from: i64,
    to: i64,
    dim: &[u8],
) -> Result<Agg, Error> {
    let mut out = Agg::new();
    for block in period::decompose(from, to) {
        let key = keys::bucket(family, block, dim);
        if let Some(value) = tree.get(&key)? {
            let bucket = Bucket::decode(&key, &value)?;
            out.merge(&block_part(tree, family, block, dim, &bucket, from)?, 1);
        }
    }
    Ok(out)
}

fn breakdown(
    views: &Views,
    family: Family,
    period: &Period,
    by_dim: bool,
    hours: bool,
) -> Result<Breakdown, Error> {
    let _read = views.read_gate();
    let tree = views.tree();
    let (from, to) = period.quarters();
    let all = keys::dim_bytes(&Dim::All);
    let mut out = Breakdown::default();
    if by_dim {
        for (dim, agg) in sums_by_dim(tree, family, from, to)? {
            match keys::parse_dim(&dim) {
                Some(Dim::All) => out.overall = agg,
                Some(Dim::Agent(id)) => out.agents.push((id, agg)),
                Some(Dim::Queue(name)) => out.queues.push((name, agg)),
                None => {
                    return Err(Error::Corrupt {
                        key: keys::describe(&dim),
                        reason: "unknown statistics dimension".into(),
                    })
                }
            }
        }
    } else {
        out.overall = sums_of(tree, family, from, to, &all)?;
    }
    if hours {
        for row in period.local_hours() {
            let agg = sums_of(tree, family, quarter_of(row.from), quarter_of(row.to), &all)?;
            out.hours.push((row, agg));
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

    /// The sums of one local hour list (for reports that need other rows).
    pub fn call_sums(&self, from: Timestamp, to: Timestamp) -> Result<Agg, Error> {
        let _read = self.read_gate();
        sums_of(
            self.tree(),
            Family::Calls,
            quarter_of(from),
            quarter_of(to),
            &keys::dim_bytes(&Dim::All),
        )
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
