//! Contact-centre KPIs (SPEC §5): one [`CallRecord`] per call, from CallGear
//! sessions and from the native contact-centre feed, and what each call adds
//! to the figures of its dimensions ([`contributions`]).
//!
//! A call counts once it has ended, at its start time. Inbound calls make the
//! KPIs (offered, answered, lost, service level, ASA, AHT, ...); outbound
//! calls their own counts; internal (agent-to-agent) calls none.

use crate::agent::AgentId;
use crate::phone::Phone;
use crate::session::{Call, CallDirection};
use crate::stats::agg::{Agg, MetricId};
use crate::stats::Dim;
use crate::time::Timestamp;

/// Inbound calls that reached the centre (per agent: offered to the agent).
pub const OFFERED: MetricId = 20;
/// Of those, answered by an agent (per agent: answered by the agent).
pub const ANSWERED: MetricId = 21;
/// Offered − answered: the caller hung up (per agent: rang, not answered).
pub const LOST: MetricId = 22;
/// Sum of wait times of all offered calls (ms).
pub const WAIT_MS: MetricId = 23;
/// Sum of wait times of answered calls (ms): ASA's numerator.
pub const WAIT_ANSWERED_MS: MetricId = 24;
/// Sum of talk times of answered calls (ms).
pub const TALK_MS: MetricId = 25;
/// Sum of handle times (talk + hold + after-call work, where known) of answered calls (ms).
pub const HANDLE_MS: MetricId = 26;
/// Lost calls by where the caller gave up.
pub const LOST_IN_MENU: MetricId = 27;
pub const LOST_IN_QUEUE: MetricId = 28;
pub const LOST_AT_AGENT: MetricId = 29;
/// Lost before reaching an agent, where the source does not say menu or queue (CallGear).
pub const LOST_BEFORE_AGENT: MetricId = 30;
/// Lost calls followed by a callback ([`CallRecord::callback`]).
pub const CALLED_BACK: MetricId = 31;
/// Sum of their callback latencies (ms).
pub const CALLBACK_MS: MetricId = 32;
/// Outbound calls, and those the contact answered, and their talk (ms).
pub const OUTBOUND: MetricId = 33;
pub const OUTBOUND_ANSWERED: MetricId = 34;
pub const OUTBOUND_TALK_MS: MetricId = 35;
/// Answered calls whose hold or after-call work is known (the rest add talk only to AHT).
pub const HANDLE_EXTRAS_KNOWN: MetricId = 36;
/// Histograms (ladder bins): wait of answered calls, wait of lost calls,
/// talk of answered calls, callback latency.
pub const WAIT_ANSWERED_HIST: MetricId = 40;
pub const WAIT_LOST_HIST: MetricId = 41;
pub const TALK_HIST: MetricId = 42;
pub const CALLBACK_HIST: MetricId = 43;

label! {
    /// Where a call's facts come from.
    pub enum CallSource { CallGear, Native }
}

label! {
    pub enum CallWay { Inbound, Outbound, Internal }
}

label! {
    /// Where the caller of a lost inbound call gave up.
    pub enum LostStage {
        /// In a voice menu.
        Menu,
        /// Waiting in a queue (or after ordering a callback), never rung at an agent.
        Queue,
        /// After ringing at one or more agents, none of whom answered.
        Agent,
        /// Before an agent, menu or queue unknown (CallGear reports no queue).
        BeforeAgent,
    }
}

record! {
    /// An agent's share of a call.
    pub struct AgentShare {
        pub agent_id: AgentId,
        /// The call rang at the agent (answered or not).
        pub offered: bool,
        /// The agent talked on the call.
        pub answered: bool,
        pub talk_seconds: u32,
    }
}

record! {
    /// The callback after a lost call: the next call with the same phone number
    /// that started at or after the lost call ended and is either outbound
    /// (the centre called back) or inbound and answered (the caller got through).
    pub struct Callback {
        pub at: Timestamp,
        pub call_key: String,
        /// `at` − the lost call's end, whole seconds (rounded up).
        pub latency_seconds: u64,
    }
}

