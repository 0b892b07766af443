//! One call session, assembled from its CallGear notifications (SPEC §1).
//!
//! A [`SessionRecord`] keeps the *set* of notifications received for one
//! `call_session_id` (duplicates merged) in a canonical order, plus the agent
//! actions that belong to the session. [`SessionRecord::call`] derives the
//! [`Call`] from that set, so the result never depends on arrival order (R17).

use std::cmp::Ordering;

use crate::agent::{AgentId, CustomerId, Filing, SessionId, TicketEdit, TicketId};
use crate::callgear::{CallGearKind, CallGearNotification, Direction};
use crate::directory::MappingTimeline;
use crate::phone::Phone;
use crate::time::Timestamp;

/// A notification with the time it counts at: its `notification_time`, or, when
/// CallGear sent none, the earliest receive time of that exact body.
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
pub struct Fact {
    pub at: Timestamp,
    pub notification: CallGearNotification,
}

/// The persisted record of one session (key: `call_session_id`).
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
pub struct SessionRecord {
    pub id: SessionId,
    /// Distinct notifications, canonical order ([`Fact`] time, kind, content).
    pub facts: Vec<Fact>,
    /// create / attach / draft actions on this session, canonical order.
    pub filings: Vec<Filing>,
    /// Edits (R16) of the tickets whose id names this session, canonical order.
    pub edits: Vec<TicketEdit>,
    /// The customer desk this session is folded into; `None`: no customer (no phone).
    pub route: Option<CustomerId>,
    /// Derived by the desk fold: the tickets that hold this call, sorted.
    pub tickets: Vec<TicketId>,
}

const fn kind_rank(kind: CallGearKind) -> u8 {
    match kind {
        CallGearKind::CallOut => 0,
        CallGearKind::Handset => 1,
        CallGearKind::LegOut => 2,
        CallGearKind::EndLeg => 3,
        CallGearKind::End => 4,
        CallGearKind::Recording => 5,
    }
}

fn content_key(notification: &CallGearNotification) -> String {
    serde_json::to_string(notification).unwrap_or_default()
}

fn fact_order(a: &Fact, b: &Fact) -> Ordering {
    (a.at, kind_rank(a.notification.kind), a.notification.leg_id)
        .cmp(&(b.at, kind_rank(b.notification.kind), b.notification.leg_id))
        .then_with(|| content_key(&a.notification).cmp(&content_key(&b.notification)))
}

fn json_order<T: serde::Serialize>(a: &T, b: &T) -> Ordering {
    serde_json::to_string(a)
        .unwrap_or_default()
        .cmp(&serde_json::to_string(b).unwrap_or_default())
}

/// Inserts `item` into the canonically sorted `items` unless an equal one is there.
fn insert_sorted<T: PartialEq>(
    items: &mut Vec<T>,
    item: T,
    order: impl Fn(&T, &T) -> Ordering,
) -> bool {
    if items.contains(&item) {
        return false;
    }
    let index = items.partition_point(|probe| order(probe, &item) != Ordering::Greater);
    items.insert(index, item);
    true
}

impl SessionRecord {
    pub fn new(id: SessionId) -> Self {
        SessionRecord {
            id,
            facts: Vec::new(),
            filings: Vec::new(),
            edits: Vec::new(),
            route: None,
            tickets: Vec::new(),
        }
    }

    /// Adds a notification; `false` when it changes nothing (a duplicate).
    pub fn add_notification(
        &mut self,
        notification: &CallGearNotification,
        received_at: Timestamp,
    ) -> bool {
        let at = notification.notification_time.unwrap_or(received_at);
        if let Some(index) = self
            .facts
            .iter()
            .position(|fact| fact.notification == *notification)
        {
            if self.facts[index].at <= at {
                return false;
            }
            // The same body received earlier than we thought: keep the earliest time.
            self.facts.remove(index);
        }
        insert_sorted(
            &mut self.facts,
            Fact {
                at,
                notification: notification.clone(),
            },
            fact_order,
        )
    }

