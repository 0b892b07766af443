//! Live subscriptions (graphql-transport-ws at `/graphql/ws`): call events for
//! agent UIs with the customer card (R3), and ticket updates.
//!
//! Both follow the read models' committed batches, so an event is sent once
//! what it reports can be read: a client that gets `ANSWERED` can query the call.

use crate::types::{Agent, Call, DateTime, Ticket};
use crate::{Actor, Api, LiveChanges};
use async_graphql::{Context, Enum, Error, ErrorExtensions, Object, Subscription, ID};
use domain::CallGearKind;
use futures::{Stream, StreamExt};
use std::sync::Arc;
use tokio::sync::broadcast;

/// Customer fields a card can show (R3; default: name, e-mail, company).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CardFieldName {
    Name,
    Email,
    Company,
    Phones,
    Id,
}

impl CardFieldName {
    pub const DEFAULT: [CardFieldName; 3] = [
        CardFieldName::Name,
        CardFieldName::Email,
        CardFieldName::Company,
    ];

    /// `name,email,company` (case-insensitive, `e-mail` too).
    pub fn parse_list(text: &str) -> Result<Vec<CardFieldName>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| match name.to_ascii_lowercase().as_str() {
                "name" | "full_name" => Ok(CardFieldName::Name),
                "email" | "e-mail" => Ok(CardFieldName::Email),
                "company" => Ok(CardFieldName::Company),
                "phones" | "phone" => Ok(CardFieldName::Phones),
                "id" => Ok(CardFieldName::Id),
                other => Err(format!(
                    "unknown card field {other:?} (name, email, company, phones, id)"
                )),
            })
            .collect()
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallEventKind {
    /// The call rings at the agent (sources that report ringing only; CallGear
    /// does not).
    Ringing,
    /// The agent picked up (`/handset`).
    Answered,
    /// The call ended (`/end`).
    Ended,
}

/// What an unknown caller's card offers (R3).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CardAction {
    LinkToExistingCustomer,
    CreateTicket,
}

/// One shown field of a customer card.
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct CardField {
    pub field: CardFieldName,
    pub value: Option<String>,
}

/// The customer card shown with a call (R3).
#[derive(async_graphql::SimpleObject, Clone, Debug)]
pub struct CustomerCard {
    /// `false`: an unknown caller.
    pub known: bool,
    pub customer_id: Option<ID>,
    /// The caller's number, "+digits".
    pub phone: String,
    /// The configured fields, in configured order.
    pub fields: Vec<CardField>,
    /// For unknown callers: link to an existing customer, or create a ticket.
    pub actions: Vec<CardAction>,
}

/// A call event for an agent UI.
pub struct CallEvent {
    kind: CallEventKind,
    position: u64,
    at: domain::Timestamp,
    agent_id: Option<String>,
    call: domain::Call,
    card: CustomerCard,
}

#[Object]
impl CallEvent {
    async fn kind(&self) -> CallEventKind {
        self.kind
    }
    /// The log position of the notification (pass it as `X-Callfold-Min-Position`).
    async fn position(&self) -> u64 {
        self.position
    }
    async fn at(&self) -> DateTime {
        DateTime(self.at)
    }
    async fn session_id(&self) -> ID {
        ID(self.call.session_id.to_string())
    }
    async fn agent(&self, ctx: &Context<'_>) -> Result<Option<Agent>, crate::ReadError> {
        match &self.agent_id {
            Some(id) => crate::types::agent_by_id(ctx.data_unchecked::<Api>(), id),
            None => Ok(None),
        }
    }
    async fn call(&self) -> Call {
        Call::CallGear(Box::new(self.call.clone()))
    }
    async fn customer(&self) -> &CustomerCard {
        &self.card
    }
}

