//! The pure heart of callfold: event types and the reducers that fold them.
//!
//! Nothing in this crate performs IO, reads the clock or draws random numbers.
//! Every time comes from an event ([`Timestamp`]) and every id is derived from
//! event content ([`ids`]), never from arrival order or log position (R17).
//!
//! # Using it from a projection
//!
//! * Events: [`Event::CallGear`] (a parsed webhook) and [`Event::Native`]
//!   (an agent action, [`NativeEvent`], JSON-tagged by `type`).
//! * Commands: [`command::validate`] turns a requested agent action into the
//!   event to record, or a [`command::Rejection`]. Record the event, then apply it.
//! * Folding: [`state::apply`]`(store, event, received_at) -> Changed` reads and
//!   writes per-key records through the [`Store`] trait and says what changed:
//!
//!   | record | key | contents |
//!   |---|---|---|
//!   | [`Directory`] | one fixed key | agents, operator → agent mapping over time (R1) |
//!   | [`PhoneRecord`] | phone digits | phone → customer links over time (R2) |
//!   | [`SessionRecord`] | `call_session_id` | notifications, filings, ticket edits, route |
//!   | [`Desk`] | customer id | sessions, profile; derived [`Customer`] and [`Ticket`]s |
//!
//!   [`State`] is the in-memory `Store` (tests, small replays). A sled store
//!   implements the `Store` getters, puts and `delete_desk` over four trees, inside one transaction
//!   with the projection's checkpoint.
//!   A projection applying a batch uses [`state::apply_deferred`] per event and
//!   [`state::settle`] once at the end: each desk the batch touched is
//!   re-derived once, with the same result as [`state::apply`] per event.
//! * Reading: [`state::find_ticket`] (ticket id → origin session → its desk),
//!   [`state::customer_by_phone`], [`state::find_call`]; `Changed::tickets` lists
//!   ticket ids to re-index (tickets may appear, change, or leave a desk).
//!
//! * Archive timeline: contact-centre events ([`Event::Contact`]) are kept per
//!   call in a [`ContactCallRecord`] and folded into a [`CallArchive`]
//!   (timeline entries and a [`CallSummary`]); CallGear sessions map onto the
//!   same shape with [`timeline::callgear_archive`] (SPEC §4, R32–R44).
//!
//! # Why re-folding
//!
//! A desk's tickets are re-derived from all of the customer's sessions on every
//! event that touches the customer ([`desk::fold`]), walking one timeline sorted
//! by event time with a content tiebreak. Deliveries of a session in any order,
//! with any duplicates, produce the same records (R17). The cost is linear in the
//! customer's history (sessions + edits), which `docs/domain.md` discusses.

#[macro_use]
mod derive;

pub mod agent;
pub mod callgear;
pub mod command;
pub mod contact;
pub mod desk;
pub mod directory;
pub mod event;
pub mod ids;
pub mod phone;
pub mod session;
pub mod state;
pub mod stats;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod timeline;

pub use agent::{AgentId, CustomerId, NativeEvent, SessionId, TicketId, TicketStatus};
pub use callgear::{CallGearKind, CallGearNotification, Direction};
pub use contact::{ContactBody, ContactEvent};
pub use desk::{Channel, Customer, Desk, Message, MessageKind, Ticket};
pub use directory::{Agent, Directory};
pub use event::{Event, Source};
pub use phone::Phone;
pub use session::{Call, CallDirection, SessionRecord};
pub use state::{apply, Changed, PhoneRecord, State, Store};
pub use time::Timestamp;
pub use timeline::{
    CallArchive, CallSummary, ContactCallRecord, Outcome, TimelineEntry, TimelineKind,
};
