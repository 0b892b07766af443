use crate::{callgear, feed};
use domain::{CallGearKind, ContactBody, ContactEvent, Event, NativeEvent, Source, Timestamp};
use eventlog::{AppendOutcome, EventLog, NewEvent, NewQuarantine, QuarantineRecord};
use std::sync::Arc;

/// Bodies larger than this are refused (HTTP 413) and never stored.
pub const BODY_BYTES_MAX: usize = 1 << 20;

/// How deliveries are read.
#[derive(Clone, Debug)]
pub struct Options {
    /// CallGear's account time zone: `notification_time` is local time there.
    pub timezone: chrono_tz::Tz,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timezone: chrono_tz::UTC,
        }
    }
}

/// One CallGear delivery as received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub kind: CallGearKind,
    pub raw: Vec<u8>,
    pub received_at: Timestamp,
    /// The zone to read local times in; `None` = the ingestor's configured zone.
    pub timezone: Option<chrono_tz::Tz>,
}

/// What became of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted(u64),
    Duplicate(u64),
    /// Could not be read even leniently; kept in quarantine under `id`.
    Quarantined {
        id: u64,
        reason: String,
        field: Option<String>,
    },
}

/// A delivery after parsing, before it is written.
#[derive(Debug)]
pub enum Prepared {
    Event(NewEvent),
    Quarantine {
        item: NewQuarantine,
        field: Option<String>,
    },
}

/// The content hash that recognises a repeated delivery: source, kind and the
/// parsed notification. Two bodies that differ only in whitespace, key order or
/// unknown extra fields are the same delivery.
pub fn dedupe_key(source: Source, kind: &str, event: &Event) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(source.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(kind.as_bytes());
    hasher.update(&[0]);
    // Serialising owned plain data to JSON cannot fail.
    let canonical = serde_json::to_vec(event).expect("events serialise to JSON");
    hasher.update(&canonical);
    *hasher.finalize().as_bytes()
}

/// The log entry for a native event (an agent action): its raw bytes are the
/// event's JSON, exactly as `export` writes it and `import` reads it back, so the
/// dedupe key of a re-imported event equals the original's.
pub fn native_event(event: NativeEvent, raw: Vec<u8>, received_at: Timestamp) -> NewEvent {
    let mut hasher = blake3::Hasher::new();
    hasher.update(Source::Native.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(&raw);
    NewEvent {
        received_at,
        source: Source::Native,
        kind: event.type_name().to_string(),
        dedupe_key: *hasher.finalize().as_bytes(),
        time_zone: String::new(),
        raw,
        event: Event::Native(Box::new(event)),
    }
}

/// Reads an agent action from its JSON.
pub fn parse_native(raw: &[u8]) -> Result<NativeEvent, String> {
    serde_json::from_slice(raw).map_err(|e| format!("not a native event: {e}"))
}

/// Reads a contact-centre event (format version 1, `domain::contact`) and
/// checks what serde cannot (version, empty or over-long ids).
pub fn parse_contact(raw: &[u8]) -> Result<ContactEvent, String> {
    feed::read_contact(raw).map_err(|e| e.reason)
}

/// A contact-centre event as delivered (a body, or one line of an NDJSON batch):
/// the log entry, or its quarantine record with the reason. The raw bytes are
/// kept exactly either way.
pub fn prepare_contact(raw: Vec<u8>, received_at: Timestamp) -> Prepared {
    match feed::read_contact(&raw) {
        Ok(event) => Prepared::Event(contact_event(event, raw, received_at)),
        Err(error) => Prepared::Quarantine {
            field: error.field,
            item: NewQuarantine {
                received_at,
                source: Source::Native,
                kind: error.kind.to_string(),
                reason: error.reason,
                raw,
            },
        },
    }
}

/// Whether a quarantine record holds a contact-centre event (source native, kind
/// a format-version-1 type or [`feed::UNREADABLE_KIND`]).
fn is_contact_record(record: &QuarantineRecord) -> bool {
    record.source == Source::Native
        && (record.kind == feed::UNREADABLE_KIND
            || ContactBody::TYPE_NAMES.contains(&record.kind.as_str()))
}

/// The log entry for a contact-centre event. Unlike an agent action, its dedupe
/// key is the parsed content (like a CallGear delivery): a sender that re-sends an
/// event with other whitespace or key order is recognised.
pub fn contact_event(event: ContactEvent, raw: Vec<u8>, received_at: Timestamp) -> NewEvent {
    let kind = event.type_name().to_string();
    let event = Event::Contact(Box::new(event));
    NewEvent {
        received_at,
        source: Source::Native,
        dedupe_key: dedupe_key(Source::Native, &kind, &event),
        kind,
        time_zone: String::new(),
        raw,
        event,
    }
}

/// Reads an `event` line of a recorded stream: a contact-centre event when its
/// `type` is one of `domain::contact`'s, else an agent action.
pub fn parse_event_line(raw: Vec<u8>, received_at: Timestamp) -> Result<NewEvent, String> {
    #[derive(serde::Deserialize)]
    struct Tag<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let tag: Tag = serde_json::from_slice(feed::without_bom(&raw))
        .map_err(|e| format!("not a native event: {e}"))?;
    let contact = tag
        .kind
        .as_deref()
        .is_some_and(|kind| ContactBody::TYPE_NAMES.contains(&kind));
    if contact {
        let event = parse_contact(&raw)?;
        Ok(contact_event(event, raw, received_at))
    } else {
        let event = parse_native(&raw)?;
        Ok(native_event(event, raw, received_at))
    }
}

/// Something to append: a CallGear delivery (parsed on the way) or a native event.
#[derive(Debug)]
pub enum Item {
    CallGear(Delivery),
    Native(NewEvent),
}

/// The ingestion service. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    log: Arc<dyn EventLog>,
    options: Options,
}

