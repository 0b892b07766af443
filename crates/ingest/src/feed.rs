//! The native contact-centre feed (`domain::contact`, format version 1): reading
//! one event with an error that names the problem, and cutting a request body
//! into events (one event, or an NDJSON batch). `docs/events.md` documents both.

use domain::contact::FORMAT_VERSION;
use domain::{ContactBody, ContactEvent, Timestamp};
use serde_json::Value;

/// Most events one request to the events endpoint may carry (`413` beyond).
pub const BATCH_EVENTS_MAX: usize = 1000;

/// The quarantine `kind` of an event whose `type` is missing or unknown.
pub const UNREADABLE_KIND: &str = "event";

/// Why an event could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactError {
    /// What is wrong, for people: names the field and the value where it can.
    pub reason: String,
    /// The field at fault, where one is (`call_id`, `v`, `type`, ...).
    pub field: Option<String>,
    /// The event's `type` when it is one of format version 1's, else
    /// [`UNREADABLE_KIND`]: the quarantine record's kind.
    pub kind: &'static str,
}

impl std::fmt::Display for ContactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A byte-order mark is not JSON, but some senders write one; it carries no meaning.
pub(crate) fn without_bom(raw: &[u8]) -> &[u8] {
    raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
}

/// The contact-centre `type` name equal to `name`, as a static string.
fn known_type(name: &str) -> Option<&'static str> {
    ContactBody::TYPE_NAMES
        .iter()
        .copied()
        .find(|known| *known == name)
}

