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
}

impl Store {
    /// Opens the log, the views and the token file, and starts the projection
    /// worker. `admin_token`: the secret that authenticates as administrator over
    /// HTTP (command-line use needs none: access to the files is the authority).
    pub fn open(data_dir: &Path, admin_token: Option<&str>) -> Result<Store> {
        let log = Arc::new(datadir::open_log(data_dir)?);
        let views = projections::Views::open(data_dir.join("views")).with_context(|| {
            format!(
                "cannot open the read models in {}",
                data_dir.join("views").display()
            )
        })?;
        let dyn_log: Arc<dyn EventLog> = log.clone();
        let projector =
            projections::Projector::new(projections::Options::default(), views, dyn_log)
                .spawn()
                .context("cannot start the projection worker")?;
        let tokens = Arc::new(api::auth::Tokens::open(
            &data_dir.join("tokens.json"),
            admin_token,
        )?);
        Ok(Store {
            log,
            projector,
            tokens,
        })
    }

    pub fn api(&self) -> api::Api {
        api::Api {
            read: Arc::new(Read(self.projector.clone())),
            log: self.log.clone(),
            tokens: self.tokens.clone(),
        }
    }

    /// Applies everything in the log to the read models.
    pub fn catch_up(&self) -> Result<u64> {
        Ok(self.projector.catch_up_blocking()?)
    }
}

/// `api::ReadModel` over the sled projections.
struct Read(projections::Handle);

fn read_error(e: projections::Error) -> ReadError {
    ReadError::failed(e)
}

impl ReadModel for Read {
    fn ticket(&self, id: &str) -> Result<Option<Ticket>, ReadError> {
        self.0.views().ticket(id).map_err(read_error)
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
        match self.0.views().tickets(&filter, first, after) {
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
        self.0.views().customer(id).map_err(read_error)
    }

    fn customer_by_phone(&self, phone: &str) -> Result<Option<Customer>, ReadError> {
        self.0.views().customer_by_phone(phone).map_err(read_error)
    }

    fn customer_tickets(&self, customer_id: &str) -> Result<Vec<Ticket>, ReadError> {
        self.0
            .views()
            .customer_tickets(customer_id)
            .map_err(read_error)
    }

    fn call(&self, session_id: u64) -> Result<Option<Call>, ReadError> {
        self.0.views().call(session_id).map_err(read_error)
    }

    fn call_tickets(&self, session_id: u64) -> Result<Vec<TicketId>, ReadError> {
        self.0.views().call_tickets(session_id).map_err(read_error)
    }

    fn agents(&self) -> Result<Vec<Agent>, ReadError> {
        self.0.views().agents().map_err(read_error)
    }

    fn validate(&self, action: &NativeEvent) -> Result<Verdict, ReadError> {
        self.0.views().validate(action).map_err(read_error)
    }

    fn name(&self) -> &'static str {
        projections::NAME
    }

    fn checkpoint(&self) -> u64 {
        self.0.checkpoint()
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
                    .0
                    .wait_for(last, Duration::from_millis(timeout_ms))
                    .await
                    .map(drop)
                    .map_err(read_error),
            }
        })
    }
}
