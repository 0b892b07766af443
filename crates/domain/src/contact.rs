//! The native contact-centre event feed (format version 1).
//!
//! A contact centre (ours or a customer's) reports what happens to its calls
//! and agents as a stream of small JSON events, accepted at
//! `POST /webhooks/events/{token}` (one event, or an NDJSON batch) and in
//! recorded streams as `event` lines. CallGear tells only part of a call's
//! story; this feed tells the rest: voice menus, queues, callbacks, outbound
//! and dialer calls, consultations and agent presence.
//!
//! Every event is one flat JSON object:
//!
//! ```json
//! {"v":1,"type":"queue_entered","at":"2024-04-05T09:00:12Z","call_id":"c-1001","queue":"Support"}
//! ```
//!
//! * `v` — the format version; `1` is the only one. Another value is refused
//!   (quarantined) so a newer sender cannot be misread.
//! * `type` — one of the snake_case names of [`ContactBody`]'s variants.
//! * `at` — RFC 3339 time of the event, by the contact centre's clock. It is
//!   the only clock the reducers see (R17): arrival order does not matter.
//! * `call_id` — the contact centre's id of the call (any non-empty string
//!   up to [`MAX_ID_LEN`] bytes). Every event about one call carries the same
//!   id, including callbacks and attempts made later for it. Presence events
//!   have `agent_id` instead.
//! * `agent_id` — a callfold agent id (the id given to `upsertAgent`).
//!
//! Unknown fields are ignored (a sender may add its own); unknown types and
//! missing required fields are refused. `docs/events.md` shows every type with
//! an example.

use crate::agent::AgentId;
use crate::time::Timestamp;

/// The only format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Longest `call_id`, `agent_id`, queue or menu name accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

record! {
    /// One contact-centre event: the envelope fields and the typed body.
    pub struct ContactEvent {
        /// Format version, [`FORMAT_VERSION`].
        pub v: u16,
        #[serde(with = "crate::time::rfc3339")]
        pub at: Timestamp,
        #[serde(flatten)]
        pub body: ContactBody,
    }
}

label! {
    /// Which way a call goes, as the contact centre saw it.
    pub enum CallKind {
        /// A customer called in.
        Inbound,
        /// An agent (or a dialer on an agent's behalf) called out.
        Outbound,
        /// Agent to agent: the number is never shown (SPEC §4).
        Internal,
    }
}

label! {
    /// Why a call left a queue.
    pub enum QueueExit {
        Answered,
        /// The caller hung up while waiting.
        Abandoned,
        /// The caller ordered a callback and hung up.
        CallbackOrdered,
        /// The queue's maximum wait passed; the call went on elsewhere (or ended).
        Timeout,
    }
}

label! {
    /// How one dial attempt (callback attempt or outbound call) ended.
    pub enum DialResult {
        /// The destination picked up.
        Answered,
        NoAnswer,
        Busy,
        /// The destination rejected the call.
        Rejected,
        /// The network or the trunk failed.
        Failed,
        /// An answering machine picked up. Counts as answered: no further attempt.
        AnsweringMachine,
        /// The agent hung up while it was still ringing.
        AgentHungUp,
    }
}

label! {
    /// How an outbound call was placed.
    pub enum DialMode {
        /// By hand, from the softphone or the directory.
        Manual,
        /// Dialer, preview: the agent sees the contact and starts the call.
        Preview,
        /// Dialer, predictive: the contact is dialled first, an agent only if it answers.
        Predictive,
        /// Dialer, power: like predictive, a fixed number of lines per agent.
        Power,
        /// Dialer, progressive: like predictive, one line per free agent.
        Progressive,
    }
}

label! {
    /// What a played message was for.
    pub enum MessagePurpose {
        /// Played to caller and agent when the agent answers.
        Welcome,
        /// Played to a contact a dialer reached when no agent was free.
        SilentCall,
        /// Any other announcement.
        Other,
    }
}

label! {
    /// Agent presence.
    pub enum Presence {
        LoggedIn,
        Ready,
        Paused,
        LoggedOut,
    }
}

