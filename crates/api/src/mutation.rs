//! Mutations: agent actions recorded as native events in the log.

use crate::auth::{Role, TokenInfo};
use crate::query::session_id;
use crate::types::{Agent, Customer, Message, Ticket, TicketStatus};
use crate::{Actor, Api, WAIT_FOR_PROJECTION_MS_MAX};
use async_graphql::{Context, Error, ErrorExtensions, Object, ID};
use domain::agent::{
    AddNote, AddReply, AttachCallToTicket, CreateTicketFromCall, LinkPhoneToCustomer,
    SaveCallDraft, SetTicketAssignee, SetTicketStatus, SetTicketSubject, UpsertAgent,
    UpsertCustomer,
};
use domain::{NativeEvent, Timestamp};
use eventlog::AppendOutcome;

pub struct MutationRoot;

/// Attempts at validate-then-append when the log moves in between.
const CONFLICT_RETRIES_MAX: usize = 8;

fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

fn actor<'a>(ctx: &Context<'a>) -> Result<&'a Actor, Error> {
    ctx.data::<Actor>()
        .map_err(|_| internal("no request context"))
}

fn forbidden(message: &str) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", "FORBIDDEN"))
}

/// Only administrators manage agents and tokens.
pub(crate) fn require_admin<'a>(ctx: &Context<'a>) -> Result<&'a Actor, Error> {
    let actor = actor(ctx)?;
    match actor.role {
        Role::Admin => Ok(actor),
        _ => Err(forbidden("only administrators may do this")),
    }
}

/// The acting agent, for actions an agent performs.
fn agent(ctx: &Context<'_>) -> Result<(String, Timestamp), Error> {
    let actor = actor(ctx)?;
    if actor.role == Role::Supervisor {
        return Err(forbidden("supervisors read everything but record nothing"));
    }
    match &actor.agent_id {
        Some(agent) => Ok((agent.clone(), actor.at)),
        None => Err(Error::new(
            "this mutation acts as an agent: authenticate as one (or pass `--agent ID` to \
             `callfold query`, or `\"agent\"` on a recorded `graphql` line)",
        )
        .extend_with(|_, e| e.set("code", "AGENT_REQUIRED"))),
    }
}

fn internal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "mutation failed");
    Error::new("internal error; nothing was recorded").extend_with(|_, e| e.set("code", "INTERNAL"))
}

/// Validates `action` against a read model that has caught up with the log,
/// appends it at exactly that head, and waits until the read model has applied
/// it. Returns the event as recorded.
async fn record(ctx: &Context<'_>, action: NativeEvent) -> Result<NativeEvent, Error> {
    let api = api(ctx);
    for _ in 0..CONFLICT_RETRIES_MAX {
        let head = api.log.head();
        api.read
            .wait_for(head, WAIT_FOR_PROJECTION_MS_MAX)
            .await
            .map_err(internal)?;
        let event = match api.read.validate(&action).map_err(internal)? {
            Ok(event) => event,
            Err(rejection) => {
                return Err(
                    Error::new(rejection.to_string()).extend_with(|_, e| e.set("code", "REJECTED"))
                );
            }
        };
        let raw = serde_json::to_vec(&event).map_err(internal)?;
        let new = ingest::native_event(event.clone(), raw, event.at());
        match api.log.append(vec![new], Some(head)).await {
            Ok(outcomes) => {
                let position = match outcomes[0] {
                    AppendOutcome::Accepted(p) | AppendOutcome::Duplicate(p) => p,
                };
                api.read
                    .wait_for(position + 1, WAIT_FOR_PROJECTION_MS_MAX)
                    .await
                    .map_err(internal)?;
                if let Ok(recorded) = ctx.data::<crate::RecordedPosition>() {
                    recorded.set(position);
                }
                return Ok(event);
            }
            Err(eventlog::Error::Conflict { .. }) => continue,
            Err(eventlog::Error::Overloaded) => {
                return Err(Error::new("the event log is overloaded; retry")
                    .extend_with(|_, e| e.set("code", "OVERLOADED")))
            }
            Err(e) => return Err(internal(e)),
        }
    }
    Err(Error::new("the log kept moving; retry").extend_with(|_, e| e.set("code", "CONFLICT")))
}

async fn ticket_after(ctx: &Context<'_>, id: &str) -> Result<Ticket, Error> {
    api(ctx)
        .read
        .ticket(id)?
        .map(Ticket)
        .ok_or_else(|| internal(format!("ticket {id} missing after its event was applied")))
}

