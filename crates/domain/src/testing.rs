//! Test builders shared by the domain's and the projections' tests (feature
//! `testing`): times as seconds after [`T0`], a CallGear notification builder and
//! contact-centre events from their JSON fields.

use crate::callgear::CallInfo;
use crate::contact::ContactEvent;
use crate::{CallGearKind, CallGearNotification, Direction, Event, Phone, Timestamp};

pub const T0: i64 = 1_712_300_000_000_000;

pub fn t(seconds: i64) -> Timestamp {
    Timestamp(T0 + seconds * 1_000_000)
}

pub fn phone(digits: &str) -> Phone {
    Phone::normalize(digits).expect("a phone number with digits")
}

/// A notification builder.
pub struct N(pub CallGearNotification);

pub fn n(kind: CallGearKind, session: u64, at: i64) -> N {
    let mut notification = CallGearNotification::new(kind, session);
    notification.notification_time = Some(t(at));
    notification.call_info = CallInfo {
        call_session_id: session,
        direction: Some(Direction::In),
        ..CallInfo::default()
    };
    N(notification)
}

impl N {
    pub fn phone(mut self, digits: &str) -> Self {
        self.0.contact_info.contact_phone_number = Some(phone(digits));
        self
    }
    pub fn employee(mut self, id: u64) -> Self {
        self.0.employee_info.employee_id = Some(id);
        self
    }
    pub fn talk(mut self, seconds: u32) -> Self {
        self.0.call_info.talk_time_duration_seconds = Some(seconds);
        self
    }
    pub fn wait(mut self, seconds: u32) -> Self {
        self.0.call_info.wait_time_duration_seconds = Some(seconds);
        self
    }
    pub fn operator(mut self) -> Self {
        self.0.call_info.is_operator = Some(true);
        self
    }
    pub fn lost(mut self, lost: bool) -> Self {
        self.0.call_info.is_lost = Some(lost);
        self
    }
    pub fn out(mut self) -> Self {
        self.0.call_info.direction = Some(Direction::Out);
        self
    }
    pub fn leg(mut self, id: u64) -> Self {
        self.0.leg_id = Some(id);
        self
    }
    pub fn recording(mut self, url: &str) -> Self {
        self.0
            .call_record_file_info
            .record_file_links
            .push(url.to_owned());
        self
    }
    pub fn external(mut self, ticket: &str) -> Self {
        self.0.external_id = Some(ticket.to_owned());
        self
    }
    pub fn no_time(mut self) -> Self {
        self.0.notification_time = None;
        self
    }
    pub fn ev(self) -> Event {
        Event::CallGear(Box::new(self.0))
    }
}

/// A contact-centre event of `call_id` at `t(seconds)`; `fields` are the JSON
/// members besides `v`, `at` and `call_id`, e.g. `r#""type":"queue_entered","queue":"Q""#`.
/// Panics on an event the feed would refuse.
pub fn contact(call_id: &str, seconds: i64, fields: &str) -> ContactEvent {
    let text = format!(
        r#"{{"v":1,"at":"{}","call_id":{},{fields}}}"#,
        t(seconds).to_rfc3339(),
        serde_json::to_string(call_id).expect("a JSON string")
    );
    let event: ContactEvent = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    event.check().unwrap_or_else(|e| panic!("{text}: {e}"));
    event
}

/// [`contact`] as a log event.
pub fn cc(call_id: &str, seconds: i64, fields: &str) -> Event {
    Event::Contact(Box::new(contact(call_id, seconds, fields)))
}
