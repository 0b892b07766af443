//! Ticket statistics of the CALLS channel (SPEC §5, seed 002 "Учёт в статистике").
//!
//! A ticket is turned into [`StatEvent`]s, one chain per figure. A figure over
//! a period `[a, b)` counts each ticket once, at its first chain event in the
//! period: the sum, over events `e` with `a ≤ e.at < b`, of `e.value` where the
//! previous event of the chain (`e.prev`) is before `a` (or there is none).
//! [`figure`] is that definition, evaluated directly; the statistics read model
//! gives the same sums from pre-aggregated buckets.

use crate::desk::{Channel, MessageKind, Ticket};
use crate::session::CallDirection;
use crate::stats::agg::{Agg, MetricId};
use crate::stats::Dim;
use crate::time::Timestamp;

/// New tickets (inbound and outbound calls), at creation.
pub const NEW: MetricId = 1;
/// New tickets from inbound calls ("new customer tickets").
pub const NEW_FROM_CUSTOMERS: MetricId = 2;
/// Tickets created before the period and reopened in it.
pub const REOPENED: MetricId = 3;
/// Tickets in which agents acted (status, assignee, subject, note, reply).
pub const IN_WORK: MetricId = 4;
/// Tickets with a conversation recording (an agent's call message with a recording).
pub const WITH_REPLY: MetricId = 5;
/// Tickets closed in the period that have a conversation recording.
pub const CLOSED: MetricId = 6;
/// Agent messages (calls, replies) up to the closing, in the tickets counted by [`CLOSED`].
pub const REPLIES_TO_CLOSE: MetricId = 7;
/// Tickets closed in the period whose closing time differs from their creation time.
pub const CLOSE_TIMED: MetricId = 8;
/// Sum of their close times (closing − creation), milliseconds.
pub const CLOSE_MS: MetricId = 9;
/// Histogram of their close times (ladder bins, seconds rounded up).
pub const CLOSE_HIST: MetricId = 10;

/// One event of a statistics chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatEvent {
    pub at: Timestamp,
    /// The chain's previous element; `None`: the first. An event whose
    /// previous element is not before it never counts.
    pub prev: Option<Timestamp>,
    pub value: Agg,
}

impl StatEvent {
    /// Does this event count for a period starting at `from`?
    pub fn counts_from(&self, from: Timestamp) -> bool {
        self.prev.is_none_or(|p| p < from)
    }
}

fn one(metric: MetricId) -> Agg {
    let mut agg = Agg::new();
    agg.add(metric, 1);
    agg
}

/// Events of a chain of sorted times, each with `value`, the first one's
/// predecessor being `first_prev`.
fn chain(
    times: &mut [Timestamp],
    first_prev: Option<Timestamp>,
    value: impl Fn(Timestamp) -> Agg,
) -> Vec<StatEvent> {
    times.sort();
    let mut prev = first_prev;
    let mut out = Vec::with_capacity(times.len());
    for &at in times.iter() {
        out.push(StatEvent {
            at,
            prev,
            value: value(at),
        });
        prev = Some(prev.map_or(at, |p| p.max(at)));
    }
    out
}

/// The agent message kinds that count as replies: an agent's call message (a
/// conversation) and a written reply. Notes are internal; attempts reached nobody.
fn is_agent_reply(kind: MessageKind, author: Option<&str>) -> bool {
    author.is_some() && matches!(kind, MessageKind::Call | MessageKind::Reply)
}

/// Whether the ticket has a conversation recording (seed 002: "есть запись
/// разговора между пользователем и сотрудником").
pub fn has_conversation_recording(ticket: &Ticket) -> bool {
    ticket.messages.iter().any(|m| {
        m.kind == MessageKind::Call && m.author_id.is_some() && !m.recording_urls.is_empty()
    })
}

/// The dimensions a ticket counts in: all tickets, and its assignee's ("team leaders").
pub fn dims(ticket: &Ticket) -> Vec<Dim> {
    let mut dims = vec![Dim::All];
    if let Some(agent) = &ticket.assignee_id {
        dims.push(Dim::Agent(agent.clone()));
    }
    dims
}

/// Every statistics event of a ticket; none for other channels than CALLS.
pub fn events(ticket: &Ticket) -> Vec<StatEvent> {
    if ticket.channel != Channel::Calls {
        return Vec::new();
    }
    let mut out = Vec::new();
    let created = ticket.created_at;

    let mut new = one(NEW);
    if ticket.direction == CallDirection::Inbound {
        new.add(NEW_FROM_CUSTOMERS, 1);
    }
    out.push(StatEvent {
        at: created,
        prev: None,
        value: new,
    });

    // Reopenings count for tickets created before the period: the creation is
    // the chain's first element, and does not count itself.
    let mut reopened = ticket.reopened_at.clone();
    out.extend(chain(&mut reopened, Some(created), |_| one(REOPENED)));

    let mut activity = ticket.activity_at.clone();
    out.extend(chain(&mut activity, None, |_| one(IN_WORK)));

    let mut replies: Vec<Timestamp> = ticket
        .messages
        .iter()
        .filter(|m| {
            m.kind == MessageKind::Call && m.author_id.is_some() && !m.recording_urls.is_empty()
        })
        .map(|m| m.created_at)
        .collect();
    out.extend(chain(&mut replies, None, |_| one(WITH_REPLY)));

    let recorded = has_conversation_recording(ticket);
    let mut closings = ticket.closings.clone();
    out.extend(chain(&mut closings, None, |at| {
        let mut value = Agg::new();
        if recorded {
            value.add(CLOSED, 1);
            let replies = ticket
                .messages
                .iter()
                .filter(|m| is_agent_reply(m.kind, m.author_id.as_deref()) && m.created_at <= at)
                .count();
            value.add(REPLIES_TO_CLOSE, replies as i64);
        }
        // Equal creation and closing times are left out (the figure would be zero).
        if at > created {
            let micros = at.micros() - created.micros();
            value.add(CLOSE_TIMED, 1);
            value.add(CLOSE_MS, micros / 1_000);
            value.add_duration(CLOSE_HIST, (micros as u64).div_ceil(1_000_000));
        }
        value
    }));
    out.retain(|e| !e.value.is_empty());
    out
}