/// The typed part of a [`ContactEvent`], tagged by `type`.
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
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContactBody {
    /// A call starts: an inbound call reaches the contact centre, or an
    /// outbound/internal call is created.
    CallStarted {
        call_id: String,
        kind: CallKind,
        /// The customer's number (inbound: the caller; outbound: the called
        /// number). Absent for internal calls.
        #[serde(default)]
        phone: Option<String>,
        /// The number or line the customer dialled (inbound), if known.
        #[serde(default)]
        line: Option<String>,
        /// The agent who placed an outbound or internal call.
        #[serde(default)]
        agent_id: Option<AgentId>,
        /// The agent called, for an internal call.
        #[serde(default)]
        target_agent_id: Option<AgentId>,
    },
    /// The call is over for everyone.
    CallEnded { call_id: String },

    /// The caller entered a voice menu (IVR node).
    MenuEntered { call_id: String, menu: String },
    /// The caller left a voice menu.
    MenuLeft { call_id: String, menu: String },
    /// A recorded message was played (welcome message, silent-call message…).
    MessagePlayed {
        call_id: String,
        /// The message's name, shown as the menu name.
        message: String,
        purpose: MessagePurpose,
        /// How long it played.
        seconds: u32,
    },

    /// The call joined a queue.
    QueueEntered { call_id: String, queue: String },
    /// The call left a queue.
    QueueLeft {
        call_id: String,
        queue: String,
        reason: QueueExit,
    },

    /// The caller ordered a callback (from the queue's menu).
    CallbackOrdered {
        call_id: String,
        queue: String,
        /// The number to call back.
        phone: String,
    },
    /// A callback attempt starts (1, 2 or 3): the agent is called first, then the customer.
    CallbackAttemptStarted {
        call_id: String,
        attempt: u8,
        #[serde(default)]
        agent_id: Option<AgentId>,
    },
    /// How a callback attempt ended at the customer's side.
    CallbackAttemptResult {
        call_id: String,
        attempt: u8,
        result: DialResult,
    },
    /// The callback was deleted from the queue (by a supervisor or agent).
    CallbackDeleted {
        call_id: String,
        #[serde(default)]
        agent_id: Option<AgentId>,
    },

    /// An agent (or a dialer campaign) ordered an outbound call.
    OutboundOrdered {
        call_id: String,
        /// The outbound queue, e.g. `Callout`.
        queue: String,
        phone: String,
        mode: DialMode,
        /// The agent, if one was bound when it was ordered (manual, preview).
        #[serde(default)]
        agent_id: Option<AgentId>,
        /// The dialer campaign, for dialer modes.
        #[serde(default)]
        campaign: Option<String>,
    },
    /// The outbound destination answered, or the dial ended without an answer.
    OutboundResult { call_id: String, result: DialResult },
    /// The agent cancelled the outbound call from the outbound tab.
    OutboundCancelled { call_id: String, agent_id: AgentId },

    /// The call rings at an agent.
    AgentOffered { call_id: String, agent_id: AgentId },
    /// The agent answered: talk starts.
    AgentAnswered { call_id: String, agent_id: AgentId },
    /// The agent left the call (talk ends, or ringing stopped unanswered).
    AgentHungUp { call_id: String, agent_id: AgentId },
    /// The agent registered a survey (wrap-up form) for the call.
    SurveyRegistered {
        call_id: String,
        agent_id: AgentId,
        survey: String,
    },

    /// An agent on the call starts consulting another agent.
    ConsultStarted {
        call_id: String,
        agent_id: AgentId,
        target_agent_id: AgentId,
    },
    /// The consulted agent answered.
    ConsultAnswered {
        call_id: String,
        agent_id: AgentId,
        target_agent_id: AgentId,
    },
    /// The consultation ended (either side hung up).
    ConsultEnded {
        call_id: String,
        agent_id: AgentId,
        target_agent_id: AgentId,
    },

    /// An agent's presence changed.
    AgentPresence {
        agent_id: AgentId,
        presence: Presence,
        /// Pause reason, if the contact centre gives one.
        #[serde(default)]
        reason: Option<String>,
    },
}

impl ContactEvent {
    /// The `type` name as it appears in JSON (and as the log envelope's `kind`).
    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }

    /// The call this event is about; `None` for presence events.
    pub fn call_id(&self) -> Option<&str> {
        self.body.call_id()
    }

    /// Checks what serde cannot: the version, and ids that are empty or too long.
    pub fn check(&self) -> Result<(), String> {
        if self.v != FORMAT_VERSION {
            return Err(format!(
                "unsupported contact-centre event version {} (this build reads {FORMAT_VERSION})",
                self.v
            ));
        }
        let mut names: Vec<(&str, &str)> = Vec::new();
        if let Some(call) = self.call_id() {
            names.push(("call_id", call));
        }
        self.body
            .for_each_name(|field, value| names.push((field, value)));
        for (field, value) in names {
            if value.trim().is_empty() {
                return Err(format!("`{field}` is empty"));
            }
            if value.len() > MAX_ID_LEN {
                return Err(format!(
                    "`{field}` is {} bytes long (at most {MAX_ID_LEN})",
                    value.len()
                ));
            }
        }
        if let ContactBody::CallbackAttemptStarted { attempt, .. }
        | ContactBody::CallbackAttemptResult { attempt, .. } = &self.body
        {
            if *attempt == 0 {
                return Err("`attempt` counts from 1".into());
            }
        }
        Ok(())
    }
}

