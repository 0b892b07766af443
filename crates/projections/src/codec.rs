//! Stored records: a 4-byte header (`b"CV"`, record kind, format version) then
//! the rkyv archive. sled hands values back with no alignment guarantee, so
//! decoding copies the archive into an aligned buffer before `rkyv` checks and
//! reads it.

use crate::keys;
use crate::Error;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;

/// Bumped whenever the archived layout of a view record changes; a store with
/// another version is rebuilt from the log (`callfold rebuild`).
pub const FORMAT_VERSION: u8 = 2;

const MAGIC: [u8; 2] = *b"CV";
const HEADER_LEN: usize = 4;

/// The record kinds, one byte each in the header (and the key prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Directory,
    Phone,
    Session,
    Desk,
    Ticket,
    ContactCall,
    Archive,
    /// A statistics call record (`stats`).
    CallRecord,
    /// Live dashboard state (`stats::live`).
    LiveCall,
    LiveAgent,
    Dashboard,
}

impl Kind {
    const fn byte(self) -> u8 {
        match self {
            Kind::Directory => keys::DIRECTORY,
            Kind::Phone => keys::PHONE,
            Kind::Session => keys::SESSION,
            Kind::Desk => keys::DESK,
            Kind::Ticket => keys::TICKET,
            Kind::ContactCall => keys::CONTACT_CALL,
            Kind::Archive => keys::ARCHIVE,
            Kind::CallRecord => b'R',
            Kind::LiveCall => b'L',
            Kind::LiveAgent => b'G',
            Kind::Dashboard => b'B',
        }
    }
}

pub(crate) fn encode<T>(kind: Kind, value: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    // Serialising plain owned data into a growable buffer cannot fail.
    let archive = rkyv::to_bytes::<rancor::Error>(value).expect("rkyv serialisation of owned data");
    let mut out = Vec::with_capacity(HEADER_LEN + archive.len());
    out.extend_from_slice(&MAGIC);
    out.push(kind.byte());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&archive);
    out
}

pub(crate) fn decode<T>(kind: Kind, key: &[u8], bytes: &[u8]) -> Result<T, Error>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, HighDeserializer<rancor::Error>>,
{
    let corrupt = |reason: String| Error::Corrupt {
        key: keys::describe(key),
        reason,
    };
    if bytes.len() < HEADER_LEN || bytes[..2] != MAGIC || bytes[2] != kind.byte() {
        return Err(corrupt("missing record header".into()));
    }
    if bytes[3] != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {} (this build reads {FORMAT_VERSION}; rebuild the views)",
            bytes[3]
        )));
    }
    let mut buffer = AlignedVec::<16>::with_capacity(bytes.len() - HEADER_LEN);
    buffer.extend_from_slice(&bytes[HEADER_LEN..]);
    rkyv::from_bytes::<T, rancor::Error>(&buffer).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Directory, Timestamp};

    fn sample() -> Directory {
        let mut directory = Directory::default();
        directory.insert(domain::agent::UpsertAgent {
            at: Timestamp(5),
            agent_id: "alice".into(),
            name: "Alice".into(),
            callgear_employee_ids: vec![1, 2],
        });
        directory
    }

    #[test]
    fn round_trips_from_an_unaligned_buffer() {
        let bytes = encode(Kind::Directory, &sample());
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        let back: Directory = decode(Kind::Directory, b"D", &shifted[1..]).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn rejects_other_kinds_versions_and_garbage() {
        let bytes = encode(Kind::Directory, &sample());
        let err = decode::<Directory>(Kind::Desk, b"D", &bytes).unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let mut other = bytes.clone();
        other[3] = FORMAT_VERSION + 1;
        let err = decode::<Directory>(Kind::Directory, b"D", &other).unwrap_err();
        assert!(err.to_string().contains("format version"), "{err}");
        let err = decode::<Directory>(Kind::Directory, b"D", b"CVD\x01garbage").unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }
}
