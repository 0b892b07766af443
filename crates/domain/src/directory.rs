//! Agents and the CallGear operators mapped to them (R1).
//!
//! The whole directory is one small record. It keeps every [`UpsertAgent`] in
//! canonical order, so the mapping in force at any time can be answered: an
//! operator's leg at time `t` belongs to the agent whose latest upsert at or
//! before `t` lists that operator (R18).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

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

    /// Whether inserting `upsert` would change which agent any operator stands
    /// for at any time; `timeline` is this directory's [`Directory::timeline`].
    /// `false` is exact (the timeline stays equal, e.g. a rename or a repeat);
    /// `true` may be conservative (another upsert at the same instant).
    pub fn changes_mapping(&self, timeline: &MappingTimeline, upsert: &UpsertAgent) -> bool {
        let index = match self
            .upserts
            .binary_search_by(|probe| canonical(probe, upsert))
        {
            Ok(_) => return false, // already known
            Err(index) => index,
        };
        if self.upserts.iter().any(|other| other.at == upsert.at) {
            return true; // its place among same-instant upserts decides: not worth it
        }
        // Just before `upsert`, its agent holds the operators of its previous
        // upsert that nobody took since. The step changes nothing iff that is
        // exactly the listed set.
        let agent = upsert.agent_id.as_str();
        let before = Timestamp(upsert.at.0 - 1);
        let held = |employee: u64| timeline.agent_for(employee, before).as_deref() == Some(agent);
        let listed: BTreeSet<u64> = upsert.callgear_employee_ids.iter().copied().collect();
        if !listed.iter().all(|&employee| held(employee)) {
            return true;
        }
        let previous = self.upserts[..index]
            .iter()
            .rev()
            .find(|other| other.agent_id == agent);
        previous.is_some_and(|previous| {
            previous
                .callgear_employee_ids
                .iter()
                .any(|employee| !listed.contains(employee) && held(*employee))
        })
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
        // Each agent's operators, ascending: one pass over the operators.
        let mut employees: HashMap<&str, Vec<u64>> = HashMap::new();
        for (employee, id) in &owner {
            employees.entry(id.as_str()).or_default().push(*employee);
        }
        for agent in agents.values_mut() {
            agent.callgear_employee_ids = employees.remove(agent.id.as_str()).unwrap_or_default();
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
    ///
    /// Linear in the upserts: each operator keeps the list of its owner changes,
    /// so nothing is copied per upsert.
    pub fn timeline(&self) -> MappingTimeline {
        let mut owner: HashMap<u64, &str> = HashMap::new();
        let mut owned: HashMap<&str, BTreeSet<u64>> = HashMap::new();
        let mut changes: HashMap<u64, OwnerChanges> = HashMap::new();
        for upsert in &self.upserts {
            let agent = upsert.agent_id.as_str();
            let listed: BTreeSet<u64> = upsert.callgear_employee_ids.iter().copied().collect();
            // Same as `step`: the agent's operators not listed any more are nobody's,
            for employee in owned.remove(agent).unwrap_or_default() {
                if !listed.contains(&employee) {
                    owner.remove(&employee);
                    changes.entry(employee).or_default().push((upsert.at, None));
                }
            }
            // and every listed operator is this agent's (taken from whoever had it).
            for &employee in &listed {
                match owner.insert(employee, agent) {
                    Some(previous) if previous == agent => continue,
                    Some(previous) => {
                        if let Some(set) = owned.get_mut(previous) {
                            set.remove(&employee);
                        }
                    }
                    None => {}
                }
                changes
                    .entry(employee)
                    .or_default()
                    .push((upsert.at, Some(upsert.agent_id.clone())));
            }
            owned.insert(agent, listed);
        }
        MappingTimeline {
            changes: Arc::new(changes),
        }
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
/// Cheap to clone (shared). Equal timelines map every operator alike at every time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingTimeline {
    /// Per operator: its owner after each change, in upsert order (times ascending).
    changes: Arc<HashMap<u64, OwnerChanges>>,
}

/// One operator's owners: (from when, agent or nobody), in upsert order.
type OwnerChanges = Vec<(Timestamp, Option<AgentId>)>;

impl MappingTimeline {
    pub fn agent_for(&self, employee_id: u64, at: Timestamp) -> Option<AgentId> {
        let changes = self.changes.get(&employee_id)?;
        let index = changes.partition_point(|(change_at, _)| *change_at <= at);
        changes[..index].last()?.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn upserts() -> impl Strategy<Value = Vec<UpsertAgent>> {
        upserts_over(6)
    }

    /// Upserts at times `0..times`, some of them renames (same operators, another name).
    fn upserts_over(times: i64) -> impl Strategy<Value = Vec<UpsertAgent>> {
        let upsert = (
            0i64..times,
            0u8..4,
            0u8..2,
            proptest::collection::vec(0u64..6, 0..4),
        )
            .prop_map(|(at, agent, name, employees)| UpsertAgent {
                at: Timestamp(at),
                agent_id: format!("a{agent}"),
                name: format!("Agent {agent}.{name}"),
                callgear_employee_ids: employees,
            });
        proptest::collection::vec(upsert, 0..12)
    }

    proptest! {
        /// `changes_mapping` saying `false` means the timeline stays the same.
        #[test]
        fn changes_mapping_false_keeps_the_timeline(
            upserts in upserts_over(40),
            last in upserts_over(40),
        ) {
            let mut directory = Directory::default();
            for upsert in upserts {
                directory.insert(upsert);
            }
            for upsert in last {
                let before = directory.timeline();
                let changes = directory.changes_mapping(&before, &upsert);
                directory.insert(upsert.clone());
                if !changes {
                    prop_assert_eq!(&before, &directory.timeline(), "{:?}", upsert);
                }
            }
        }

        /// The timeline answers exactly what replaying the upserts up to `at` does.
        #[test]
        fn timeline_agrees_with_mapping_at(upserts in upserts()) {
            let mut directory = Directory::default();
            for upsert in upserts {
                directory.insert(upsert);
            }
            let timeline = directory.timeline();
            for at in -1..7 {
                let mapping = directory.mapping_at(Timestamp(at));
                for employee in 0..6 {
                    prop_assert_eq!(
                        timeline.agent_for(employee, Timestamp(at)),
                        mapping.get(&employee).cloned(),
                        "employee {} at {}", employee, at
                    );
                }
            }
        }
    }
}