/// The definition of every figure over `[from, to)`: the sum of the values of
/// the events in the period whose chain predecessor is before the period.
pub fn figure<'a>(
    events: impl IntoIterator<Item = &'a StatEvent>,
    from: Timestamp,
    to: Timestamp,
) -> Agg {
    let mut sum = Agg::new();
    for e in events {
        if e.at >= from && e.at < to && e.counts_from(from) {
            sum.merge(&e.value, 1);
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::TicketStatus;
    use crate::desk::Message;
    use crate::testing::t;

    fn ticket() -> Ticket {
        Ticket {
            id: "call-1-alice".into(),
            subject: "s".into(),
            status: TicketStatus::Open,
            channel: Channel::Calls,
            customer_id: "cus-1".into(),
            assignee_id: Some("alice".into()),
            direction: CallDirection::Inbound,
            missed: false,
            missed_call_count: 0,
            created_at: t(100),
            updated_at: t(100),
            closed_at: None,
            reopened_at: Vec::new(),
            closings: Vec::new(),
            activity_at: Vec::new(),
            calls: vec![1],
            messages: Vec::new(),
        }
    }

    fn call_message(at: i64, recorded: bool) -> Message {
        Message {
            id: format!("m{at}"),
            kind: MessageKind::Call,
            author_id: Some("alice".into()),
            body: None,
            session_id: Some(1),
            recording_urls: if recorded {
                vec!["r".into()]
            } else {
                Vec::new()
            },
            in_progress: false,
            created_at: t(at),
        }
    }

    #[test]
    fn each_ticket_counts_once_per_figure_at_its_first_event_in_the_period() {
        let mut ticket = ticket();
        ticket.activity_at = vec![t(200), t(300), t(900)];
        let events = events(&ticket);
        let in_work = |from, to| figure(&events, t(from), t(to)).get(IN_WORK);
        assert_eq!(in_work(0, 1000), 1); // three actions, one ticket
        assert_eq!(in_work(250, 1000), 1); // 300 and 900 in the period
        assert_eq!(in_work(301, 899), 0);
        assert_eq!(in_work(200, 201), 1);
        assert_eq!(in_work(201, 300), 0);
    }

    #[test]
    fn reopened_counts_only_tickets_created_before_the_period() {
        let mut ticket = ticket();
        ticket.reopened_at = vec![t(500), t(150)];
        let events = events(&ticket);
        let reopened = |from, to| figure(&events, t(from), t(to)).get(REOPENED);
        assert_eq!(reopened(0, 1000), 0, "created inside the period");
        assert_eq!(
            reopened(101, 1000),
            1,
            "created before, reopened twice inside"
        );
        assert_eq!(reopened(200, 1000), 1);
        assert_eq!(reopened(600, 1000), 0);
    }

    #[test]
    fn closed_needs_a_recording_and_close_time_needs_different_times() {
        let mut ticket = ticket();
        ticket.closings = vec![t(100), t(400)];
        ticket.messages = vec![call_message(100, false)];
        let events = events(&ticket);
        let closed = figure(&events, t(0), t(1000));
        // The first closing in the period counts; it is at the creation time.
        assert_eq!(closed.get(CLOSED), 0, "no recording");
        assert_eq!(closed.get(CLOSE_TIMED), 0, "closed at creation: left out");
        let later = figure(&events, t(101), t(1000));
        assert_eq!(later.get(CLOSE_TIMED), 1);
        assert_eq!(later.get(CLOSE_MS), 300_000);
        assert_eq!(later.count_over(CLOSE_HIST, 299), 1);
        assert_eq!(later.count_over(CLOSE_HIST, 300), 0);

        ticket.messages = vec![call_message(100, true), call_message(350, true)];
        let events = super::events(&ticket);
        let later = figure(&events, t(101), t(1000));
        assert_eq!(later.get(CLOSED), 1);
        assert_eq!(later.get(REPLIES_TO_CLOSE), 2);
        assert_eq!(figure(&events, t(0), t(1000)).get(WITH_REPLY), 1);
    }

    #[test]
    fn new_tickets_split_inbound_from_outbound() {
        let mut ticket = ticket();
        let inbound = figure(&events(&ticket), t(0), t(101));
        assert_eq!((inbound.get(NEW), inbound.get(NEW_FROM_CUSTOMERS)), (1, 1));
        ticket.direction = CallDirection::Outbound;
        let outbound = figure(&events(&ticket), t(0), t(101));
        assert_eq!(
            (outbound.get(NEW), outbound.get(NEW_FROM_CUSTOMERS)),
            (1, 0)
        );
        assert!(figure(&events(&ticket), t(101), t(200)).is_empty());
        ticket.channel = Channel::Sms;
        assert!(events(&ticket).is_empty());
    }
}
