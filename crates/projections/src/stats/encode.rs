//! The statistics buckets' own compact encoding: a 4-byte header (`CS`, kind,
//! version) then LEB128 varints (signed values zigzag, sorted keys as deltas).
//! Canonical: equal sums always encode to equal bytes.

use domain::stats::Agg;

use crate::Error;

/// Bumped when the layout of a statistics value changes (then: `callfold rebuild`).
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: [u8; 2] = *b"CS";
pub(crate) const BUCKET: u8 = b'b';
pub(crate) const DIMS: u8 = b'd';

fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            if shift > 63 {
                return None;
            }
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
        }
    }

    fn i64(&mut self) -> Option<i64> {
        let v = self.u64()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn agg(&mut self) -> Option<Agg> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.bytes.len() {
            return None;
        }
        let mut entries = Vec::with_capacity(n);
        let mut key = 0u64;
        for i in 0..n {
            let delta = self.u64()?;
            key = if i == 0 {
                delta
            } else {
                key.checked_add(delta)?
            };
            entries.push((u32::try_from(key).ok()?, self.i64()?));
        }
        Agg::from_sorted(entries)
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn put_agg(out: &mut Vec<u8>, agg: &Agg) {
    put_u64(out, agg.entries().len() as u64);
    let mut last = 0u64;
    for (i, &(k, v)) in agg.entries().iter().enumerate() {
        let k = u64::from(k);
        put_u64(out, if i == 0 { k } else { k - last });
        last = k;
        put_i64(out, v);
    }
}

fn header(kind: u8) -> Vec<u8> {
    vec![MAGIC[0], MAGIC[1], kind, FORMAT_VERSION]
}

fn body<'a>(kind: u8, key: &[u8], bytes: &'a [u8]) -> Result<Reader<'a>, Error> {
    if bytes.len() < 4 || bytes[..2] != MAGIC || bytes[2] != kind {
        return Err(corrupt(key, "missing statistics header".into()));
    }
    if bytes[3] != FORMAT_VERSION {
        return Err(corrupt(
            key,
            format!(
                "statistics format version {} (this build reads {FORMAT_VERSION}; rebuild the views)",
                bytes[3]
            ),
        ));
    }
    Ok(Reader { bytes, at: 4 })
}

fn corrupt(key: &[u8], reason: String) -> Error {
    Error::Corrupt {
        key: crate::keys::describe(key),
        reason,
    }
}

/// A bucket: the first-in-block sums and the cross-block pairs by the quarter
/// hour of their predecessor (`docs/statistics.md`, "How it is kept").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub first: Agg,
    /// Sorted by quarter hour, no empty sums.
    pub cross: Vec<(i64, Agg)>,
}

impl Bucket {
    pub fn is_empty(&self) -> bool {
        self.first.is_empty() && self.cross.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = header(BUCKET);
        put_agg(&mut out, &self.first);
        put_series(&mut out, &self.cross);
        out
    }

    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Bucket, Error> {
        let mut r = body(BUCKET, key, bytes)?;
        match (read_bucket(&mut r), r.done()) {
            (Some(bucket), true) => Ok(bucket),
            _ => Err(corrupt(key, "undecodable statistics bucket".into())),
        }
    }
}

fn put_bucket(out: &mut Vec<u8>, bucket: &Bucket) {
    put_agg(out, &bucket.first);
    put_series(out, &bucket.cross);
}

fn read_bucket(r: &mut Reader<'_>) -> Option<Bucket> {
    let first = r.agg()?;
    let cross = read_series(r)?;
    Some(Bucket { first, cross })
}

/// The buckets of every agent and queue of one block, in one value (sorted
/// by dimension key, no empty bucket).
pub(crate) fn encode_dims(dims: &[(Vec<u8>, Bucket)]) -> Vec<u8> {
    let mut out = header(DIMS);
    put_u64(&mut out, dims.len() as u64);
    for (dim, bucket) in dims {
        put_u64(&mut out, dim.len() as u64);
        out.extend_from_slice(dim);
        put_bucket(&mut out, bucket);
    }
    out
}

