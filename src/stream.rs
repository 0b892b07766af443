//! Recorded streams (CONTRACT.md): one JSON object per line.
//!
//! `{"at":RFC3339,"path":"/handset","body":{...} | "raw text","tz":"Europe/Moscow"?}`
//! `{"at":...,"graphql":"...","variables":{},"agent":"ID"}`
//! `{"at":...,"event":{...}}`
//! Blank lines and lines starting with `//` are skipped.

use domain::{CallGearKind, Timestamp};
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
    graphql: Option<serde::de::IgnoredAny>,
    event: Option<serde::de::IgnoredAny>,
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
}

/// Reads one line. `Ok(None)` for blank and comment lines; `Err` says what is
/// wrong with the line (the caller adds file and line number).
pub fn parse_line(line: &str) -> Result<Option<Item>, String> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with("//") {
        return Ok(None);
    }
    let line: Line<'_> =
        serde_json::from_str(trimmed).map_err(|e| format!("not valid NDJSON: {e}"))?;
    let at = line
        .at
        .as_deref()
        .ok_or("missing \"at\" (the RFC 3339 receive time)")?;
    let at = Timestamp::parse_rfc3339(at)
        .map_err(|e| format!("\"at\": {at:?} is not an RFC 3339 time ({e})"))?;
    if line.graphql.is_some() {
        return Err(
            "`graphql` lines need the read models, which this build does not have yet".into(),
        );
    }
    if line.event.is_some() {
        return Err("`event` lines (native events) are not supported by this build yet".into());
    }
    let path = line
        .path
        .as_deref()
        .ok_or("a line needs one of \"path\", \"graphql\" or \"event\"")?;
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
        } = item;
        assert_eq!(kind, CallGearKind::Handset);
        assert_eq!(raw, br#"{"a": 1}"#);
        assert_eq!(at.to_rfc3339(), "2024-04-05T09:00:01.250Z");
        assert_eq!(timezone, None);
        let Item::CallGear { raw, timezone, .. } = parse_line(
            r#"{"at":"2024-04-05T09:00:01Z","path":"end","tz":"Europe/Moscow","body":"{\"x\":\n1"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(raw, b"{\"x\":\n1");
        assert_eq!(timezone, Some(chrono_tz::Europe::Moscow));
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
            r#"{"at":"2024-04-05T09:00:01Z","graphql":"{ agents { id } }"}"#,
            "read models",
        );
        check(
            r#"{"at":"2024-04-05T09:00:01Z","path":"/end","tz":"Mars/Base","body":{}}"#,
            "IANA",
        );
    }
}
