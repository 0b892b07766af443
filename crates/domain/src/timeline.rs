//! The archive timeline of a call (SPEC §4) and the per-call summary that the
//! archive search and the statistics read.
//!
//! Two feeds tell what happened to a call:
//!
//! * the native contact-centre feed ([`crate::contact`]): a call's events are
//!   kept in a [`ContactCallRecord`] (the *set* of distinct events, canonical
//!   order, at most [`CONTACT_EVENTS_PER_CALL_MAX`]) and folded by
//!   [`ContactCallRecord::fold`] into a [`CallArchive`];
//! * CallGear: [`callgear_archive`] maps a session's [`Call`] onto the same
//!   entries (menu/scenario time, wait, one Conversation per operator leg that
//!   talked, transfers).
//!
//! A [`CallArchive`] is the ordered list of [`TimelineEntry`]s and a
//! [`CallSummary`] (direction, phone, start/end, queue, answered, agents, wait,
//! talk, [`Outcome`]). Both are derived from the record alone, so any delivery
//! order and any duplicates give the same result (R17). The rules this module
//! implements are R32–R45 in `docs/rules.md`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::agent::{AgentId, SessionId};
use crate::contact::{
    CallKind, ContactBody, ContactEvent, DialMode, DialResult, MessagePurpose, QueueExit,
};
use crate::directory::MappingTimeline;
use crate::phone::Phone;
use crate::session::{Call, CallDirection, SessionRecord};
use crate::time::Timestamp;

/// A contact-centre call keeps at most this many distinct events (R33). The
/// first ones in canonical order are kept; the record says it was truncated.
pub const CONTACT_EVENTS_PER_CALL_MAX: usize = 512;
/// At most this many callback attempts are shown (SPEC §4: "up to three").
pub const CALLBACK_ATTEMPTS_MAX: u8 = 3;
/// How an agent-to-agent call shows its number (SPEC §4).
pub const MASKED_PHONE: &str = "xxxxxxxx";
/// Label of a dial (callback attempt, outbound call) the destination did not answer.
pub const LABEL_UNANSWERED: &str = "1 unanswered call finished";
pub const LABEL_ANSWERING_MACHINE: &str = "answering machine";
pub const LABEL_CALLBACK_DELETED: &str = "callback deleted";
pub const LABEL_OUTBOUND_CANCELLED: &str = "outbound call cancelled";
pub const LABEL_TRANSFER: &str = "transfer";
/// Prefix of the archive id of a contact-centre call: `cc:<call_id>`.
pub const CONTACT_ID_PREFIX: &str = "cc:";

label! {
    #[derive(PartialOrd, Ord)]
    /// What a timeline entry stands for (SPEC §4).
    pub enum TimelineKind {
        /// Time in a voice menu (IVR), or a played message.
        Menu,
        /// Time waiting in a queue (zero for an outbound call's order).
        Queue,
        /// From a callback/outbound order until the destination answered or the dial ended.
        QueueCallback,
        /// Talk time of an agent with the customer.
        Conversation,
        /// An agent-to-agent consultation; the entry's agent is the consulted one.
        Consult,
        /// A callback or outbound order deleted from the queue (shown in red).
        Deleted,
    }
}

record! {
    /// One entry of a call's archive timeline.
    pub struct TimelineEntry {
        pub kind: TimelineKind,
        pub start: Timestamp,
        /// Whole seconds. An entry still open counts up to the call's latest event.
        pub seconds: u32,
        /// The agent shown with the entry, where any.
        pub agent_id: Option<AgentId>,
        /// The queue or menu name (for a Conversation: the queue it was answered from).
        pub place: Option<String>,
        /// e.g. "1 unanswered call finished".
        pub label: Option<String>,
        /// The agent's survey (wrap-up form) registered for this part of the call.
        pub survey: Option<String>,
    }
}

label! {
    #[derive(PartialOrd, Ord)]
    /// How a call ended up, for the archive search and the statistics (R41).
    pub enum Outcome {
        /// An agent talked with the customer (agent-to-agent: the called agent answered).
        Answered,
        /// A callback or outbound dial was answered by an answering machine (counts as answered).
        AnsweringMachine,
        /// Inbound: the caller hung up (or the call ended) before any agent talked,
        /// and no callback was ordered. CallGear's missed calls.
        Abandoned,
        /// A dialer reached the contact but no agent talked (silent call).
        NoAgent,
        /// A callback is ordered and waiting for an attempt that answers.
        CallbackOrdered,
        /// Outbound, agent-to-agent or callback: the destination did not answer
        /// (for a callback: all three attempts).
        NoAnswer,
        /// The agent cancelled the outbound call from the outbound tab.
        Cancelled,
        /// The callback was deleted from the queue.
        Deleted,
        /// Still running, nothing decided yet.
        InProgress,
    }
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Answered,
        Outcome::AnsweringMachine,
        Outcome::Abandoned,
        Outcome::NoAgent,
        Outcome::CallbackOrdered,
        Outcome::NoAnswer,
        Outcome::Cancelled,
        Outcome::Deleted,
        Outcome::InProgress,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::AnsweringMachine => "answering_machine",
            Outcome::Abandoned => "abandoned",
            Outcome::NoAgent => "no_agent",
            Outcome::CallbackOrdered => "callback_ordered",
            Outcome::NoAnswer => "no_answer",
            Outcome::Cancelled => "cancelled",
            Outcome::Deleted => "deleted",
            Outcome::InProgress => "in_progress",
        }
    }
}

record! {
    /// One agent's speaking time in a call: the union of their Conversation
    /// entries and the Consult entries they were on (either side).
    pub struct AgentTalk {
        pub agent_id: AgentId,
        pub talk_seconds: u32,
    }
}

