//! The live dashboard, folded from contact-centre events (seed 004: calls in
//! voice menus and queues, agents logged in / talking / ready).
//!
//! Order does not matter (R17): a call's place is its latest menu/queue event
//! by (time, step, content); `call_ended` is final whenever it arrives; an
//! agent's presence is their latest `agent_presence`; an agent talks on a call
//! when their latest answer/hang-up there is an answer and the call has not
//! ended. Counters of calls in menus and queues are kept in one record; agent
//! figures are read from the (few) agent records at query time.

use std::collections::{BTreeMap, BTreeSet};

use domain::contact::{ContactBody, ContactEvent, Presence};
use domain::stats::{AgentLive, Dashboard};
use domain::{AgentId, Timestamp};

use crate::codec::{self, Kind};
use crate::stats::keys;
use crate::stats::StatsBatch;
use crate::views::Views;
use crate::Error;

/// Where a call is, as far as the dashboard cares.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum Place {
    Menu(String),
    Queue(String),
    Elsewhere,
}

/// An event's position among a call's events: time, step, content hash.
type Stamp = (Timestamp, u8, u64);

#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct LiveCall {
    pub ended: bool,
    pub place: Option<(Stamp, Place)>,
    /// Per agent: the latest answer (true) or hang-up (false).
    pub agents: BTreeMap<AgentId, (Stamp, bool)>,
}

impl LiveCall {
    fn place_now(&self) -> Option<&Place> {
        if self.ended {
            return None;
        }
        self.place.as_ref().map(|(_, p)| p)
    }

