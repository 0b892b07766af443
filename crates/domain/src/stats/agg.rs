//! [`Agg`]: a sparse vector of named integer sums, the unit every statistic
//! is added up in, and the duration [`ladder`] its histograms use.

/// Sums keyed by metric: `key = metric id << 16 | bin` (bin 0 for a plain
/// sum, a [`ladder`] bin for a histogram). Sorted by key, no zero entries, so
/// equal sums have equal representations (statistics rebuild byte for byte).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Agg(Vec<(u32, i64)>);

/// A metric's id (the high 16 bits of an [`Agg`] key).
pub type MetricId = u16;

/// The key of a plain sum.
pub const fn key(metric: MetricId) -> u32 {
    (metric as u32) << 16
}

/// The key of one histogram bin.
pub const fn bin_key(metric: MetricId, bin: u16) -> u32 {
    ((metric as u32) << 16) | bin as u32
}

impl Agg {
    pub fn new() -> Agg {
        Agg(Vec::new())
    }

    /// From entries in any order (summed, zeros dropped).
    pub fn from_entries(entries: impl IntoIterator<Item = (u32, i64)>) -> Agg {
        let mut agg = Agg::new();
        for (k, v) in entries {
            agg.add_key(k, v);
        }
        agg
    }

    /// From entries already sorted by key, distinct and non-zero (a decoder's
    /// output); `None` if they are not.
    pub fn from_sorted(entries: Vec<(u32, i64)>) -> Option<Agg> {
        let ok =
            entries.iter().all(|&(_, v)| v != 0) && entries.windows(2).all(|w| w[0].0 < w[1].0);
        ok.then_some(Agg(entries))
    }

    pub fn entries(&self) -> &[(u32, i64)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get_key(&self, key: u32) -> i64 {
        match self.0.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => self.0[i].1,
            Err(_) => 0,
        }
    }

    /// A plain sum.
    pub fn get(&self, metric: MetricId) -> i64 {
        self.get_key(key(metric))
    }

    pub fn add_key(&mut self, key: u32, delta: i64) {
        if delta == 0 {
            return;
        }
        match self.0.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => {
                self.0[i].1 += delta;
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (key, delta)),
        }
    }

    pub fn add(&mut self, metric: MetricId, delta: i64) {
        self.add_key(key(metric), delta);
    }

    /// Adds one to the histogram bin of `seconds`.
    pub fn add_duration(&mut self, metric: MetricId, seconds: u64) {
        self.add_key(bin_key(metric, ladder::bin(seconds)), 1);
    }

    /// `self += sign * other`, in one merge pass.
    pub fn merge(&mut self, other: &Agg, sign: i64) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0 = other.0.iter().map(|&(k, v)| (k, v * sign)).collect();
            return;
        }
        if other.0.len() * 16 < self.0.len() {
            // A few entries into big sums (one call into a block's bucket):
            // in place, without copying the big side.
            for &(k, v) in &other.0 {
                self.add_key(k, v * sign);
            }
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + other.0.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.0, &other.0);
        while i < a.len() || j < b.len() {
            if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
                out.push(a[i]);
                i += 1;
            } else if i == a.len() || b[j].0 < a[i].0 {
                out.push((b[j].0, b[j].1 * sign));
                j += 1;
            } else {
                let v = a[i].1 + b[j].1 * sign;
                if v != 0 {
                    out.push((a[i].0, v));
                }
                i += 1;
                j += 1;
            }
        }
        self.0 = out;
    }

    pub fn plus(&self, other: &Agg) -> Agg {
        let mut out = self.clone();
        out.merge(other, 1);
        out
    }

    /// The bins of histogram `metric`: `(bin, count)`, ascending.
    pub fn histogram(&self, metric: MetricId) -> impl Iterator<Item = (u16, i64)> + '_ {
        let lo = self.0.partition_point(|&(k, _)| k < key(metric));
        self.0[lo..]
            .iter()
            .take_while(move |&&(k, _)| (k >> 16) as MetricId == metric)
            .map(|&(k, v)| ((k & 0xffff) as u16, v))
    }

    /// Histogram entries with a duration of at most `seconds` (a ladder value).
    pub fn count_at_most(&self, metric: MetricId, seconds: u64) -> i64 {
        let top = ladder::bin(seconds);
        self.histogram(metric)
            .take_while(|&(bin, _)| bin <= top)
            .map(|(_, v)| v)
            .sum()
    }

    /// Histogram entries longer than `seconds` (a ladder value).
    pub fn count_over(&self, metric: MetricId, seconds: u64) -> i64 {
        let top = ladder::bin(seconds);
        self.histogram(metric)
            .filter(|&(bin, _)| bin > top)
            .map(|(_, v)| v)
            .sum()
    }
}