    pub fn add_filing(&mut self, filing: Filing) -> bool {
        insert_sorted(&mut self.filings, filing, |a, b| {
            (a.at(), a.agent_id())
                .cmp(&(b.at(), b.agent_id()))
                .then_with(|| json_order(a, b))
        })
    }

    pub fn add_edit(&mut self, edit: TicketEdit) -> bool {
        insert_sorted(&mut self.edits, edit, |a, b| {
            (a.at(), a.ticket_id(), a.agent_id())
                .cmp(&(b.at(), b.ticket_id(), b.agent_id()))
                .then_with(|| json_order(a, b))
        })
    }

    /// The customer's number: the first one in canonical order.
    pub fn phone(&self) -> Option<Phone> {
        self.facts
            .iter()
            .find_map(|fact| fact.notification.contact_info.contact_phone_number.clone())
    }

    pub fn external_id(&self) -> Option<String> {
        self.facts
            .iter()
            .filter_map(|fact| fact.notification.external_id.as_deref())
            .map(str::trim)
            .find(|id| !id.is_empty())
            .map(str::to_owned)
    }

    /// The time the call ended: its `/end`, else its first `/recording` (R20).
    pub fn end_at(&self) -> Option<Timestamp> {
        self.fact(CallGearKind::End)
            .or_else(|| self.fact(CallGearKind::Recording))
            .map(|fact| fact.at)
    }

    /// The time routing is decided at (R2, R19): the end, else the latest fact so far.
    pub fn routing_at(&self) -> Option<Timestamp> {
        self.end_at()
            .or_else(|| self.facts.iter().map(|fact| fact.at).max())
    }

    fn fact(&self, kind: CallGearKind) -> Option<&Fact> {
        self.facts
            .iter()
            .find(|fact| fact.notification.kind == kind)
    }

    /// Derives the call; operators are mapped to agents as of the call's start (R1, R18).
    pub fn call(&self, mapping: &MappingTimeline) -> Call {
        derive_call(self, mapping)
    }
}

/// Direction as GraphQL shows it.
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
pub enum CallDirection {
    Inbound,
    Outbound,
}

/// One operator's talk within the session (a talking leg, or the `/end` stand-in).
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
pub struct Conversation {
    pub employee_id: u64,
    /// `None`: the operator is not mapped to an agent (R1).
    pub agent_id: Option<AgentId>,
    pub started_at: Timestamp,
    /// `None` while it runs (only `/handset` seen).
    pub ended_at: Option<Timestamp>,
    pub talk_seconds: u32,
}

/// The call offered to an operator who did not answer (operator leg, talk = 0).
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
pub struct Offer {
    pub employee_id: u64,
    pub agent_id: Option<AgentId>,
    pub at: Timestamp,
}

/// An agent's part of a call: their conversations in the session, merged (R7, R21).
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
pub struct Part {
    pub agent_id: AgentId,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub talk_seconds: u32,
}

/// A call session as read models show it (GraphQL `Call`).
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
pub struct Call {
    pub session_id: SessionId,
    pub direction: CallDirection,
    pub phone: Option<Phone>,
    /// Click-to-call: the ticket the call was started from.
    pub external_id: Option<String>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// At least one conversation (for an outbound call: the contact answered).
    pub answered: bool,
    /// CallGear's own `is_lost` on `/end`.
    pub is_lost: Option<bool>,
    /// Ordered by the legs' end; running ones last.
    pub conversations: Vec<Conversation>,
    /// Ordered by time.
    pub offers: Vec<Offer>,
    /// Outbound: the operator who placed the call.
    pub caller_employee_id: Option<u64>,
    pub wait_seconds: Option<u32>,
    pub talk_seconds: Option<u32>,
    pub recording_urls: Vec<String>,
    /// The agent who talked last, else who was offered the call last.
    pub agent_id: Option<AgentId>,
}

impl Call {
    pub fn ended(&self) -> bool {
        self.ended_at.is_some()
    }

    /// Ended without any conversation.
    pub fn missed(&self) -> bool {
        self.ended() && !self.answered
    }

