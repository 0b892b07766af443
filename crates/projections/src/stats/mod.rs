//! The statistics read model (SPEC §5, `docs/statistics.md`), kept in the
//! helpdesk tree under `x` and committed in the same atomic batch as the
//! records it derives from:
//!
//! * ticket figures from the ticket views the batch re-indexes (old view out,
//!   new view in);
//! * call KPIs from one [`domain::stats::CallRecord`] per call, re-derived
//!   whenever an event changes the call;
//! * the live dashboard from contact-centre events ([`live`]).
//!
//! Sums are kept per aligned time block (quarter hour … 4 weeks) and dimension
//! (all, agent, queue); a query adds up the few blocks its period is made of.

pub(crate) mod batch;
pub(crate) mod encode;
pub(crate) mod keys;
mod live;
mod query;

pub(crate) use batch::StatsBatch;
pub use query::CALL_RECORDS_FIRST_MAX;

use domain::{Changed, Event, Store};

use crate::overlay::Overlay;
use crate::Error;

/// Follows one applied event: re-derives what it changed.
pub(crate) fn observe(
    stats: &mut StatsBatch<'_>,
    overlay: &Overlay<'_>,
    event: &Event,
    changed: &Changed,
) -> Result<(), Error> {
    match event {
        Event::CallGear(notification) => {
            let id = notification.call_session_id();
            if !changed.sessions.contains(&id) {
                return Ok(());
            }
            let Some(record) = overlay.session(id)? else {
                return Ok(());
            };
            let call = record.call(&overlay.timeline()?);
            if let Some(record) = domain::stats::calls::from_callgear(&call) {
                stats.set_call(record)?;
            }
        }
        Event::Contact(contact) => {
            live::observe(stats, contact)?;
            if let Some(call_id) = contact.call_id() {
                if let Some(archive) = stats.add_contact_event(call_id, contact)? {
                    let record = domain::stats::calls::from_contact(call_id, &archive);
                    stats.set_call(record)?;
                }
            }
        }
        Event::Native(_) => {}
    }
    Ok(())
}
