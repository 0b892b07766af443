//! Key layout of the `helpdesk` tree. One tree, a one-byte prefix per kind, so
//! that a single atomic sled batch covers records, indexes and the checkpoint:
//!
//! | key | value |
//! |---|---|
//! | `@checkpoint` | next log position to apply, u64 big-endian |
//! | `D` | `Directory` |
//! | `P` + phone digits | `PhoneRecord` |
//! | `S` + session id (u64 BE) | `SessionRecord` |
//! | `C` + customer id | `Desk` |
//! | `T` + ticket id | ticket view: the `Ticket` and the phones it is indexed under |
//! | `o` + sort key | empty: every ticket, newest first |
//! | `i` + field + value + sort key | empty: tickets by status, customer, ... |
//! | `K` + call id | `ContactCallRecord`: a contact-centre call's events |
//! | `A` + archive id | archive view: the call's `CallSummary` |
//! | `a` + call sort key | empty: every call, newest start first |
//! | `x` + field + value + call sort key | empty: calls by phone, agent, direction, outcome |
//! | `@layout` | the layout version of this tree (u32 BE) |
//! | `s` + ... | the statistics read model (`stats::keys`) |
//!
//! The sort key is `!(updated_at as order-preserving u64)` (8 bytes, so newer
//! sorts first) followed by the ticket id (ties: id ascending). An index value is
//! length-prefixed (u32 BE), so no value's prefix can match another's.

use domain::contact::CallKind;
use domain::{Channel, Outcome, Phone, TicketStatus, Timestamp};

pub(crate) const CHECKPOINT: &[u8] = b"@checkpoint";
pub(crate) const DIRECTORY: u8 = b'D';
pub(crate) const PHONE: u8 = b'P';
pub(crate) const SESSION: u8 = b'S';
pub(crate) const DESK: u8 = b'C';
pub(crate) const TICKET: u8 = b'T';
pub(crate) const ORDER: u8 = b'o';
pub(crate) const INDEX: u8 = b'i';
pub(crate) const CONTACT_CALL: u8 = b'K';
pub(crate) const ARCHIVE: u8 = b'A';
pub(crate) const ARCHIVE_ORDER: u8 = b'a';
pub(crate) const ARCHIVE_INDEX: u8 = b'x';
/// The layout of the tree: a store written with another one is cleared and
/// rebuilt from the log when opened. 2: the archive (`K`, `A`, `a`, `x`).
pub(crate) const LAYOUT: &[u8] = b"@layout";
pub(crate) const LAYOUT_VERSION: u32 = 2;

pub(crate) fn directory() -> [u8; 1] {
    [DIRECTORY]
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + rest.len());
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

pub(crate) fn phone(phone: &Phone) -> Vec<u8> {
    prefixed(PHONE, phone.digits().as_bytes())
}