    /// Conversations of mapped agents, merged per agent, ordered by their end (R7).
    pub fn parts(&self) -> Vec<Part> {
        let mut parts: Vec<Part> = Vec::new();
        for conversation in &self.conversations {
            let Some(agent) = &conversation.agent_id else {
                continue;
            };
            match parts.iter_mut().find(|part| &part.agent_id == agent) {
                Some(part) => {
                    part.started_at = part.started_at.min(conversation.started_at);
                    part.ended_at = match (part.ended_at, conversation.ended_at) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                    part.talk_seconds = part.talk_seconds.saturating_add(conversation.talk_seconds);
                }
                None => parts.push(Part {
                    agent_id: agent.clone(),
                    started_at: conversation.started_at,
                    ended_at: conversation.ended_at,
                    talk_seconds: conversation.talk_seconds,
                }),
            }
        }
        parts.sort_by(|a, b| {
            (a.ended_at.is_none(), a.ended_at, a.started_at, &a.agent_id).cmp(&(
                b.ended_at.is_none(),
                b.ended_at,
                b.started_at,
                &b.agent_id,
            ))
        });
        parts
    }

    /// The mapped agent the call was offered to last (R8).
    pub fn last_offered_agent(&self) -> Option<AgentId> {
        self.offers
            .iter()
            .rev()
            .find_map(|offer| offer.agent_id.clone())
    }

    pub fn talked(&self, agent: &str) -> bool {
        self.conversations
            .iter()
            .any(|c| c.agent_id.as_deref() == Some(agent))
    }
}

fn secs(seconds: u32) -> i64 {
    i64::from(seconds) * 1_000_000
}

fn is_operator_leg(notification: &CallGearNotification) -> bool {
    notification.kind == CallGearKind::EndLeg
        && notification.call_info.is_operator != Some(false)
        && notification.employee_info.employee_id.is_some()
}