/// Reads one contact-centre event: the envelope first (`v`, `type`, `at`, so a
/// newer version or an unknown type is named as such), then the typed body, then
/// [`ContactEvent::check`]. Unknown fields are ignored.
pub fn read_contact(raw: &[u8]) -> Result<ContactEvent, ContactError> {
    let fail = |kind: &'static str, field: Option<&str>, reason: String| ContactError {
        reason,
        field: field.map(str::to_string),
        kind,
    };
    let unreadable = |field: Option<&str>, reason: String| fail(UNREADABLE_KIND, field, reason);
    let text = std::str::from_utf8(without_bom(raw)).map_err(|e| {
        unreadable(
            None,
            format!(
                "event is not UTF-8: invalid byte sequence at byte offset {}",
                e.valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty() {
        return Err(unreadable(None, "event is empty".into()));
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| unreadable(None, format!("event is not JSON: {e}")))?;
    let Value::Object(object) = &value else {
        return Err(unreadable(
            None,
            format!("event must be a JSON object, got {}", kind_of(&value)),
        ));
    };

    let kind = match object.get("type") {
        None => {
            return Err(unreadable(
                Some("type"),
                "missing field `type` (the event type, e.g. \"call_started\")".into(),
            ))
        }
        Some(Value::String(name)) => known_type(name).ok_or_else(|| {
            unreadable(
                Some("type"),
                format!(
                    "unknown event type {} (format version {FORMAT_VERSION} has {})",
                    shown(&Value::String(name.clone())),
                    ContactBody::TYPE_NAMES.join(", ")
                ),
            )
        })?,
        Some(other) => {
            return Err(unreadable(
                Some("type"),
                format!("`type` must be a string, got {}", shown(other)),
            ))
        }
    };
    let fail = |field: Option<&str>, reason: String| fail(kind, field, reason);

    match object.get("v") {
        None => {
            return Err(fail(
                Some("v"),
                format!("missing field `v` (the format version, {FORMAT_VERSION})"),
            ))
        }
        Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
        Some(v @ Value::Number(_)) => {
            return Err(fail(
                Some("v"),
                format!(
                    "unsupported contact-centre event version {v} (this build reads \
                     {FORMAT_VERSION})"
                ),
            ))
        }
        Some(other) => {
            return Err(fail(
                Some("v"),
                format!(
                    "`v` must be the format version as a number ({FORMAT_VERSION}), got {}",
                    shown(other)
                ),
            ))
        }
    }

    match object.get("at") {
        None => {
            return Err(fail(
                Some("at"),
                format!("{kind}: missing field `at` (the RFC 3339 time of the event)"),
            ))
        }
        Some(Value::String(at)) => {
            if let Err(e) = Timestamp::parse_rfc3339(at) {
                return Err(fail(
                    Some("at"),
                    format!(
                        "{kind}: `at` {} is not an RFC 3339 time ({e})",
                        shown(&Value::String(at.clone()))
                    ),
                ));
            }
        }
        Some(Value::Number(n)) if n.is_i64() => {} // microseconds, as `domain::time` allows
        Some(other) => {
            return Err(fail(
                Some("at"),
                format!(
                    "{kind}: `at` must be an RFC 3339 time, got {}",
                    shown(other)
                ),
            ))
        }
    }

    let event = match <ContactEvent as serde::Deserialize>::deserialize(&value) {
        Ok(event) => event,
        Err(e) => {
            let message = e.to_string();
            let field = field_of_serde_error(&message, object);
            return Err(fail(field.as_deref(), format!("{kind}: {message}")));
        }
    };
    event.check().map_err(|message| {
        // `check` names the field first, in backticks.
        let field = message
            .strip_prefix('`')
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_string());
        fail(field.as_deref(), format!("{kind}: {message}"))
    })?;
    Ok(event)
}

/// The field a serde message is about, where it says: `missing field `x``, or a
/// value (`unknown variant `hung_up``) that one field of the object holds.
fn field_of_serde_error(message: &str, object: &serde_json::Map<String, Value>) -> Option<String> {
    let quoted = |prefix: &str| {
        let rest = message.split_once(prefix)?.1;
        rest.split_once('`').map(|(name, _)| name.to_string())
    };
    if let Some(field) = quoted("missing field `") {
        return Some(field);
    }
    let variant = quoted("unknown variant `")?;
    let mut holders = object
        .iter()
        .filter(|(key, value)| key.as_str() != "type" && value.as_str() == Some(&variant));
    match (holders.next(), holders.next()) {
        (Some((key, _)), None) => Some(key.clone()),
        _ => None,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value as an error message shows it: JSON text, cut at 60 characters.
fn shown(value: &Value) -> String {
    const MAX_CHARS: usize = 60;
    match value {
        Value::Array(_) | Value::Object(_) => kind_of(value).to_owned(),
        _ => {
            let text = value.to_string();
            match text.char_indices().nth(MAX_CHARS) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            }
        }
    }
}

/// One event of a request body: its bytes and, in a batch, its line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece<'a> {
    /// 1-based line of the body, counting blank lines; `None` for a one-event body.
    pub line: Option<usize>,
    /// The event's own bytes: the whole body, or the line without its `\n` / `\r\n`.
    pub raw: &'a [u8],
}

/// A request body, cut into events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// One event (possibly pretty-printed over several lines).
    Single(&'a [u8]),
    /// NDJSON: one event per non-blank line.
    Batch(Vec<Piece<'a>>),
}

/// A batch over [`BATCH_EVENTS_MAX`] events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyEvents {
    pub events: usize,
    pub limit: usize,
}

/// Cuts a body into events.
///
/// It is a batch when the sender says so (`ndjson`: an NDJSON content type), or
/// when it holds several non-blank lines, is not one JSON value as a whole, and
/// its first non-blank line is one (a batch whose first line is broken cannot be
/// told from a broken pretty-printed event: it is read as one event and
/// quarantined whole). Everything else is one event, including an empty body.
pub fn split_body(body: &[u8], ndjson: bool) -> Result<Body<'_>, TooManyEvents> {
    let mut pieces = Vec::new();
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let blank = without_bom(line).iter().all(u8::is_ascii_whitespace);
        if !blank {
            pieces.push(Piece {
                line: Some(index + 1),
                raw: line,
            });
        }
    }
    let batch = match pieces.len() {
        0 => false,
        1 => ndjson,
        _ => {
            ndjson
                || (!is_json_value(body)
                    && pieces.first().is_some_and(|first| is_json_value(first.raw)))
        }
    };
    if !batch {
        return Ok(Body::Single(body));
    }
    if pieces.len() > BATCH_EVENTS_MAX {
        return Err(TooManyEvents {
            events: pieces.len(),
            limit: BATCH_EVENTS_MAX,
        });
    }
    Ok(Body::Batch(pieces))
}