pub(crate) fn session(id: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = SESSION;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

pub(crate) fn desk(id: &str) -> Vec<u8> {
    prefixed(DESK, id.as_bytes())
}

pub(crate) fn ticket(id: &str) -> Vec<u8> {
    prefixed(TICKET, id.as_bytes())
}

pub(crate) fn contact_call(call_id: &str) -> Vec<u8> {
    prefixed(CONTACT_CALL, call_id.as_bytes())
}

pub(crate) fn archive(id: &str) -> Vec<u8> {
    prefixed(ARCHIVE, id.as_bytes())
}

/// Newest first, then by id.
pub(crate) fn sort_key(updated_at: Timestamp, id: &str) -> Vec<u8> {
    let ordered = (updated_at.micros() as u64) ^ (1 << 63);
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&(!ordered).to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

/// The ticket id inside a sort key.
pub(crate) fn sort_key_id(sort_key: &[u8]) -> Option<&str> {
    sort_key
        .get(8..)
        .and_then(|id| std::str::from_utf8(id).ok())
        .filter(|id| !id.is_empty())
}

/// What a secondary index is keyed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    Status(TicketStatus),
    Customer(&'a str),
    Assignee(&'a str),
    Missed(bool),
    Channel(Channel),
    Phone(&'a Phone),
}

/// `i` + field tag + length-prefixed value: every entry of one index value.
pub(crate) fn index_prefix(field: &Field<'_>) -> Vec<u8> {
    let (tag, value): (u8, &[u8]) = match field {
        Field::Status(TicketStatus::Open) => (b's', b"o"),
        Field::Status(TicketStatus::Pending) => (b's', b"p"),
        Field::Status(TicketStatus::Closed) => (b's', b"c"),
        Field::Customer(id) => (b'c', id.as_bytes()),
        Field::Assignee(id) => (b'a', id.as_bytes()),
        Field::Missed(false) => (b'm', b"0"),
        Field::Missed(true) => (b'm', b"1"),
        Field::Channel(Channel::Calls) => (b'h', b"c"),
        Field::Channel(Channel::Sms) => (b'h', b"s"),
        Field::Channel(Channel::Email) => (b'h', b"e"),
        Field::Phone(phone) => (b'p', phone.digits().as_bytes()),
    };
    let mut key = Vec::with_capacity(6 + value.len());
    key.push(INDEX);
    key.push(tag);
    key.extend_from_slice(&(value.len() as u32).to_be_bytes());
    key.extend_from_slice(value);
    key
}

pub(crate) fn order_prefix() -> [u8; 1] {
    [ORDER]
}

/// What the call archive is indexed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallField<'a> {
    Phone(&'a Phone),
    Agent(&'a str),
    Direction(CallKind),
    Outcome(Outcome),
}

/// `x` + field tag + length-prefixed value: every entry of one archive index value.
pub(crate) fn call_index_prefix(field: &CallField<'_>) -> Vec<u8> {
    let (tag, value): (u8, &[u8]) = match field {
        CallField::Phone(phone) => (b'p', phone.digits().as_bytes()),
        CallField::Agent(id) => (b'a', id.as_bytes()),
        CallField::Direction(CallKind::Inbound) => (b'd', b"i"),
        CallField::Direction(CallKind::Outbound) => (b'd', b"o"),
        CallField::Direction(CallKind::Internal) => (b'd', b"a"),
        CallField::Outcome(outcome) => (b'o', outcome.as_str().as_bytes()),
    };
    let mut key = Vec::with_capacity(6 + value.len());
    key.push(ARCHIVE_INDEX);
    key.push(tag);
    key.extend_from_slice(&(value.len() as u32).to_be_bytes());
    key.extend_from_slice(value);
    key
}

pub(crate) fn call_order_prefix() -> [u8; 1] {
    [ARCHIVE_ORDER]
}

/// A key as people read it, for error messages.
pub(crate) fn describe(key: &[u8]) -> String {
    let text = |rest: &[u8]| String::from_utf8_lossy(rest).into_owned();
    match key.split_first() {
        Some((&DIRECTORY, [])) => "directory".to_owned(),
        Some((&PHONE, rest)) => format!("phone {}", text(rest)),
        Some((&SESSION, rest)) if rest.len() == 8 => {
            let mut id = [0u8; 8];
            id.copy_from_slice(rest);
            format!("session {}", u64::from_be_bytes(id))
        }
        Some((&DESK, rest)) => format!("customer {}", text(rest)),
        Some((&TICKET, rest)) => format!("ticket {}", text(rest)),
        Some((&CONTACT_CALL, rest)) => format!("contact-centre call {}", text(rest)),
        Some((&ARCHIVE, rest)) => format!("archived call {}", text(rest)),
        Some((&crate::stats::keys::PREFIX, _)) => crate::stats::keys::describe(key),
        _ => format!("key {}", text(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_put_newer_first_then_id() {
        let mut keys = [
            sort_key(Timestamp(-5), "a"),
            sort_key(Timestamp(10), "b"),
            sort_key(Timestamp(10), "a"),
            sort_key(Timestamp(0), "z"),
        ];
        keys.sort();
        let ids: Vec<&str> = keys.iter().map(|k| sort_key_id(k).unwrap()).collect();
        assert_eq!(ids, ["a", "b", "z", "a"]);
    }

    #[test]
    fn index_values_do_not_prefix_each_other() {
        let short = index_prefix(&Field::Customer("cus-1"));
        let long = index_prefix(&Field::Customer("cus-12"));
        assert!(!long.starts_with(&short));
    }
}

/// A page cursor: `prefix` (which listing, format version) + hex of the sort key.
pub(crate) fn cursor(prefix: &str, sort_key: &[u8]) -> String {
    format!("{prefix}{}", hex::encode(sort_key))
}

/// Reads a cursor [`cursor`] wrote with the same `prefix`; anything else is
/// `Error::BadCursor`.
pub(crate) fn parse_cursor(prefix: &str, text: &str) -> Result<Vec<u8>, crate::Error> {
    let bad = || crate::Error::BadCursor(text.to_owned());
    let hex_part = text.strip_prefix(prefix).ok_or_else(bad)?;
    let bytes = hex::decode(hex_part).map_err(|_| bad())?;
    sort_key_id(&bytes).ok_or_else(bad)?;
    Ok(bytes)
}

/// One page of a keyset-paged listing (`TicketPage`, `CallPage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub nodes: Vec<T>,
    /// Every item matching the filter, regardless of `first` and `after`.
    pub total_count: u64,
    pub has_next_page: bool,
    /// The cursor of the last node (pass it as `after`); `None` when `nodes` is empty.
    pub end_cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            nodes: Vec::new(),
            total_count: 0,
            has_next_page: false,
            end_cursor: None,
        }
    }
}
