//! Recorded streams (CONTRACT.md): one JSON object per line.
//!
//! `{"at":RFC3339,"path":"/handset","body":{...} | "raw text","tz":"Europe/Moscow"?}`
//! `{"at":...,"graphql":"...","variables":{},"agent":"ID"}`
//! `{"at":...,"event":{...} | "raw text"}`
//! `{"at":...,"quarantine":{"source","kind","reason","raw" | "raw_hex"}}`
//! Blank lines and lines starting with `//` are skipped.

use domain::{CallGearKind, Source, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// One line, as read.
#[derive(Deserialize)]
struct Line<'a> {
    at: Option<String>,
    path: Option<String>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    tz: Option<String>,
    graphql: Option<String>,
    variables: Option<serde_json::Value>,
    agent: Option<String>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    quarantine: Option<QuarantineFields>,
}

/// A quarantined delivery as `export` writes it: kept as it was, reason included.
#[derive(Deserialize, Serialize)]
pub struct QuarantineFields {
    /// `callgear` or `native`.
    pub source: String,
    /// The CallGear suffix or the contact-centre event type it came as.
    pub kind: String,
    pub reason: String,
    /// The exact raw bytes when they are UTF-8 ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// ... else the exact raw bytes in hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
}

impl QuarantineFields {
    pub fn new(source: Source, kind: &str, reason: &str, raw: &[u8]) -> QuarantineFields {
        let (raw, raw_hex) = match std::str::from_utf8(raw) {
            Ok(text) => (Some(text.to_string()), None),
            Err(_) => (None, Some(hex::encode(raw))),
        };
        QuarantineFields {
            source: source.as_str().to_string(),
            kind: kind.to_string(),
            reason: reason.to_string(),
            raw,
            raw_hex,
        }
    }
}

/// A quarantine line as `export` writes it.
#[derive(Serialize)]
pub struct QuarantineLine {
    pub at: String,
    pub quarantine: QuarantineFields,
}

/// A line that carries something to ingest.
#[derive(Debug)]
pub enum Item {
    CallGear {
        kind: CallGearKind,
        raw: Vec<u8>,
        at: Timestamp,
        timezone: Option<chrono_tz::Tz>,
    },
    /// An operation an agent UI performed at `at`.
    GraphQl {
        at: Timestamp,
        document: String,
        variables: Option<serde_json::Value>,
        agent: Option<String>,
    },
    /// A native event as `export` writes it: `raw` is the exact JSON text.
    Native { at: Timestamp, raw: Vec<u8> },
    /// A quarantined delivery as `export` writes it: back into quarantine as is.
    Quarantine {
        at: Timestamp,
        source: Source,
        kind: String,
        reason: String,
        raw: Vec<u8>,
    },
}

/// Reads one line. `Ok(None)` for blank and comment lines; `Err` says what is
/// wrong with the line (the caller adds file and line number).
pub fn parse_line(line: &str) -> Result<Option<Item>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with("//") {
        return Ok(None);
    }
    if !trimmed.starts_with('{') {
        return Err(
            "not valid NDJSON for a recorded stream: each line must be one JSON object".into(),
        );
    }
    let line: Line<'_> =
        serde_json::from_str(trimmed).map_err(|e| format!("not valid NDJSON: {e}"))?;
    let at = line
        .at
        .as_deref()
        .ok_or("missing \"at\" (the RFC 3339 receive time)")?;
    let at = Timestamp::parse_rfc3339(at)
        .map_err(|e| format!("\"at\": {at:?} is not an RFC 3339 time ({e})"))?;
    if let Some(document) = line.graphql {
        if let Some(variables) = &line.variables {
            if !variables.is_object() && !variables.is_null() {
                return Err("\"variables\" must be a JSON object".into());
            }
        }
        return Ok(Some(Item::GraphQl {
            at,
            document,
            variables: line.variables,
            agent: line.agent,
        }));
    }
    if let Some(fields) = line.quarantine {
        return quarantine_item(at, fields).map(Some);
    }
    if let Some(event) = line.event {
        let text = event.get();
        let raw = if text.starts_with('{') {
            text.as_bytes().to_vec()
        } else if text.starts_with('"') {
            // A string holds the exact raw bytes (e.g. a pretty-printed event).
            let unescaped: String =
                serde_json::from_str(text).map_err(|e| format!("\"event\": {e}"))?;
            unescaped.into_bytes()
        } else {
            return Err(
                "\"event\" must be a JSON object (a native event) or a string holding one".into(),
            );
        };
        return Ok(Some(Item::Native { at, raw }));
    }
    let path = line
        .path
        .as_deref()
        .ok_or("a line needs one of \"path\", \"graphql\", \"event\" or \"quarantine\"")?;
    let kind = CallGearKind::parse(path).ok_or_else(|| {
        format!(
            "\"path\": {path:?} is not a CallGear suffix (/handset, /endleg, /end, /recording, \
             /legout, /callout)"
        )
    })?;
    let body = line.body.ok_or("missing \"body\"")?;
    let text = body.get();
    let raw = if text.starts_with('"') {
        // A string holds the exact raw bytes (which may be malformed JSON).
        let unescaped: String = serde_json::from_str(text).map_err(|e| format!("\"body\": {e}"))?;
        unescaped.into_bytes()
    } else {
        text.as_bytes().to_vec()
    };
    let timezone = match line.tz.as_deref() {
        None => None,
        Some(name) => Some(
            name.parse::<chrono_tz::Tz>()
                .map_err(|_| format!("\"tz\": {name:?} is not an IANA time zone"))?,
        ),
    };
    Ok(Some(Item::CallGear {
        kind,
        raw,
        at,
        timezone,
    }))
}

