//! The events the log stores.
//!
//! Every variant's payload is boxed, so the archived size of [`Event`] does not
//! change when a variant is added (the log's format version covers the rest).

use crate::agent::NativeEvent;
use crate::callgear::CallGearNotification;
use crate::contact::ContactEvent;

/// Where a delivery came from. Stored in every log envelope.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A CallGear webhook (HTTP or a recorded `path` line).
    CallGear,
    /// An event recorded by callfold itself (an agent action, configuration), or
    /// one of the native contact-centre feed.
    Native,
}

impl Source {
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::CallGear => "callgear",
            Source::Native => "native",
        }
    }
}

/// A parsed event, as stored beside its raw bytes in the log.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum Event {
    CallGear(Box<CallGearNotification>),
    /// An agent or administrator action (`agent::NativeEvent`), recorded by callfold.
    Native(Box<NativeEvent>),
    /// A contact-centre event (`contact::ContactEvent`) from the native feed.
    Contact(Box<ContactEvent>),
}

impl Event {
    pub fn source(&self) -> Source {
        match self {
            Event::CallGear(_) => Source::CallGear,
            Event::Native(_) | Event::Contact(_) => Source::Native,
        }
    }
}
