//! A generated, realistic CallGear stream for the read-model benchmarks.
//!
//! Agents first (`upsert_agent`, one CallGear operator each), then call sessions
//! in time order over `SPAN_DAYS`, their deliveries interleaved by notification
//! time as CallGear would send them. The mix: answered inbound calls
//! (handset, endleg, end, recording), missed inbound calls (an offer leg or not,
//! then end), transfers (two operators), outbound calls (callout, legout, end,
//! recording when answered). Some answered tickets are later closed by their
//! agent (`set_ticket_status`), and a few agents are renamed mid-stream.
//!
//! Customers have a skewed but bounded number of calls: P(k) ∝ k⁻² for
//! k in 1..=[`CALLS_PER_CUSTOMER_MAX`] (about 60 % call once, mean ≈ 3.6), the
//! cost driver of the desk fold (`docs/domain.md`). Everything is derived from
//! a seed: the same arguments give the same stream.

use anyhow::{bail, Result};
use domain::agent::{SetTicketStatus, UpsertAgent};
use domain::{CallGearKind, NativeEvent, TicketStatus, Timestamp};
use eventlog::NewEvent;
use ingest::{Delivery, Ingestor, Prepared};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Calls one customer makes at most.
pub const CALLS_PER_CUSTOMER_MAX: u64 = 200;
/// The stream covers this many days.
const SPAN_DAYS: i64 = 90;
/// Session ids start here.
const SESSION_BASE: u64 = 2_000_000_000;
/// Employee (operator) ids start here.
const EMPLOYEE_BASE: u64 = 10_000;
/// 2024-01-01T00:00:00Z.
const EPOCH_MICROS: i64 = 1_704_067_200_000_000;
const SECOND: i64 = 1_000_000;

/// splitmix64: small, fast, good enough for workload shapes.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// What kind of call a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Answered,
    Missed,
    Transfer,
    Outbound,
}

impl Scenario {
    fn pick(rng: &mut Rng) -> Scenario {
        match rng.below(100) {
            0..50 => Scenario::Answered,
            50..70 => Scenario::Missed,
            70..78 => Scenario::Transfer,
            _ => Scenario::Outbound,
        }
    }
}

/// The stream's shape.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub agents: u64,
    pub sessions: u64,
    pub seed: u64,
}

/// What was generated, for the report.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub deliveries: u64,
    pub native: u64,
    pub sessions: u64,
    pub customers: u64,
    /// Calls of the busiest customer.
    pub calls_per_customer_max: u64,
}

impl Counts {
    pub fn events(&self) -> u64 {
        self.deliveries + self.native
    }
}

/// One thing to append, at its receive time.
enum Pending {
    CallGear { kind: CallGearKind, body: Vec<u8> },
    Native(NativeEvent),
}

/// Average deliveries per session of the mix (for sizing a stream).
pub const DELIVERIES_PER_SESSION: f64 = 3.6;

/// Generates the stream and hands it to `sink` in prepared chunks of at most
/// `chunk` events, in append order.
pub fn generate(
    shape: &Shape,
    ingestor: &Ingestor,
    chunk: usize,
    mut sink: impl FnMut(Vec<NewEvent>) -> Result<()>,
) -> Result<Counts> {
    let mut rng = Rng::new(shape.seed);
    let mut counts = Counts::default();
    let agents = shape.agents.max(1);
    let start = EPOCH_MICROS;
    let span = SPAN_DAYS * 86_400 * SECOND;

    // Customers and the times of their calls, then every call in time order.
    let cdf = calls_cdf();
    let mut sessions: Vec<(i64, u64)> = Vec::with_capacity(shape.sessions as usize);
    let mut customer = 0u64;
    while (sessions.len() as u64) < shape.sessions {
        let draw = rng.next_u64() as f64 / u64::MAX as f64;
        let calls = cdf.partition_point(|&p| p < draw) as u64 + 1;
        let calls = calls.min(shape.sessions - sessions.len() as u64);
        counts.calls_per_customer_max = counts.calls_per_customer_max.max(calls);
        for _ in 0..calls {
            sessions.push((start + rng.below(span as u64) as i64, customer));
        }
        customer += 1;
    }
    counts.customers = customer;
    counts.sessions = sessions.len() as u64;
    sessions.sort_unstable();

    let mut out: Vec<NewEvent> = Vec::with_capacity(chunk);
    let mut flush = |out: &mut Vec<NewEvent>, force: bool| -> Result<()> {
        if out.len() >= chunk || (force && !out.is_empty()) {
            sink(std::mem::replace(out, Vec::with_capacity(chunk)))?;
        }
        Ok(())
    };
    let emit = |at: i64, item: Pending, counts: &mut Counts| -> Result<NewEvent> {
        let received_at = Timestamp(at);
        Ok(match item {
            Pending::CallGear { kind, body } => {
                counts.deliveries += 1;
                let delivery = Delivery {
                    kind,
                    raw: body,
                    received_at,
                    timezone: None,
                };
                match ingestor.prepare(delivery) {
                    Prepared::Event(event) => event,
                    Prepared::Quarantine { item, .. } => {
                        bail!("a generated {kind} body did not parse: {}", item.reason)
                    }
                }
            }
            Pending::Native(event) => {
                counts.native += 1;
                let raw = serde_json::to_vec(&event)?;
                ingest::native_event(event, raw, received_at)
            }
        })
    };

    // The directory, a day before the first call.
    for a in 0..agents {
        let event = NativeEvent::UpsertAgent(upsert(a, start - 86_400 * SECOND, 0));
        out.push(emit(
            start - 86_400 * SECOND,
            Pending::Native(event),
            &mut counts,
        )?);
        flush(&mut out, false)?;
    }

    // Deliveries wait in a heap until their receive time comes.
    let mut heap: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
    let mut seq = 0u64;
    let renames_every = (shape.sessions / (agents / 10).max(1)).max(1);
    for (index, &(at, customer)) in sessions.iter().enumerate() {
        while heap.peek().is_some_and(|Reverse(due)| due.at <= at) {
            let Reverse(due) = heap.pop().expect("peeked");
            out.push(emit(due.at, due.item, &mut counts)?);
            flush(&mut out, false)?;
        }
        let session = session_id(index as u64);
        let mut items = session_items(&mut rng, agents, session, customer, at);
        if index as u64 % renames_every == renames_every - 1 {
            let agent = rng.below(agents);
            let event = NativeEvent::UpsertAgent(upsert(agent, at, index as u64));
            items.push((at, Pending::Native(event)));
        }
        for (at, item) in items {
            heap.push(Reverse(Due { at, seq, item }));
            seq += 1;
        }
    }
    while let Some(Reverse(due)) = heap.pop() {
        out.push(emit(due.at, due.item, &mut counts)?);
        flush(&mut out, false)?;
    }
    flush(&mut out, true)?;
    Ok(counts)
}