record! {
    /// What the archive and the statistics know of one call (either feed).
    pub struct CallSummary {
        /// The archive id, GraphQL `Call.sessionId`: CallGear's `call_session_id`
        /// in decimal, or `cc:<call_id>` for a contact-centre call.
        pub id: String,
        pub direction: CallKind,
        /// `+digits`; [`MASKED_PHONE`] for agent-to-agent; `None` when no feed gave one.
        pub phone: Option<String>,
        /// Every customer number of the call (digits), sorted: the phone filter's keys.
        pub phones: Vec<Phone>,
        pub started_at: Timestamp,
        /// The latest `call_ended` (CallGear: `/end`, else `/recording`); `None` while running.
        pub ended_at: Option<Timestamp>,
        /// The queue the call was answered from, else the callback or outbound
        /// queue, else the last queue it waited in.
        pub queue: Option<String>,
        /// An agent talked with the customer (an answering machine counts,
        /// SPEC §4); agent-to-agent: the called agent answered.
        pub answered: bool,
        /// When that talk began.
        pub answered_at: Option<Timestamp>,
        /// The agent who talked last, else the last agent shown on the timeline.
        pub agent_id: Option<AgentId>,
        /// Every agent shown on the timeline, sorted (an agent-to-agent call's
        /// called agent only if they answered).
        pub agents: Vec<AgentId>,
        /// Agents the call rang at (contact-centre `agent_offered`; CallGear
        /// operator legs, talking or not, mapped to agents), sorted.
        pub agents_offered: Vec<AgentId>,
        /// Speaking time per agent, by agent id.
        pub agent_talk: Vec<AgentTalk>,
        /// Seconds in queues (Queue entries); CallGear: `/end`'s wait time.
        pub wait_seconds: u32,
        /// Seconds of talk: the union of Conversation and Consult entries
        /// (agent-to-agent: ring + consult, SPEC §4); CallGear: `/end`'s talk time.
        pub talk_seconds: u32,
        pub outcome: Outcome,
        /// Outbound calls: how the call was placed.
        pub dial_mode: Option<DialMode>,
        pub callback_ordered_at: Option<Timestamp>,
        /// Callback attempts shown (at most [`CALLBACK_ATTEMPTS_MAX`]).
        pub callback_attempts: u8,
        /// The record reached [`CONTACT_EVENTS_PER_CALL_MAX`]: later events are not shown.
        pub truncated: bool,
    }
}

/// A call as the archive shows it: the timeline and the summary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallArchive {
    pub timeline: Vec<TimelineEntry>,
    pub summary: CallSummary,
}

/// The archive id of a contact-centre call.
pub fn contact_archive_id(call_id: &str) -> String {
    format!("{CONTACT_ID_PREFIX}{call_id}")
}

/// Which call an archive id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveId<'a> {
    CallGear(SessionId),
    Contact(&'a str),
}

impl<'a> ArchiveId<'a> {
    /// `"123"` → CallGear session 123; `"cc:abc"` → contact-centre call `abc`.
    pub fn parse(text: &'a str) -> Option<ArchiveId<'a>> {
        if let Some(call_id) = text.strip_prefix(CONTACT_ID_PREFIX) {
            return (!call_id.is_empty()).then_some(ArchiveId::Contact(call_id));
        }
        text.parse().ok().map(ArchiveId::CallGear)
    }
}

// ---------------------------------------------------------------------------
// The record of a contact-centre call

record! {
    /// The persisted record of one contact-centre call (key: its `call_id`).
    pub struct ContactCallRecord {
        pub call_id: String,
        /// Distinct events, canonical order ([`event_order`]), at most
        /// [`CONTACT_EVENTS_PER_CALL_MAX`]: the first ones in that order.
        pub events: Vec<ContactEvent>,
        /// More distinct events than the cap were seen (R33).
        pub truncated: bool,
    }
}

/// Events at the same instant are taken in the order a call goes through them
/// (R32); only then by content. The live dashboard applies a call's events in
/// the same order.
pub const fn step_rank(body: &ContactBody) -> u8 {
    match body {
        ContactBody::CallStarted { .. } => 0,
        ContactBody::OutboundOrdered { .. } => 1,
        ContactBody::CallbackAttemptStarted { .. } => 2,
        ContactBody::MenuLeft { .. } | ContactBody::QueueLeft { .. } => 3,
        ContactBody::MenuEntered { .. } | ContactBody::QueueEntered { .. } => 4,
        ContactBody::CallbackOrdered { .. } => 5,
        ContactBody::OutboundResult { .. } | ContactBody::CallbackAttemptResult { .. } => 6,
        ContactBody::AgentOffered { .. } => 7,
        ContactBody::AgentAnswered { .. } => 8,
        ContactBody::ConsultStarted { .. } => 9,
        ContactBody::ConsultAnswered { .. } => 10,
        ContactBody::MessagePlayed { .. } => 11,
        ContactBody::ConsultEnded { .. } => 12,
        ContactBody::AgentHungUp { .. } => 13,
        ContactBody::OutboundCancelled { .. } => 14,
        ContactBody::CallbackDeleted { .. } => 15,
        ContactBody::CallEnded { .. } => 16,
        ContactBody::SurveyRegistered { .. } => 17,
        ContactBody::AgentPresence { .. } => 18,
    }
}

fn content_key(event: &ContactEvent) -> String {
    // Serialising owned plain data to JSON cannot fail.
    serde_json::to_string(event).unwrap_or_default()
}

/// The canonical order of a call's events: time, then the step a call goes
/// through at that instant, then content (R32).
pub fn event_order(a: &ContactEvent, b: &ContactEvent) -> Ordering {
    (a.at, step_rank(&a.body))
        .cmp(&(b.at, step_rank(&b.body)))
        .then_with(|| content_key(a).cmp(&content_key(b)))
}

impl ContactCallRecord {
    pub fn new(call_id: impl Into<String>) -> Self {
        ContactCallRecord {
            call_id: call_id.into(),
            events: Vec::new(),
            truncated: false,
        }
    }