record! {
    /// One call as statistics and the CDR report see it.
    pub struct CallRecord {
        /// `cg-<call_session_id>` (CallGear) or `cc-<call_id>` (native feed).
        pub key: String,
        pub source: CallSource,
        pub way: CallWay,
        /// The customer's number, digits.
        pub phone: Option<String>,
        pub queue: Option<String>,
        pub started_at: Timestamp,
        pub answered_at: Option<Timestamp>,
        pub ended_at: Option<Timestamp>,
        /// Inbound: an agent answered; outbound: the contact answered.
        pub answered: bool,
        pub wait_seconds: u32,
        pub talk_seconds: u32,
        pub hold_seconds: Option<u32>,
        pub after_call_seconds: Option<u32>,
        /// In order of involvement.
        pub agents: Vec<AgentShare>,
        /// For lost inbound calls.
        pub lost_stage: Option<LostStage>,
        pub recorded: bool,
        /// For lost inbound calls: derived from the phone's other calls.
        pub callback: Option<Callback>,
    }
}

impl CallRecord {
    /// An inbound call that ended without an agent answering.
    pub fn is_lost(&self) -> bool {
        self.way == CallWay::Inbound && self.ended_at.is_some() && !self.answered
    }

    /// Does this call, as the next one of the same phone, call back a lost call
    /// that ended at `lost_end`?
    pub fn calls_back(&self, lost_end: Timestamp) -> bool {
        self.started_at >= lost_end
            && match self.way {
                CallWay::Outbound => true,
                CallWay::Inbound => self.answered,
                CallWay::Internal => false,
            }
    }

    /// The outcome as the CDR shows it.
    pub fn outcome(&self) -> &'static str {
        match (self.way, self.ended_at, self.answered, self.lost_stage) {
            (_, None, _, _) => "in_progress",
            (_, _, true, _) => "answered",
            (CallWay::Inbound, _, false, Some(LostStage::Menu)) => "lost_in_menu",
            (CallWay::Inbound, _, false, Some(LostStage::Queue)) => "lost_in_queue",
            (CallWay::Inbound, _, false, Some(LostStage::Agent)) => "lost_at_agent",
            (CallWay::Inbound, _, false, _) => "lost_before_agent",
            (_, _, false, _) => "unanswered",
        }
    }
}

fn ms(seconds: u32) -> i64 {
    i64::from(seconds) * 1_000
}