/// A parked item, ordered by receive time then generation order.
struct Due {
    at: i64,
    seq: u64,
    item: Pending,
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Due) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

fn upsert(agent: u64, at: i64, version: u64) -> UpsertAgent {
    UpsertAgent {
        at: Timestamp(at),
        agent_id: agent_id(agent),
        name: if version == 0 {
            format!("Agent {agent}")
        } else {
            format!("Agent {agent} ({version})")
        },
        callgear_employee_ids: vec![EMPLOYEE_BASE + agent],
    }
}

/// The `call_session_id` of generated session `index`.
pub fn session_id(index: u64) -> u64 {
    SESSION_BASE + index
}

pub fn agent_id(agent: u64) -> String {
    format!("agent-{agent:05}")
}

/// The customer id of generated customer `index` (created from its phone, R2).
pub fn customer_id(index: u64) -> String {
    format!("cus-{}", phone(index))
}

fn phone(customer: u64) -> String {
    format!("7916{:07}", customer % 10_000_000)
}

/// P(calls ≤ k) for k = 1..=CALLS_PER_CUSTOMER_MAX, P(k) ∝ k⁻².
fn calls_cdf() -> Vec<f64> {
    let weights: Vec<f64> = (1..=CALLS_PER_CUSTOMER_MAX)
        .map(|k| 1.0 / (k * k) as f64)
        .collect();
    let total: f64 = weights.iter().sum();
    let mut sum = 0.0;
    weights
        .iter()
        .map(|w| {
            sum += w / total;
            sum
        })
        .collect()
}