    /// Adds an event of this call; `false` when it changes nothing (a duplicate,
    /// or an event beyond the cap once the record is marked truncated).
    ///
    /// The record keeps the [`CONTACT_EVENTS_PER_CALL_MAX`] first distinct events
    /// in canonical order, so what it holds never depends on arrival order.
    pub fn add(&mut self, event: &ContactEvent) -> bool {
        debug_assert_eq!(event.call_id(), Some(self.call_id.as_str()));
        if self.events.contains(event) {
            return false;
        }
        let index = self
            .events
            .partition_point(|probe| event_order(probe, event) != Ordering::Greater);
        if self.events.len() >= CONTACT_EVENTS_PER_CALL_MAX {
            let was = self.truncated;
            self.truncated = true;
            if index >= CONTACT_EVENTS_PER_CALL_MAX {
                return !was;
            }
            self.events.pop();
        }
        self.events.insert(index, event.clone());
        true
    }

    /// The call's timeline and summary.
    pub fn fold(&self) -> CallArchive {
        let mut fold = Fold::new(&self.events);
        for event in &self.events {
            fold.step(event);
        }
        fold.finish(&self.call_id, self.truncated)
    }
}

// ---------------------------------------------------------------------------
// Folding a contact-centre call

/// An entry being built; `end: None` while it is open.
struct Draft {
    entry: TimelineEntry,
    end: Option<Timestamp>,
    /// Consult entries: the agent who consulted.
    consulting: Option<AgentId>,
}

/// A callback or outbound dial towards the customer.
struct Dial {
    /// The open Queue (callback) entry.
    entry: usize,
    agent: Option<AgentId>,
    place: Option<String>,
    result: Option<DialResult>,
    ended_at: Option<Timestamp>,
}

struct Fold {
    drafts: Vec<Draft>,
    started_at: Option<Timestamp>,
    last_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    kind: Option<CallKind>,
    phones: Vec<String>,
    caller: Option<AgentId>,
    target: Option<AgentId>,
    /// The internal call's caller never reports `agent_answered`: the call's start stands for it.
    caller_answers_at_start: bool,
    target_answered_at: Option<Timestamp>,
    /// The customer is on the line (inbound from the start; a dial once answered).
    connected: bool,
    /// Agents who answered and have not hung up since.
    answered: BTreeSet<AgentId>,
    offered: BTreeSet<AgentId>,
    conversations: BTreeMap<AgentId, usize>,
    consults: BTreeMap<(AgentId, AgentId), usize>,
    menus: Vec<(String, usize)>,
    queues: Vec<(String, usize)>,
    last_queue: Option<String>,
    /// Where the customer's talk comes from (queue, callback or outbound queue).
    talk_place: Option<String>,
    /// The label conversations opened now carry (answering machine).
    talk_label: Option<&'static str>,
    callback_queue: Option<String>,
    callback_ordered_at: Option<Timestamp>,
    /// Attempt number → the dial; attempts beyond the cap or after an answer are absent.
    attempts: BTreeMap<u8, Dial>,
    callback_answered: Option<DialResult>,
    outbound: Option<Dial>,
    outbound_queue: Option<String>,
    dial_mode: Option<DialMode>,
    outbound_result: Option<DialResult>,
    cancelled: bool,
    deleted: bool,
}

fn is_answer(result: DialResult) -> bool {
    matches!(result, DialResult::Answered | DialResult::AnsweringMachine)
}

fn micros_to_seconds(micros: i64) -> u32 {
    u32::try_from(micros.max(0) / 1_000_000).unwrap_or(u32::MAX)
}

fn seconds_between(start: Timestamp, end: Timestamp) -> u32 {
    micros_to_seconds(end.0 - start.0)
}

fn plus_seconds(at: Timestamp, seconds: u32) -> Timestamp {
    Timestamp(at.0.saturating_add(i64::from(seconds) * 1_000_000))
}

impl Fold {
    fn new(events: &[ContactEvent]) -> Fold {
        let caller = events.iter().find_map(|e| match &e.body {
            ContactBody::CallStarted {
                kind: CallKind::Internal,
                agent_id,
                ..
            } => agent_id.clone(),
            _ => None,
        });
        let caller_answers_at_start = caller.as_ref().is_some_and(|caller| {
            !events.iter().any(|e| {
                matches!(&e.body, ContactBody::AgentAnswered { agent_id, .. } if agent_id == caller)
            })
        });
        Fold {
            drafts: Vec::new(),
            started_at: None,
            last_at: None,
            ended_at: None,
            kind: None,
            phones: Vec::new(),
            caller: None,
            target: None,
            caller_answers_at_start,
            target_answered_at: None,
            connected: false,
            answered: BTreeSet::new(),
            offered: BTreeSet::new(),
            conversations: BTreeMap::new(),
            consults: BTreeMap::new(),
            menus: Vec::new(),
            queues: Vec::new(),
            last_queue: None,
            talk_place: None,
            talk_label: None,
            callback_queue: None,
            callback_ordered_at: None,
            attempts: BTreeMap::new(),
            callback_answered: None,
            outbound: None,
            outbound_queue: None,
            dial_mode: None,
            outbound_result: None,
            cancelled: false,
            deleted: false,
        }
    }

    fn internal(&self) -> bool {
        self.kind == Some(CallKind::Internal)
    }

    fn open(&mut self, kind: TimelineKind, start: Timestamp, agent_id: Option<AgentId>) -> usize {
        self.drafts.push(Draft {
            entry: TimelineEntry {
                kind,
                start,
                seconds: 0,
                agent_id,
                place: None,
                label: None,
                survey: None,
            },
            end: None,
            consulting: None,
        });
        self.drafts.len() - 1
    }