/// What an ended call adds to each of its dimensions, counted at `started_at`.
pub fn contributions(call: &CallRecord) -> Vec<(Dim, Agg)> {
    if call.ended_at.is_none() {
        return Vec::new();
    }
    let mut out = Vec::new();
    match call.way {
        CallWay::Internal => {}
        CallWay::Outbound => {
            let mut value = Agg::new();
            value.add(OUTBOUND, 1);
            if call.answered {
                value.add(OUTBOUND_ANSWERED, 1);
                value.add(OUTBOUND_TALK_MS, ms(call.talk_seconds));
            }
            out.push((Dim::All, value.clone()));
            if let Some(queue) = &call.queue {
                out.push((Dim::Queue(queue.clone()), value.clone()));
            }
            // The agent who placed the call (the first one), with their own talk.
            if let Some(share) = call.agents.first() {
                let mut own = Agg::new();
                own.add(OUTBOUND, 1);
                if call.answered {
                    own.add(OUTBOUND_ANSWERED, 1);
                    own.add(
                        OUTBOUND_TALK_MS,
                        ms(share.talk_seconds.max(call.talk_seconds)),
                    );
                }
                out.push((Dim::Agent(share.agent_id.clone()), own));
            }
        }
        CallWay::Inbound => {
            let mut value = Agg::new();
            value.add(OFFERED, 1);
            value.add(WAIT_MS, ms(call.wait_seconds));
            if call.answered {
                value.add(ANSWERED, 1);
                value.add(WAIT_ANSWERED_MS, ms(call.wait_seconds));
                value.add_duration(WAIT_ANSWERED_HIST, u64::from(call.wait_seconds));
                value.add(TALK_MS, ms(call.talk_seconds));
                value.add_duration(TALK_HIST, u64::from(call.talk_seconds));
                let extras = call.hold_seconds.unwrap_or(0) + call.after_call_seconds.unwrap_or(0);
                value.add(HANDLE_MS, ms(call.talk_seconds + extras));
                if call.hold_seconds.is_some() || call.after_call_seconds.is_some() {
                    value.add(HANDLE_EXTRAS_KNOWN, 1);
                }
            } else {
                value.add(LOST, 1);
                value.add_duration(WAIT_LOST_HIST, u64::from(call.wait_seconds));
                let stage = match call.lost_stage.unwrap_or(LostStage::BeforeAgent) {
                    LostStage::Menu => LOST_IN_MENU,
                    LostStage::Queue => LOST_IN_QUEUE,
                    LostStage::Agent => LOST_AT_AGENT,
                    LostStage::BeforeAgent => LOST_BEFORE_AGENT,
                };
                value.add(stage, 1);
                if let Some(callback) = &call.callback {
                    value.add(CALLED_BACK, 1);
                    value.add(CALLBACK_MS, (callback.latency_seconds as i64) * 1_000);
                    value.add_duration(CALLBACK_HIST, callback.latency_seconds);
                }
            }
            out.push((Dim::All, value.clone()));
            if let Some(queue) = &call.queue {
                out.push((Dim::Queue(queue.clone()), value));
            }
            for share in &call.agents {
                let mut own = Agg::new();
                own.add(OFFERED, 1);
                own.add(WAIT_MS, ms(call.wait_seconds));
                if share.answered {
                    own.add(ANSWERED, 1);
                    own.add(TALK_MS, ms(share.talk_seconds));
                    own.add_duration(TALK_HIST, u64::from(share.talk_seconds));
                    own.add(HANDLE_MS, ms(share.talk_seconds));
                    own.add(WAIT_ANSWERED_MS, ms(call.wait_seconds));
                    own.add_duration(WAIT_ANSWERED_HIST, u64::from(call.wait_seconds));
                } else {
                    own.add(LOST, 1);
                }
                out.push((Dim::Agent(share.agent_id.clone()), own));
            }
        }
    }
    out.retain(|(_, v)| !v.is_empty());
    out
}

fn seconds_between(from: Timestamp, to: Timestamp) -> u64 {
    (to.micros() - from.micros())
        .max(0)
        .unsigned_abs()
        .div_ceil(1_000_000)
}

/// The callback of each lost call among one phone's calls (any order): for
/// every lost call, the earliest call (by start, then key) that
/// [`CallRecord::calls_back`] after it.
pub fn callbacks(calls: &[&CallRecord]) -> Vec<(String, Option<Callback>)> {
    let mut sorted: Vec<&CallRecord> = calls.to_vec();
    sorted.sort_by(|a, b| (a.started_at, &a.key).cmp(&(b.started_at, &b.key)));
    let mut out = Vec::new();
    for lost in sorted.iter().filter(|c| c.is_lost()) {
        let end = lost.ended_at.expect("lost calls ended");
        let next = sorted
            .iter()
            .find(|c| c.key != lost.key && c.calls_back(end))
            .map(|c| Callback {
                at: c.started_at,
                call_key: c.key.clone(),
                latency_seconds: seconds_between(end, c.started_at),
            });
        out.push((lost.key.clone(), next));
    }
    out
}

