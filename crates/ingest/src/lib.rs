//! Webhook ingestion: CallGear bodies in, durable log entries (or quarantine) out.
//!
//! [`Ingestor`] is the one path every delivery takes, whether it arrives over
//! HTTP ([`http::router`]) or from a recorded stream (`callfold import`): parse
//! leniently, compute the dedupe key, append durably, or quarantine with the
//! reason. Nothing is acknowledged before it is durable.

pub mod callgear;
mod error;
pub mod feed;
pub mod http;
mod service;

pub use error::Error;
pub use service::{
    contact_event, dedupe_key, native_event, parse_contact, parse_event_line, parse_native,
    prepare_contact, Delivery, Ingestor, Item, Options, Outcome, Prepared, Submitted,
    BODY_BYTES_MAX,
};