/// Durations in statistics histograms are whole seconds, rounded *up* (a call
/// that waited 20.3 s did not wait "at most 20 s"), binned on a ladder that is
/// exact where thresholds are set in practice:
///
/// | durations | bins |
/// |---|---|
/// | 0 – 120 s | every second |
/// | 2 – 10 min | every 5 seconds |
/// | 10 – 60 min | every minute |
/// | 1 – 24 h | every quarter hour |
/// | 1 – 30 days | every hour |
/// | longer | one overflow bin |
///
/// A threshold (service-level T, SLA, distribution edge) must be a ladder value:
/// then "at most T" and "over T" are exact.
pub mod ladder {
    const SEGMENTS: [(u64, u64); 5] = [
        // (upper end, step)
        (120, 1),
        (600, 5),
        (3_600, 60),
        (86_400, 900),
        (2_592_000, 3_600),
    ];

    /// The overflow bin (durations over 30 days).
    pub const OVERFLOW: u16 = 1055;

    /// The bin of a duration: the index of the smallest ladder value ≥ `seconds`.
    pub fn bin(seconds: u64) -> u16 {
        let mut base_bin = 0u64;
        let mut lower = 0u64;
        for (upper, step) in SEGMENTS {
            if seconds <= upper {
                let offset = (seconds.saturating_sub(lower)).div_ceil(step);
                return (base_bin + offset) as u16;
            }
            base_bin += (upper - lower) / step;
            lower = upper;
        }
        OVERFLOW
    }

    /// The ladder value of a bin (its upper bound); `None` for the overflow bin.
    pub fn value(bin: u16) -> Option<u64> {
        let mut base_bin = 0u64;
        let mut lower = 0u64;
        let bin = u64::from(bin);
        for (upper, step) in SEGMENTS {
            let bins = (upper - lower) / step;
            if bin <= base_bin + bins {
                return Some(lower + (bin - base_bin) * step);
            }
            base_bin += bins;
            lower = upper;
        }
        None
    }

    /// Whether `seconds` is a ladder value (an exact threshold).
    pub fn is_value(seconds: u64) -> bool {
        value(bin(seconds)) == Some(seconds)
    }

    /// The message for a threshold that is not a ladder value.
    pub fn explain(name: &str, seconds: i64) -> String {
        format!(
            "{name} = {seconds} s is not an exact statistics threshold: use whole seconds up to 120, \
             multiples of 5 s up to 600, whole minutes up to 1 h, quarter hours up to 1 day, \
             whole hours up to 30 days"
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn bins_round_up_to_the_ladder() {
            let check = |seconds: u64, value_of_bin: Option<u64>| {
                assert_eq!(super::value(bin(seconds)), value_of_bin, "{seconds}");
            };
            check(0, Some(0));
            check(20, Some(20));
            check(120, Some(120));
            check(121, Some(125));
            check(598, Some(600));
            check(600, Some(600));
            check(601, Some(660));
            check(660, Some(660));
            check(3_600, Some(3_600));
            check(3_601, Some(4_500));
            check(86_400, Some(86_400));
            check(86_401, Some(90_000));
            check(2_592_000, Some(2_592_000));
            check(2_592_001, None);
            assert_eq!(bin(2_592_000) + 1, OVERFLOW);
            for b in 0..OVERFLOW {
                assert_eq!(bin(value(b).unwrap()), b);
            }
            assert!(is_value(300) && is_value(7_200) && !is_value(601) && !is_value(5_000));
            assert!(is_value(45) && is_value(115) && !is_value(123));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_merge_and_drop_zeros() {
        let mut a = Agg::from_entries([(key(3), 2), (key(1), 1)]);
        let b = Agg::from_entries([(key(1), 1), (key(2), 5)]);
        a.merge(&b, -1);
        assert_eq!(a.entries(), &[(key(2), -5), (key(3), 2)]);
        a.merge(&b, 1);
        assert_eq!(a.entries(), &[(key(1), 1), (key(3), 2)]);
        a.add(1, -1);
        a.add(3, -2);
        assert!(a.is_empty());
        assert_eq!(a, Agg::default());
    }

    #[test]
    fn merging_a_few_entries_into_big_sums_equals_the_full_merge() {
        let big = Agg::from_entries((0..200u32).map(|i| (key(1) | i, i64::from(i % 7) + 1)));
        let small = Agg::from_entries([(key(1) | 3, -4), (key(1) | 500, 2), (key(0), 9)]);
        let mut in_place = big.clone();
        in_place.merge(&small, 1);
        let mut expected = small.clone();
        expected.merge(&big, 1); // the small side is the one merged into: full merge
        assert_eq!(in_place, expected);
        assert_eq!(in_place.get_key(key(1) | 3), 0);
        assert!(in_place.entries().iter().all(|&(_, v)| v != 0));
        in_place.merge(&small, -1);
        assert_eq!(in_place, big);
    }

    #[test]
    fn histograms_count_up_to_and_over_a_threshold() {
        let mut a = Agg::new();
        for seconds in [0, 5, 20, 21, 300, 301, 4_000] {
            a.add_duration(7, seconds);
        }
        a.add(8, 99);
        assert_eq!(a.count_at_most(7, 20), 3);
        assert_eq!(a.count_over(7, 20), 4);
        assert_eq!(a.count_over(7, 300), 2);
        assert_eq!(a.histogram(7).count(), 7);
        assert_eq!(a.get(8), 99);
    }
}
