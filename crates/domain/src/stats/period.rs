//! Statistics periods: `[from, to)` on quarter hours, a time zone for local
//! dates and local hours, and the aligned time blocks statistics are kept in.
//!
//! Every current time zone's offset is a whole number of quarter hours, so a
//! local day or hour always starts on a UTC quarter hour. Statistics are kept
//! in buckets of aligned blocks of quarter hours ([`LEVELS`]); a period is cut
//! into the fewest such blocks ([`decompose`]), so a month reads a few dozen
//! buckets whatever the time zone.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::time::Timestamp;

/// One quarter hour in microseconds.
pub const QUARTER_MICROS: i64 = 900_000_000;
/// The longest period a statistics query accepts.
pub const PERIOD_DAYS_MAX: i64 = 400;

/// Block sizes in quarter hours, smallest first: quarter, hour, 6 h, day,
/// week, 4 weeks (aligned to the Unix epoch, so a block is a pure function of time).
pub const LEVELS: [i64; 6] = [1, 4, 24, 96, 672, 2_688];

/// The quarter hour (index since the epoch) containing `t`.
pub fn quarter_of(t: Timestamp) -> i64 {
    t.micros().div_euclid(QUARTER_MICROS)
}

/// The UTC day (index since the epoch) containing `t`.
pub fn day_of(t: Timestamp) -> i64 {
    t.micros().div_euclid(96 * QUARTER_MICROS)
}

pub fn quarter_start(quarter: i64) -> Timestamp {
    Timestamp(quarter * QUARTER_MICROS)
}

/// An aligned block: `LEVELS[level]` quarters starting at quarter `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Block {
    pub level: u8,
    pub start: i64,
}

impl Block {
    pub fn containing(level: u8, quarter: i64) -> Block {
        let size = LEVELS[usize::from(level)];
        Block {
            level,
            start: quarter.div_euclid(size) * size,
        }
    }

    pub fn size(self) -> i64 {
        LEVELS[usize::from(self.level)]
    }

    pub fn end(self) -> i64 {
        self.start + self.size()
    }

    pub fn start_time(self) -> Timestamp {
        quarter_start(self.start)
    }

    /// The blocks of every level that contain `quarter`, smallest first.
    pub fn all_containing(quarter: i64) -> [Block; LEVELS.len()] {
        std::array::from_fn(|level| Block::containing(level as u8, quarter))
    }
}

/// Cuts quarters `[from, to)` into the fewest aligned blocks, in time order.
pub fn decompose(from: i64, to: i64) -> Vec<Block> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let level = (0..LEVELS.len())
            .rev()
            .find(|&l| at.rem_euclid(LEVELS[l]) == 0 && at + LEVELS[l] <= to)
            .unwrap_or(0);
        let block = Block {
            level: level as u8,
            start: at,
        };
        out.push(block);
        at = block.end();
    }
    out
}

/// A statistics period: `[from, to)`, both on quarter hours, read in `zone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
    pub zone: Tz,
}

/// One local clock hour of a period (clipped to the period).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalHour {
    pub from: Timestamp,
    pub to: Timestamp,
    /// The local start, e.g. `2024-04-05T09:00:00+03:00`.
    pub local_start: String,
    /// 0–23.
    pub hour: u32,
}

/// A period that cannot be read; the message says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

/// Reads a time zone name (IANA, e.g. `Europe/Moscow`; `UTC`).
pub fn parse_zone(name: &str) -> Result<Tz, PeriodError> {
    name.trim().parse::<Tz>().map_err(|_| {
        PeriodError(format!(
            "{name:?} is not an IANA time zone (e.g. Europe/Moscow)"
        ))
    })
}

/// Reads one end of a period: an RFC 3339 time (`2024-04-01T00:00:00+03:00`),
/// a local date (`2024-04-01`: local midnight) or a local date and time
/// (`2024-04-01T09:30`, `2024-04-01 09:30:00`), local ones in `zone`.
pub fn parse_time(text: &str, zone: Tz) -> Result<Timestamp, PeriodError> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    let naive = if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0).expect("midnight exists")
    } else {
        ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .ok_or_else(|| {
                PeriodError(format!(
                    "{text:?} is neither an RFC 3339 time, a date (YYYY-MM-DD) nor a local date and time (YYYY-MM-DDThh:mm)"
                ))
            })?
    };
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Ok(Timestamp::from_datetime(t.with_timezone(&Utc))),
        // A local time shown twice (clocks going back): the first.
        LocalResult::Ambiguous(first, _) => Ok(Timestamp::from_datetime(first.with_timezone(&Utc))),
        LocalResult::None => Err(PeriodError(format!(
            "{text} does not exist in {zone} (the clocks skip it)"
        ))),
    }
}

impl Period {
    /// Checks and builds a period from its two ends.
    pub fn new(from: Timestamp, to: Timestamp, zone: Tz) -> Result<Period, PeriodError> {
        for (name, t) in [("from", from), ("to", to)] {
            if t.micros().rem_euclid(QUARTER_MICROS) != 0 {
                return Err(PeriodError(format!(
                    "`{name}` ({t}) is not on a quarter hour: statistics periods start and end at :00, :15, :30 or :45"
                )));
            }
        }
        if from >= to {
            return Err(PeriodError(format!(
                "`from` ({from}) must be before `to` ({to})"
            )));
        }
        if to.micros() - from.micros() > PERIOD_DAYS_MAX * 96 * QUARTER_MICROS {
            return Err(PeriodError(format!(
                "a statistics period is at most {PERIOD_DAYS_MAX} days"
            )));
        }
        Ok(Period { from, to, zone })
    }