    /// An entry that is over at once (a zero-length Queue, a Deleted entry, a message).
    fn closed(
        &mut self,
        kind: TimelineKind,
        start: Timestamp,
        end: Timestamp,
        agent_id: Option<AgentId>,
        place: Option<String>,
        label: Option<&str>,
    ) {
        let index = self.open(kind, start, agent_id);
        let draft = &mut self.drafts[index];
        draft.entry.place = place;
        draft.entry.label = label.map(str::to_owned);
        draft.end = Some(end.max(start));
    }

    fn close(&mut self, index: usize, at: Timestamp) {
        let draft = &mut self.drafts[index];
        if draft.end.is_none() {
            draft.end = Some(at.max(draft.entry.start));
        }
    }

    fn set_label(&mut self, index: usize, label: &str) {
        self.drafts[index].entry.label = Some(label.to_owned());
    }

    fn open_conversation(&mut self, agent: &AgentId, at: Timestamp) {
        if self.conversations.contains_key(agent) {
            return;
        }
        let index = self.open(TimelineKind::Conversation, at, Some(agent.clone()));
        self.drafts[index].entry.place = self.talk_place.clone();
        self.drafts[index].entry.label = self.talk_label.map(str::to_owned);
        self.conversations.insert(agent.clone(), index);
    }

    fn close_conversation(&mut self, agent: &str, at: Timestamp) {
        if let Some(index) = self.conversations.remove(agent) {
            self.close(index, at);
        }
    }

    fn open_consult(&mut self, by: &AgentId, target: &AgentId, at: Timestamp) {
        let key = (by.clone(), target.clone());
        if self.consults.contains_key(&key) {
            return;
        }
        let index = self.open(TimelineKind::Consult, at, Some(target.clone()));
        self.drafts[index].entry.label = Some(format!("consulted by {by}"));
        self.drafts[index].consulting = Some(by.clone());
        self.consults.insert(key, index);
    }

    /// The called agent of an agent-to-agent call answered: the caller's short
    /// Conversation ends and the Consult with the called agent begins (SPEC §4).
    fn target_answers(&mut self, at: Timestamp) {
        let (Some(caller), Some(target)) = (self.caller.clone(), self.target.clone()) else {
            return;
        };
        if self.target_answered_at.is_some() {
            return;
        }
        self.target_answered_at = Some(at);
        self.close_conversation(&caller, at);
        self.open_consult(&caller, &target, at);
    }

    /// The customer picked up a dial: talk begins for the agents on the line.
    fn customer_answers(&mut self, result: DialResult, agent: Option<AgentId>, at: Timestamp) {
        self.connected = true;
        self.talk_label =
            (result == DialResult::AnsweringMachine).then_some(LABEL_ANSWERING_MACHINE);
        let mut agents: BTreeSet<AgentId> = self.answered.clone();
        agents.extend(agent);
        for agent in &agents {
            self.open_conversation(agent, at);
        }
    }

    /// A new dial towards the customer: nobody is on the line yet.
    fn dialling(&mut self) {
        self.connected = false;
        self.answered.clear();
        self.talk_label = None;
    }

