//! The store a command works on: the log, the projections that follow it, and the
//! GraphQL API over them.

use crate::datadir;
use anyhow::{Context, Result};
use api::{ReadError, ReadModel, TicketFilter, TicketPage};
use domain::command::Verdict;
use domain::{Agent, Call, Customer, NativeEvent, Ticket, TicketId};
use eventlog::{EventLog, SledLog};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub struct Store {
    pub log: Arc<SledLog>,
    pub projector: projections::Handle,
    pub tokens: Arc<api::auth::Tokens>,
    /// `CALLFOLD_CARD_FIELDS` (R3), default name, email, company.
    pub card_fields: Arc<Vec<api::subscription::CardFieldName>>,
}

impl Store {
    /// Opens the log, the views and the token file, and starts the projection
    /// worker. `admin_token`: the secret that authenticates as administrator over
    /// HTTP (command-line use needs none: access to the files is the authority).
    pub fn open(data_dir: &Path, admin_token: Option<&str>) -> Result<Store> {
        let log = Arc::new(datadir::open_log(data_dir)?);
        let views = datadir::open_views(data_dir)?;
        let dyn_log: Arc<dyn EventLog> = log.clone();
        let projector =
            projections::Projector::new(projections::Options::default(), views, dyn_log)
                .spawn()
                .context("cannot start the projection worker")?;
        let tokens = Arc::new(api::auth::Tokens::open(
            &data_dir.join("tokens.json"),
            admin_token,
        )?);
        let card_fields = match std::env::var("CALLFOLD_CARD_FIELDS") {
            Ok(text) if !text.trim().is_empty() => {
                api::subscription::CardFieldName::parse_list(&text)
                    .map_err(|e| anyhow::anyhow!("CALLFOLD_CARD_FIELDS: {e}"))?
            }
            _ => api::subscription::CardFieldName::DEFAULT.to_vec(),
        };
        Ok(Store {
            log,
            projector,
            tokens,
            card_fields: Arc::new(card_fields),
        })
    }

    pub fn api(&self) -> api::Api {
        api::Api {
            read: Arc::new(Read {
                handle: self.projector.clone(),
                live: std::sync::OnceLock::new(),
            }),
            log: self.log.clone(),
            tokens: self.tokens.clone(),
            card_fields: self.card_fields.clone(),
        }
    }

    /// Applies everything in the log to the read models.
    pub fn catch_up(&self) -> Result<u64> {
        Ok(self.projector.catch_up_blocking()?)
    }
}

/// `api::ReadModel` over the sled projections.
struct Read {
    handle: projections::Handle,
    /// The projector's batches, re-published as `api::LiveChanges` by a task
    /// started on the first subscription.
    live: std::sync::OnceLock<tokio::sync::broadcast::Sender<Arc<api::LiveChanges>>>,
}

impl Read {
    fn live(&self) -> &tokio::sync::broadcast::Sender<Arc<api::LiveChanges>> {
        self.live.get_or_init(|| {
            let (sender, _) = tokio::sync::broadcast::channel(projections::CHANGES_QUEUE_MAX);
            let mut batches = self.handle.changes();
            let forward = sender.clone();
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match batches.recv().await {
                        Ok(batch) => {
                            let _ = forward.send(Arc::new(api::LiveChanges {
                                checkpoint: batch.checkpoint,
                                tickets: batch.tickets.clone(),
                                calls: batch
                                    .calls
                                    .iter()
                                    .map(|c| api::CallActivity {
                                        position: c.position,
                                        session_id: c.session_id,
                                        kind: c.kind,
                                        employee_id: c.employee_id,
                                        at: c.at,
                                    })
                                    .collect(),
                                dashboard: batch.dashboard,
                            }));
                        }
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "live changes fell behind the projector");
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            });
            sender
        })
    }
}

fn read_error(e: projections::Error) -> ReadError {
    ReadError::failed(e)
}

impl ReadModel for Read {
    fn ticket(&self, id: &str) -> Result<Option<Ticket>, ReadError> {
        self.handle.views().ticket(id).map_err(read_error)
    }