    fn talking(&self) -> BTreeSet<AgentId> {
        if self.ended {
            return BTreeSet::new();
        }
        self.agents
            .iter()
            .filter(|(_, (_, on))| *on)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct LiveAgent {
    pub presence: Option<(Stamp, Presence)>,
    /// Calls the agent talks on now.
    pub talking_on: BTreeSet<String>,
}

#[derive(
    Clone, Debug, Default, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) struct Counters {
    pub in_menu: u64,
    pub queued: BTreeMap<String, u64>,
    pub as_of: Option<Timestamp>,
}

fn stamp(event: &ContactEvent) -> Stamp {
    let json = serde_json::to_string(event).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in json.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (event.at, domain::timeline::step_rank(&event.body), hash)
}

fn later<T>(slot: &Option<(Stamp, T)>, at: Stamp) -> bool {
    slot.as_ref().is_none_or(|(s, _)| *s < at)
}

/// The call's state with `event` applied.
fn apply_call(call: &mut LiveCall, event: &ContactEvent) {
    let at = stamp(event);
    let place = match &event.body {
        ContactBody::CallEnded { .. } => {
            call.ended = true;
            return;
        }
        ContactBody::MenuEntered { menu, .. } => Some(Place::Menu(menu.clone())),
        ContactBody::QueueEntered { queue, .. } => Some(Place::Queue(queue.clone())),
        ContactBody::MenuLeft { .. }
        | ContactBody::QueueLeft { .. }
        | ContactBody::CallbackOrdered { .. }
        | ContactBody::AgentAnswered { .. }
        | ContactBody::OutboundOrdered { .. }
        | ContactBody::CallbackAttemptStarted { .. } => Some(Place::Elsewhere),
        _ => None,
    };
    if let Some(place) = place {
        if later(&call.place, at) {
            call.place = Some((at, place));
        }
    }
    let agent = match &event.body {
        ContactBody::AgentAnswered { agent_id, .. } => Some((agent_id, true)),
        ContactBody::AgentHungUp { agent_id, .. } => Some((agent_id, false)),
        ContactBody::ConsultAnswered {
            target_agent_id, ..
        } => Some((target_agent_id, true)),
        ContactBody::ConsultEnded {
            target_agent_id, ..
        } => Some((target_agent_id, false)),
        _ => None,
    };
    if let Some((agent, on)) = agent {
        let newer = call.agents.get(agent).is_none_or(|(s, _)| *s < at);
        if newer {
            call.agents.insert(agent.clone(), (at, on));
        }
    }
}

fn load<T>(stats: &StatsBatch<'_>, kind: Kind, key: &[u8]) -> Result<Option<T>, Error>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::api::high::HighDeserializer<rkyv::rancor::Error>>,
{
    match stats.get(key)? {
        Some(bytes) => codec::decode(kind, key, &bytes).map(Some),
        None => Ok(None),
    }
}

fn adjust(counters: &mut Counters, place: Option<&Place>, sign: i64) {
    match place {
        Some(Place::Menu(_)) => counters.in_menu = counters.in_menu.saturating_add_signed(sign),
        Some(Place::Queue(name)) => {
            let n = counters.queued.entry(name.clone()).or_default();
            *n = n.saturating_add_signed(sign);
            if *n == 0 {
                counters.queued.remove(name);
            }
        }
        _ => {}
    }
}

/// Follows one contact-centre event.
pub(crate) fn observe(stats: &mut StatsBatch<'_>, event: &ContactEvent) -> Result<(), Error> {
    let counters_key = keys::dashboard();
    let mut counters: Counters = load(stats, Kind::Dashboard, &counters_key)?.unwrap_or_default();
    let before = counters.clone();
    counters.as_of = counters.as_of.max(Some(event.at));

    if let ContactBody::AgentPresence {
        agent_id, presence, ..
    } = &event.body
    {
        let key = keys::live_agent(agent_id);
        let mut agent: LiveAgent = load(stats, Kind::LiveAgent, &key)?.unwrap_or_default();
        let at = stamp(event);
        if later(&agent.presence, at) {
            agent.presence = Some((at, *presence));
            stats.put(key, codec::encode(Kind::LiveAgent, &agent));
            stats.dashboard_changed = true;
        }
    } else if let Some(call_id) = event.call_id() {
        let key = keys::live_call(call_id);
        let old: LiveCall = load(stats, Kind::LiveCall, &key)?.unwrap_or_default();
        let mut new = old.clone();
        apply_call(&mut new, event);
        if new != old {
            adjust(&mut counters, old.place_now(), -1);
            adjust(&mut counters, new.place_now(), 1);
            let (was, is) = (old.talking(), new.talking());
            for agent_id in was.symmetric_difference(&is) {
                let agent_key = keys::live_agent(agent_id);
                let mut agent: LiveAgent =
                    load(stats, Kind::LiveAgent, &agent_key)?.unwrap_or_default();
                if is.contains(agent_id) {
                    agent.talking_on.insert(call_id.to_owned());
                } else {
                    agent.talking_on.remove(call_id);
                }
                // An agent with nothing to show has no record, whatever the
                // order the call's events came in (R17).
                if agent == LiveAgent::default() {
                    stats.remove(agent_key);
                } else {
                    stats.put(agent_key, codec::encode(Kind::LiveAgent, &agent));
                }
            }
            stats.put(key, codec::encode(Kind::LiveCall, &new));
            stats.dashboard_changed = true;
        }
    }
    if counters != before {
        stats.put(
            counters_key.to_vec(),
            codec::encode(Kind::Dashboard, &counters),
        );
        stats.dashboard_changed = true;
    }
    Ok(())
}

impl Views {
    /// The live dashboard as of the committed events.
    pub fn dashboard(&self) -> Result<Dashboard, Error> {
        let _read = self.read_gate();
        let tree = self.tree();
        let key = keys::dashboard();
        let counters: Counters = match tree.get(key)? {
            Some(bytes) => codec::decode(Kind::Dashboard, &key, &bytes)?,
            None => Counters::default(),
        };
        let prefix = keys::live_agent("");
        let mut agents = Vec::new();
        for entry in tree.scan_prefix(&prefix) {
            let (key, value) = entry?;
            let live: LiveAgent = codec::decode(Kind::LiveAgent, &key, &value)?;
            agents.push(AgentLive {
                agent_id: String::from_utf8_lossy(&key[prefix.len()..]).into_owned(),
                presence: live.presence.as_ref().map(|(_, p)| *p),
                presence_since: live.presence.as_ref().map(|((at, _, _), _)| *at),
                talking: !live.talking_on.is_empty(),
            });
        }
        Ok(Dashboard {
            calls_in_menu: counters.in_menu,
            queues: counters.queued.into_iter().collect(),
            agents,
            as_of: counters.as_of,
        })
    }
}