    fn step(&mut self, event: &ContactEvent) {
        let at = event.at;
        self.started_at = Some(self.started_at.map_or(at, |s| s.min(at)));
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
        match &event.body {
            ContactBody::CallStarted {
                kind,
                phone,
                agent_id,
                target_agent_id,
                ..
            } => {
                if self.kind.is_none() {
                    self.kind = Some(*kind);
                    self.connected = *kind == CallKind::Inbound;
                    if *kind == CallKind::Internal {
                        self.caller = agent_id.clone();
                        self.target = target_agent_id.clone();
                        self.connected = true;
                        if self.caller_answers_at_start {
                            if let Some(caller) = agent_id {
                                self.answered.insert(caller.clone());
                                self.open_conversation(caller, at);
                            }
                        }
                    }
                }
                self.phones.extend(phone.clone());
            }
            ContactBody::CallEnded { .. } => {
                self.ended_at = Some(self.ended_at.map_or(at, |e| e.max(at)));
                self.end_everything(at);
            }
            ContactBody::MenuEntered { menu, .. } => {
                let index = self.open(TimelineKind::Menu, at, None);
                self.drafts[index].entry.place = Some(menu.clone());
                self.menus.push((menu.clone(), index));
            }
            ContactBody::MenuLeft { menu, .. } => {
                if let Some(position) = self.menus.iter().rposition(|(name, _)| name == menu) {
                    let (_, index) = self.menus.remove(position);
                    self.close(index, at);
                }
            }
            ContactBody::MessagePlayed {
                message,
                purpose,
                seconds,
                ..
            } => {
                let label = match purpose {
                    MessagePurpose::Welcome => Some("welcome message"),
                    MessagePurpose::SilentCall => Some("silent call message"),
                    MessagePurpose::Other => None,
                };
                // Reported once played: it began `seconds` earlier (not before the call).
                let began = Timestamp(at.0.saturating_sub(i64::from(*seconds) * 1_000_000))
                    .max(self.started_at.unwrap_or(at));
                self.closed(
                    TimelineKind::Menu,
                    began,
                    at,
                    None,
                    Some(message.clone()),
                    label,
                );
            }
            ContactBody::QueueEntered { queue, .. } => {
                let index = self.open(TimelineKind::Queue, at, None);
                self.drafts[index].entry.place = Some(queue.clone());
                self.queues.push((queue.clone(), index));
                self.last_queue = Some(queue.clone());
                self.talk_place = Some(queue.clone());
            }
            ContactBody::QueueLeft { queue, reason, .. } => {
                if let Some(position) = self.queues.iter().rposition(|(name, _)| name == queue) {
                    let (_, index) = self.queues.remove(position);
                    self.close(index, at);
                    let label = match reason {
                        QueueExit::Answered => None,
                        QueueExit::Abandoned => Some("abandoned"),
                        QueueExit::CallbackOrdered => Some("callback ordered"),
                        QueueExit::Timeout => Some("timeout"),
                    };
                    if let Some(label) = label {
                        self.set_label(index, label);
                    }
                }
            }
            ContactBody::CallbackOrdered { queue, phone, .. } => {
                if self.callback_ordered_at.is_none() {
                    self.callback_ordered_at = Some(at);
                    self.callback_queue = Some(queue.clone());
                }
                self.phones.push(phone.clone());
            }
            ContactBody::CallbackAttemptStarted {
                attempt, agent_id, ..
            } => self.attempt_started(*attempt, agent_id.clone(), at),
            ContactBody::CallbackAttemptResult {
                attempt, result, ..
            } => self.attempt_result(*attempt, *result, at),
            ContactBody::CallbackDeleted { agent_id, .. } => {
                self.deleted = true;
                let place = self.callback_queue.clone();
                self.closed(
                    TimelineKind::Deleted,
                    at,
                    at,
                    agent_id.clone(),
                    place,
                    Some(LABEL_CALLBACK_DELETED),
                );
            }
            ContactBody::OutboundOrdered {
                queue,
                phone,
                mode,
                agent_id,
                ..
            } => {
                if self.kind.is_none() {
                    self.kind = Some(CallKind::Outbound);
                }
                self.phones.push(phone.clone());
                self.dial_mode = Some(*mode);
                self.outbound_queue = Some(queue.clone());
                self.talk_place = Some(queue.clone());
                self.dialling();
                // A zero-length Queue entry when the call is ordered, then the ring time.
                self.closed(
                    TimelineKind::Queue,
                    at,
                    at,
                    agent_id.clone(),
                    Some(queue.clone()),
                    None,
                );
                if let Some(previous) = self.outbound.take() {
                    self.close(previous.entry, at);
                }
                let entry = self.open(TimelineKind::QueueCallback, at, agent_id.clone());
                self.drafts[entry].entry.place = Some(queue.clone());
                self.outbound = Some(Dial {
                    entry,
                    agent: agent_id.clone(),
                    place: Some(queue.clone()),
                    result: None,
                    ended_at: None,
                });
            }
            ContactBody::OutboundResult { result, .. } => self.outbound_result(*result, at),
            ContactBody::OutboundCancelled { agent_id, .. } => {
                self.cancelled = true;
                let mut place = self.outbound_queue.clone();
                if let Some(dial) = &mut self.outbound {
                    place = dial.place.clone();
                    if dial.ended_at.is_none() {
                        dial.ended_at = Some(at);
                        let entry = dial.entry;
                        self.close(entry, at);
                        self.set_label(entry, LABEL_UNANSWERED);
                    }
                }
                self.closed(
                    TimelineKind::Deleted,
                    at,
                    at,
                    Some(agent_id.clone()),
                    place,
                    Some(LABEL_OUTBOUND_CANCELLED),
                );
            }
            ContactBody::AgentOffered { agent_id, .. } => {
                self.offered.insert(agent_id.clone());
            }
            ContactBody::AgentAnswered { agent_id, .. } => {
                self.answered.insert(agent_id.clone());
                if self.internal() && self.target.as_ref() == Some(agent_id) {
                    self.target_answers(at);
                } else if self.connected {
                    self.open_conversation(agent_id, at);
                }
            }
            ContactBody::AgentHungUp { agent_id, .. } => {
                self.answered.remove(agent_id);
                self.close_conversation(agent_id, at);
                let ending: Vec<(AgentId, AgentId)> = self
                    .consults
                    .keys()
                    .filter(|(by, target)| by == agent_id || target == agent_id)
                    .cloned()
                    .collect();
                for key in ending {
                    if let Some(index) = self.consults.remove(&key) {
                        self.close(index, at);
                    }
                }
            }
            ContactBody::SurveyRegistered {
                agent_id, survey, ..
            } => self.survey(agent_id, survey, at),
            ContactBody::ConsultStarted { .. } => {}
            ContactBody::ConsultAnswered {
                agent_id,
                target_agent_id,
                ..
            } => {
                if self.internal()
                    && self.caller.as_ref() == Some(agent_id)
                    && self.target.as_ref() == Some(target_agent_id)
                {
                    self.target_answers(at);
                } else {
                    self.open_consult(agent_id, target_agent_id, at);
                }
            }
            ContactBody::ConsultEnded {
                agent_id,
                target_agent_id,
                ..
            } => {
                if let Some(index) = self
                    .consults
                    .remove(&(agent_id.clone(), target_agent_id.clone()))
                {
                    self.close(index, at);
                }
            }
            ContactBody::AgentPresence { .. } => {}
        }
    }

    /// Where attempt `attempt` waits from: the callback order (first attempt),
    /// else the end of the attempt before it (R35).
    fn requeued_at(&self, attempt: u8, fallback: Timestamp) -> Timestamp {
        self.attempts
            .range(..attempt)
            .next_back()
            .and_then(|(_, dial)| dial.ended_at)
            .or(self.callback_ordered_at)
            .unwrap_or(fallback)
            .min(fallback)
    }

    fn attempt_shown(&self, attempt: u8) -> bool {
        attempt <= CALLBACK_ATTEMPTS_MAX
            && (self.callback_answered.is_none() || self.attempts.contains_key(&attempt))
    }

    fn new_attempt(&mut self, attempt: u8, agent: Option<AgentId>, at: Timestamp) -> usize {
        let start = self.requeued_at(attempt, at);
        let entry = self.open(TimelineKind::QueueCallback, start, agent.clone());
        self.drafts[entry].entry.place = self.callback_queue.clone();
        self.attempts.insert(
            attempt,
            Dial {
                entry,
                agent,
                place: self.callback_queue.clone(),
                result: None,
                ended_at: None,
            },
        );
        entry
    }