fn derive_call(record: &SessionRecord, mapping: &MappingTimeline) -> Call {
    let facts = &record.facts;
    let end = record
        .fact(CallGearKind::End)
        .map(|fact| &fact.notification);
    let ended_at = record.end_at();

    let direction = if facts.iter().any(|fact| {
        matches!(
            fact.notification.kind,
            CallGearKind::CallOut | CallGearKind::LegOut
        ) || fact.notification.call_info.direction == Some(Direction::Out)
    }) {
        CallDirection::Outbound
    } else {
        CallDirection::Inbound
    };

    let total = end.and_then(|n| n.call_info.total_time_duration_seconds);
    let started_at = facts
        .iter()
        .map(|fact| fact.at)
        .chain(
            ended_at
                .zip(total)
                .map(|(at, total)| Timestamp(at.0 - secs(total))),
        )
        .min();
    let mapping_at = started_at.unwrap_or_default();
    let agent_for = |employee: u64| mapping.agent_for(employee, mapping_at);

    let handset_at = |employee: u64| {
        facts
            .iter()
            .filter(|fact| {
                fact.notification.kind == CallGearKind::Handset
                    && fact.notification.employee_info.employee_id == Some(employee)
            })
            .map(|fact| fact.at)
            .min()
    };

    // Talking operator legs and offers, ordered by the legs' end (the fact order).
    let mut conversations = Vec::new();
    let mut offers = Vec::new();
    let mut seen_legs = Vec::new();
    for fact in facts
        .iter()
        .filter(|fact| is_operator_leg(&fact.notification))
    {
        let n = &fact.notification;
        if let Some(leg) = n.leg_id {
            if seen_legs.contains(&leg) {
                continue; // the same leg reported twice with different content
            }
            seen_legs.push(leg);
        }
        let employee = n.employee_info.employee_id.unwrap_or_default();
        let talk = n.call_info.talk_time_duration_seconds.unwrap_or(0);
        if talk > 0 {
            let from_talk = Timestamp(fact.at.0 - secs(talk));
            conversations.push(Conversation {
                employee_id: employee,
                agent_id: agent_for(employee),
                started_at: handset_at(employee).map_or(from_talk, |h| h.min(from_talk)),
                ended_at: Some(fact.at),
                talk_seconds: talk,
            });
        } else {
            offers.push(Offer {
                employee_id: employee,
                agent_id: agent_for(employee),
                at: fact.at,
            });
        }
    }

    let caller_employee_id = facts
        .iter()
        .filter(|fact| fact.notification.kind == CallGearKind::CallOut)
        .find_map(|fact| fact.notification.employee_info.employee_id)
        .or_else(|| {
            (direction == CallDirection::Outbound).then(|| {
                facts
                    .iter()
                    .find_map(|fact| fact.notification.employee_info.employee_id)
            })?
        });

    // No talking leg: `/end` with talk > 0 stands for one conversation (SPEC §1);
    // an outbound call's contact leg (`/legout`) that talked does the same (R22).
    if conversations.is_empty() {
        let end_talk = end
            .and_then(|n| n.call_info.talk_time_duration_seconds)
            .unwrap_or(0);
        let legout_talk = facts
            .iter()
            .filter(|fact| fact.notification.kind == CallGearKind::LegOut)
            .filter_map(|fact| fact.notification.call_info.talk_time_duration_seconds)
            .max()
            .unwrap_or(0);
        let employee = end
            .and_then(|n| n.employee_info.employee_id)
            .or(match direction {
                CallDirection::Outbound => caller_employee_id,
                CallDirection::Inbound => None,
            });
        let talk = if end_talk > 0 { end_talk } else { legout_talk };
        if let (Some(employee), Some(end_at), true) = (employee, ended_at, talk > 0) {
            let from_talk = Timestamp(end_at.0 - secs(talk));
            conversations.push(Conversation {
                employee_id: employee,
                agent_id: agent_for(employee),
                started_at: handset_at(employee).map_or(from_talk, |h| h.min(from_talk)),
                ended_at: Some(end_at),
                talk_seconds: talk,
            });
        }
    }

    // Live conversations: picked up (`/handset`), no leg end yet, call still running.
    if ended_at.is_none() {
        for fact in facts
            .iter()
            .filter(|fact| fact.notification.kind == CallGearKind::Handset)
        {
            let Some(employee) = fact.notification.employee_info.employee_id else {
                continue;
            };
            if conversations.iter().any(|c| c.employee_id == employee) {
                continue;
            }
            conversations.push(Conversation {
                employee_id: employee,
                agent_id: agent_for(employee),
                started_at: fact.at,
                ended_at: None,
                talk_seconds: 0,
            });
        }
    }

    let end_talk = end.and_then(|n| n.call_info.talk_time_duration_seconds);
    let answered = !conversations.is_empty() || end_talk.unwrap_or(0) > 0;

    let mut recording_urls: Vec<String> = Vec::new();
    for fact in facts {
        let info = &fact.notification.call_record_file_info;
        for url in info.file_link.iter().chain(info.record_file_links.iter()) {
            let url = url.trim();
            if !url.is_empty() && !recording_urls.iter().any(|known| known == url) {
                recording_urls.push(url.to_owned());
            }
        }
    }

    let talk_seconds = end_talk.or_else(|| {
        let sum: u32 = conversations.iter().map(|c| c.talk_seconds).sum();
        (sum > 0).then_some(sum)
    });
    let agent_id = conversations
        .iter()
        .rev()
        .find_map(|c| c.agent_id.clone())
        .or_else(|| offers.iter().rev().find_map(|o| o.agent_id.clone()))
        .or_else(|| caller_employee_id.and_then(agent_for));

    Call {
        session_id: record.id,
        direction,
        phone: record.phone(),
        external_id: record.external_id(),
        started_at,
        ended_at,
        answered,
        is_lost: end.and_then(|n| n.call_info.is_lost),
        conversations,
        offers,
        caller_employee_id,
        wait_seconds: end.and_then(|n| n.call_info.wait_time_duration_seconds),
        talk_seconds,
        recording_urls,
        agent_id,
    }
}
