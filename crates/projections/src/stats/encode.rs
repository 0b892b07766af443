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
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        // Most values (deltas of sorted keys, counts) fit one byte.
        let first = *self.bytes.get(self.at)?;
        if first < 0x80 {
            self.at += 1;
            return Some(u64::from(first));
        }
        self.u64_long()
    }

    fn u64_long(&mut self) -> Option<u64> {
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

    #[inline]
    fn i64(&mut self) -> Option<i64> {
        let v = self.u64()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Reads one sum: a count, then its sorted keys (delta-coded) with their
    /// values, handing each entry to `f`. `None` unless canonical (keys
    /// strictly increasing, no zero value).
    fn entries(&mut self, mut f: impl FnMut(u32, i64)) -> Option<()> {
        let n = usize::try_from(self.u64()?).ok()?;
        if n > self.bytes.len() {
            return None;
        }
        let mut key = 0u64;
        for i in 0..n {
            let delta = self.u64()?;
            if i > 0 && delta == 0 {
                return None;
            }
            key = key.checked_add(delta)?;
            let value = self.i64()?;
            if value == 0 {
                return None;
            }
            f(u32::try_from(key).ok()?, value);
        }
        Some(())
    }

    fn agg(&mut self) -> Option<Agg> {
        let mut entries = Vec::new();
        self.entries(|k, v| entries.push((k, v)))?;
        Agg::from_sorted(entries)
    }

    /// Reads a series: a count, then per element its quarter hour
    /// (delta-coded, strictly increasing), handed to `f` to read the rest.
    fn series(&mut self, mut f: impl FnMut(&mut Self, i64) -> Option<()>) -> Option<()> {
        let m = usize::try_from(self.u64()?).ok()?;
        if m > self.bytes.len() {
            return None;
        }
        let mut at = 0i64;
        for i in 0..m {
            let delta = self.i64()?;
            at = if i == 0 {
                delta
            } else if delta > 0 {
                at.checked_add(delta)?
            } else {
                return None;
            };
            f(self, at)?;
        }
        Some(())
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
    let mut out = Vec::new();
    r.series(|r, at| {
        out.push((at, r.agg()?));
        Some(())
    })?;
    Some(out)
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

/// Sums added up straight from encoded buckets (queries): plain sums in a
/// dense array by metric, histogram bins in dense arrays by metric, made on
/// first use. No allocation per entry.
pub(crate) struct Acc {
    /// Keys with bin 0 (plain sums, and bin 0 of histograms), by metric id.
    low: [i64; 64],
    /// Histogram bins 1.., by metric id.
    bins: Vec<(u16, Vec<i64>)>,
    /// Where a metric's bins are in `bins` (index + 1; 0: none yet).
    slots: [u8; 64],
    /// Anything else (metric ids ≥ 64, bins beyond the ladder): never in
    /// this build's data, kept so nothing is lost.
    other: std::collections::BTreeMap<u32, i64>,
}

const BINS: usize = domain::stats::ladder::OVERFLOW as usize + 1;

impl Default for Acc {
    fn default() -> Acc {
        Acc {
            low: [0; 64],
            bins: Vec::new(),
            slots: [0; 64],
            other: std::collections::BTreeMap::new(),
        }
    }
}

impl Acc {
    #[inline]
    fn add(&mut self, key: u32, value: i64) {
        let metric = (key >> 16) as u16;
        let bin = (key & 0xffff) as usize;
        if usize::from(metric) >= self.low.len() || bin >= BINS {
            *self.other.entry(key).or_default() += value;
        } else if bin == 0 {
            self.low[usize::from(metric)] += value;
        } else {
            let slot = &mut self.slots[usize::from(metric)];
            if *slot == 0 {
                // Room for the whole ladder, filled (zeroed) only up to the
                // highest bin seen: most histograms stop far below the
                // ladder's end, and `into_agg` walks only what is there.
                self.bins.push((metric, Vec::with_capacity(BINS)));
                *slot = self.bins.len() as u8;
            }
            let bins = &mut self.bins[usize::from(*slot) - 1].1;
            if bins.len() <= bin {
                bins.resize(bin + 1, 0);
            }
            bins[bin] += value;
        }
    }

    pub(crate) fn into_agg(mut self) -> Agg {
        let mut entries = Vec::new();
        self.bins.sort_by_key(|(m, _)| *m);
        let mut bins = self.bins.into_iter().peekable();
        for (metric, &v) in self.low.iter().enumerate() {
            if v != 0 {
                entries.push(((metric as u32) << 16, v));
            }
            if let Some((m, _)) = bins.peek() {
                if usize::from(*m) == metric {
                    let (m, values) = bins.next().expect("peeked");
                    for (bin, &v) in values.iter().enumerate().skip(1) {
                        if v != 0 {
                            entries.push(((u32::from(m) << 16) | bin as u32, v));
                        }
                    }
                }
            }
        }
        if !self.other.is_empty() {
            // Keys outside the dense arrays sort among the others (a bin
            // beyond the ladder sits inside its metric's range).
            entries.extend(self.other.into_iter().filter(|&(_, v)| v != 0));
            entries.sort_unstable_by_key(|&(k, _)| k);
        }
        Agg::from_sorted(entries).expect("distinct keys, no zeros")
    }
}

/// Adds to `acc` a bucket's part of a period that starts at quarter `from`:
/// its first-in-block sums minus its cross-block pairs whose predecessor is at
/// or after `from`.
fn add_part(r: &mut Reader<'_>, from: i64, acc: &mut Acc) -> Option<()> {
    r.entries(|k, v| acc.add(k, v))?;
    r.series(|r, quarter| {
        if quarter >= from {
            r.entries(|k, v| acc.add(k, -v))
        } else {
            r.entries(|_, _| {})
        }
    })
}

/// [`add_part`] of an "everything" bucket value.
pub(crate) fn add_bucket_part(
    key: &[u8],
    bytes: &[u8],
    from: i64,
    acc: &mut Acc,
) -> Result<(), Error> {
    let mut r = body(BUCKET, key, bytes)?;
    match (add_part(&mut r, from, acc), r.done()) {
        (Some(()), true) => Ok(()),
        _ => Err(corrupt(key, "undecodable statistics bucket".into())),
    }
}

/// A bucket's part of a period that starts at quarter `from`, sparse: cross
/// pairs before `from` are skipped without being read into sums.
pub(crate) fn bucket_part(key: &[u8], bytes: &[u8], from: i64) -> Result<Agg, Error> {
    let mut r = body(BUCKET, key, bytes)?;
    let mut read = || -> Option<Agg> {
        let first = r.agg()?;
        // The pairs to take out, gathered (one allocation) and then applied
        // to the sorted sums in one pass.
        let mut minus: Vec<(u32, i64)> = Vec::new();
        r.series(|r, quarter| {
            r.entries(|k, v| {
                if quarter >= from {
                    minus.push((k, v));
                }
            })
        })?;
        if !r.done() {
            return None;
        }
        if minus.is_empty() {
            return Some(first);
        }
        minus.sort_unstable_by_key(|&(k, _)| k);
        let mut out = Vec::with_capacity(first.entries().len() + minus.len());
        let (a, b) = (first.entries(), &minus);
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let (k, v) = if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
                i += 1;
                a[i - 1]
            } else {
                let k = b[j].0;
                let mut v = 0;
                while j < b.len() && b[j].0 == k {
                    v -= b[j].1;
                    j += 1;
                }
                if i < a.len() && a[i].0 == k {
                    v += a[i].1;
                    i += 1;
                }
                (k, v)
            };
            if v != 0 {
                out.push((k, v));
            }
        }
        Agg::from_sorted(out)
    };
    read().ok_or_else(|| corrupt(key, "undecodable statistics bucket".into()))
}

/// [`add_part`] of every dimension of a dims value, each into its own sums.
pub(crate) fn add_dims_parts(
    key: &[u8],
    bytes: &[u8],
    from: i64,
    accs: &mut std::collections::HashMap<Vec<u8>, Acc>,
) -> Result<(), Error> {
    let mut r = body(DIMS, key, bytes)?;
    let mut read = || -> Option<()> {
        let n = r.u64()?;
        for _ in 0..n {
            let len = usize::try_from(r.u64()?).ok()?;
            let dim = r.bytes.get(r.at..r.at.checked_add(len)?)?;
            r.at += len;
            let acc = match accs.get_mut(dim) {
                Some(acc) => acc,
                None => accs.entry(dim.to_vec()).or_default(),
            };
            add_part(&mut r, from, acc)?;
        }
        r.done().then_some(())
    };
    read().ok_or_else(|| corrupt(key, "undecodable statistics dimensions".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::stats::agg::{bin_key, key};

    #[test]
    fn parts_added_from_the_bytes_equal_the_decoded_buckets() {
        let bucket = Bucket {
            first: Agg::from_entries([
                (key(1), 3),
                (bin_key(40, 0), 2),
                (bin_key(40, 7), 5),
                (key(9), -1),
            ]),
            cross: vec![
                (10, Agg::from_entries([(key(1), 1)])),
                (20, Agg::from_entries([(bin_key(40, 7), 2), (key(9), -1)])),
            ],
        };
        let bytes = bucket.encode();
        for (from, want) in [
            (
                0,
                Agg::from_entries([(bin_key(40, 0), 2), (key(1), 2), (bin_key(40, 7), 3)]),
            ),
            (
                15,
                Agg::from_entries([(key(1), 3), (bin_key(40, 0), 2), (bin_key(40, 7), 3)]),
            ),
            (21, bucket.first.clone()),
        ] {
            let mut acc = Acc::default();
            add_bucket_part(b"x", &bytes, from, &mut acc).unwrap();
            assert_eq!(acc.into_agg(), want, "from {from}");
            assert_eq!(
                bucket_part(b"x", &bytes, from).unwrap(),
                want,
                "from {from}"
            );
        }
        let mut accs = std::collections::HashMap::new();
        let dims = vec![
            (b"\x01a".to_vec(), bucket.clone()),
            (b"\x01b".to_vec(), bucket.clone()),
        ];
        add_dims_parts(b"x", &encode_dims(&dims), 21, &mut accs).unwrap();
        add_dims_parts(b"x", &encode_dims(&dims[..1]), 21, &mut accs).unwrap();
        let mut twice = bucket.first.clone();
        twice.merge(&bucket.first, 1);
        assert_eq!(accs.remove(&b"\x01a"[..]).unwrap().into_agg(), twice);
        assert_eq!(accs.remove(&b"\x01b"[..]).unwrap().into_agg(), bucket.first);
    }

    #[test]
    fn dense_sums_equal_sparse_merges_for_any_metrics_and_bins() {
        // Plain sums, histograms of several metrics in any order, the last
        // ladder bin, and keys the dense arrays do not cover (metric ≥ 64,
        // bin beyond the ladder).
        let mut seed = 7u64;
        let mut next = |below: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % below
        };
        let mut want = Agg::new();
        let mut acc = Acc::default();
        for _ in 0..50 {
            let entries: Vec<(u32, i64)> = (0..1 + next(40))
                .map(|_| {
                    let metric = [1u16, 9, 40, 41, 42, 43, 63, 64, 70][next(9) as usize];
                    let bin = match next(4) {
                        0 => 0,
                        1 => domain::stats::ladder::OVERFLOW,
                        2 => (BINS + 3) as u16,
                        _ => next(300) as u16,
                    };
                    (bin_key(metric, bin), next(7) as i64 - 3)
                })
                .collect();
            let agg = Agg::from_entries(entries);
            want.merge(&agg, 1);
            let bytes = Bucket {
                first: agg,
                cross: Vec::new(),
            }
            .encode();
            add_bucket_part(b"x", &bytes, 0, &mut acc).unwrap();
        }
        assert_eq!(acc.into_agg(), want);
    }

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
