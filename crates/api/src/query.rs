use crate::types::{
    Agent, Call, CallDirection, CallOutcome, Channel, Customer, DateTime, Ticket, TicketStatus,
};
use crate::{Api, ReadError, TicketFilter as Filter, PAGE_SIZE_MAX};
use async_graphql::{Context, Error, InputObject, Object, SimpleObject, ID};
use domain::timeline::ArchiveId;

#[derive(Default)]
pub struct QueryRoot;

/// Every set field must match.
#[derive(InputObject, Default)]
pub struct TicketFilter {
    pub status: Option<Vec<TicketStatus>>,
    pub customer_id: Option<ID>,
    /// Any formatting; digits are compared.
    pub phone: Option<String>,
    pub assignee_id: Option<ID>,
    pub missed: Option<bool>,
    pub channel: Option<Channel>,
}

/// The archive search (`calls`): every set field must match.
#[derive(InputObject, Default)]
pub struct CallFilter {
    /// Any formatting; matches any customer number of the call (the caller,
    /// the callback number, the called number), digits compared.
    pub phone: Option<String>,
    /// An agent shown on the call's timeline (who talked, consulted, made a
    /// callback attempt or an outbound call, or deleted/cancelled it).
    pub agent_id: Option<ID>,
    /// Calls that started at or after this time.
    pub from: Option<DateTime>,
    /// Calls that started before this time.
    pub to: Option<DateTime>,
    /// Any of these directions (an empty list matches nothing).
    pub direction: Option<Vec<CallDirection>>,
    /// Any of these outcomes (an empty list matches nothing).
    pub outcome: Option<Vec<CallOutcome>>,
}

#[derive(SimpleObject)]
pub struct CallConnection {
    /// Newest start first (then by `sessionId`).
    pub nodes: Vec<Call>,
    /// Every call matching the filter, regardless of `first` and `after`.
    pub total_count: i32,
    pub page_info: PageInfo,
}

/// How far the read models are behind the log.
#[derive(SimpleObject)]
pub struct ProjectionStatus {
    pub name: String,
    /// The next log position this projection will apply.
    pub checkpoint: u64,
    /// Log head − checkpoint: events in the log not yet in this read model.
    pub lag: u64,
}

/// The service's state.
#[derive(SimpleObject)]
pub struct Status {
    /// The next log position: every position below it is durable.
    pub log_head: u64,
    pub projections: Vec<ProjectionStatus>,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct TicketConnection {
    pub nodes: Vec<Ticket>,
    pub total_count: i32,
    pub page_info: PageInfo,
}

fn api<'a>(ctx: &Context<'a>) -> &'a Api {
    ctx.data_unchecked::<Api>()
}

pub(crate) fn session_id(id: &ID) -> Result<u64, Error> {
    id.parse::<u64>().map_err(|_| {
        crate::bad_input(format!(
            "sessionId {:?} is not a CallGear call_session_id",
            id.as_str()
        ))
    })
}

#[Object]
impl QueryRoot {
    async fn ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Ticket>, ReadError> {
        Ok(api(ctx).read.ticket(&id)?.map(Ticket))
    }

