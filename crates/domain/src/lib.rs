//! The pure heart of callfold: event types and the reducers that fold them.
//!
//! Nothing in this crate performs IO, reads the clock or draws random numbers.
//! Every time comes from an event ([`Timestamp`]) and every id from an event or
//! from the log position the caller hands in.

pub mod callgear;
pub mod event;
pub mod phone;
pub mod time;

pub use callgear::{CallGearKind, CallGearNotification, Direction};
pub use event::{Event, Source};
pub use phone::Phone;
pub use time::Timestamp;