/// The record of a CallGear call (no callback yet: see [`callbacks`]).
/// `None` for a session without any time.
pub fn from_callgear(call: &Call) -> Option<CallRecord> {
    let started_at = call.started_at?;
    let mut agents: Vec<AgentShare> = call
        .parts()
        .into_iter()
        .map(|part| AgentShare {
            agent_id: part.agent_id,
            offered: true,
            answered: true,
            talk_seconds: part.talk_seconds,
        })
        .collect();
    for offer in &call.offers {
        let Some(agent) = &offer.agent_id else {
            continue;
        };
        if !agents.iter().any(|s| &s.agent_id == agent) {
            agents.push(AgentShare {
                agent_id: agent.clone(),
                offered: true,
                answered: false,
                talk_seconds: 0,
            });
        }
    }
    let answered_at = call.conversations.iter().map(|c| c.started_at).min();
    let way = match call.direction {
        CallDirection::Inbound => CallWay::Inbound,
        CallDirection::Outbound => CallWay::Outbound,
    };
    if way == CallWay::Outbound && agents.is_empty() {
        // The operator who placed an unanswered call.
        if let Some(agent) = &call.agent_id {
            agents.push(AgentShare {
                agent_id: agent.clone(),
                offered: false,
                answered: false,
                talk_seconds: 0,
            });
        }
    }
    let wait_seconds = call.wait_seconds.unwrap_or_else(|| {
        let until = answered_at.or(call.ended_at).unwrap_or(started_at);
        seconds_between(started_at, until) as u32
    });
    let lost_stage =
        (!call.answered && way == CallWay::Inbound).then_some(if call.offers.is_empty() {
            LostStage::BeforeAgent
        } else {
            LostStage::Agent
        });
    Some(CallRecord {
        key: format!("cg-{}", call.session_id),
        source: CallSource::CallGear,
        way,
        phone: call.phone.as_ref().map(|p| Phone::digits(p).to_owned()),
        queue: None,
        started_at,
        answered_at,
        ended_at: call.ended_at,
        answered: call.answered,
        wait_seconds,
        talk_seconds: call.talk_seconds.unwrap_or(0),
        hold_seconds: None,
        after_call_seconds: None,
        agents,
        lost_stage,
        recorded: !call.recording_urls.is_empty(),
        callback: None,
    })
}