    fn attempt_started(&mut self, attempt: u8, agent: Option<AgentId>, at: Timestamp) {
        if !self.attempt_shown(attempt) || self.attempts.contains_key(&attempt) {
            return;
        }
        self.dialling();
        self.talk_place = self.callback_queue.clone();
        self.new_attempt(attempt, agent, at);
    }

    fn attempt_result(&mut self, attempt: u8, result: DialResult, at: Timestamp) {
        if !self.attempt_shown(attempt) {
            return;
        }
        if !self.attempts.contains_key(&attempt) {
            self.dialling();
            self.talk_place = self.callback_queue.clone();
            self.new_attempt(attempt, None, at);
        }
        let Some(dial) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if dial.result.is_some() {
            return; // a second, contradicting result: the first in canonical order stands
        }
        dial.result = Some(result);
        dial.ended_at = Some(at);
        let (entry, agent) = (dial.entry, dial.agent.clone());
        self.close(entry, at);
        match result {
            DialResult::Answered => {}
            DialResult::AnsweringMachine => self.set_label(entry, LABEL_ANSWERING_MACHINE),
            _ => self.set_label(entry, LABEL_UNANSWERED),
        }
        if is_answer(result) {
            self.callback_answered = Some(result);
            self.customer_answers(result, agent, at);
        }
    }

    fn outbound_result(&mut self, result: DialResult, at: Timestamp) {
        if self.outbound.is_none() {
            // A result without its order: the ring time counts from the call's start.
            let start = self.started_at.unwrap_or(at);
            let entry = self.open(TimelineKind::QueueCallback, start, None);
            self.drafts[entry].entry.place = self.outbound_queue.clone();
            self.outbound = Some(Dial {
                entry,
                agent: None,
                place: self.outbound_queue.clone(),
                result: None,
                ended_at: None,
            });
        }
        let Some(dial) = &mut self.outbound else {
            return;
        };
        if dial.result.is_some() {
            return;
        }
        dial.result = Some(result);
        let (entry, agent, open) = (dial.entry, dial.agent.clone(), dial.ended_at.is_none());
        dial.ended_at = dial.ended_at.or(Some(at));
        self.outbound_result = Some(result);
        if !open {
            return; // cancelled before the result came
        }
        self.close(entry, at);
        match result {
            DialResult::Answered => {}
            DialResult::AnsweringMachine => self.set_label(entry, LABEL_ANSWERING_MACHINE),
            _ => self.set_label(entry, LABEL_UNANSWERED),
        }
        if is_answer(result) {
            self.customer_answers(result, agent, at);
        }
    }

    /// The survey goes with the agent's latest attempt, conversation or consult (R38).
    fn survey(&mut self, agent: &str, survey: &str, at: Timestamp) {
        let pick = |kinds: &[TimelineKind], drafts: &[Draft]| {
            drafts.iter().rposition(|d| {
                d.entry.agent_id.as_deref() == Some(agent)
                    && kinds.contains(&d.entry.kind)
                    && d.entry.start <= at
            })
        };
        let kinds = [
            TimelineKind::QueueCallback,
            TimelineKind::Conversation,
            TimelineKind::Consult,
        ];
        if let Some(index) = pick(&kinds, &self.drafts) {
            self.drafts[index].entry.survey = Some(survey.to_owned());
        }
    }

    /// `call_ended`: everything still open ends now; an unanswered dial is labelled.
    fn end_everything(&mut self, at: Timestamp) {
        for index in 0..self.drafts.len() {
            self.close(index, at);
        }
        for dial in self.attempts.values_mut().chain(self.outbound.as_mut()) {
            if dial.ended_at.is_none() {
                dial.ended_at = Some(at);
                let entry = &mut self.drafts[dial.entry].entry;
                if entry.label.is_none() {
                    entry.label = Some(LABEL_UNANSWERED.to_owned());
                }
            }
        }
        self.menus.clear();
        self.queues.clear();
        self.conversations.clear();
        self.consults.clear();
        self.connected = false;
        self.answered.clear();
    }

    fn finish(mut self, call_id: &str, truncated: bool) -> CallArchive {
        let last = self.last_at.unwrap_or_default();
        for index in 0..self.drafts.len() {
            self.close(index, last);
        }
        for draft in &mut self.drafts {
            let end = draft.end.unwrap_or(draft.entry.start);
            draft.entry.seconds = seconds_between(draft.entry.start, end);
        }
        let summary = self.summary(call_id, truncated);
        CallArchive {
            timeline: self.drafts.into_iter().map(|d| d.entry).collect(),
            summary,
        }
    }