/// The deliveries (and later agent actions) of one session, with receive times.
fn session_items(
    rng: &mut Rng,
    agents: u64,
    session: u64,
    customer: u64,
    at: i64,
) -> Vec<(i64, Pending)> {
    let scenario = Scenario::pick(rng);
    let agent = rng.below(agents);
    let mut call = CallBody {
        session,
        phone: phone(customer),
        contact_id: customer,
        direction: if scenario == Scenario::Outbound {
            "out"
        } else {
            "in"
        },
    };
    let leg = |n: u64| 7_000_000_000 + session * 4 + n;
    let mut items = Vec::new();
    let mut push = |at: i64, kind: CallGearKind, body: serde_json::Value| {
        // Delivered 0–2 s after the notification time.
        let received = at + (session % 2_000) as i64 * 1_000;
        items.push((
            received,
            Pending::CallGear {
                kind,
                body: body.to_string().into_bytes(),
            },
        ));
    };
    let wait = rng.between(3, 40);
    let talk = rng.between(20, 600);
    match scenario {
        Scenario::Answered | Scenario::Transfer => {
            let picked = at + wait * SECOND;
            push(
                picked,
                CallGearKind::Handset,
                call.body(picked, Some(agent), Some(leg(0)), None),
            );
            let mut ended = picked + talk * SECOND;
            push(
                ended,
                CallGearKind::EndLeg,
                call.leg(ended, agent, leg(0), talk),
            );
            let mut total_talk = talk;
            if scenario == Scenario::Transfer {
                let second = (agent + 1 + rng.below(agents - 1).min(agents)) % agents;
                let talk2 = rng.between(20, 300);
                push(
                    ended,
                    CallGearKind::Handset,
                    call.body(ended, Some(second), Some(leg(1)), None),
                );
                ended += talk2 * SECOND;
                push(
                    ended,
                    CallGearKind::EndLeg,
                    call.leg(ended, second, leg(1), talk2),
                );
                total_talk += talk2;
            }
            push(
                ended,
                CallGearKind::End,
                call.end(ended, agent, total_talk, wait, false),
            );
            let recorded = ended + rng.between(5, 60) * SECOND;
            push(
                recorded,
                CallGearKind::Recording,
                call.recording(recorded, agent, total_talk),
            );
            if scenario == Scenario::Answered && rng.percent(30) {
                let closed = recorded + rng.between(60, 8 * 3600) * SECOND;
                items.push((
                    closed,
                    Pending::Native(NativeEvent::SetTicketStatus(SetTicketStatus {
                        at: Timestamp(closed),
                        agent_id: agent_id(agent),
                        ticket_id: domain::ids::call_ticket(session, &agent_id(agent)),
                        status: TicketStatus::Closed,
                    })),
                ));
            }
        }
        Scenario::Missed => {
            let mut ended = at + wait * SECOND;
            if rng.percent(70) {
                push(
                    ended,
                    CallGearKind::EndLeg,
                    call.leg(ended, agent, leg(0), 0),
                );
                ended += rng.between(1, 20) * SECOND;
            }
            push(
                ended,
                CallGearKind::End,
                call.end(ended, agent, 0, wait, true),
            );
        }
        Scenario::Outbound => {
            call.direction = "out";
            push(
                at,
                CallGearKind::CallOut,
                call.body(at, Some(agent), Some(leg(0)), None),
            );
            let answered = rng.percent(75);
            let talk = if answered { talk } else { 0 };
            let ended = at + (wait + talk) * SECOND;
            push(
                ended,
                CallGearKind::LegOut,
                call.legout(ended, agent, leg(1), talk, wait),
            );
            push(
                ended,
                CallGearKind::End,
                call.end(ended, agent, talk, wait, !answered),
            );
            if answered {
                let recorded = ended + rng.between(5, 60) * SECOND;
                push(
                    recorded,
                    CallGearKind::Recording,
                    call.recording(recorded, agent, talk),
                );
            }
        }
    }
    items
}

/// Renders bodies like the reference templates (docs/callgear.md).
struct CallBody {
    session: u64,
    phone: String,
    contact_id: u64,
    direction: &'static str,
}

fn local_time(at: i64) -> String {
    Timestamp(at)
        .to_datetime()
        .expect("generated times are in range")
        .format("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

impl CallBody {
    fn body(
        &self,
        at: i64,
        agent: Option<u64>,
        leg: Option<u64>,
        call_info: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut info = serde_json::json!({
            "call_source": "va",
            "direction": self.direction,
            "call_session_id": self.session,
            "scenario_name": "Support line",
            "tag_names": null,
        });
        if let (Some(extra), Some(map)) = (call_info, info.as_object_mut()) {
            if let Some(extra) = extra.as_object() {
                map.extend(extra.clone());
            }
        }
        serde_json::json!({
            "notification_name": "notification",
            "virtual_phone_number": "74993720692",
            "notification_time": local_time(at),
            "external_id": null,
            "contact_info": {
                "contact_phone_number": self.phone,
                "communication_number": "74993720692",
                "contact_id": self.contact_id,
                "contact_full_name": null
            },
            "employee_info": agent.map(|a| serde_json::json!({
                "employee_full_name": format!("Agent {a}"),
                "employee_id": EMPLOYEE_BASE + a
            })),
            "call_info": info,
            "call_record_file_info": {"file_link": null, "call_record_duration": null},
            "leg_id": leg,
            "leg_ids": leg.map(|l| vec![l]).unwrap_or_default()
        })
    }

    fn leg(&self, at: i64, agent: u64, leg: u64, talk: i64) -> serde_json::Value {
        self.body(
            at,
            Some(agent),
            Some(leg),
            Some(serde_json::json!({"is_operator": true, "talk_time_duration": talk})),
        )
    }

    fn legout(&self, at: i64, agent: u64, leg: u64, talk: i64, wait: i64) -> serde_json::Value {
        self.body(
            at,
            Some(agent),
            Some(leg),
            Some(serde_json::json!({
                "talk_time_duration": talk,
                "total_time_duration": talk + wait,
                "wait_time_duration": wait,
                "is_lost": talk == 0
            })),
        )
    }

    fn end(&self, at: i64, agent: u64, talk: i64, wait: i64, lost: bool) -> serde_json::Value {
        self.body(
            at,
            Some(agent),
            None,
            Some(serde_json::json!({
                "talk_time_duration": talk,
                "total_time_duration": talk + wait,
                "wait_time_duration": wait,
                "is_lost": lost
            })),
        )
    }

    fn recording(&self, at: i64, agent: u64, talk: i64) -> serde_json::Value {
        let mut body = self.body(at, Some(agent), None, None);
        body["call_record_file_info"] = serde_json::json!({
            "file_link": format!("https://records.example/{}.mp3", self.session),
            "call_record_duration": talk,
            "record_file_links": [format!("https://records.example/{}.mp3", self.session)]
        });
        body
    }
}