    fn tickets(
        &self,
        filter: &TicketFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<TicketPage, ReadError> {
        let filter = projections::TicketFilter {
            status: filter.status.clone(),
            customer_id: filter.customer_id.clone(),
            phone: filter.phone.clone(),
            assignee_id: filter.assignee_id.clone(),
            missed: filter.missed,
            channel: filter.channel,
        };
        match self.handle.views().tickets(&filter, first, after) {
            Ok(page) => Ok(TicketPage {
                nodes: page.nodes,
                total_count: page.total_count,
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            }),
            Err(projections::Error::BadCursor(cursor)) => Err(ReadError::bad_input(format!(
                "`after` is not a cursor this API gave out: {cursor}"
            ))),
            Err(e) => Err(read_error(e)),
        }
    }

    fn customer(&self, id: &str) -> Result<Option<Customer>, ReadError> {
        self.handle.views().customer(id).map_err(read_error)
    }

    fn customer_by_phone(&self, phone: &str) -> Result<Option<Customer>, ReadError> {
        self.handle
            .views()
            .customer_by_phone(phone)
            .map_err(read_error)
    }

    fn customer_tickets(&self, customer_id: &str) -> Result<Vec<Ticket>, ReadError> {
        self.handle
            .views()
            .customer_tickets(customer_id)
            .map_err(read_error)
    }

    fn call(&self, session_id: u64) -> Result<Option<Call>, ReadError> {
        self.handle.views().call(session_id).map_err(read_error)
    }

    fn call_tickets(&self, session_id: u64) -> Result<Vec<TicketId>, ReadError> {
        self.handle
            .views()
            .call_tickets(session_id)
            .map_err(read_error)
    }

    fn archived_call(&self, id: &str) -> Result<Option<domain::CallArchive>, ReadError> {
        self.handle.views().archived_call(id).map_err(read_error)
    }

    fn calls(
        &self,
        filter: &api::CallFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<api::CallPage, ReadError> {
        let filter = projections::CallFilter {
            phone: filter.phone.clone(),
            agent_id: filter.agent_id.clone(),
            from: filter.from,
            to: filter.to,
            direction: filter.direction.clone(),
            outcome: filter.outcome.clone(),
        };
        match self.handle.views().calls(&filter, first, after) {
            Ok(page) => Ok(api::CallPage {
                nodes: page.nodes,
                total_count: page.total_count,
                has_next_page: page.has_next_page,
                end_cursor: page.end_cursor,
            }),
            Err(projections::Error::BadCursor(cursor)) => Err(ReadError::bad_input(format!(
                "`after` is not a cursor this API gave out: {cursor}"
            ))),
            Err(e) => Err(read_error(e)),
        }
    }

    fn agent(&self, id: &str) -> Result<Option<Agent>, ReadError> {
        self.handle.views().agent(id).map_err(read_error)
    }

    fn agents(&self) -> Result<Vec<Agent>, ReadError> {
        self.handle.views().agents().map_err(read_error)
    }

    fn validate(&self, action: &NativeEvent) -> Result<Verdict, ReadError> {
        self.handle.views().validate(action).map_err(read_error)
    }

    fn ticket_statistics(
        &self,
        period: &domain::stats::Period,
        by_agent: bool,
        hours: bool,
    ) -> Result<domain::stats::Breakdown, ReadError> {
        self.handle
            .views()
            .ticket_statistics(period, by_agent, hours)
            .map_err(read_error)
    }

    fn call_statistics(
        &self,
        period: &domain::stats::Period,
        by_dim: bool,
        hours: bool,
    ) -> Result<domain::stats::Breakdown, ReadError> {
        self.handle
            .views()
            .call_statistics(period, by_dim, hours)
            .map_err(read_error)
    }

    fn call_records(
        &self,
        from: domain::Timestamp,
        to: domain::Timestamp,
        first: usize,
        after: Option<&str>,
    ) -> Result<domain::stats::CallRecordPage, ReadError> {
        match self.handle.views().call_records(from, to, first, after) {
            Err(projections::Error::BadCursor(cursor)) => Err(ReadError::bad_input(format!(
                "`after` is not a cursor this API gave out: {cursor}"
            ))),
            other => other.map_err(read_error),
        }
    }

    fn dashboard(&self) -> Result<domain::stats::Dashboard, ReadError> {
        self.handle.views().dashboard().map_err(read_error)
    }

    fn name(&self) -> &'static str {
        projections::NAME
    }

    fn checkpoint(&self) -> u64 {
        self.handle.checkpoint()
    }

    fn changes(&self) -> tokio::sync::broadcast::Receiver<Arc<api::LiveChanges>> {
        self.live().subscribe()
    }

    fn wait_for(
        &self,
        position: u64,
        timeout_ms: u64,
    ) -> Pin<Box<dyn Future<Output = Result<(), ReadError>> + Send + '_>> {
        Box::pin(async move {
            // The handle waits for "the event at p applied"; we want "all below p".
            match position.checked_sub(1) {
                None => Ok(()),
                Some(last) => self
                    .handle
                    .wait_for(last, Duration::from_millis(timeout_ms))
                    .await
                    .map(drop)
                    .map_err(read_error),
            }
        })
    }
}