fn is_json_value(raw: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(without_bom(raw)).is_ok()
}

/// Whether `content_type` names NDJSON (`application/x-ndjson`, `application/jsonl`, ...).
pub fn is_ndjson_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines"
            | "application/json-seq"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"v":1,"type":"queue_entered","at":"2024-04-05T09:00:12Z","call_id":"c-1001","queue":"Support"}"#;

    fn error(raw: &str) -> ContactError {
        read_contact(raw.as_bytes()).unwrap_err()
    }

    #[test]
    fn reads_a_good_event_with_or_without_a_bom_and_extra_fields() {
        let event = read_contact(GOOD.as_bytes()).unwrap();
        assert_eq!(event.type_name(), "queue_entered");
        let bom = format!("\u{feff}{GOOD}");
        assert_eq!(read_contact(bom.as_bytes()).unwrap(), event);
        let extra = GOOD.replace("\"v\":1,", "\"v\":1,\"vendor\":{\"x\":[1]},");
        assert_eq!(read_contact(extra.as_bytes()).unwrap(), event);
    }

    #[test]
    fn errors_name_the_problem_the_field_and_the_kind() {
        let e = error(&GOOD.replace("\"v\":1", "\"v\":2"));
        assert!(e.reason.contains("version 2"), "{e:?}");
        assert_eq!((e.field.as_deref(), e.kind), (Some("v"), "queue_entered"));

        let e = error(&GOOD.replace("\"v\":1", "\"v\":\"1\""));
        assert_eq!(e.field.as_deref(), Some("v"), "{e:?}");

        let e = error(&GOOD.replace("\"v\":1,", ""));
        assert!(e.reason.contains("missing field `v`"), "{e:?}");

        let e = error(&GOOD.replace("queue_entered", "teleported"));
        assert!(
            e.reason.contains("unknown event type \"teleported\""),
            "{e:?}"
        );
        assert!(e.reason.contains("agent_presence"), "{e:?}");
        assert_eq!(
            (e.field.as_deref(), e.kind),
            (Some("type"), UNREADABLE_KIND)
        );

        let e = error(r#"{"v":1,"at":"2024-04-05T09:00:12Z","call_id":"x"}"#);
        assert_eq!(
            (e.field.as_deref(), e.kind),
            (Some("type"), UNREADABLE_KIND)
        );

        let e = error(&GOOD.replace(",\"call_id\":\"c-1001\"", ""));
        assert!(e.reason.contains("missing field `call_id`"), "{e:?}");
        assert_eq!(
            (e.field.as_deref(), e.kind),
            (Some("call_id"), "queue_entered")
        );

        let e = error(&GOOD.replace("c-1001", " "));
        assert!(e.reason.contains("`call_id` is empty"), "{e:?}");
        assert_eq!(e.field.as_deref(), Some("call_id"));

        let e = error(&GOOD.replace("2024-04-05T09:00:12Z", "yesterday"));
        assert!(
            e.reason.contains("\"yesterday\" is not an RFC 3339 time"),
            "{e:?}"
        );
        assert_eq!(e.field.as_deref(), Some("at"));

        let e = error(
            r#"{"v":1,"type":"queue_left","at":"2024-04-05T09:00:12Z","call_id":"c","queue":"q","reason":"hung_up"}"#,
        );
        assert!(e.reason.contains("unknown variant `hung_up`"), "{e:?}");
        assert_eq!(e.field.as_deref(), Some("reason"));

        for (raw, expect) in [
            ("", "empty"),
            ("  \n", "empty"),
            ("{\"v\":1,", "not JSON"),
            ("[1]", "an array"),
            ("null", "null"),
        ] {
            let e = error(raw);
            assert!(e.reason.contains(expect), "{raw:?}: {e:?}");
            assert_eq!(e.kind, UNREADABLE_KIND);
        }
        let e = read_contact(b"{\"v\":1,\"type\":\"call_ended\xff\"}").unwrap_err();
        assert!(e.reason.contains("not UTF-8"), "{e:?}");
    }

    #[test]
    fn one_event_whatever_its_layout() {
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(GOOD).unwrap())
                .unwrap();
        for body in [GOOD.to_string(), format!("{GOOD}\n"), pretty, String::new()] {
            assert_eq!(
                split_body(body.as_bytes(), false),
                Ok(Body::Single(body.as_bytes()))
            );
        }
        // A broken pretty-printed event stays one (unreadable) event.
        let broken = "{\n  \"v\": 1,\n  \"type\": \"call_ended\",\n";
        assert_eq!(
            split_body(broken.as_bytes(), false),
            Ok(Body::Single(broken.as_bytes()))
        );
    }

    #[test]
    fn ndjson_lines_with_their_numbers() {
        let body = format!("{GOOD}\r\n\n  \n{{broken\n{GOOD}");
        let Ok(Body::Batch(pieces)) = split_body(body.as_bytes(), false) else {
            panic!("not a batch")
        };
        let got: Vec<(Option<usize>, &[u8])> = pieces.iter().map(|p| (p.line, p.raw)).collect();
        assert_eq!(
            got,
            vec![
                (Some(1), GOOD.as_bytes()),
                (Some(4), &b"{broken"[..]),
                (Some(5), GOOD.as_bytes()),
            ]
        );
        // The sender may ask for a batch of one.
        assert!(matches!(
            split_body(GOOD.as_bytes(), true),
            Ok(Body::Batch(p)) if p.len() == 1
        ));
        assert!(is_ndjson_content_type(
            "application/x-ndjson; charset=utf-8"
        ));
        assert!(is_ndjson_content_type("Application/JSONL"));
        assert!(!is_ndjson_content_type("application/json"));
    }

    /// docs/events.md shows every type with an example; every example reads, and
    /// the errors it quotes are the ones given.
    #[test]
    fn the_documented_examples_read() {
        let doc = include_str!("../../../docs/events.md");
        let mut in_json = false;
        let mut seen = std::collections::BTreeSet::new();
        for line in doc.lines() {
            if line.starts_with("```") {
                in_json = line == "```json";
                continue;
            }
            if in_json && line.starts_with("{\"v\":") {
                let event = read_contact(line.as_bytes())
                    .unwrap_or_else(|e| panic!("docs/events.md: {line}: {e}"));
                seen.insert(event.type_name());
            }
        }
        let all: std::collections::BTreeSet<&str> = ContactBody::TYPE_NAMES.into_iter().collect();
        assert_eq!(seen, all, "types without an example in docs/events.md");

        let quoted = |example: &str| {
            let error = read_contact(example.as_bytes()).unwrap_err();
            assert!(doc.contains(&error.reason), "{}", error.reason);
            error
        };
        let missing = quoted(
            r#"{"v":1,"type":"queue_left","at":"2024-04-05T09:00:40Z","call_id":"c-1001","queue":"Support"}"#,
        );
        assert!(doc.contains(&format!(
            "\"field\":\"{}\"",
            missing.field.as_deref().unwrap()
        )));
        quoted(r#"{"v":2,"type":"queue_left","at":"2024-04-05T09:00:40Z","call_id":"c-1001"}"#);
    }

    #[test]
    fn a_batch_has_a_bound() {
        let at_limit = vec![GOOD; BATCH_EVENTS_MAX].join("\n");
        assert!(matches!(
            split_body(at_limit.as_bytes(), false),
            Ok(Body::Batch(p)) if p.len() == BATCH_EVENTS_MAX
        ));
        let over = vec![GOOD; BATCH_EVENTS_MAX + 1].join("\n");
        assert_eq!(
            split_body(over.as_bytes(), false),
            Err(TooManyEvents {
                events: BATCH_EVENTS_MAX + 1,
                limit: BATCH_EVENTS_MAX
            })
        );
    }
}
