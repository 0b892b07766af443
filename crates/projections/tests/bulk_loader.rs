//! `projections::stats::BulkLoader` (what `callfold bench stats` fills its
//! store with): whatever its commit size and watermark — even a watermark
//! that later items contradict — it stores the same bytes as one commit of
//! everything.

mod support;

use domain::stats::calls::{AgentShare, CallRecord, CallSource, CallWay, LostStage};
use domain::stats::Period;
use domain::{CallDirection, Ticket};
use projections::stats::BulkLoader;
use projections::Views;
use support::*;

const DAY: i64 = 86_400;

enum Item {
    Call(Box<CallRecord>),
    Ticket(Box<Ticket>),
}

/// About 400 calls over ten days from 12 numbers (so lost calls get called
/// back, some days later), a ticket for most, edited and closed up to days
/// after the call.
fn items(seed: u64) -> Vec<(i64, Item)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    for i in 0..400u64 {
        let start = (i as i64) * (10 * DAY / 400) + rng.u64(..600) as i64;
        let outbound = rng.u64(..4) == 0;
        let lost = !outbound && rng.u64(..4) == 0;
        let answered = if outbound { rng.u64(..3) != 0 } else { !lost };
        let talk = if answered {
            10 + rng.u64(..900) as u32
        } else {
            0
        };
        let wait = rng.u64(..120) as u32;
        let agent = format!("agent-{}", rng.u64(..4));
        let mut agents = Vec::new();
        if answered || outbound || rng.u64(..2) == 0 {
            agents.push(AgentShare {
                agent_id: agent.clone(),
                offered: !outbound,
                answered,
                talk_seconds: talk,
            });
        }
        let end = start + i64::from(wait + talk) + 1;
        let record = CallRecord {
            key: format!("cc-{i}"),
            source: CallSource::Native,
            way: if outbound {
                CallWay::Outbound
            } else {
                CallWay::Inbound
            },
            phone: Some(format!("7495000{:04}", rng.u64(..12))),
            queue: (!outbound).then(|| format!("queue-{}", rng.u64(..3))),
            started_at: t(start),
            answered_at: answered.then(|| t(start + i64::from(wait))),
            ended_at: Some(t(end)),
            answered,
            wait_seconds: wait,
            talk_seconds: talk,
            hold_seconds: None,
            after_call_seconds: None,
            agents,
            lost_stage: lost.then_some(LostStage::Queue),
            recorded: answered,
            callback: None,
        };
        out.push((start, Item::Call(Box::new(record))));
        if rng.u64(..10) < 7 {
            let created = t(end);
            let direction = if outbound {
                CallDirection::Outbound
            } else {
                CallDirection::Inbound
            };
            let customer = format!("cus-{}", rng.u64(..12));
            let mut ticket = Ticket {
                assignee_id: Some(agent),
                missed: lost,
                missed_call_count: u32::from(lost),
                ..Ticket::open_call(format!("t-{i}"), customer, direction, created)
            };
            let mut at = end;
            for _ in 0..rng.u64(..3) {
                at += 60 + rng.u64(..2 * DAY as u64) as i64;
                ticket.activity_at.push(t(at));
            }
            if rng.u64(..3) != 0 {
                at += 60 + rng.u64(..DAY as u64) as i64;
                ticket.closings.push(t(at));
                if rng.u64(..5) == 0 {
                    at += 600;
                    ticket.reopened_at.push(t(at));
                    at += 600 + rng.u64(..DAY as u64) as i64;
                    ticket.closings.push(t(at));
                }
            }
            out.push((start, Item::Ticket(Box::new(ticket))));
        }
    }
    out
}

/// How the items are fed: commit size, and the watermark given before each
/// item (its start time shifted by `ahead` seconds; `None`: never).
struct Policy {
    batch_items: usize,
    ahead: Option<i64>,
}

fn load(items: &[(i64, Item)], policy: &Policy) -> (tempfile::TempDir, Views) {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::open(dir.path().join("views")).unwrap();
    let mut loader = BulkLoader::with_batch_items(&views, policy.batch_items);
    for (start, item) in items {
        if let Some(ahead) = policy.ahead {
            loader.advance(t(start + ahead));
        }
        match item {
            Item::Call(record) => loader.call((**record).clone()).unwrap(),
            Item::Ticket(ticket) => loader.ticket(ticket).unwrap(),
        }
    }
    loader.flush().unwrap();
    drop(loader);
    (dir, views)
}

#[test]
fn any_commit_size_and_watermark_store_the_same_bytes() {
    for seed in [1u64, 2, 3] {
        let items = items(seed);
        let (_dir, reference) = load(
            &items,
            &Policy {
                batch_items: usize::MAX,
                ahead: None,
            },
        );
        // The reference is not trivial: calls, tickets and callbacks (T0 is
        // 2024-04-05).
        let all = Period::parse("2024-03-01", "2024-06-01", "UTC").unwrap();
        let calls = reference.call_statistics(&all, true, false).unwrap();
        assert_eq!(
            calls.overall.get(domain::stats::calls::OFFERED)
                + calls.overall.get(domain::stats::calls::OUTBOUND),
            400
        );
        assert!(calls.agents.len() == 4 && calls.queues.len() == 3);
        let tickets = reference.ticket_statistics(&all, true, false).unwrap();
        assert!(!tickets.overall.is_empty() && !tickets.agents.is_empty());
        let called_back = (0..400)
            .filter_map(|i| reference.call_record(&format!("cc-{i}")).unwrap())
            .filter(|r| r.callback.is_some())
            .count();
        assert!(called_back > 10, "{called_back} callbacks");
        let expected = reference.dump().unwrap();

        for policy in [
            // Everything carried to the end, committed item by item.
            Policy {
                batch_items: 1,
                ahead: None,
            },
            // A watermark that holds: blocks written as the time passes them.
            Policy {
                batch_items: 1,
                ahead: Some(0),
            },
            Policy {
                batch_items: 7,
                ahead: Some(0),
            },
            Policy {
                batch_items: 60,
                ahead: Some(-DAY),
            },
            // A watermark that later items contradict (tickets edited days
            // later, callbacks): their sums merge into written blocks.
            Policy {
                batch_items: 5,
                ahead: Some(3 * DAY),
            },
            Policy {
                batch_items: 13,
                ahead: Some(365 * DAY),
            },
        ] {
            let (_dir, views) = load(&items, &policy);
            assert!(
                views.dump().unwrap() == expected,
                "seed {seed}: {} items per commit, watermark {:?} s ahead: other bytes",
                policy.batch_items,
                policy.ahead
            );
        }
    }
}
