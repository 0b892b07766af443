//! Stored records: a 4-byte header (`b"CF"`, record kind, format version) then the
//! rkyv archive. sled hands values back with no alignment guarantee, so decoding
//! copies the archive into an aligned buffer before `rkyv::access`.

use crate::{DedupeKey, Error, Position};
use domain::{Event, Source, Timestamp};
use rkyv::rancor;
use rkyv::util::AlignedVec;

/// Bumped whenever the archived layout of a record changes.
pub const FORMAT_VERSION: u8 = 1;

const MAGIC: [u8; 2] = *b"CF";
const KIND_ENVELOPE: u8 = b'E';
const KIND_QUARANTINE: u8 = b'Q';
const HEADER_LEN: usize = 4;

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Envelope {
    pub position: Position,
    pub received_at: Timestamp,
    pub source: Source,
    pub kind: String,
    pub dedupe_key: DedupeKey,
    /// IANA zone in which local times in `raw` were read (CallGear's
    /// `notification_time`); empty where the source carries no local times.
    pub time_zone: String,
    pub raw: Vec<u8>,
    pub event: Event,
}

/// One quarantined delivery.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct QuarantineRecord {
    pub id: u64,
    pub received_at: Timestamp,
    pub source: Source,
    pub kind: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

fn encode<T>(record_kind: u8, value: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    // Serialising plain owned data into a growable buffer cannot fail.
    let archive = rkyv::to_bytes::<rancor::Error>(value).expect("rkyv serialisation of owned data");
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.push(record_kind);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&archive);
    out
}

fn payload<'a>(
    record_kind: u8,
    key: &dyn Fn() -> String,
    bytes: &'a [u8],
) -> Result<&'a [u8], Error> {
    let corrupt = |reason: String| Error::Corrupt { key: key(), reason };
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC || bytes[2] != record_kind {
        return Err(corrupt("missing record header".into()));
    }
    if bytes[3] != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} (this build reads {FORMAT_VERSION})",
            bytes[3]
        )));
    }
    Ok(&bytes[HEADER_LEN..])
}

fn aligned(bytes: &[u8]) -> AlignedVec {
    let mut buffer = AlignedVec::with_capacity(bytes.len());
    buffer.extend_from_slice(bytes);
    buffer
}

impl Envelope {
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(KIND_ENVELOPE, self)
    }

    pub(crate) fn decode(position: Position, bytes: &[u8]) -> Result<Envelope, Error> {
        let key = || format!("log position {position}");
        let buffer = aligned(payload(KIND_ENVELOPE, &key, bytes)?);
        let archived = rkyv::access::<ArchivedEnvelope, rancor::Error>(&buffer).map_err(|e| {
            Error::Corrupt {
                key: key(),
                reason: e.to_string(),
            }
        })?;
        rkyv::deserialize::<Envelope, rancor::Error>(archived).map_err(|e| Error::Corrupt {
            key: key(),
            reason: e.to_string(),
        })
    }
}

impl QuarantineRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode(KIND_QUARANTINE, self)
    }

    pub(crate) fn decode(id: u64, bytes: &[u8]) -> Result<QuarantineRecord, Error> {
        let key = || format!("quarantine id {id}");
        let buffer = aligned(payload(KIND_QUARANTINE, &key, bytes)?);
        let archived =
            rkyv::access::<ArchivedQuarantineRecord, rancor::Error>(&buffer).map_err(|e| {
                Error::Corrupt {
                    key: key(),
                    reason: e.to_string(),
                }
            })?;
        rkyv::deserialize::<QuarantineRecord, rancor::Error>(archived).map_err(|e| Error::Corrupt {
            key: key(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{CallGearKind, CallGearNotification};

    fn sample() -> Envelope {
        let mut n = CallGearNotification::new(CallGearKind::End, 42);
        n.contact_info.contact_full_name = Some("Ivan".into());
        Envelope {
            position: 7,
            received_at: Timestamp(1_712_307_601_250_000),
            source: Source::CallGear,
            kind: "end".into(),
            dedupe_key: [9; 32],
            time_zone: "Europe/Moscow".into(),
            raw: b"{\"x\":1}".to_vec(),
            event: Event::CallGear(Box::new(n)),
        }
    }

    #[test]
    fn round_trips_from_an_unaligned_buffer() {
        let bytes = sample().encode();
        // Shift by one byte so the archive is certainly misaligned in memory.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        assert_eq!(Envelope::decode(7, &shifted[1..]).unwrap(), sample());
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let mut bytes = sample().encode();
        bytes[3] = FORMAT_VERSION + 1;
        let err = Envelope::decode(7, &bytes).unwrap_err().to_string();
        assert!(err.contains("format version"), "{err}");
        let err = Envelope::decode(7, b"CFE\x01garbage")
            .unwrap_err()
            .to_string();
        assert!(err.contains("log position 7"), "{err}");
        assert!(Envelope::decode(7, b"").is_err());
    }
}