fn quarantine_item(at: Timestamp, fields: QuarantineFields) -> Result<Item, String> {
    let source = match fields.source.as_str() {
        "callgear" => Source::CallGear,
        "native" => Source::Native,
        other => {
            return Err(format!(
                "\"quarantine\": source {other:?} is neither \"callgear\" nor \"native\""
            ))
        }
    };
    let raw = match (fields.raw, fields.raw_hex) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(hex)) => hex::decode(hex.trim())
            .map_err(|e| format!("\"quarantine\": \"raw_hex\" is not hex ({e})"))?,
        _ => return Err("\"quarantine\" needs one of \"raw\" or \"raw_hex\"".into()),
    };
    Ok(Item::Quarantine {
        at,
        source,
        kind: fields.kind,
        reason: fields.reason,
        raw,
    })
}

/// A native event line as `export` writes it: the event's exact JSON.
#[derive(Serialize)]
pub struct NativeLine<'a> {
    pub at: String,
    pub event: &'a RawValue,
}

/// A native event line whose raw bytes are not one line of JSON as they stand
/// (a pretty-printed event delivered over HTTP): the exact bytes as a string.
#[derive(Serialize)]
pub struct NativeTextLine<'a> {
    pub at: String,
    pub event: &'a str,
}

/// A CallGear line as `export` writes it: the body as a string of its exact bytes.
#[derive(Serialize)]
pub struct CallGearLine<'a> {
    pub at: String,
    pub path: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub tz: &'a str,
    pub body: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_object_and_string_bodies_exactly() {
        let item =
            parse_line(r#"{"at":"2024-04-05T09:00:01.250Z","path":"/handset","body":{"a": 1}}"#)
                .unwrap()
                .unwrap();
        let Item::CallGear {
            kind,
            raw,
            at,
            timezone,
        } = item
        else {
            panic!("not a CallGear line")
        };
        assert_eq!(kind, CallGearKind::Handset);
        assert_eq!(raw, br#"{"a": 1}"#);
        assert_eq!(at.to_rfc3339(), "2024-04-05T09:00:01.250Z");
        assert_eq!(timezone, None);
        let Some(Item::CallGear { raw, timezone, .. }) = parse_line(
            r#"{"at":"2024-04-05T09:00:01Z","path":"end","tz":"Europe/Moscow","body":"{\"x\":\n1"}"#,
        )
        .unwrap() else {
            panic!("not CallGear")
        };
        assert_eq!(raw, b"{\"x\":\n1");
        assert_eq!(timezone, Some(chrono_tz::Europe::Moscow));
    }

    #[test]
    fn reads_graphql_and_event_lines() {
        let line = r#"{"at":"2024-04-05T09:02:00Z","graphql":"mutation { x }","variables":{"a":1},"agent":"alice"}"#;
        let Some(Item::GraphQl {
            at,
            document,
            variables,
            agent,
        }) = parse_line(line).unwrap()
        else {
            panic!("not a graphql line")
        };
        assert_eq!(at.to_rfc3339(), "2024-04-05T09:02:00Z");
        assert_eq!(document, "mutation { x }");
        assert_eq!(variables, Some(serde_json::json!({"a": 1})));
        assert_eq!(agent.as_deref(), Some("alice"));
        let line = r#"{"at":"2024-04-05T09:02:00Z","event":{"type":"add_note", "x":1}}"#;
        let Some(Item::Native { raw, .. }) = parse_line(line).unwrap() else {
            panic!("not an event line")
        };
        assert_eq!(raw, br#"{"type":"add_note", "x":1}"#);
        let line = r#"{"at":"2024-04-05T09:02:00Z","event":"{\n  \"type\": \"call_ended\"\n}"}"#;
        let Some(Item::Native { raw, .. }) = parse_line(line).unwrap() else {
            panic!("not an event line")
        };
        assert_eq!(raw, b"{\n  \"type\": \"call_ended\"\n}");
    }

    #[test]
    fn skips_blank_and_comment_lines() {
        assert!(parse_line("").unwrap().is_none());
        assert!(parse_line("   ").unwrap().is_none());
        assert!(parse_line("// a comment").unwrap().is_none());
    }

    #[test]
    fn says_what_is_wrong() {
        let check = |line: &str, expect: &str| {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(expect), "{line}: {err}");
        };
        check("{not json", "not valid NDJSON");
        check(r#"{"path":"/end","body":{}}"#, "missing \"at\"");
        check(
            r#"{"at":"yesterday","path":"/end","body":{}}"#,
            "not an RFC 3339 time",
        );
        check(
            r#"{"at":"2024-04-05T09:00:01Z","path":"/hangup","body":{}}"#,
            "not a CallGear suffix",
        );
        check(
            r#"{"at":"2024-04-05T09:00:01Z","path":"/end"}"#,
            "missing \"body\"",
        );
        check(r#"{"at":"2024-04-05T09:00:01Z"}"#, "needs one of");
        check(
            r#"{"at":"2024-04-05T09:00:01Z","graphql":"{ a }","variables":[1]}"#,
            "variables",
        );
        check(
            r#"{"at":"2024-04-05T09:00:01Z","event":[1]}"#,
            "native event",
        );
        check(
            r#"{"at":"2024-04-05T09:00:01Z","path":"/end","tz":"Mars/Base","body":{}}"#,
            "IANA",
        );
    }
}
