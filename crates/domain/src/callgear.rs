//! CallGear notifications, typed (SPEC §1).
//!
//! `ingest` parses the six webhook bodies leniently into [`CallGearNotification`];
//! this module only describes the result. Durations are whole seconds.

use crate::phone::Phone;
use crate::time::Timestamp;

/// The webhook suffix, which is the only reliable statement of the event type.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
#[rkyv(derive(Debug, PartialEq, Eq))]
#[serde(rename_all = "lowercase")]
pub enum CallGearKind {
    /// `/handset`: an employee picked up a leg; a conversation starts.
    Handset,
    /// `/endleg`: one leg finished.
    EndLeg,
    /// `/end`: the whole session finished.
    End,
    /// `/recording`: recording files are ready.
    Recording,
    /// `/legout`: a leg of an outbound call towards the contact.
    LegOut,
    /// `/callout`: an outbound call session started by an employee.
    CallOut,
}

impl CallGearKind {
    pub const ALL: [CallGearKind; 6] = [
        CallGearKind::Handset,
        CallGearKind::EndLeg,
        CallGearKind::End,
        CallGearKind::Recording,
        CallGearKind::LegOut,
        CallGearKind::CallOut,
    ];

    /// The URL suffix without the slash: `handset`, `endleg`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            CallGearKind::Handset => "handset",
            CallGearKind::EndLeg => "endleg",
            CallGearKind::End => "end",
            CallGearKind::Recording => "recording",
            CallGearKind::LegOut => "legout",
            CallGearKind::CallOut => "callout",
        }
    }

    /// Accepts `handset` or `/handset`.
    pub fn parse(text: &str) -> Option<CallGearKind> {
        let name = text.strip_prefix('/').unwrap_or(text);
        CallGearKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for CallGearKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Call direction as CallGear reports it (`"in"` / `"out"`).
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
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// `contact_info`.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct ContactInfo {
    /// The customer's number, digits only.
    pub contact_phone_number: Option<Phone>,
    /// The number the customer dialled or was dialled from, digits only.
    pub communication_number: Option<Phone>,
    pub contact_id: Option<String>,
    pub contact_full_name: Option<String>,
}

/// `employee_info`.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct EmployeeInfo {
    pub employee_full_name: Option<String>,
    pub employee_id: Option<u64>,
}

/// `call_info`.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct CallInfo {
    pub call_source: Option<String>,
    pub direction: Option<Direction>,
    /// The session every notification of one call shares. Always present.
    pub call_session_id: u64,
    pub scenario_name: Option<String>,
    /// `/endleg` only: the leg belongs to an operator (employee).
    pub is_operator: Option<bool>,
    pub talk_time_duration_seconds: Option<u32>,
    pub total_time_duration_seconds: Option<u32>,
    pub wait_time_duration_seconds: Option<u32>,
    pub tag_names: Vec<String>,
    pub is_lost: Option<bool>,
}

/// `call_record_file_info`.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct RecordFileInfo {
    pub file_link: Option<String>,
    pub call_record_duration_seconds: Option<u32>,
    /// `/recording` only.
    pub record_file_links: Vec<String>,
}

/// One CallGear notification after lenient parsing.
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
pub struct CallGearNotification {
    pub kind: CallGearKind,
    pub notification_name: Option<String>,
    pub virtual_phone_number: Option<Phone>,
    /// `notification_time` converted from the account time zone to UTC.
    /// Absent when CallGear sent none; readers then use the receive time.
    pub notification_time: Option<Timestamp>,
    /// Set by click-to-call from a ticket: the ticket id (SPEC §1).
    pub external_id: Option<String>,
    pub contact_info: ContactInfo,
    pub employee_info: EmployeeInfo,
    pub call_info: CallInfo,
    pub call_record_file_info: RecordFileInfo,
    pub leg_id: Option<u64>,
    pub leg_ids: Vec<u64>,
    /// `/end` only.
    pub last_scenario_operation_name: Option<String>,
    /// `/end` only.
    pub group_ids: Vec<u64>,
}

impl CallGearNotification {
    /// A notification with only the mandatory fields; for tests and builders.
    pub fn new(kind: CallGearKind, call_session_id: u64) -> Self {
        CallGearNotification {
            kind,
            notification_name: None,
            virtual_phone_number: None,
            notification_time: None,
            external_id: None,
            contact_info: ContactInfo::default(),
            employee_info: EmployeeInfo::default(),
            call_info: CallInfo {
                call_session_id,
                ..CallInfo::default()
            },
            call_record_file_info: RecordFileInfo::default(),
            leg_id: None,
            leg_ids: Vec::new(),
            last_scenario_operation_name: None,
            group_ids: Vec::new(),
        }
    }

    pub fn call_session_id(&self) -> u64 {
        self.call_info.call_session_id
    }
}

#[cfg(test)]
mod tests {
    use super::CallGearKind;

    #[test]
    fn kinds_parse_with_or_without_slash() {
        for kind in CallGearKind::ALL {
            assert_eq!(CallGearKind::parse(kind.as_str()), Some(kind));
            assert_eq!(CallGearKind::parse(&format!("/{kind}")), Some(kind));
        }
        assert_eq!(CallGearKind::parse("hangup"), None);
        assert_eq!(CallGearKind::parse(""), None);
    }
}