pub(crate) fn decode_dims(key: &[u8], bytes: &[u8]) -> Result<Vec<(Vec<u8>, Bucket)>, Error> {
    let mut r = body(DIMS, key, bytes)?;
    let read = |r: &mut Reader<'_>| -> Option<Vec<(Vec<u8>, Bucket)>> {
        let n = usize::try_from(r.u64()?).ok()?;
        if n > r.bytes.len() {
            return None;
        }
        let mut out: Vec<(Vec<u8>, Bucket)> = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::try_from(r.u64()?).ok()?;
            let dim = r.bytes.get(r.at..r.at.checked_add(len)?)?.to_vec();
            r.at += len;
            let bucket = read_bucket(r)?;
            if out.last().is_some_and(|(last, _)| *last >= dim) || bucket.is_empty() {
                return None;
            }
            out.push((dim, bucket));
        }
        Some(out)
    };
    match (read(&mut r), r.done()) {
        (Some(dims), true) => Ok(dims),
        _ => Err(corrupt(key, "undecodable statistics dimensions".into())),
    }
}

fn put_series(out: &mut Vec<u8>, series: &[(i64, Agg)]) {
    put_u64(out, series.len() as u64);
    let mut last = 0i64;
    for (i, (at, agg)) in series.iter().enumerate() {
        put_i64(out, if i == 0 { *at } else { at - last });
        last = *at;
        put_agg(out, agg);
    }
}

fn read_series(r: &mut Reader<'_>) -> Option<Vec<(i64, Agg)>> {
    let n = usize::try_from(r.u64()?).ok()?;
    if n > r.bytes.len() {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    let mut at = 0i64;
    for i in 0..n {
        let delta = r.i64()?;
        at = if i == 0 {
            delta
        } else {
            at.checked_add(delta)?
        };
        out.push((at, r.agg()?));
    }
    out.windows(2).all(|w| w[0].0 < w[1].0).then_some(out)
}

/// Adds `sign * delta` to a sorted series, dropping sums that become empty.
pub(crate) fn merge_series(
    series: &mut Vec<(i64, Agg)>,
    delta: &std::collections::BTreeMap<i64, Agg>,
    sign: i64,
) {
    for (at, agg) in delta {
        match series.binary_search_by_key(at, |(k, _)| *k) {
            Ok(i) => {
                series[i].1.merge(agg, sign);
                if series[i].1.is_empty() {
                    series.remove(i);
                }
            }
            Err(i) => {
                let mut value = Agg::new();
                value.merge(agg, sign);
                if !value.is_empty() {
                    series.insert(i, (*at, value));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::stats::agg::{bin_key, key};

    #[test]
    fn buckets_round_trip_and_reject_garbage() {
        let bucket = Bucket {
            first: Agg::from_entries([(key(1), 3), (key(4), -2), (bin_key(40, 600), 1 << 40)]),
            cross: vec![
                (-3, Agg::from_entries([(key(4), 1)])),
                (19_800, Agg::from_entries([(key(5), 2)])),
            ],
        };
        let bytes = bucket.encode();
        assert_eq!(Bucket::decode(b"x", &bytes).unwrap(), bucket);
        assert!(Bucket::decode(b"x", &bytes[..bytes.len() - 1]).is_err());
        let mut other = bytes.clone();
        other[3] = FORMAT_VERSION + 1;
        assert!(Bucket::decode(b"x", &other)
            .unwrap_err()
            .to_string()
            .contains("version"));
        assert!(
            Bucket::decode(b"x", b"CSb\x01\x01\x00\x00").is_err(),
            "a zero sum is not canonical"
        );
        let dims = vec![
            (b"\x01alice".to_vec(), bucket.clone()),
            (b"\x02q".to_vec(), bucket),
        ];
        let bytes = encode_dims(&dims);
        assert_eq!(decode_dims(b"x", &bytes).unwrap(), dims);
        assert!(decode_dims(b"x", &bytes[..bytes.len() - 2]).is_err());
    }
}