fn card(api: &Api, call: &domain::Call) -> Result<CustomerCard, crate::ReadError> {
    let phone = call
        .phone
        .as_ref()
        .map(domain::Phone::display)
        .unwrap_or_default();
    let customer = match &call.phone {
        Some(p) => api.read.customer_by_phone(p.digits())?,
        None => None,
    };
    let Some(customer) = customer else {
        return Ok(CustomerCard {
            known: false,
            customer_id: None,
            phone,
            fields: Vec::new(),
            actions: vec![CardAction::LinkToExistingCustomer, CardAction::CreateTicket],
        });
    };
    let fields = api
        .card_fields
        .iter()
        .map(|&field| CardField {
            field,
            value: match field {
                CardFieldName::Name => customer.name.clone(),
                CardFieldName::Email => customer.email.clone(),
                CardFieldName::Company => customer.company.clone(),
                CardFieldName::Phones => Some(
                    customer
                        .phones
                        .iter()
                        .map(domain::Phone::display)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                CardFieldName::Id => Some(customer.id.clone()),
            },
        })
        .collect();
    Ok(CustomerCard {
        known: true,
        customer_id: Some(ID(customer.id)),
        phone,
        fields,
        actions: Vec::new(),
    })
}

/// The call events one batch holds for `agent` (`None`: every agent's).
fn call_events(api: &Api, batch: &LiveChanges, agent: Option<&str>) -> Vec<CallEvent> {
    let mut events = Vec::new();
    for activity in &batch.calls {
        let kind = match activity.kind {
            CallGearKind::Handset => CallEventKind::Answered,
            CallGearKind::End => CallEventKind::Ended,
            _ => continue,
        };
        let Ok(Some(call)) = api.read.call(activity.session_id) else {
            continue;
        };
        let agent_id = match kind {
            // The agent who picked up this leg.
            CallEventKind::Answered => call
                .conversations
                .iter()
                .find(|c| Some(c.employee_id) == activity.employee_id)
                .and_then(|c| c.agent_id.clone()),
            _ => call.agent_id.clone(),
        };
        // An ended call concerns every agent who talked on it or was offered it.
        let concerned = |wanted: &str| match kind {
            CallEventKind::Ended => {
                call.conversations
                    .iter()
                    .any(|c| c.agent_id.as_deref() == Some(wanted))
                    || call
                        .offers
                        .iter()
                        .any(|o| o.agent_id.as_deref() == Some(wanted))
            }
            _ => agent_id.as_deref() == Some(wanted),
        };
        if agent.is_some_and(|wanted| !concerned(wanted)) {
            continue;
        }
        let Ok(card) = card(api, &call) else { continue };
        events.push(CallEvent {
            kind,
            position: activity.position,
            at: activity.at,
            agent_id,
            call,
            card,
        });
    }
    events
}

/// Turns the read model's batches into a stream of items, `select` choosing
/// what each batch yields. A subscriber that falls more than
/// `projections::CHANGES_QUEUE_MAX` batches behind skips the batches it missed.
fn follow<T: Send + 'static>(
    receiver: broadcast::Receiver<Arc<LiveChanges>>,
    select: impl Fn(&LiveChanges) -> Vec<T> + Send + Sync + 'static,
) -> impl Stream<Item = T> {
    let select = Arc::new(select);
    futures::stream::unfold(receiver, move |mut receiver| {
        let select = select.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(batch) => return Some((select(&batch), receiver)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a subscriber fell behind; batches skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    })
    .flat_map(futures::stream::iter)
}

fn forbidden(message: &str) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", "FORBIDDEN"))
}

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Calls answered by (and ended for) an agent, with the caller's customer
    /// card. An agent token hears its own calls only; administrators and
    /// supervisors may name any agent, or none for every call.
    async fn call_events(
        &self,
        ctx: &Context<'_>,
        agent_id: Option<ID>,
    ) -> Result<impl Stream<Item = CallEvent>, Error> {
        let actor = ctx.data::<Actor>()?;
        let agent = match (actor.role, agent_id) {
            (crate::auth::Role::Agent, None) => actor.agent_id.clone(),
            (crate::auth::Role::Agent, Some(id)) if actor.agent_id.as_deref() == Some(&*id) => {
                Some(id.0)
            }
            (crate::auth::Role::Agent, Some(_)) => {
                return Err(forbidden("an agent hears only their own calls"))
            }
            (_, id) => id.map(|id| id.0).or_else(|| actor.agent_id.clone()),
        };
        let api = ctx.data::<Api>()?.clone();
        let receiver = api.read.changes();
        Ok(follow(receiver, move |batch| {
            call_events(&api, batch, agent.as_deref())
        }))
    }

    /// The live dashboard: now, then again after every committed batch that
    /// changed it. Supervisors and administrators.
    async fn live_dashboard(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = crate::stats::LiveDashboard>, Error> {
        crate::stats::require_supervisor(ctx)?;
        let api = ctx.data::<Api>()?.clone();
        let receiver = api.read.changes();
        let first = api.read.dashboard().map_err(|e| Error::new(e.message))?;
        let updates = follow(receiver, move |batch| {
            if !batch.dashboard {
                return Vec::new();
            }
            api.read
                .dashboard()
                .ok()
                .map(crate::stats::LiveDashboard)
                .into_iter()
                .collect()
        });
        Ok(futures::stream::once(async move { crate::stats::LiveDashboard(first) }).chain(updates))
    }

    /// Tickets as they change: one ticket (`ticketId`), an agent's tickets
    /// (`assigneeId`), or all.
    async fn ticket_updates(
        &self,
        ctx: &Context<'_>,
        ticket_id: Option<ID>,
        assignee_id: Option<ID>,
    ) -> Result<impl Stream<Item = Ticket>, Error> {
        let api = ctx.data::<Api>()?.clone();
        let receiver = api.read.changes();
        Ok(follow(receiver, move |batch| {
            batch
                .tickets
                .iter()
                .filter(|id| {
                    ticket_id
                        .as_ref()
                        .is_none_or(|wanted| wanted.as_str() == id.as_str())
                })
                .filter_map(|id| api.read.ticket(id).ok().flatten())
                .filter(|t| {
                    assignee_id
                        .as_ref()
                        .is_none_or(|wanted| t.assignee_id.as_deref() == Some(wanted.as_str()))
                })
                .map(Ticket)
                .collect()
        }))
    }
}