    fn summary(&self, call_id: &str, truncated: bool) -> CallSummary {
        let direction = self.kind.unwrap_or(CallKind::Inbound);
        let mut phones: Vec<Phone> = self
            .phones
            .iter()
            .filter_map(|text| Phone::normalize(text))
            .collect();
        let phone = match direction {
            CallKind::Internal => Some(MASKED_PHONE.to_owned()),
            _ => phones.first().map(Phone::display),
        };
        if direction == CallKind::Internal {
            phones.clear();
        }
        phones.sort();
        phones.dedup();

        let span = |d: &Draft| {
            let end = d.end.unwrap_or(d.entry.start);
            (d.entry.start.0, end.0)
        };
        let conversations: Vec<&Draft> = self
            .drafts
            .iter()
            .filter(|d| d.entry.kind == TimelineKind::Conversation)
            .collect();
        let talk_spans: Vec<(i64, i64)> = self
            .drafts
            .iter()
            .filter(|d| {
                matches!(
                    d.entry.kind,
                    TimelineKind::Conversation | TimelineKind::Consult
                )
            })
            .map(span)
            .collect();

        let mut per_agent: BTreeMap<AgentId, Vec<(i64, i64)>> = BTreeMap::new();
        for draft in &self.drafts {
            let agents: Vec<&AgentId> = match draft.entry.kind {
                TimelineKind::Conversation => draft.entry.agent_id.iter().collect(),
                TimelineKind::Consult => draft
                    .entry
                    .agent_id
                    .iter()
                    .chain(draft.consulting.iter())
                    .collect(),
                _ => Vec::new(),
            };
            for agent in agents {
                per_agent
                    .entry(agent.clone())
                    .or_default()
                    .push(span(draft));
            }
        }
        let agent_talk = per_agent
            .into_iter()
            .map(|(agent_id, spans)| AgentTalk {
                agent_id,
                talk_seconds: union_seconds(spans),
            })
            .collect();

        let (answered, answered_at) = if direction == CallKind::Internal {
            (self.target_answered_at.is_some(), self.target_answered_at)
        } else {
            let first = conversations.iter().map(|d| d.entry.start).min();
            (first.is_some(), first)
        };
        let agent_id = conversations
            .iter()
            .rev()
            .find_map(|d| d.entry.agent_id.clone())
            .or_else(|| {
                self.drafts
                    .iter()
                    .rev()
                    .find_map(|d| d.entry.agent_id.clone())
            });
        let agents: BTreeSet<AgentId> = self
            .drafts
            .iter()
            .filter_map(|d| d.entry.agent_id.clone())
            .collect();
        let queue = conversations
            .first()
            .and_then(|d| d.entry.place.clone())
            .or_else(|| self.callback_queue.clone())
            .or_else(|| self.outbound_queue.clone())
            .or_else(|| self.last_queue.clone());
        let wait_seconds = self
            .drafts
            .iter()
            .filter(|d| d.entry.kind == TimelineKind::Queue)
            .map(|d| d.entry.seconds)
            .fold(0u32, u32::saturating_add);

        CallSummary {
            id: contact_archive_id(call_id),
            direction,
            phone,
            phones,
            started_at: self.started_at.unwrap_or_default(),
            ended_at: self.ended_at,
            queue,
            answered,
            answered_at,
            agent_id,
            agents: agents.into_iter().collect(),
            agents_offered: self.offered.iter().cloned().collect(),
            agent_talk,
            wait_seconds,
            talk_seconds: union_seconds(talk_spans),
            outcome: self.outcome(!conversations.is_empty()),
            dial_mode: self.dial_mode,
            callback_ordered_at: self.callback_ordered_at,
            callback_attempts: u8::try_from(self.attempts.len()).unwrap_or(u8::MAX),
            truncated,
        }
    }

