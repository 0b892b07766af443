//! Ids derived from content, never from arrival order or log position (R17).
//!
//! | entity | id | derived from |
//! |---|---|---|
//! | customer created from a call | `cus-<digits>` | the caller's phone |
//! | ticket of an agent's part of a call (filed, draft, R6, R7, R11) | `call-<session>-<agent>` | session and agent |
//! | missed-call ticket (R8) | `missed-<session>` | the missed session that opened it |
//! | call message | `msg-call-<session>-<agent>` | session and agent |
//! | missed-call message | `msg-missed-<session>` | session |
//! | call attempt message (R10, R12) | `msg-attempt-<session>` | session |
//! | note / reply | `msg-note-<micros>-<hash>` / `msg-reply-<micros>-<hash>` | the action's time and content |
//!
//! Every ticket id names the session it came from ([`ticket_origin`]); the
//! session record knows the customer it is routed to, so a ticket is found
//! without a separate index.

use crate::agent::{AgentId, CustomerId, SessionId, TicketId};
use crate::phone::Phone;
use crate::time::Timestamp;

pub fn customer_for_phone(phone: &Phone) -> CustomerId {
    format!("cus-{}", phone.digits())
}

pub fn call_ticket(session: SessionId, agent: &str) -> TicketId {
    format!("call-{session}-{agent}")
}

pub fn missed_ticket(session: SessionId) -> TicketId {
    format!("missed-{session}")
}

pub fn call_message(session: SessionId, agent: &str) -> String {
    format!("msg-call-{session}-{agent}")
}

pub fn missed_message(session: SessionId) -> String {
    format!("msg-missed-{session}")
}

pub fn attempt_message(session: SessionId) -> String {
    format!("msg-attempt-{session}")
}

/// `kind` is `note` or `reply`.
pub fn edit_message(kind: &str, at: Timestamp, agent: &AgentId, body: &str) -> String {
    let hash = fnv1a64([agent.as_bytes(), b"\0", body.as_bytes()]);
    format!("msg-{kind}-{}-{hash:016x}", at.micros())
}

/// The session a ticket id was derived from; `None` for ids we never issue.
pub fn ticket_origin(ticket: &str) -> Option<SessionId> {
    let digits = if let Some(rest) = ticket.strip_prefix("missed-") {
        rest
    } else {
        let rest = ticket.strip_prefix("call-")?;
        let (session, agent) = rest.split_once('-')?;
        if agent.is_empty() {
            return None;
        }
        session
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// FNV-1a, 64 bit: a stable, dependency-free content hash for ids (not for security).
fn fnv1a64<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_name_their_session() {
        let check =
            |id: &str, expect: Option<SessionId>| assert_eq!(ticket_origin(id), expect, "{id}");
        check(&call_ticket(42, "alice-b"), Some(42));
        check(&missed_ticket(7), Some(7));
        check("call-42-", None);
        check("call-x-alice", None);
        check("missed-", None);
        check("T-1", None);
    }

    #[test]
    fn edit_message_ids_depend_on_content_only() {
        let a = edit_message("note", Timestamp(1), &"alice".to_string(), "hi");
        assert_eq!(
            a,
            edit_message("note", Timestamp(1), &"alice".to_string(), "hi")
        );
        assert_ne!(
            a,
            edit_message("note", Timestamp(1), &"alice".to_string(), "hi!")
        );
    }
}
