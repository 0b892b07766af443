//! Ticket views and the indexes behind `tickets(filter, first, after)`.
//!
//! Each ticket has a view record (`T` + id: the full `Ticket` plus the phones it
//! is indexed under), one entry in the newest-first order (`o` + sort key) and
//! one entry per filter value (`i` + field + value + sort key). A commit
//! re-indexes the tickets the domain reported changed: it reads the committed
//! view, removes the entries that no longer hold and inserts the new ones.
//!
//! A query drives its scan by the most selective index the filter names
//! (customer, phone, assignee, status, missed, channel, else the order), checks
//! the remaining criteria on each candidate's view, counts every match and keeps
//! the first `first + 1` after the cursor.

use std::collections::BTreeSet;

use domain::{Channel, Phone, Ticket, TicketStatus};

use crate::codec::{self, Kind};
use crate::keys::{self, Field};
use crate::views::Views;
use crate::write::Writer;
use crate::Error;

/// The most nodes one `tickets` page returns; larger `first` values are clamped.
pub const TICKETS_FIRST_MAX: usize = 500;

/// The stored view of one ticket.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct TicketView {
    pub ticket: Ticket,
    /// The customer numbers of the ticket's calls (digits, sorted): the phone
    /// filter matches these, not the customer's current phones.
    pub phones: Vec<Phone>,
}

impl TicketView {
    fn sort_key(&self) -> Vec<u8> {
        keys::sort_key(self.ticket.updated_at, &self.ticket.id)
    }

    fn fields(&self) -> Vec<Field<'_>> {
        let t = &self.ticket;
        let mut fields = vec![
            Field::Status(t.status),
            Field::Customer(&t.customer_id),
            Field::Missed(t.missed),
            Field::Channel(t.channel),
        ];
        if let Some(assignee) = &t.assignee_id {
            fields.push(Field::Assignee(assignee));
        }
        fields.extend(self.phones.iter().map(Field::Phone));
        fields
    }

    /// Every index key of this ticket.
    fn index_keys(&self) -> BTreeSet<Vec<u8>> {
        let sort_key = self.sort_key();
        let mut out = BTreeSet::new();
        let mut order = keys::order_prefix().to_vec();
        order.extend_from_slice(&sort_key);
        out.insert(order);
        for field in self.fields() {
            let mut key = keys::index_prefix(&field);
            key.extend_from_slice(&sort_key);
            out.insert(key);
        }
        out
    }
}

/// Stages the change of one ticket's view and index entries.
pub(crate) fn stage(
    writer: &mut Writer<'_>,
    id: &str,
    old: Option<&TicketView>,
    new: Option<&TicketView>,
) -> Result<(), Error> {
    writer.move_index_entries(
        &old.map(TicketView::index_keys).unwrap_or_default(),
        &new.map(TicketView::index_keys).unwrap_or_default(),
    )?;
    match new {
        Some(view) => writer.insert(keys::ticket(id), codec::encode(Kind::Ticket, view)),
        None => writer.remove(keys::ticket(id)),
    }
}

/// GraphQL `TicketFilter`: every given criterion must hold. `status` matches any
/// of the listed statuses (an empty list matches nothing); `phone` may be
/// formatted any way and matches the customer numbers of the ticket's calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Option<Vec<TicketStatus>>,
    pub customer_id: Option<String>,
    pub phone: Option<String>,
    pub assignee_id: Option<String>,
    pub missed: Option<bool>,
    pub channel: Option<Channel>,
}

/// GraphQL `TicketConnection`.
pub type TicketPage = crate::keys::Page<Ticket>;

const CURSOR_PREFIX: &str = "t1.";

fn cursor(sort_key: &[u8]) -> String {
    keys::cursor(CURSOR_PREFIX, sort_key)
}

fn parse_cursor(text: &str) -> Result<Vec<u8>, Error> {
    keys::parse_cursor(CURSOR_PREFIX, text)
}

/// A resolved filter: typed criteria, or "matches nothing".
struct Criteria {
    status: Option<BTreeSet<TicketStatus>>,
    customer_id: Option<String>,
    phone: Option<Phone>,
    assignee_id: Option<String>,
    missed: Option<bool>,
    channel: Option<Channel>,
}

impl Criteria {
    fn resolve(filter: &TicketFilter) -> Option<Criteria> {
        let status = filter
            .status
            .as_ref()
            .map(|list| list.iter().copied().collect::<BTreeSet<_>>());
        if status.as_ref().is_some_and(BTreeSet::is_empty) {
            return None;
        }
        let phone = match &filter.phone {
            Some(text) => Some(Phone::normalize(text)?),
            None => None,
        };
        Some(Criteria {
            status,
            customer_id: filter.customer_id.clone(),
            phone,
            assignee_id: filter.assignee_id.clone(),
            missed: filter.missed,
            channel: filter.channel,
        })
    }