impl std::fmt::Debug for Ingestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingestor")
            .field("options", &self.options)
            .finish()
    }
}

impl Ingestor {
    pub fn new(log: Arc<dyn EventLog>, options: Options) -> Ingestor {
        Ingestor { log, options }
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Parses a delivery. Pure apart from reading the configured zone.
    pub fn prepare(&self, delivery: Delivery) -> Prepared {
        let tz = delivery.timezone.unwrap_or(self.options.timezone);
        let kind = delivery.kind.as_str();
        match callgear::parse(delivery.kind, &delivery.raw, tz) {
            Ok(notification) => {
                let event = Event::CallGear(Box::new(notification));
                Prepared::Event(NewEvent {
                    received_at: delivery.received_at,
                    source: Source::CallGear,
                    kind: kind.to_string(),
                    dedupe_key: dedupe_key(Source::CallGear, kind, &event),
                    time_zone: tz.name().to_string(),
                    raw: delivery.raw,
                    event,
                })
            }
            Err(error) => Prepared::Quarantine {
                field: error.field().map(str::to_string),
                item: NewQuarantine {
                    received_at: delivery.received_at,
                    source: Source::CallGear,
                    kind: kind.to_string(),
                    reason: error.to_string(),
                    raw: delivery.raw,
                },
            },
        }
    }

    /// Parses, then appends durably or quarantines durably.
    pub async fn deliver(&self, delivery: Delivery) -> Result<Outcome, eventlog::Error> {
        match self.prepare(delivery) {
            Prepared::Event(event) => {
                if let Event::CallGear(n) = &event.event {
                    tracing::Span::current().record("call_session_id", n.call_session_id());
                }
                let outcomes = self.log.append(vec![event], None).await?;
                Ok(outcome(outcomes[0]))
            }
            Prepared::Quarantine { item, field } => {
                let reason = item.reason.clone();
                let stored = self.log.quarantine(item).await?;
                Ok(Outcome::Quarantined {
                    id: stored.id(),
                    reason,
                    field,
                })
            }
        }
    }

    /// Delivers many at once from a plain thread (import): parsed deliveries go in
    /// one append request, so they share one group commit. Outcomes keep order.
    pub fn deliver_many_blocking(
        &self,
        deliveries: Vec<Delivery>,
    ) -> Result<Vec<Outcome>, eventlog::Error> {
        self.submit_many_blocking(deliveries)?.wait()
    }

    /// Like [`Ingestor::deliver_many_blocking`], but returns once the append is
    /// queued, so the caller can parse the next chunk while the log commits this
    /// one. Quarantined deliveries are stored before this returns.
    pub fn submit_many_blocking(
        &self,
        deliveries: Vec<Delivery>,
    ) -> Result<Submitted, eventlog::Error> {
        self.submit_items_blocking(deliveries.into_iter().map(Item::CallGear).collect())
    }

    /// Delivers contact-centre events (one request to the events endpoint): the
    /// readable ones go to the log in **one** append request (one group commit,
    /// positions in the given order), the others to the quarantine; answers once
    /// all of it is durable. Outcomes keep the order of `raws`, each with the
    /// event's `type` (or [`feed::UNREADABLE_KIND`]).
    ///
    /// On an error (e.g. the log's queue is full) part of it may be stored; sending
    /// the same events again is safe, since both the log and the quarantine
    /// recognise repeats.
    pub async fn deliver_contacts(
        &self,
        raws: Vec<Vec<u8>>,
        received_at: Timestamp,
    ) -> Result<Vec<(&'static str, Outcome)>, eventlog::Error> {
        let mut events = Vec::new();
        let mut slots = Vec::with_capacity(raws.len());
        let mut quarantines = Vec::new();
        let single = raws.len() == 1;
        for raw in raws {
            match feed::read_contact(&raw) {
                Ok(event) => {
                    if let (true, Some(call_id)) = (single, event.call_id()) {
                        tracing::Span::current().record("call_id", call_id);
                    }
                    slots.push(Slot::Appended(event.type_name()));
                    events.push(contact_event(event, raw, received_at));
                }
                Err(error) => {
                    slots.push(Slot::Quarantined {
                        kind: error.kind,
                        reason: error.reason.clone(),
                        field: error.field,
                    });
                    quarantines.push(NewQuarantine {
                        received_at,
                        source: Source::Native,
                        kind: error.kind.to_string(),
                        reason: error.reason,
                        raw,
                    });
                }
            }
        }
        // Every request is queued before any is awaited, so they share group commits.
        let append = (!events.is_empty()).then(|| self.log.append(events, None));
        let receipts: Vec<_> = quarantines
            .into_iter()
            .map(|item| self.log.quarantine(item))
            .collect();
        let appended = match append {
            Some(receipt) => receipt.await,
            None => Ok(Vec::new()),
        };
        let mut stored = Vec::with_capacity(receipts.len());
        let mut failure = None;
        for receipt in receipts {
            match receipt.await {
                Ok(outcome) => stored.push(outcome.id()),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        let appended = appended?;
        if let Some(e) = failure {
            return Err(e);
        }
        let mut appended = appended.into_iter();
        let mut stored = stored.into_iter();
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Appended(kind) => (
                    kind,
                    outcome(appended.next().expect("one outcome per appended event")),
                ),
                Slot::Quarantined {
                    kind,
                    reason,
                    field,
                } => (
                    kind,
                    Outcome::Quarantined {
                        id: stored.next().expect("one id per quarantined event"),
                        reason,
                        field,
                    },
                ),
            })
            .collect())
    }

