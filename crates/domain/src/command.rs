//! Validating agent commands before they are recorded.
//!
//! [`validate`] answers "may this agent do this now?" from the current records,
//! without changing them. Two outcomes are kept apart by the types:
//! the outer `Result` carries the store's infrastructure error; the inner
//! [`Verdict`] is the domain's answer — the event to record, or a [`Rejection`]
//! (the user asked for something not allowed; retrying will not help).
//! Conflicts (a concurrent append) belong to the log, not to this crate.

use crate::agent::{AgentId, CustomerId, NativeEvent, SessionId, TicketId};
use crate::desk::{effective_filings, Channel};
use crate::ids;
use crate::phone::Phone;
use crate::state::{find_ticket, Store};

/// Why an agent's command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown call {0}")]
    UnknownCall(SessionId),
    #[error("unknown ticket {0}")]
    UnknownTicket(TicketId),
    #[error("unknown customer {0}")]
    UnknownCustomer(CustomerId),
    #[error("agent {agent} did not talk on call {session}")]
    NotYourCall { session: SessionId, agent: AgentId },
    #[error("call {0} was missed: there is no conversation to file")]
    MissedCall(SessionId),
    #[error("call {0} has ended; edit its ticket instead")]
    CallEnded(SessionId),
    #[error("call {session} is already filed by {agent} into ticket {ticket}")]
    AlreadyFiled {
        session: SessionId,
        agent: AgentId,
        ticket: TicketId,
    },
    #[error("call {0} has no customer phone number")]
    NoCustomer(SessionId),
    #[error("ticket {ticket} belongs to customer {owner}, not to the caller ({caller})")]
    OtherCustomersTicket {
        ticket: TicketId,
        owner: CustomerId,
        caller: CustomerId,
    },
    #[error("ticket {0} is not a CALLS ticket")]
    NotACallsTicket(TicketId),
    #[error("phone {0} already belongs to customer {1}")]
    AlreadyLinked(String, CustomerId),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0:?} is not a phone number: it has no digits")]
    NotAPhone(String),
}

/// The domain's answer to a command.
pub type Verdict = Result<NativeEvent, Rejection>;

/// Checks `action` against the current records. On success the returned event
/// is what to append (text fields trimmed).
pub fn validate<S: Store>(store: &S, action: &NativeEvent) -> Result<Verdict, S::Error> {
    let directory = store.directory()?;
    let mut action = action.clone();
    trim(&mut action);
    if action.agent_id().is_empty() {
        return Ok(Err(Rejection::Empty("agent id")));
    }
    if !matches!(action, NativeEvent::UpsertAgent(_)) && !directory.contains(action.agent_id()) {
        return Ok(Err(Rejection::UnknownAgent(action.agent_id().to_owned())));
    }
    let verdict = match &action {
        NativeEvent::UpsertAgent(upsert) if upsert.name.is_empty() => Err(Rejection::Empty("name")),
        NativeEvent::UpsertAgent(_) => Ok(()),
        NativeEvent::CreateTicketFromCall(e) => {
            check_filing(store, e.session_id, &e.agent_id, None)?
        }
        NativeEvent::SaveCallDraft(e) => check_filing(store, e.session_id, &e.agent_id, None)?,
        NativeEvent::AttachCallToTicket(e) => {
            check_filing(store, e.session_id, &e.agent_id, Some(&e.ticket_id))?
        }
        NativeEvent::LinkPhoneToCustomer(link) => {
            let customer = store.desk(&link.customer_id)?.and_then(|d| d.customer);
            let current = store.phone(&link.phone)?.map(|p| p.current_owner());
            match (customer, current) {
                (None, _) => Err(Rejection::UnknownCustomer(link.customer_id.clone())),
                (Some(_), Some(owner)) if owner == link.customer_id => {
                    Err(Rejection::AlreadyLinked(link.phone.display(), owner))
                }
                (Some(_), None) if ids::customer_for_phone(&link.phone) == link.customer_id => Err(
                    Rejection::AlreadyLinked(link.phone.display(), link.customer_id.clone()),
                ),
                _ => Ok(()),
            }
        }
        NativeEvent::UpsertCustomer(e) if e.customer_id.is_empty() => {
            Err(Rejection::Empty("customer id"))
        }
        NativeEvent::UpsertCustomer(_) => Ok(()),
        NativeEvent::SetTicketStatus(e) => known_ticket(store, &e.ticket_id)?,
        NativeEvent::SetTicketSubject(e) if e.subject.is_empty() => {
            Err(Rejection::Empty("subject"))
        }
        NativeEvent::SetTicketSubject(e) => known_ticket(store, &e.ticket_id)?,
        NativeEvent::SetTicketAssignee(e) => match &e.assignee_id {
            Some(assignee) if !directory.contains(assignee) => {
                Err(Rejection::UnknownAgent(assignee.clone()))
            }
            _ => known_ticket(store, &e.ticket_id)?,
        },
        NativeEvent::AddNote(e) if e.body.is_empty() => Err(Rejection::Empty("body")),
        NativeEvent::AddNote(e) => known_ticket(store, &e.ticket_id)?,
        NativeEvent::AddReply(e) if e.body.is_empty() => Err(Rejection::Empty("body")),
        NativeEvent::AddReply(e) => known_ticket(store, &e.ticket_id)?,
    };
    Ok(verdict.map(|()| action))
}