    fn count(&self) -> usize {
        usize::from(self.status.is_some())
            + usize::from(self.customer_id.is_some())
            + usize::from(self.phone.is_some())
            + usize::from(self.assignee_id.is_some())
            + usize::from(self.missed.is_some())
            + usize::from(self.channel.is_some())
    }

    /// The index prefixes whose entries are the candidates.
    fn sources(&self) -> Vec<Vec<u8>> {
        if let Some(id) = &self.customer_id {
            vec![keys::index_prefix(&Field::Customer(id))]
        } else if let Some(phone) = &self.phone {
            vec![keys::index_prefix(&Field::Phone(phone))]
        } else if let Some(id) = &self.assignee_id {
            vec![keys::index_prefix(&Field::Assignee(id))]
        } else if let Some(statuses) = &self.status {
            statuses
                .iter()
                .map(|s| keys::index_prefix(&Field::Status(*s)))
                .collect()
        } else if let Some(missed) = self.missed {
            vec![keys::index_prefix(&Field::Missed(missed))]
        } else if let Some(channel) = self.channel {
            vec![keys::index_prefix(&Field::Channel(channel))]
        } else {
            vec![keys::order_prefix().to_vec()]
        }
    }

    fn matches(&self, view: &TicketView) -> bool {
        let t = &view.ticket;
        self.status.as_ref().is_none_or(|s| s.contains(&t.status))
            && self
                .customer_id
                .as_ref()
                .is_none_or(|c| *c == t.customer_id)
            && self.phone.as_ref().is_none_or(|p| view.phones.contains(p))
            && self
                .assignee_id
                .as_ref()
                .is_none_or(|a| t.assignee_id.as_ref() == Some(a))
            && self.missed.is_none_or(|m| m == t.missed)
            && self.channel.is_none_or(|c| c == t.channel)
    }
}

impl Views {
    fn existing_view(&self, id: &str) -> Result<TicketView, Error> {
        self.ticket_view(id)?.ok_or_else(|| Error::Corrupt {
            key: format!("ticket index entry {id}"),
            reason: "no ticket view".into(),
        })
    }

    /// A page of tickets matching `filter`, newest first (`updated_at`
    /// descending, then id), after the cursor `after`. `first` is clamped to
    /// [`TICKETS_FIRST_MAX`]. Cursors name a place in that order, not an offset:
    /// a ticket updated between two pages moves to the front.
    pub fn tickets(
        &self,
        filter: &TicketFilter,
        first: usize,
        after: Option<&str>,
    ) -> Result<TicketPage, Error> {
        let first = first.min(TICKETS_FIRST_MAX);
        let after = after.map(parse_cursor).transpose()?;
        let Some(criteria) = Criteria::resolve(filter) else {
            return Ok(TicketPage::default());
        };
        let residual = criteria.count() > 1;
        let _read = self.read_gate();

        let mut total_count = 0u64;
        // The smallest `first + 1` sort keys after the cursor.
        let mut window: BTreeSet<Vec<u8>> = BTreeSet::new();
        for prefix in criteria.sources() {
            for entry in self.tree().scan_prefix(&prefix).keys() {
                let key = entry?;
                let sort_key = &key[prefix.len()..];
                if residual {
                    let id = keys::sort_key_id(sort_key).ok_or_else(|| bad_entry(&key))?;
                    if !criteria.matches(&self.existing_view(id)?) {
                        continue;
                    }
                }
                total_count += 1;
                if after.as_deref().is_none_or(|a| sort_key > a) {
                    window.insert(sort_key.to_vec());
                    if window.len() > first + 1 {
                        window.pop_last();
                    }
                }
            }
        }
        let has_next_page = window.len() > first;
        let mut nodes = Vec::with_capacity(first.min(window.len()));
        let mut end_cursor = None;
        for sort_key in window.iter().take(first) {
            let id = keys::sort_key_id(sort_key).ok_or_else(|| bad_entry(sort_key))?;
            nodes.push(self.existing_view(id)?.ticket);
            end_cursor = Some(cursor(sort_key));
        }
        Ok(TicketPage {
            nodes,
            total_count,
            has_next_page,
            end_cursor,
        })
    }

    /// Every ticket of a customer, newest first (an index prefix scan).
    pub fn customer_tickets(&self, customer_id: &str) -> Result<Vec<Ticket>, Error> {
        let _read = self.read_gate();
        let prefix = keys::index_prefix(&Field::Customer(customer_id));
        let mut out = Vec::new();
        for entry in self.tree().scan_prefix(&prefix).keys() {
            let key = entry?;
            let id = keys::sort_key_id(&key[prefix.len()..]).ok_or_else(|| bad_entry(&key))?;
            out.push(self.existing_view(id)?.ticket);
        }
        Ok(out)
    }
}

fn bad_entry(key: &[u8]) -> Error {
    Error::Corrupt {
        key: keys::describe(key),
        reason: "index entry without a ticket id".into(),
    }
}