    /// Newest first (by last update). `first` is 1–500. Counts `first` times its
    /// selection towards the complexity bound.
    #[graphql(complexity = "first.unwrap_or(50).clamp(1, 500) as usize * child_complexity")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilter>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TicketConnection, Error> {
        let first = usize::try_from(first.unwrap_or(50))
            .ok()
            .filter(|n| (1..=PAGE_SIZE_MAX).contains(n))
            .ok_or_else(|| {
                crate::bad_input(format!("first must be between 1 and {PAGE_SIZE_MAX}"))
            })?;
        let filter = filter.unwrap_or_default();
        let filter = Filter {
            status: filter
                .status
                .map(|s| s.into_iter().map(Into::into).collect()),
            customer_id: filter.customer_id.map(|id| id.0),
            phone: filter.phone,
            assignee_id: filter.assignee_id.map(|id| id.0),
            missed: filter.missed,
            channel: filter.channel.map(Into::into),
        };
        let page = api(ctx)
            .read
            .tickets(&filter, first, after.as_deref())
            .map_err(|e| {
                if e.bad_input {
                    crate::bad_input(e.message)
                } else {
                    Error::from(e)
                }
            })?;
        Ok(TicketConnection {
            nodes: page.nodes.into_iter().map(Ticket).collect(),
            total_count: i32::try_from(page.total_count).unwrap_or(i32::MAX),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            },
        })
    }

    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Customer>, ReadError> {
        Ok(api(ctx).read.customer(&id)?.map(Customer))
    }

    /// Any formatting of the number: `+7 (499) 372-06-92` finds `74993720692`.
    async fn customer_by_phone(
        &self,
        ctx: &Context<'_>,
        phone: String,
    ) -> Result<Option<Customer>, ReadError> {
        Ok(api(ctx).read.customer_by_phone(&phone)?.map(Customer))
    }

    /// A call by `sessionId`: CallGear's `call_session_id`, or `cc:<call_id>`
    /// for a call of the contact-centre feed.
    async fn call(&self, ctx: &Context<'_>, session_id: ID) -> Result<Option<Call>, Error> {
        let read = &api(ctx).read;
        match ArchiveId::parse(&session_id) {
            Some(ArchiveId::CallGear(session)) => Ok(read
                .call(session)?
                .map(|call| Call::CallGear(Box::new(call)))),
            Some(ArchiveId::Contact(_)) => Ok(read
                .archived_call(&session_id)?
                .map(|archive| Call::Contact(Box::new(archive)))),
            None => Err(crate::bad_input(format!(
                "sessionId {:?} is neither a CallGear call_session_id nor cc:<call_id>",
                session_id.as_str()
            ))),
        }
    }

    /// The call archive, both feeds, newest start first. `first` is 1–500.
    /// Counts `first` times its selection towards the complexity bound.
    #[graphql(complexity = "first.unwrap_or(50).clamp(1, 500) as usize * child_complexity")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        filter: Option<CallFilter>,
        #[graphql(default = 50)] first: Option<i32>,
        after: Option<String>,
    ) -> Result<CallConnection, Error> {
        let first = usize::try_from(first.unwrap_or(50))
            .ok()
            .filter(|n| (1..=PAGE_SIZE_MAX).contains(n))
            .ok_or_else(|| {
                crate::bad_input(format!("first must be between 1 and {PAGE_SIZE_MAX}"))
            })?;
        let filter = filter.unwrap_or_default();
        let filter = crate::CallFilter {
            phone: filter.phone,
            agent_id: filter.agent_id.map(|id| id.0),
            from: filter.from.map(|t| t.0),
            to: filter.to.map(|t| t.0),
            direction: filter
                .direction
                .map(|list| list.into_iter().map(Into::into).collect()),
            outcome: filter
                .outcome
                .map(|list| list.into_iter().map(Into::into).collect()),
        };
        let read = &api(ctx).read;
        let page = read.calls(&filter, first, after.as_deref()).map_err(|e| {
            if e.bad_input {
                crate::bad_input(e.message)
            } else {
                Error::from(e)
            }
        })?;
        let mut nodes = Vec::with_capacity(page.nodes.len());
        for summary in &page.nodes {
            let call = match ArchiveId::parse(&summary.id) {
                Some(ArchiveId::CallGear(session)) => read
                    .call(session)?
                    .map(|call| Call::CallGear(Box::new(call))),
                Some(ArchiveId::Contact(_)) => read
                    .archived_call(&summary.id)?
                    .map(|archive| Call::Contact(Box::new(archive))),
                None => None,
            };
            nodes.extend(call);
        }
        Ok(CallConnection {
            nodes,
            total_count: i32::try_from(page.total_count).unwrap_or(i32::MAX),
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            },
        })
    }

    /// The log head and each projection's checkpoint and lag.
    async fn status(&self, ctx: &Context<'_>) -> Status {
        let api = api(ctx);
        let log_head = api.log.head();
        let checkpoint = api.read.checkpoint();
        Status {
            log_head,
            projections: vec![ProjectionStatus {
                name: api.read.name().to_string(),
                checkpoint,
                lag: log_head.saturating_sub(checkpoint),
            }],
        }
    }

    /// Bearer tokens, without secrets (administrators only).
    async fn tokens(&self, ctx: &Context<'_>) -> Result<Vec<crate::auth::TokenInfo>, Error> {
        crate::mutation::require_admin(ctx)?;
        Ok(api(ctx).tokens.list())
    }

    async fn agents(&self, ctx: &Context<'_>) -> Result<Vec<Agent>, ReadError> {
        Ok(api(ctx).read.agents()?.into_iter().map(Agent).collect())
    }
}
