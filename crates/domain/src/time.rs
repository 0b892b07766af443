//! Time as the log carries it: microseconds since the Unix epoch, UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
///
/// Every time in a read model is one of these, taken from an event (R17).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Self(dt.timestamp_micros())
    }

    /// `None` only for times outside chrono's range (about ±262,000 years).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }

    /// RFC 3339 in UTC with as many fractional digits as needed (`Z` suffix).
    pub fn to_rfc3339(self) -> String {
        match self.to_datetime() {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => format!("@{}us", self.0),
        }
    }

    /// Parses RFC 3339 (any offset); precision below a microsecond is dropped.
    pub fn parse_rfc3339(text: &str) -> Result<Self, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text).map(|dt| Self(dt.with_timezone(&Utc).timestamp_micros()))
    }

    /// Whole seconds from `self` to `later` (negative if `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        (later.0 - self.0).div_euclid(1_000_000)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_microsecond_precision() {
        for text in [
            "2024-04-05T09:00:01.250Z",
            "2024-04-05T09:00:01Z",
            "2024-04-05T09:00:01.000123Z",
        ] {
            let ts = Timestamp::parse_rfc3339(text).unwrap();
            assert_eq!(ts.to_rfc3339(), text);
        }
        let shifted = Timestamp::parse_rfc3339("2024-04-05T12:00:01+03:00").unwrap();
        assert_eq!(shifted.to_rfc3339(), "2024-04-05T09:00:01Z");
    }

    #[test]
    fn seconds_until_floors() {
        let a = Timestamp(1_000_000);
        assert_eq!(a.seconds_until(Timestamp(3_500_000)), 2);
        assert_eq!(a.seconds_until(Timestamp(500_000)), -1);
    }
}

/// `#[serde(with = "crate::time::rfc3339")]`: a [`Timestamp`] as an RFC 3339 string in
/// JSON (readable in exported streams); integer micros are accepted too.
pub mod rfc3339 {
    use super::Timestamp;

    pub fn serialize<S: serde::Serializer>(
        ts: &Timestamp,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&ts.to_rfc3339())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Timestamp, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Micros(i64),
        }
        match <Repr as serde::Deserialize>::deserialize(deserializer)? {
            Repr::Micros(micros) => Ok(Timestamp(micros)),
            Repr::Text(text) => Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom),
        }
    }
}
