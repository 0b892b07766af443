//! Keys of the statistics read model, inside the helpdesk tree under `s`
//! (one tree: one atomic batch with the records they derive from).
//!
//! | key | value |
//! |---|---|
//! | `sb` + family + level + block start + `0` | the block's bucket of all tickets / calls: first-in-block sums, cross-block pairs by quarter hour |
//! | `sb` + family + level + block start + `1` | the block's buckets of every agent and queue, in one value |
//! | `sc` + start time + call key | `CallRecord` (the CDR, in time order) |
//! | `sk` + call key | the call's start time (to find its `sc` record) |
//! | `sp` + phone + start time + call key | empty: a phone's calls (callbacks) |
//! | `sl` + call id | live state of a native-feed call (dashboard) |
//! | `sa` + agent id | live state of an agent (dashboard) |
//! | `sd` | the dashboard's counters |
//!
//! Times and block starts are order-preserving 8-byte big-endian integers
//! (sign bit flipped); a dim is `0` (all), `1` + agent id, `2` + queue name.

use domain::stats::{Block, Dim};
use domain::Timestamp;

pub(crate) const PREFIX: u8 = b's';
pub(crate) const BUCKET: u8 = b'b';
pub(crate) const CALL: u8 = b'c';
pub(crate) const CALL_KEY: u8 = b'k';
pub(crate) const PHONE: u8 = b'p';
pub(crate) const LIVE_CALL: u8 = b'l';
pub(crate) const LIVE_AGENT: u8 = b'a';
pub(crate) const DASHBOARD: u8 = b'd';

/// Which figures a bucket holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Tickets,
    Calls,
}

impl Family {
    fn byte(self) -> u8 {
        match self {
            Family::Tickets => b't',
            Family::Calls => b'c',
        }
    }
}

pub(crate) fn ordered(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn unordered(bytes: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

pub(crate) fn dim_bytes(dim: &Dim) -> Vec<u8> {
    match dim {
        Dim::All => vec![0],
        Dim::Agent(id) => [&[1u8][..], id.as_bytes()].concat(),
        Dim::Queue(name) => [&[2u8][..], name.as_bytes()].concat(),
    }
}

pub(crate) fn parse_dim(bytes: &[u8]) -> Option<Dim> {
    let (&tag, rest) = bytes.split_first()?;
    let text = || String::from_utf8(rest.to_vec()).ok();
    match tag {
        0 if rest.is_empty() => Some(Dim::All),
        1 => text().map(Dim::Agent),
        2 => text().map(Dim::Queue),
        _ => None,
    }
}

/// The bucket of all tickets / calls of a block (`dims: false`), or the
/// buckets of its agents and queues (`dims: true`).
pub(crate) fn bucket(family: Family, block: Block, dims: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(13);
    key.extend_from_slice(&[PREFIX, BUCKET, family.byte(), block.level]);
    key.extend_from_slice(&ordered(block.start));
    key.push(u8::from(dims));
    key
}

/// The block start of an "everything" bucket key ([`bucket`] with `dims:
/// false`); `None` for any other key.
pub(crate) fn everything_bucket_start(key: &[u8]) -> Option<i64> {
    match key {
        [PREFIX, BUCKET, _, _, start @ .., 0] if start.len() == 8 => unordered(start),
        _ => None,
    }
}

pub(crate) fn call(started_at: Timestamp, call_key: &str) -> Vec<u8> {
    let mut key = vec![PREFIX, CALL];
    key.extend_from_slice(&ordered(started_at.micros()));
    key.extend_from_slice(call_key.as_bytes());
    key
}

pub(crate) fn call_time(at: Timestamp) -> Vec<u8> {
    let mut key = vec![PREFIX, CALL];
    key.extend_from_slice(&ordered(at.micros()));
    key
}

pub(crate) fn call_key(call_key: &str) -> Vec<u8> {
    [&[PREFIX, CALL_KEY][..], call_key.as_bytes()].concat()
}

pub(crate) fn phone_prefix(phone: &str) -> Vec<u8> {
    let mut key = vec![PREFIX, PHONE];
    key.extend_from_slice(&(phone.len() as u32).to_be_bytes());
    key.extend_from_slice(phone.as_bytes());
    key
}

pub(crate) fn phone_call(phone: &str, started_at: Timestamp, call_key: &str) -> Vec<u8> {
    let mut key = phone_prefix(phone);
    key.extend_from_slice(&ordered(started_at.micros()));
    key.extend_from_slice(call_key.as_bytes());
    key
}

pub(crate) fn live_call(id: &str) -> Vec<u8> {
    [&[PREFIX, LIVE_CALL][..], id.as_bytes()].concat()
}

pub(crate) fn live_agent(id: &str) -> Vec<u8> {
    [&[PREFIX, LIVE_AGENT][..], id.as_bytes()].concat()
}

pub(crate) fn dashboard() -> [u8; 2] {
    [PREFIX, DASHBOARD]
}

/// A statistics key as people read it (error messages).
pub(crate) fn describe(key: &[u8]) -> String {
    let kind = match key.get(1) {
        Some(&BUCKET) => "statistics bucket",
        Some(&CALL) => "call record",
        Some(&CALL_KEY) => "call record index",
        Some(&PHONE) => "phone call index",
        Some(&LIVE_CALL) => "live call",
        Some(&LIVE_AGENT) => "live agent",
        Some(&DASHBOARD) => "dashboard",
        _ => "statistics",
    };
    format!(
        "{kind} {}",
        String::from_utf8_lossy(key.get(2..).unwrap_or_default())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_time_order_and_dims_round_trip() {
        let mut times = [5i64, -7, 0, i64::MAX, i64::MIN];
        let mut keys: Vec<[u8; 8]> = times.iter().map(|&t| ordered(t)).collect();
        keys.sort();
        times.sort();
        assert_eq!(
            keys.iter()
                .map(|k| unordered(k).unwrap())
                .collect::<Vec<_>>(),
            times
        );
        for dim in [
            Dim::All,
            Dim::Agent("alice".into()),
            Dim::Queue("Support".into()),
        ] {
            assert_eq!(parse_dim(&dim_bytes(&dim)), Some(dim));
        }
    }
}