/// A new token and its secret, shown this once.
#[derive(async_graphql::SimpleObject)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// The bearer secret. Store it now: only its hash is kept.
    pub secret: String,
}

#[Object]
impl MutationRoot {
    /// Creates a bearer token (administrators only). An agent token needs the
    /// agent it acts as.
    async fn create_token(
        &self,
        ctx: &Context<'_>,
        name: String,
        role: Role,
        agent_id: Option<ID>,
    ) -> Result<CreatedToken, Error> {
        let at = require_admin(ctx)?.at;
        let agent_id = match (role, agent_id) {
            (Role::Agent, Some(id)) => {
                if crate::types::agent_by_id(api(ctx), &id)?.is_none() {
                    return Err(Error::new(format!("unknown agent {}", id.as_str()))
                        .extend_with(|_, e| e.set("code", "REJECTED")));
                }
                Some(id.0)
            }
            (Role::Agent, None) => return Err(crate::bad_input("an agent token needs agentId")),
            (_, Some(_)) => return Err(crate::bad_input("only agent tokens name an agent")),
            (_, None) => None,
        };
        let (token, secret) = api(ctx)
            .tokens
            .create(name, role, agent_id, at)
            .map_err(internal)?;
        Ok(CreatedToken { token, secret })
    }

    /// Revokes a token (administrators only); `false` if there was none to revoke.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<bool, Error> {
        let at = require_admin(ctx)?.at;
        api(ctx).tokens.revoke(&id, at).map_err(internal)
    }

    /// Creates or updates an agent and the CallGear operators mapped to them (R1).
    async fn upsert_agent(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
        callgear_employee_ids: Vec<ID>,
    ) -> Result<Agent, Error> {
        let at = require_admin(ctx)?.at;
        let mut employee_ids = Vec::with_capacity(callgear_employee_ids.len());
        for id in &callgear_employee_ids {
            employee_ids.push(id.parse::<u64>().map_err(|_| {
                crate::bad_input(format!(
                    "callgearEmployeeIds: {:?} is not an employee id",
                    id.as_str()
                ))
            })?);
        }
        let action = NativeEvent::UpsertAgent(UpsertAgent {
            at,
            agent_id: id.0.clone(),
            name,
            callgear_employee_ids: employee_ids,
        });
        record(ctx, action).await?;
        crate::types::agent_by_id(api(ctx), &id)?
            .ok_or_else(|| internal(format!("agent {} missing after upsert", id.as_str())))
    }

    /// Files the acting agent's part of a running call into a new ticket (R4, R13).
    async fn create_ticket_from_call(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        subject: Option<String>,
        summary: Option<String>,
    ) -> Result<Ticket, Error> {
        let (agent_id, at) = agent(ctx)?;
        let session = self::session_id(&session_id)?;
        let action = NativeEvent::CreateTicketFromCall(CreateTicketFromCall {
            at,
            agent_id: agent_id.clone(),
            session_id: session,
            subject,
            summary,
        });
        record(ctx, action).await?;
        ticket_after(ctx, &domain::ids::call_ticket(session, &agent_id)).await
    }

    /// Files the acting agent's part of a running call into an existing CALLS
    /// ticket of the same customer (R4, R14).
    async fn attach_call_to_ticket(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        ticket_id: ID,
        summary: Option<String>,
    ) -> Result<Ticket, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::AttachCallToTicket(AttachCallToTicket {
            at,
            agent_id,
            session_id: self::session_id(&session_id)?,
            ticket_id: ticket_id.0.clone(),
            summary,
        });
        record(ctx, action).await?;
        ticket_after(ctx, &ticket_id).await
    }

    /// Saves a draft; at call end it becomes a ticket with this subject and summary (R4).
    async fn save_call_draft(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        subject: Option<String>,
        summary: Option<String>,
    ) -> Result<bool, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::SaveCallDraft(SaveCallDraft {
            at,
            agent_id,
            session_id: self::session_id(&session_id)?,
            subject,
            summary,
        });
        record(ctx, action).await?;
        Ok(true)
    }

    /// Adds a phone number to an existing customer; future calls resolve to them (R2).
    async fn link_phone_to_customer(
        &self,
        ctx: &Context<'_>,
        phone: String,
        customer_id: ID,
    ) -> Result<Customer, Error> {
        let (agent_id, at) = agent(ctx)?;
        let phone =
            domain::command::parse_phone(&phone).map_err(|r| crate::bad_input(r.to_string()))?;
        let action = NativeEvent::LinkPhoneToCustomer(LinkPhoneToCustomer {
            at,
            agent_id,
            phone,
            customer_id: customer_id.0.clone(),
        });
        record(ctx, action).await?;
        api(ctx)
            .read
            .customer(&customer_id)?
            .map(Customer)
            .ok_or_else(|| internal("customer missing after link"))
    }

    /// Creates or edits a customer profile; `null` keeps a field, `""` clears it.
    async fn upsert_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        email: Option<String>,
        company: Option<String>,
    ) -> Result<Customer, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::UpsertCustomer(UpsertCustomer {
            at,
            agent_id,
            customer_id: id.0.clone(),
            name,
            email,
            company,
        });
        record(ctx, action).await?;
        api(ctx)
            .read
            .customer(&id)?
            .map(Customer)
            .ok_or_else(|| internal("customer missing"))
    }

    /// OPEN, PENDING or CLOSED; back to OPEN counts as a reopening (R16).
    async fn set_ticket_status(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        status: TicketStatus,
    ) -> Result<Ticket, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::SetTicketStatus(SetTicketStatus {
            at,
            agent_id,
            ticket_id: ticket_id.0.clone(),
            status: status.into(),
        });
        record(ctx, action).await?;
        ticket_after(ctx, &ticket_id).await
    }

    /// Assigns the ticket to an agent, or unassigns it with `null` (R16).
    async fn set_ticket_assignee(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        assignee_id: Option<ID>,
    ) -> Result<Ticket, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::SetTicketAssignee(SetTicketAssignee {
            at,
            agent_id,
            ticket_id: ticket_id.0.clone(),
            assignee_id: assignee_id.map(|id| id.0),
        });
        record(ctx, action).await?;
        ticket_after(ctx, &ticket_id).await
    }

    /// Renames the ticket (R16).
    async fn set_ticket_subject(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        subject: String,
    ) -> Result<Ticket, Error> {
        let (agent_id, at) = agent(ctx)?;
        let action = NativeEvent::SetTicketSubject(SetTicketSubject {
            at,
            agent_id,
            ticket_id: ticket_id.0.clone(),
            subject,
        });
        record(ctx, action).await?;
        ticket_after(ctx, &ticket_id).await
    }

    /// An internal note (R16).
    async fn add_note(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        body: String,
    ) -> Result<Message, Error> {
        add_message(ctx, ticket_id, body, domain::MessageKind::Note).await
    }

    /// A reply to the customer (R16).
    async fn add_reply(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        body: String,
    ) -> Result<Message, Error> {
        add_message(ctx, ticket_id, body, domain::MessageKind::Reply).await
    }
}