/// The record of a native-feed call from its archive (`timeline`): the
/// summary's facts, and where a lost caller gave up from the timeline (no
/// callback yet: see [`callbacks`]).
pub fn from_contact(call_id: &str, archive: &crate::timeline::CallArchive) -> CallRecord {
    use crate::contact::CallKind;
    use crate::timeline::{Outcome, TimelineKind};
    let s = &archive.summary;
    let way = match s.direction {
        CallKind::Inbound => CallWay::Inbound,
        CallKind::Outbound => CallWay::Outbound,
        CallKind::Internal => CallWay::Internal,
    };
    let talk_of = |agent: &str| {
        s.agent_talk
            .iter()
            .find(|t| t.agent_id == agent)
            .map_or(0, |t| t.talk_seconds)
    };
    let mut ids: Vec<&AgentId> = s
        .agents_offered
        .iter()
        .chain(s.agent_talk.iter().map(|t| &t.agent_id))
        .collect();
    ids.sort();
    ids.dedup();
    if way == CallWay::Outbound {
        // The agent who placed the call first.
        let placer = archive
            .timeline
            .iter()
            .find_map(|e| e.agent_id.as_ref())
            .or(s.agent_id.as_ref());
        if let Some(placer) = placer {
            ids.retain(|id| *id != placer);
            ids.insert(0, placer);
        }
    }
    let agents: Vec<AgentShare> = ids
        .into_iter()
        .map(|id| {
            let talk = talk_of(id);
            AgentShare {
                agent_id: id.clone(),
                offered: s.agents_offered.contains(id),
                answered: talk > 0,
                talk_seconds: talk,
            }
        })
        .collect();
    let lost_stage = (way == CallWay::Inbound && !s.answered && s.outcome != Outcome::InProgress)
        .then(|| {
            let seen = |kind: TimelineKind| archive.timeline.iter().any(|e| e.kind == kind);
            if !s.agents_offered.is_empty() {
                LostStage::Agent
            } else if seen(TimelineKind::Queue) || seen(TimelineKind::QueueCallback) {
                LostStage::Queue
            } else if seen(TimelineKind::Menu) {
                LostStage::Menu
            } else {
                LostStage::BeforeAgent
            }
        });
    CallRecord {
        key: format!("cc-{call_id}"),
        source: CallSource::Native,
        way,
        phone: s.phones.first().map(|p| Phone::digits(p).to_owned()),
        queue: s.queue.clone(),
        started_at: s.started_at,
        answered_at: s.answered_at,
        ended_at: s.ended_at,
        answered: s.answered,
        wait_seconds: s.wait_seconds,
        talk_seconds: s.talk_seconds,
        hold_seconds: None,
        after_call_seconds: None,
        agents,
        lost_stage,
        recorded: false,
        callback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::t;

    fn call(key: &str, way: CallWay, start: i64, end: i64, answered: bool) -> CallRecord {
        CallRecord {
            key: key.into(),
            source: CallSource::Native,
            way,
            phone: Some("100".into()),
            queue: Some("Support".into()),
            started_at: t(start),
            answered_at: answered.then(|| t(start + 10)),
            ended_at: Some(t(end)),
            answered,
            wait_seconds: 10,
            talk_seconds: if answered {
                (end - start - 10) as u32
            } else {
                0
            },
            hold_seconds: None,
            after_call_seconds: None,
            agents: Vec::new(),
            lost_stage: (!answered && way == CallWay::Inbound).then_some(LostStage::Queue),
            recorded: false,
            callback: None,
        }
    }

    #[test]
    fn a_lost_call_is_called_back_by_the_next_outbound_or_answered_call() {
        let lost = call("a", CallWay::Inbound, 0, 30, false);
        let early = call("b", CallWay::Outbound, 20, 25, false); // before the end: no
        let missed_again = call("c", CallWay::Inbound, 40, 60, false); // lost too: no
        let back = call("d", CallWay::Outbound, 100, 110, false); // unanswered, still a callback
        let later = call("e", CallWay::Inbound, 200, 300, true);
        let found = callbacks(&[&later, &back, &missed_again, &early, &lost]);
        assert_eq!(found.len(), 2);
        let (key, cb) = &found[0];
        assert_eq!(key, "a");
        let cb = cb.as_ref().unwrap();
        assert_eq!((cb.call_key.as_str(), cb.latency_seconds), ("d", 70));
        let (key, cb) = &found[1];
        assert_eq!(key, "c");
        assert_eq!(cb.as_ref().unwrap().latency_seconds, 40);
        assert_eq!(callbacks(&[&lost])[0].1, None);
    }

    #[test]
    fn inbound_calls_feed_all_their_dimensions() {
        let mut answered = call("a", CallWay::Inbound, 0, 70, true);
        answered.agents = vec![
            AgentShare {
                agent_id: "bob".into(),
                offered: true,
                answered: false,
                talk_seconds: 0,
            },
            AgentShare {
                agent_id: "alice".into(),
                offered: true,
                answered: true,
                talk_seconds: 60,
            },
        ];
        let parts = contributions(&answered);
        let get = |dim: &Dim| {
            parts
                .iter()
                .find(|(d, _)| d == dim)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let all = get(&Dim::All);
        assert_eq!(
            (all.get(OFFERED), all.get(ANSWERED), all.get(LOST)),
            (1, 1, 0)
        );
        assert_eq!(all.get(TALK_MS), 60_000);
        assert_eq!(all.count_at_most(WAIT_ANSWERED_HIST, 10), 1);
        assert_eq!(get(&Dim::Queue("Support".into())), all);
        let bob = get(&Dim::Agent("bob".into()));
        assert_eq!(
            (bob.get(OFFERED), bob.get(ANSWERED), bob.get(LOST)),
            (1, 0, 1)
        );
        let alice = get(&Dim::Agent("alice".into()));
        assert_eq!(
            (alice.get(ANSWERED), alice.get(WAIT_ANSWERED_MS)),
            (1, 10_000)
        );
        let mut running = answered.clone();
        running.ended_at = None;
        assert!(contributions(&running).is_empty());
    }
}