    /// R41: the first that holds decides.
    fn outcome(&self, talked: bool) -> Outcome {
        let ended = self.ended_at.is_some();
        if self.internal() {
            return match (self.target_answered_at.is_some(), ended) {
                (true, _) => Outcome::Answered,
                (false, true) => Outcome::NoAnswer,
                (false, false) => Outcome::InProgress,
            };
        }
        let machine = self.callback_answered == Some(DialResult::AnsweringMachine)
            || self.outbound_result == Some(DialResult::AnsweringMachine);
        if talked {
            return if machine {
                Outcome::AnsweringMachine
            } else {
                Outcome::Answered
            };
        }
        if self.cancelled {
            return Outcome::Cancelled;
        }
        if self.deleted {
            return Outcome::Deleted;
        }
        if self.callback_ordered_at.is_some() || !self.attempts.is_empty() {
            if machine {
                return Outcome::AnsweringMachine;
            }
            let unanswered = self
                .attempts
                .values()
                .filter(|d| d.ended_at.is_some() && !d.result.is_some_and(is_answer))
                .count();
            return if unanswered >= usize::from(CALLBACK_ATTEMPTS_MAX) {
                Outcome::NoAnswer
            } else {
                Outcome::CallbackOrdered
            };
        }
        if let Some(dial) = &self.outbound {
            return match dial.result {
                Some(DialResult::AnsweringMachine) => Outcome::AnsweringMachine,
                Some(DialResult::Answered) if ended => Outcome::NoAgent,
                Some(DialResult::Answered) => Outcome::InProgress,
                Some(_) => Outcome::NoAnswer,
                None if dial.ended_at.is_some() => Outcome::NoAnswer,
                None => Outcome::InProgress,
            };
        }
        if ended {
            Outcome::Abandoned
        } else {
            Outcome::InProgress
        }
    }
}

/// Whole seconds covered by the union of `[start, end)` spans (µs).
fn union_seconds(mut spans: Vec<(i64, i64)>) -> u32 {
    spans.sort_unstable();
    let mut total: i64 = 0;
    let mut current: Option<(i64, i64)> = None;
    for (start, end) in spans {
        match &mut current {
            Some((_, e)) if start <= *e => *e = (*e).max(end),
            _ => {
                if let Some((s, e)) = current {
                    total += e - s;
                }
                current = Some((start, end));
            }
        }
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    micros_to_seconds(total)
}

// ---------------------------------------------------------------------------
// CallGear calls

/// The archive view of a CallGear session (R42): the scenario (Menu) and wait
/// (Queue) before the first conversation, one Conversation per operator leg
/// that talked (later ones labelled "transfer"); an outbound call shows its
/// ring time as Queue (callback). Operators are mapped to agents as of the
/// call's start (R18); an unmapped operator's entry has no agent and the label
/// `operator <employee_id>`.
pub fn callgear_archive(record: &SessionRecord, mapping: &MappingTimeline) -> CallArchive {
    let call = record.call(mapping);
    let facts = &record.facts;
    // A leg's talk may reach back before the first notification of a session
    // without `total_time_duration`: the call started no later than its talk.
    let started_at = call
        .started_at
        .into_iter()
        .chain(facts.iter().map(|f| f.at))
        .chain(call.conversations.iter().map(|c| c.started_at))
        .min()
        .unwrap_or_default();
    let last_at = facts
        .iter()
        .map(|f| f.at)
        .chain(call.ended_at)
        .max()
        .unwrap_or(started_at);
    let end = call.ended_at.unwrap_or(last_at).max(started_at);
    let scenario = record
        .facts
        .iter()
        .rev()
        .filter_map(|f| f.notification.call_info.scenario_name.as_deref())
        .map(str::trim)
        .find(|name| !name.is_empty())
        .map(str::to_owned);
    let caller_agent = call
        .caller_employee_id
        .and_then(|employee| mapping.agent_for(employee, started_at));

    let first_talk = call.conversations.iter().map(|c| c.started_at).min();
    let before_talk_end = first_talk.unwrap_or(end).max(started_at);
    let mut timeline = Vec::new();
    let entry = |kind, start, seconds, agent_id, place, label: Option<String>| TimelineEntry {
        kind,
        start,
        seconds,
        agent_id,
        place,
        label,
        survey: None,
    };
    let mut wait_seconds = call.wait_seconds.unwrap_or(0);
    match call.direction {
        CallDirection::Inbound => {
            let before = seconds_between(started_at, before_talk_end);
            wait_seconds = wait_seconds.min(before);
            let menu = before - wait_seconds;
            if menu > 0 {
                timeline.push(entry(
                    TimelineKind::Menu,
                    started_at,
                    menu,
                    None,
                    scenario.clone(),
                    None,
                ));
            }
            if wait_seconds > 0 {
                timeline.push(entry(
                    TimelineKind::Queue,
                    plus_seconds(started_at, menu),
                    wait_seconds,
                    None,
                    None,
                    None,
                ));
            }
        }
        CallDirection::Outbound => {
            let label = (!call.answered && call.ended()).then(|| LABEL_UNANSWERED.to_owned());
            timeline.push(entry(
                TimelineKind::QueueCallback,
                started_at,
                seconds_between(started_at, before_talk_end),
                caller_agent.clone(),
                None,
                label,
            ));
        }
    }
    let mut talk_spans = Vec::new();
    let mut per_agent: BTreeMap<AgentId, Vec<(i64, i64)>> = BTreeMap::new();
    for (index, conversation) in call.conversations.iter().enumerate() {
        let seconds = match conversation.ended_at {
            Some(_) => conversation.talk_seconds,
            None => seconds_between(conversation.started_at, end),
        };
        let mut labels = Vec::new();
        if index > 0 {
            labels.push(LABEL_TRANSFER.to_owned());
        }
        if conversation.agent_id.is_none() {
            labels.push(format!("operator {}", conversation.employee_id));
        }
        let span = (
            conversation.started_at.0,
            plus_seconds(conversation.started_at, seconds).0,
        );
        talk_spans.push(span);
        if let Some(agent) = &conversation.agent_id {
            per_agent.entry(agent.clone()).or_default().push(span);
        }
        timeline.push(entry(
            TimelineKind::Conversation,
            conversation.started_at,
            seconds,
            conversation.agent_id.clone(),
            None,
            (!labels.is_empty()).then(|| labels.join(", ")),
        ));
    }

    let agents: BTreeSet<AgentId> = timeline.iter().filter_map(|e| e.agent_id.clone()).collect();
    let agents_offered: BTreeSet<AgentId> = call
        .conversations
        .iter()
        .filter_map(|c| c.agent_id.clone())
        .chain(call.offers.iter().filter_map(|o| o.agent_id.clone()))
        .collect();
    let mut phones: Vec<Phone> = call.phone.iter().cloned().collect();
    phones.sort();
    let outcome = callgear_outcome(&call);
    let summary = CallSummary {
        id: call.session_id.to_string(),
        direction: match call.direction {
            CallDirection::Inbound => CallKind::Inbound,
            CallDirection::Outbound => CallKind::Outbound,
        },
        phone: call.phone.as_ref().map(Phone::display),
        phones,
        started_at,
        ended_at: call.ended_at,
        queue: None,
        answered: call.answered,
        answered_at: first_talk,
        agent_id: call.agent_id.clone(),
        agents: agents.into_iter().collect(),
        agents_offered: agents_offered.into_iter().collect(),
        agent_talk: per_agent
            .into_iter()
            .map(|(agent_id, spans)| AgentTalk {
                agent_id,
                talk_seconds: union_seconds(spans),
            })
            .collect(),
        wait_seconds,
        talk_seconds: call
            .talk_seconds
            .unwrap_or_else(|| union_seconds(talk_spans)),
        outcome,
        dial_mode: None,
        callback_ordered_at: None,
        callback_attempts: 0,
        truncated: false,
    };
    CallArchive { timeline, summary }
}

/// A CallGear call's outcome (R41): answered → `Answered`; ended without a
/// conversation → `Abandoned` (inbound: SPEC's missed call) or `NoAnswer`
/// (outbound); else `InProgress`.
pub fn callgear_outcome(call: &Call) -> Outcome {
    match (call.answered, call.ended(), call.direction) {
        (true, _, _) => Outcome::Answered,
        (false, false, _) => Outcome::InProgress,
        (false, true, CallDirection::Inbound) => Outcome::Abandoned,
        (false, true, CallDirection::Outbound) => Outcome::NoAnswer,
    }
}

/// The summary of a CallGear call: `callgear_archive(record, mapping).summary`.
pub fn callgear_summary(record: &SessionRecord, mapping: &MappingTimeline) -> CallSummary {
    callgear_archive(record, mapping).summary
}