impl ContactBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            ContactBody::CallStarted { .. } => "call_started",
            ContactBody::CallEnded { .. } => "call_ended",
            ContactBody::MenuEntered { .. } => "menu_entered",
            ContactBody::MenuLeft { .. } => "menu_left",
            ContactBody::MessagePlayed { .. } => "message_played",
            ContactBody::QueueEntered { .. } => "queue_entered",
            ContactBody::QueueLeft { .. } => "queue_left",
            ContactBody::CallbackOrdered { .. } => "callback_ordered",
            ContactBody::CallbackAttemptStarted { .. } => "callback_attempt_started",
            ContactBody::CallbackAttemptResult { .. } => "callback_attempt_result",
            ContactBody::CallbackDeleted { .. } => "callback_deleted",
            ContactBody::OutboundOrdered { .. } => "outbound_ordered",
            ContactBody::OutboundResult { .. } => "outbound_result",
            ContactBody::OutboundCancelled { .. } => "outbound_cancelled",
            ContactBody::AgentOffered { .. } => "agent_offered",
            ContactBody::AgentAnswered { .. } => "agent_answered",
            ContactBody::AgentHungUp { .. } => "agent_hung_up",
            ContactBody::SurveyRegistered { .. } => "survey_registered",
            ContactBody::ConsultStarted { .. } => "consult_started",
            ContactBody::ConsultAnswered { .. } => "consult_answered",
            ContactBody::ConsultEnded { .. } => "consult_ended",
            ContactBody::AgentPresence { .. } => "agent_presence",
        }
    }

    /// Every `type` name of format version 1.
    pub const TYPE_NAMES: [&'static str; 22] = [
        "call_started",
        "call_ended",
        "menu_entered",
        "menu_left",
        "message_played",
        "queue_entered",
        "queue_left",
        "callback_ordered",
        "callback_attempt_started",
        "callback_attempt_result",
        "callback_deleted",
        "outbound_ordered",
        "outbound_result",
        "outbound_cancelled",
        "agent_offered",
        "agent_answered",
        "agent_hung_up",
        "survey_registered",
        "consult_started",
        "consult_answered",
        "consult_ended",
        "agent_presence",
    ];

    pub fn call_id(&self) -> Option<&str> {
        match self {
            ContactBody::CallStarted { call_id, .. }
            | ContactBody::CallEnded { call_id }
            | ContactBody::MenuEntered { call_id, .. }
            | ContactBody::MenuLeft { call_id, .. }
            | ContactBody::MessagePlayed { call_id, .. }
            | ContactBody::QueueEntered { call_id, .. }
            | ContactBody::QueueLeft { call_id, .. }
            | ContactBody::CallbackOrdered { call_id, .. }
            | ContactBody::CallbackAttemptStarted { call_id, .. }
            | ContactBody::CallbackAttemptResult { call_id, .. }
            | ContactBody::CallbackDeleted { call_id, .. }
            | ContactBody::OutboundOrdered { call_id, .. }
            | ContactBody::OutboundResult { call_id, .. }
            | ContactBody::OutboundCancelled { call_id, .. }
            | ContactBody::AgentOffered { call_id, .. }
            | ContactBody::AgentAnswered { call_id, .. }
            | ContactBody::AgentHungUp { call_id, .. }
            | ContactBody::SurveyRegistered { call_id, .. }
            | ContactBody::ConsultStarted { call_id, .. }
            | ContactBody::ConsultAnswered { call_id, .. }
            | ContactBody::ConsultEnded { call_id, .. } => Some(call_id),
            ContactBody::AgentPresence { .. } => None,
        }
    }

    /// The agent ids and queue/menu names in the body (not the call id).
    fn for_each_name<'a>(&'a self, mut f: impl FnMut(&'static str, &'a str)) {
        let mut opt = |field: &'static str, value: &'a Option<String>| {
            if let Some(value) = value {
                f(field, value)
            }
        };
        match self {
            ContactBody::CallStarted {
                agent_id,
                target_agent_id,
                ..
            } => {
                opt("agent_id", agent_id);
                opt("target_agent_id", target_agent_id);
            }
            ContactBody::CallbackAttemptStarted { agent_id, .. }
            | ContactBody::CallbackDeleted { agent_id, .. } => opt("agent_id", agent_id),
            ContactBody::OutboundOrdered {
                agent_id, queue, ..
            } => {
                opt("agent_id", agent_id);
                f("queue", queue);
            }
            ContactBody::MenuEntered { menu, .. } | ContactBody::MenuLeft { menu, .. } => {
                f("menu", menu)
            }
            ContactBody::MessagePlayed { message, .. } => f("message", message),
            ContactBody::QueueEntered { queue, .. }
            | ContactBody::QueueLeft { queue, .. }
            | ContactBody::CallbackOrdered { queue, .. } => f("queue", queue),
            ContactBody::OutboundCancelled { agent_id, .. }
            | ContactBody::AgentOffered { agent_id, .. }
            | ContactBody::AgentAnswered { agent_id, .. }
            | ContactBody::AgentHungUp { agent_id, .. }
            | ContactBody::SurveyRegistered { agent_id, .. }
            | ContactBody::AgentPresence { agent_id, .. } => f("agent_id", agent_id),
            ContactBody::ConsultStarted {
                agent_id,
                target_agent_id,
                ..
            }
            | ContactBody::ConsultAnswered {
                agent_id,
                target_agent_id,
                ..
            }
            | ContactBody::ConsultEnded {
                agent_id,
                target_agent_id,
                ..
            } => {
                f("agent_id", agent_id);
                f("target_agent_id", target_agent_id);
            }
            ContactBody::CallEnded { .. }
            | ContactBody::CallbackAttemptResult { .. }
            | ContactBody::OutboundResult { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flat_json_with_version_type_and_time() {
        let event = ContactEvent {
            v: 1,
            at: Timestamp(12_000_000),
            body: ContactBody::QueueLeft {
                call_id: "c-1".into(),
                queue: "Support".into(),
                reason: QueueExit::CallbackOrdered,
            },
        };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"v":1,"at":"1970-01-01T00:00:12Z","type":"queue_left","call_id":"c-1","queue":"Support","reason":"callback_ordered"}"#
        );
        assert_eq!(serde_json::from_str::<ContactEvent>(&json).unwrap(), event);
        assert_eq!(event.type_name(), "queue_left");
        assert_eq!(event.call_id(), Some("c-1"));
        event.check().unwrap();
    }

    #[test]
    fn unknown_fields_are_ignored_and_optional_fields_may_be_absent() {
        let event: ContactEvent = serde_json::from_str(
            r#"{"v":1,"type":"call_started","at":"2024-04-05T09:00:00+02:00","call_id":"x","kind":"inbound","vendor_field":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(
            event.body,
            ContactBody::CallStarted {
                call_id: "x".into(),
                kind: CallKind::Inbound,
                phone: None,
                line: None,
                agent_id: None,
                target_agent_id: None,
            }
        );
        assert_eq!(event.at.to_rfc3339(), "2024-04-05T07:00:00Z");
    }

    #[test]
    fn wrong_versions_types_and_names_are_refused() {
        let parse = |text: &str| serde_json::from_str::<ContactEvent>(text);
        assert!(
            parse(r#"{"v":1,"type":"teleported","at":"2024-04-05T09:00:00Z","call_id":"x"}"#)
                .is_err()
        );
        assert!(parse(r#"{"v":1,"type":"call_ended","at":"2024-04-05T09:00:00Z"}"#).is_err());
        assert!(parse(r#"{"v":1,"type":"call_ended","at":"yesterday","call_id":"x"}"#).is_err());
        let future =
            parse(r#"{"v":2,"type":"call_ended","at":"2024-04-05T09:00:00Z","call_id":"x"}"#)
                .unwrap();
        assert!(future.check().unwrap_err().contains("version 2"));
        let empty =
            parse(r#"{"v":1,"type":"call_ended","at":"2024-04-05T09:00:00Z","call_id":" "}"#)
                .unwrap();
        assert!(empty.check().unwrap_err().contains("call_id"));
        let long = format!(
            r#"{{"v":1,"type":"agent_offered","at":"2024-04-05T09:00:00Z","call_id":"x","agent_id":"{}"}}"#,
            "a".repeat(MAX_ID_LEN + 1)
        );
        assert!(parse(&long)
            .unwrap()
            .check()
            .unwrap_err()
            .contains("agent_id"));
        let zero = parse(r#"{"v":1,"type":"callback_attempt_result","at":"2024-04-05T09:00:00Z","call_id":"x","attempt":0,"result":"busy"}"#).unwrap();
        assert!(zero.check().is_err());
    }

    #[test]
    fn type_names_match_the_serde_tags() {
        for name in ContactBody::TYPE_NAMES {
            let text = format!(r#"{{"v":1,"type":"{name}","at":"2024-04-05T09:00:00Z"}}"#);
            let err = serde_json::from_str::<ContactEvent>(&text)
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing field"), "{name}: {err}");
        }
    }
}
