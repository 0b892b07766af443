//! Agents and the CallGear operators mapped to them (R1).
//!
//! The whole directory is one small record. It keeps every [`UpsertAgent`] in
//! canonical order, so the mapping in force at any time can be answered: an
//! operator's leg at time `t` belongs to the agent whose latest upsert at or
//! before `t` lists that operator (R18).

use std::collections::{BTreeMap, BTreeSet};

use crate::agent::{AgentId, UpsertAgent};
use crate::time::Timestamp;

/// An agent as read models show it (current name and operators).
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
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub callgear_employee_ids: Vec<u64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// All agents: the persisted record (key: a single fixed key).
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
pub struct Directory {
    /// Every upsert, sorted by (time, agent, name, operators), no duplicates.
    pub upserts: Vec<UpsertAgent>,
}

fn canonical(a: &UpsertAgent, b: &UpsertAgent) -> std::cmp::Ordering {
    (a.at, &a.agent_id, &a.name, &a.callgear_employee_ids).cmp(&(
        b.at,
        &b.agent_id,
        &b.name,
        &b.callgear_employee_ids,
    ))
}

impl Directory {
    /// Records an upsert; `false` when it was already known.
    pub fn insert(&mut self, upsert: UpsertAgent) -> bool {
        match self
            .upserts
            .binary_search_by(|probe| canonical(probe, &upsert))
        {
            Ok(_) => false,
            Err(index) => {
                self.upserts.insert(index, upsert);
                true
            }
        }
    }

    /// Current agents, by id.
    pub fn agents(&self) -> BTreeMap<AgentId, Agent> {
        let mut agents: BTreeMap<AgentId, Agent> = BTreeMap::new();
        let mut owner: BTreeMap<u64, AgentId> = BTreeMap::new();
        for upsert in &self.upserts {
            Self::step(&mut owner, upsert);
            let agent = agents
                .entry(upsert.agent_id.clone())
                .or_insert_with(|| Agent {
                    id: upsert.agent_id.clone(),
                    name: String::new(),
                    callgear_employee_ids: Vec::new(),
                    created_at: upsert.at,
                    updated_at: upsert.at,
                });
            agent.name = upsert.name.clone();
            agent.updated_at = upsert.at;
        }
        for agent in agents.values_mut() {
            agent.callgear_employee_ids = owner
                .iter()
                .filter(|(_, id)| **id == agent.id)
                .map(|(employee, _)| *employee)
                .collect();
        }
        agents
    }

    pub fn agent(&self, id: &str) -> Option<Agent> {
        self.agents().remove(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.upserts.iter().any(|upsert| upsert.agent_id == id)
    }

    /// The agent an operator stood for at `at` (R1, R18).
    pub fn agent_for(&self, employee_id: u64, at: Timestamp) -> Option<AgentId> {
        self.mapping_at(at).remove(&employee_id)
    }

    /// operator → agent as in force at `at`.
    pub fn mapping_at(&self, at: Timestamp) -> BTreeMap<u64, AgentId> {
        let mut owner = BTreeMap::new();
        for upsert in self.upserts.iter().take_while(|upsert| upsert.at <= at) {
            Self::step(&mut owner, upsert);
        }
        owner
    }

    /// Every mapping the directory has ever had, for callers that resolve many times.
    pub fn timeline(&self) -> MappingTimeline {
        let mut owner = BTreeMap::new();
        let mut steps = Vec::with_capacity(self.upserts.len());
        for upsert in &self.upserts {
            Self::step(&mut owner, upsert);
            steps.push((upsert.at, owner.clone()));
        }
        MappingTimeline { steps }
    }

    fn step(owner: &mut BTreeMap<u64, AgentId>, upsert: &UpsertAgent) {
        let listed: BTreeSet<u64> = upsert.callgear_employee_ids.iter().copied().collect();
        owner.retain(|employee, agent| *agent != upsert.agent_id || listed.contains(employee));
        for employee in listed {
            owner.insert(employee, upsert.agent_id.clone());
        }
    }
}

/// Precomputed operator mappings over time (see [`Directory::timeline`]).
#[derive(Clone, Debug, Default)]
pub struct MappingTimeline {
    steps: Vec<(Timestamp, BTreeMap<u64, AgentId>)>,
}

impl MappingTimeline {
    pub fn agent_for(&self, employee_id: u64, at: Timestamp) -> Option<AgentId> {
        let index = self.steps.partition_point(|(step_at, _)| *step_at <= at);
        let (_, owner) = self.steps[..index].last()?;
        owner.get(&employee_id).cloned()
    }
}