/// Records a note or a reply and answers with the message as the ticket shows it.
async fn add_message(
    ctx: &Context<'_>,
    ticket_id: ID,
    body: String,
    kind: domain::MessageKind,
) -> Result<Message, Error> {
    let (agent_id, at) = agent(ctx)?;
    let ticket = ticket_id.0.clone();
    let action = match kind {
        domain::MessageKind::Reply => NativeEvent::AddReply(AddReply {
            at,
            agent_id,
            ticket_id: ticket,
            body,
        }),
        _ => NativeEvent::AddNote(AddNote {
            at,
            agent_id,
            ticket_id: ticket,
            body,
        }),
    };
    let recorded = record(ctx, action).await?;
    added_message(ctx, &ticket_id, &recorded, kind).await
}

async fn added_message(
    ctx: &Context<'_>,
    ticket_id: &str,
    recorded: &NativeEvent,
    kind: domain::MessageKind,
) -> Result<Message, Error> {
    let (at, author, body) = match recorded {
        NativeEvent::AddNote(n) => (n.at, &n.agent_id, &n.body),
        NativeEvent::AddReply(r) => (r.at, &r.agent_id, &r.body),
        _ => return Err(internal("not a message event")),
    };
    let ticket = ticket_after(ctx, ticket_id).await?;
    ticket
        .0
        .messages
        .into_iter()
        .rev()
        .find(|m| {
            m.kind == kind
                && m.created_at == at
                && m.author_id.as_ref() == Some(author)
                && m.body.as_ref() == Some(body)
        })
        .map(Message)
        .ok_or_else(|| internal("message missing after it was recorded"))
}