fn trim(action: &mut NativeEvent) {
    let trim_opt = |value: &mut Option<String>| {
        if let Some(text) = value {
            *text = text.trim().to_owned();
        }
    };
    match action {
        NativeEvent::UpsertAgent(e) => e.name = e.name.trim().to_owned(),
        NativeEvent::CreateTicketFromCall(e) => {
            trim_opt(&mut e.subject);
            trim_opt(&mut e.summary);
        }
        NativeEvent::SaveCallDraft(e) => {
            trim_opt(&mut e.subject);
            trim_opt(&mut e.summary);
        }
        NativeEvent::AttachCallToTicket(e) => trim_opt(&mut e.summary),
        NativeEvent::SetTicketSubject(e) => e.subject = e.subject.trim().to_owned(),
        NativeEvent::AddNote(e) => e.body = e.body.trim().to_owned(),
        NativeEvent::AddReply(e) => e.body = e.body.trim().to_owned(),
        NativeEvent::UpsertCustomer(e) => {
            trim_opt(&mut e.name);
            trim_opt(&mut e.email);
            trim_opt(&mut e.company);
        }
        NativeEvent::LinkPhoneToCustomer(_)
        | NativeEvent::SetTicketStatus(_)
        | NativeEvent::SetTicketAssignee(_) => {}
    }
}

fn known_ticket<S: Store>(store: &S, id: &str) -> Result<Result<(), Rejection>, S::Error> {
    Ok(match find_ticket(store, id)? {
        Some(_) => Ok(()),
        None => Err(Rejection::UnknownTicket(id.to_owned())),
    })
}

fn check_filing<S: Store>(
    store: &S,
    session: SessionId,
    agent: &str,
    attach_to: Option<&str>,
) -> Result<Result<(), Rejection>, S::Error> {
    let Some(record) = store.session(session)?.filter(|r| !r.facts.is_empty()) else {
        return Ok(Err(Rejection::UnknownCall(session)));
    };
    let call = record.call(&store.timeline()?);
    if call.missed() {
        return Ok(Err(Rejection::MissedCall(session)));
    }
    if !call.talked(agent) {
        return Ok(Err(Rejection::NotYourCall {
            session,
            agent: agent.to_owned(),
        }));
    }
    if call.ended() {
        return Ok(Err(Rejection::CallEnded(session)));
    }
    if let Some(filing) = effective_filings(&record, &call)
        .get(agent)
        .filter(|f| f.is_final())
    {
        let ticket = match filing {
            crate::agent::Filing::Attach(a) => a.ticket_id.clone(),
            _ => ids::call_ticket(session, agent),
        };
        return Ok(Err(Rejection::AlreadyFiled {
            session,
            agent: agent.to_owned(),
            ticket,
        }));
    }
    let Some(caller) = record.route.clone() else {
        return Ok(Err(Rejection::NoCustomer(session)));
    };
    if let Some(ticket_id) = attach_to {
        let Some(ticket) = find_ticket(store, ticket_id)? else {
            return Ok(Err(Rejection::UnknownTicket(ticket_id.to_owned())));
        };
        if ticket.channel != Channel::Calls {
            return Ok(Err(Rejection::NotACallsTicket(ticket_id.to_owned())));
        }
        if ticket.customer_id != caller {
            return Ok(Err(Rejection::OtherCustomersTicket {
                ticket: ticket_id.to_owned(),
                owner: ticket.customer_id,
                caller,
            }));
        }
    }
    Ok(Ok(()))
}

/// Parses a phone given by a user (for `linkPhoneToCustomer`).
pub fn parse_phone(text: &str) -> Result<Phone, Rejection> {
    Phone::normalize(text).ok_or_else(|| Rejection::NotAPhone(text.to_string()))
}