    /// [`parse_zone`], [`parse_time`] and [`Period::new`] in one.
    pub fn parse(from: &str, to: &str, zone: &str) -> Result<Period, PeriodError> {
        let zone = parse_zone(zone)?;
        Period::new(parse_time(from, zone)?, parse_time(to, zone)?, zone)
    }

    pub fn quarters(&self) -> (i64, i64) {
        (quarter_of(self.from), quarter_of(self.to))
    }

    /// The local clock hours the period covers, in time order. A day with a
    /// clock change has 23 or 25 of them.
    pub fn local_hours(&self) -> Vec<LocalHour> {
        let (from, to) = self.quarters();
        let mut starts = vec![from];
        for q in from + 1..to {
            if self.local(quarter_start(q)).minute() == 0 {
                starts.push(q);
            }
        }
        let mut rows = Vec::with_capacity(starts.len());
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(to);
            let local = self.local(quarter_start(start));
            rows.push(LocalHour {
                from: quarter_start(start),
                to: quarter_start(end),
                local_start: local.to_rfc3339(),
                hour: local.hour(),
            });
        }
        rows
    }

    fn local(&self, t: Timestamp) -> DateTime<Tz> {
        let utc = t.to_datetime().unwrap_or_default();
        utc.with_timezone(&self.zone)
    }

    /// The zone's offset from UTC at `t`, in seconds.
    pub fn offset_seconds(&self, t: Timestamp) -> i32 {
        self.local(t).offset().fix().local_minus_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn decomposition_covers_the_range_with_aligned_blocks() {
        for (from, to) in [
            (0, 1),
            (3, 5000),
            (95, 97),
            (-100, 3000),
            (1_900_000, 1_903_000),
        ] {
            let blocks = decompose(from, to);
            let mut at = from;
            for b in &blocks {
                assert_eq!(b.start, at);
                assert_eq!(b.start.rem_euclid(b.size()), 0);
                at = b.end();
            }
            assert_eq!(at, to);
        }
        // A Moscow month (UTC+3): 3 h, days to a week, weeks, ..., 21 h.
        let period = Period::parse("2024-04-01", "2024-05-01", "Europe/Moscow").unwrap();
        let (from, to) = period.quarters();
        let blocks = decompose(from, to);
        assert!(blocks.len() < 30, "{}", blocks.len());
    }

    #[test]
    fn local_dates_and_times_are_read_in_the_zone() {
        let zone = parse_zone("Europe/Moscow").unwrap();
        assert_eq!(
            parse_time("2024-04-05", zone).unwrap(),
            ts("2024-04-04T21:00:00Z")
        );
        assert_eq!(
            parse_time("2024-04-05T09:30", zone).unwrap(),
            ts("2024-04-05T06:30:00Z")
        );
        assert_eq!(
            parse_time("2024-04-05T09:30:00+00:00", zone).unwrap(),
            ts("2024-04-05T09:30:00Z")
        );
        assert!(parse_time("yesterday", zone).is_err());
        let berlin = parse_zone("Europe/Berlin").unwrap();
        // 2024-03-31 02:30 does not exist in Berlin.
        assert!(parse_time("2024-03-31T02:30", berlin)
            .unwrap_err()
            .0
            .contains("skip"));
        assert!(parse_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn periods_are_on_quarter_hours_and_bounded() {
        let zone = parse_zone("UTC").unwrap();
        assert!(Period::new(ts("2024-04-05T09:10:00Z"), ts("2024-04-05T10:00:00Z"), zone).is_err());
        assert!(Period::new(ts("2024-04-05T10:00:00Z"), ts("2024-04-05T10:00:00Z"), zone).is_err());
        assert!(Period::new(ts("2023-01-01T00:00:00Z"), ts("2024-04-05T00:00:00Z"), zone).is_err());
        assert!(Period::new(ts("2024-04-05T09:45:00Z"), ts("2024-04-05T10:00:00Z"), zone).is_ok());
    }

    #[test]
    fn local_hours_follow_the_zone_and_its_clock_changes() {
        // Kolkata is UTC+5:30: local hours start at :30 UTC.
        let p = Period::parse("2024-04-05T00:00", "2024-04-05T03:00", "Asia/Kolkata").unwrap();
        let rows = p.local_hours();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].from, ts("2024-04-04T18:30:00Z"));
        assert_eq!(rows[0].local_start, "2024-04-05T00:00:00+05:30");
        assert_eq!(rows[2].to, ts("2024-04-04T21:30:00Z"));
        // Berlin, 2024-03-31: 23 local hours.
        let p = Period::parse("2024-03-31", "2024-04-01", "Europe/Berlin").unwrap();
        let rows = p.local_hours();
        assert_eq!(rows.len(), 23);
        assert_eq!(rows[2].hour, 3);
        // A period starting mid-hour: the first row is the rest of that hour.
        let p = Period::parse("2024-04-05T09:45:00Z", "2024-04-05T11:00:00Z", "UTC").unwrap();
        let rows = p.local_hours();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].from, rows[0].to),
            (ts("2024-04-05T09:45:00Z"), ts("2024-04-05T10:00:00Z"))
        );
        assert_eq!(rows[0].hour, 9);
    }
}