    /// [`Ingestor::submit_many_blocking`] for a mix of CallGear deliveries and
    /// native events, appended in the given order.
    pub fn submit_items_blocking(&self, items: Vec<Item>) -> Result<Submitted, eventlog::Error> {
        let mut events = Vec::new();
        let mut slots = Vec::with_capacity(items.len());
        for item in items {
            let prepared = match item {
                Item::CallGear(delivery) => self.prepare(delivery),
                Item::Native(event) => Prepared::Event(event),
            };
            match prepared {
                Prepared::Event(event) => {
                    slots.push(None);
                    events.push(event);
                }
                Prepared::Quarantine { item, field } => {
                    let reason = item.reason.clone();
                    let stored = self.log.quarantine(item).wait()?;
                    slots.push(Some(Outcome::Quarantined {
                        id: stored.id(),
                        reason,
                        field,
                    }));
                }
            }
        }
        let receipt = (!events.is_empty()).then(|| self.log.append(events, None));
        Ok(Submitted { slots, receipt })
    }

    /// Re-reads quarantined CallGear deliveries and contact-centre events with the
    /// current parsers (`callgear::parse`, [`parse_contact`]). Those
    /// that now parse are appended (deduplicated) and leave the quarantine; the
    /// rest stay. Returns (record, outcome) for every record tried.
    pub fn reprocess_quarantine_blocking(
        &self,
        only: Option<u64>,
    ) -> Result<Vec<(QuarantineRecord, Outcome)>, eventlog::Error> {
        let mut results = Vec::new();
        for record in self.log.quarantined()? {
            if only.is_some_and(|id| id != record.id) {
                continue;
            }
            let prepared = if is_contact_record(&record) {
                prepare_contact(record.raw.clone(), record.received_at)
            } else if record.source == Source::CallGear {
                let Some(kind) = CallGearKind::parse(&record.kind) else {
                    continue;
                };
                self.prepare(Delivery {
                    kind,
                    raw: record.raw.clone(),
                    received_at: record.received_at,
                    timezone: None,
                })
            } else {
                continue;
            };
            let outcome = match prepared {
                Prepared::Event(event) => {
                    let appended = self.log.append(vec![event], None).wait()?;
                    self.log.remove_quarantined(record.id).wait()?;
                    outcome(appended[0])
                }
                Prepared::Quarantine { item, field } => Outcome::Quarantined {
                    id: record.id,
                    reason: item.reason,
                    field,
                },
            };
            results.push((record, outcome));
        }
        Ok(results)
    }
}

/// Where the outcome of one contact-centre event comes from.
enum Slot {
    Appended(&'static str),
    Quarantined {
        kind: &'static str,
        reason: String,
        field: Option<String>,
    },
}

/// A chunk of deliveries whose append is queued in the log.
#[must_use = "the outcomes are known only after `wait`"]
pub struct Submitted {
    /// `None` where the delivery went to the append, else its quarantine outcome.
    slots: Vec<Option<Outcome>>,
    receipt: Option<eventlog::Receipt<Vec<AppendOutcome>>>,
}

impl Submitted {
    /// Blocks until the append is durable; outcomes in delivery order.
    pub fn wait(self) -> Result<Vec<Outcome>, eventlog::Error> {
        let appended = match self.receipt {
            Some(receipt) => receipt.wait()?,
            None => Vec::new(),
        };
        let mut appended = appended.into_iter();
        Ok(self
            .slots
            .into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| {
                    outcome(appended.next().expect("one outcome per appended event"))
                })
            })
            .collect())
    }
}

fn outcome(appended: AppendOutcome) -> Outcome {
    match appended {
        AppendOutcome::Accepted(p) => Outcome::Accepted(p),
        AppendOutcome::Duplicate(p) => Outcome::Duplicate(p),
    }
}
