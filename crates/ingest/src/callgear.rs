//! Lenient parsing of CallGear notification bodies (SPEC §1, docs/callgear.md).
//!
//! CallGear renders an admin-written template whose `{{variables}}` become JSON literals. Real
//! bodies drift from the ideal: numbers arrive as strings, booleans as `1`/`"0"`, lists as
//! comma-separated text, and an admin who quoted a variable (`"{{contact_full_name}}"`) produces
//! `""Ivan Petrov""`, which is not JSON at all. [`parse`] accepts all of that and refuses, with a
//! message naming the field, only what cannot be read without guessing.

use chrono::{LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use chrono_tz::Tz;
use domain::callgear::{CallInfo, ContactInfo, EmployeeInfo, RecordFileInfo};
use domain::{CallGearKind, CallGearNotification, Direction, Phone, Timestamp};
use serde_json::{Map, Number, Value};

/// Why a body could not be read. The HTTP layer answers `422` with the [`Display`] text and
/// quarantines the raw body.
///
/// [`Display`]: std::fmt::Display
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    #[error("body is empty")]
    Empty,
    #[error("body is not UTF-8: invalid byte sequence at byte offset {offset}")]
    NotUtf8 { offset: usize },
    #[error("body is not JSON: {detail}")]
    NotJson { detail: String },
    /// The plain parse failed, the quoted-variable repair changed something, and the repaired
    /// text still failed; `detail` (with its line and column) is about the repaired text.
    #[error("body is not JSON even after repairing quoted template variables: {detail}")]
    NotJsonAfterRepair { detail: String },
    #[error("body must be a JSON object, got {found}")]
    NotAnObject { found: &'static str },
    /// A field is present but unreadable, or `call_info.call_session_id` is missing.
    #[error("{field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

impl ParseError {
    /// The offending field path (`call_info.talk_time_duration`), if the error is about a field.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParseError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Reads one CallGear body posted to the suffix `kind`.
///
/// `tz` is the CallGear account's zone: `notification_time` without an offset is local time
/// there. The kind only labels the result; every field is read whatever the kind.
pub fn parse(kind: CallGearKind, body: &[u8], tz: Tz) -> Result<CallGearNotification, ParseError> {
    let object = read_object(body)?;
    let root = &object;
    let top = Some(root);

    let contact = section(root, "contact_info")?;
    let employee = section(root, "employee_info")?;
    let call = section(root, "call_info")?;
    let record = section(root, "call_record_file_info")?;

    Ok(CallGearNotification {
        kind,
        notification_name: text(top, "notification_name")?,
        virtual_phone_number: phone(top, "virtual_phone_number")?,
        notification_time: time(top, "notification_time", tz)?,
        external_id: text(top, "external_id")?,
        contact_info: ContactInfo {
            contact_phone_number: phone(contact, "contact_info.contact_phone_number")?,
            communication_number: phone(contact, "contact_info.communication_number")?,
            contact_id: text(contact, "contact_info.contact_id")?,
            contact_full_name: text(contact, "contact_info.contact_full_name")?,
        },
        employee_info: EmployeeInfo {
            employee_full_name: text(employee, "employee_info.employee_full_name")?,
            employee_id: id(employee, "employee_info.employee_id")?,
        },
        call_info: CallInfo {
            call_source: text(call, "call_info.call_source")?,
            direction: direction(call, "call_info.direction")?,
            call_session_id: call_session_id(call)?,
            scenario_name: text(call, "call_info.scenario_name")?,
            is_operator: flag(call, "call_info.is_operator")?,
            talk_time_duration_seconds: seconds(call, "call_info.talk_time_duration")?,
            total_time_duration_seconds: seconds(call, "call_info.total_time_duration")?,
            wait_time_duration_seconds: seconds(call, "call_info.wait_time_duration")?,
            tag_names: texts(call, "call_info.tag_names")?,
            is_lost: flag(call, "call_info.is_lost")?,
        },
        call_record_file_info: RecordFileInfo {
            file_link: text(record, "call_record_file_info.file_link")?,
            call_record_duration_seconds: seconds(
                record,
                "call_record_file_info.call_record_duration",
            )?,
            record_file_links: texts(record, "call_record_file_info.record_file_links")?,
        },
        leg_id: id(top, "leg_id")?,
        leg_ids: ids(top, "leg_ids")?,
        last_scenario_operation_name: text(top, "last_scenario_operation_name")?,
        group_ids: ids(top, "group_ids")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Bytes to a JSON object.

fn read_object(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    let text = std::str::from_utf8(body).map_err(|e| ParseError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    // A byte-order mark is not JSON, but some HTTP clients send one; it carries no meaning.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(plain) => match repair_quoted_values(text) {
            None => {
                return Err(ParseError::NotJson {
                    detail: plain.to_string(),
                })
            }
            Some(repaired) => serde_json::from_str::<Value>(&repaired).map_err(|e| {
                ParseError::NotJsonAfterRepair {
                    detail: e.to_string(),
                }
            })?,
        },
    };
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ParseError::NotAnObject {
            found: kind_of(&other),
        }),
    }
}

/// Undoes `""value""`, what CallGear renders for a quoted string variable (`"{{var}}"`), and
/// `""""`, a quoted empty string. Returns `None` when nothing needed repair.
///
/// A small state machine over bytes. Outside strings it tracks whether a JSON value may start
/// here (after `:`, `[` or `,` and whitespace). Only there does a `""` open a candidate, and
/// only if the matching `""` is found before any other quote or control character, skipping
/// `\` escapes, and is followed (after whitespace) by `,`, `}` or `]`. Everything else,
/// including ordinary strings with their escapes and a plain `""` value, is copied unchanged.
fn repair_quoted_values(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut value_may_start = false;
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                if value_may_start {
                    if let Some(close) = doubled_quote_close(bytes, i) {
                        out.push(b'"');
                        out.extend_from_slice(&bytes[i + 2..close]);
                        out.push(b'"');
                        i = close + 2;
                        changed = true;
                        value_may_start = false;
                        continue;
                    }
                }
                let end = string_end(bytes, i);
                out.extend_from_slice(&bytes[i..end]);
                i = end;
                value_may_start = false;
            }
            byte => {
                if !is_json_space(byte) {
                    value_may_start = matches!(byte, b':' | b'[' | b',');
                }
                out.push(byte);
                i += 1;
            }
        }
    }
    // Only ASCII quotes next to whole characters were removed, so this cannot fail.
    changed.then(|| String::from_utf8(out).ok()).flatten()
}

/// `bytes[open]` is a quote where a value may start. If it opens `""content""` followed by a
/// closing delimiter, returns the index of the closing `""`.
fn doubled_quote_close(bytes: &[u8], open: usize) -> Option<usize> {
    if bytes.get(open + 1) != Some(&b'"') || closes_value(bytes, open + 2) {
        // Not doubled, or an ordinary empty string `""`.
        return None;
    }
    let mut j = open + 2;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => {
                let doubled = bytes.get(j + 1) == Some(&b'"');
                return (doubled && closes_value(bytes, j + 2)).then_some(j);
            }
            byte if byte < 0x20 => return None,
            _ => j += 1,
        }
    }
    None
}

/// Whether, after whitespace, `bytes[from..]` continues with `,`, `}` or `]`.
fn closes_value(bytes: &[u8], from: usize) -> bool {
    let rest = bytes.get(from..).unwrap_or_default();
    let next = rest.iter().copied().find(|&b| !is_json_space(b));
    matches!(next, Some(b',' | b'}' | b']'))
}

/// `bytes[open]` opens an ordinary string: the index just past its closing quote (or the end).
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut j = open + 1;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    bytes.len()
}

fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

// ---------------------------------------------------------------------------------------------
// Fields. Each reader takes the object holding the field (`None` when the enclosing section is
// absent) and the field's full path; the last path segment is the key.

type Object = Map<String, Value>;

fn field_error(field: &'static str, problem: impl Into<String>) -> ParseError {
    ParseError::Field {
        field,
        problem: problem.into(),
    }
}

fn key_of(path: &'static str) -> &'static str {
    path.rsplit('.').next().unwrap_or(path)
}

/// `null`, a missing key, and the strings `""`, `"null"` (any case, any surrounding spaces)
/// all mean "no value".
fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => {
            let text = text.trim();
            text.is_empty() || text.eq_ignore_ascii_case("null")
        }
        _ => false,
    }
}

fn lookup<'a>(object: Option<&'a Object>, path: &'static str) -> Option<&'a Value> {
    object?.get(key_of(path)).filter(|value| !is_absent(value))
}

/// A nested object; absent or null means all its fields are absent.
fn section<'a>(root: &'a Object, name: &'static str) -> Result<Option<&'a Object>, ParseError> {
    match lookup(Some(root), name) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(field_error(
            name,
            format!("expected an object, got {}", shown(other)),
        )),
    }
}

fn text(object: Option<&Object>, path: &'static str) -> Result<Option<String>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    match value {
        Value::String(text) => Ok(Some(text.trim().to_owned())),
        Value::Number(number) => Ok(Some(number_text(number))),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        other => Err(field_error(
            path,
            format!("expected a string, got {}", shown(other)),
        )),
    }
}

fn seconds(object: Option<&Object>, path: &'static str) -> Result<Option<u32>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    let whole = whole_number(value);
    match whole.and_then(|n| u32::try_from(n).map_err(|_| Why::TooLarge)) {
        Ok(n) => Ok(Some(n)),
        Err(why) => Err(expected(path, "a whole number of seconds", value, why)),
    }
}

fn id(object: Option<&Object>, path: &'static str) -> Result<Option<u64>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    match whole_number(value) {
        Ok(n) => Ok(Some(n)),
        Err(why) => Err(expected(path, "a non-negative integer id", value, why)),
    }
}

fn call_session_id(call: Option<&Object>) -> Result<u64, ParseError> {
    const PATH: &str = "call_info.call_session_id";
    let Some(call) = call else {
        return Err(field_error(PATH, "required, but call_info is missing"));
    };
    match call.get(key_of(PATH)) {
        None => Err(field_error(PATH, "required, but missing")),
        Some(value) if is_absent(value) => Err(field_error(
            PATH,
            format!("required, but got {}", shown(value)),
        )),
        Some(value) => whole_number(value)
            .map_err(|why| expected(PATH, "a non-negative integer id", value, why)),
    }
}

fn flag(object: Option<&Object>, path: &'static str) -> Result<Option<bool>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    let read = match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(_) => match whole_number(value) {
            Ok(0) => Some(false),
            Ok(1) => Some(true),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    };
    read.map(Some).ok_or_else(|| {
        field_error(
            path,
            format!("expected true or false (or 1 or 0), got {}", shown(value)),
        )
    })
}

fn direction(object: Option<&Object>, path: &'static str) -> Result<Option<Direction>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    let read = match value {
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "in" | "incoming" | "inbound" => Some(Direction::In),
            "out" | "outgoing" | "outbound" => Some(Direction::Out),
            _ => None,
        },
        _ => None,
    };
    read.map(Some).ok_or_else(|| {
        field_error(
            path,
            format!("expected \"in\" or \"out\", got {}", shown(value)),
        )
    })
}

/// A string or a number; digits only. A string without digits (`"anonymous"`) is no number.
fn phone(object: Option<&Object>, path: &'static str) -> Result<Option<Phone>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    match value {
        Value::String(text) => Ok(Phone::normalize(text)),
        Value::Number(_) => match whole_number(value) {
            Ok(n) => Ok(Phone::normalize(&n.to_string())),
            Err(why) => Err(expected(path, "a phone number", value, why)),
        },
        other => Err(field_error(
            path,
            format!("expected a phone number, got {}", shown(other)),
        )),
    }
}

/// `null`, an array of strings/numbers, or one comma-separated string. Items are trimmed;
/// empty and null items are dropped.
fn texts(object: Option<&Object>, path: &'static str) -> Result<Vec<String>, ParseError> {
    let items = list_items(object, path)?;
    let count = items.len();
    let mut out = Vec::with_capacity(count);
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::String(text) => out.push(text),
            Value::Number(number) => out.push(number_text(&number)),
            other => {
                let problem = format!(
                    "expected a list of strings, but item {} of {count} is {}",
                    index + 1,
                    shown(&other)
                );
                return Err(field_error(path, problem));
            }
        }
    }
    Ok(out)
}

/// Like [`texts`], but every item must be a non-negative integer (or a string holding one).
fn ids(object: Option<&Object>, path: &'static str) -> Result<Vec<u64>, ParseError> {
    let items = list_items(object, path)?;
    let count = items.len();
    let mut out = Vec::with_capacity(count);
    for (index, item) in items.iter().enumerate() {
        match whole_number(item) {
            Ok(n) => out.push(n),
            Err(_) => {
                let problem = format!(
                    "expected a list of integer ids, but item {} of {count} is {}",
                    index + 1,
                    shown(item)
                );
                return Err(field_error(path, problem));
            }
        }
    }
    Ok(out)
}

/// The items of a list field: strings trimmed, empty strings and nulls dropped.
///
/// A string is split at commas, unless it is itself a JSON array (`"[1,2]"`, what a quoted
/// `"{{leg_ids}}"` renders), which is then read as that array. A lone number is a list of one.
fn list_items(object: Option<&Object>, path: &'static str) -> Result<Vec<Value>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(Vec::new());
    };
    let values = match value {
        Value::Array(values) => values.clone(),
        Value::String(text) => match serde_json::from_str::<Value>(text.trim()) {
            Ok(Value::Array(values)) => values,
            _ => text
                .split(',')
                .map(|piece| Value::String(piece.to_owned()))
                .collect(),
        },
        Value::Number(_) => vec![value.clone()],
        other => {
            let problem = format!(
                "expected a list (an array or a comma-separated string), got {}",
                shown(other)
            );
            return Err(field_error(path, problem));
        }
    };
    let kept = values.into_iter().filter_map(|value| match value {
        Value::Null => None,
        Value::String(text) => {
            let text = text.trim();
            (!text.is_empty()).then(|| Value::String(text.to_owned()))
        }
        other => Some(other),
    });
    Ok(kept.collect())
}

fn time(
    object: Option<&Object>,
    path: &'static str,
    tz: Tz,
) -> Result<Option<Timestamp>, ParseError> {
    let Some(value) = lookup(object, path) else {
        return Ok(None);
    };
    let read = match value {
        Value::String(text) => parse_time(text, tz),
        _ => Err(TimeError::Format),
    };
    read.map(Some).map_err(|why| {
        let problem = match why {
            TimeError::Format => format!(
                "expected a time like \"2024-04-05 12:00:01.123456\" (local time of the account, \
                 or RFC 3339 with an offset), got {}",
                shown(value)
            ),
            TimeError::NoSuchTime => format!("no such date or time: {}", shown(value)),
        };
        field_error(path, problem)
    })
}

// ---------------------------------------------------------------------------------------------
// Numbers.

/// Why a value is not a whole non-negative number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    NotANumber,
    Negative,
    Fractional,
    TooLarge,
}

/// A non-negative whole number: a JSON number (`12`, `12.0`, `1.2e1`) or a string holding one
/// (`"12"`, `" 12 "`).
fn whole_number(value: &Value) -> Result<u64, Why> {
    match value {
        Value::Number(number) => whole_from_number(number),
        Value::String(text) => match serde_json::from_str::<Value>(text.trim()) {
            Ok(Value::Number(number)) => whole_from_number(&number),
            _ => Err(Why::NotANumber),
        },
        _ => Err(Why::NotANumber),
    }
}

fn whole_from_number(number: &Number) -> Result<u64, Why> {
    if let Some(n) = number.as_u64() {
        return Ok(n);
    }
    if number.as_i64().is_some() {
        return Err(Why::Negative);
    }
    let float = number.as_f64().ok_or(Why::NotANumber)?;
    // `u64::MAX as f64` rounds up to exactly 2^64; every whole float below it fits a u64.
    let two_pow_64 = u64::MAX as f64;
    if float.is_nan() {
        Err(Why::NotANumber)
    } else if float < 0.0 {
        Err(Why::Negative)
    } else if float.fract() != 0.0 {
        Err(Why::Fractional)
    } else if float >= two_pow_64 {
        Err(Why::TooLarge)
    } else {
        // Lossless: `float` is a whole number in range.
        Ok(float as u64)
    }
}

fn expected(path: &'static str, what: &str, value: &Value, why: Why) -> ParseError {
    let reason = match why {
        Why::NotANumber => "",
        Why::Negative => " (negative)",
        Why::Fractional => " (fractional)",
        Why::TooLarge => " (too large)",
    };
    field_error(
        path,
        format!("expected {what}, got {}{reason}", shown(value)),
    )
}

/// A number as text for string fields: whole floats lose their `.0` (`4817.0` → `4817`).
fn number_text(number: &Number) -> String {
    match whole_from_number(number) {
        Ok(n) => n.to_string(),
        Err(_) => number.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Time.

enum TimeError {
    Format,
    NoSuchTime,
}

/// `YYYY-MM-DD hh:mm:ss[.f{1,9}]` (or `T` for the space), local time of `tz`, or with a
/// trailing `Z` / `±hh:mm` / `±hhmm` / `±hh` offset, which then wins over `tz`. Digits past
/// the sixth fractional one are dropped.
fn parse_time(text: &str, tz: Tz) -> Result<Timestamp, TimeError> {
    let bytes = text.trim().as_bytes();
    let (naive, rest) = parse_naive(bytes)?;
    let micros = match parse_offset(rest)? {
        Some(offset_seconds) => {
            naive.and_utc().timestamp_micros() - i64::from(offset_seconds) * 1_000_000
        }
        None => local_to_utc_micros(naive, tz),
    };
    Ok(Timestamp::from_micros(micros))
}

fn parse_naive(bytes: &[u8]) -> Result<(NaiveDateTime, &[u8]), TimeError> {
    let digits = |from: usize, len: usize| -> Result<u32, TimeError> {
        let slice = bytes.get(from..from + len).ok_or(TimeError::Format)?;
        slice.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit()
                .then(|| acc * 10 + u32::from(b - b'0'))
                .ok_or(TimeError::Format)
        })
    };
    let punct = |at: usize, allowed: &[u8]| -> Result<(), TimeError> {
        match bytes.get(at) {
            Some(b) if allowed.contains(b) => Ok(()),
            _ => Err(TimeError::Format),
        }
    };
    let year = digits(0, 4)?;
    punct(4, b"-")?;
    let month = digits(5, 2)?;
    punct(7, b"-")?;
    let day = digits(8, 2)?;
    punct(10, b" Tt")?;
    let hour = digits(11, 2)?;
    punct(13, b":")?;
    let minute = digits(14, 2)?;
    punct(16, b":")?;
    let second = digits(17, 2)?;
    let mut at = 19;
    let mut micro = 0;
    if bytes.get(at) == Some(&b'.') {
        let count = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if !(1..=9).contains(&count) {
            return Err(TimeError::Format);
        }
        let kept = count.min(6);
        micro = digits(at + 1, kept)? * 10u32.pow(6 - kept as u32);
        at += 1 + count;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day);
    // `second < 60`: chrono would read a leap second from `micro >= 1_000_000`, never from 60.
    let time = (second < 60).then(|| NaiveTime::from_hms_micro_opt(hour, minute, second, micro));
    match (date, time.flatten()) {
        (Some(date), Some(time)) => Ok((date.and_time(time), &bytes[at..])),
        _ => Err(TimeError::NoSuchTime),
    }
}

/// Seconds east of UTC, or `None` for no offset at all. One space may precede the offset.
fn parse_offset(rest: &[u8]) -> Result<Option<i32>, TimeError> {
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (sign, digits) = match rest {
        [] => return Ok(None),
        [b'Z' | b'z'] => return Ok(Some(0)),
        [b'+', digits @ ..] => (1, digits),
        [b'-', digits @ ..] => (-1, digits),
        _ => return Err(TimeError::Format),
    };
    let two = |pair: &[u8]| -> Result<i32, TimeError> {
        match pair {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                Ok(i32::from(a - b'0') * 10 + i32::from(b - b'0'))
            }
            _ => Err(TimeError::Format),
        }
    };
    let (hours, minutes) = match digits.len() {
        2 => (two(digits)?, 0),
        4 => (two(&digits[..2])?, two(&digits[2..])?),
        5 if digits[2] == b':' => (two(&digits[..2])?, two(&digits[3..])?),
        _ => return Err(TimeError::Format),
    };
    if hours > 23 || minutes > 59 {
        return Err(TimeError::Format);
    }
    Ok(Some(sign * (hours * 3600 + minutes * 60)))
}

/// Local wall-clock time in `tz` to UTC microseconds.
///
/// - Fold (the hour repeated when clocks go back): the earlier instant.
/// - Gap (the hour skipped when clocks go forward): the wall-clock time is read with the offset
///   in force just before the gap, so `02:30` on a spring-forward night in Europe/Berlin is
///   `01:30Z` (= `03:30` CEST), as if the clock had not been changed yet.
fn local_to_utc_micros(naive: NaiveDateTime, tz: Tz) -> i64 {
    let with_offset = |offset_seconds: i32| {
        naive.and_utc().timestamp_micros() - i64::from(offset_seconds) * 1_000_000
    };
    let seconds_east = |offset: <Tz as TimeZone>::Offset| offset.fix().local_minus_utc();
    match tz.offset_from_local_datetime(&naive) {
        LocalResult::Single(offset) => with_offset(seconds_east(offset)),
        LocalResult::Ambiguous(a, b) => {
            with_offset(seconds_east(a)).min(with_offset(seconds_east(b)))
        }
        LocalResult::None => with_offset(offset_before_gap(naive, tz)),
    }
}

/// The offset in force at the last wall-clock time before the gap containing `naive`, found by
/// stepping back an hour at a time (the longest gap on record, Samoa's skipped day, is 24 h).
fn offset_before_gap(naive: NaiveDateTime, tz: Tz) -> i32 {
    let mut probe = naive;
    for _ in 0..48 {
        probe -= chrono::TimeDelta::hours(1);
        match tz.offset_from_local_datetime(&probe) {
            LocalResult::Single(offset) => return offset.fix().local_minus_utc(),
            // The later of the two is the one in force right before the gap.
            LocalResult::Ambiguous(a, b) => {
                return a.fix().local_minus_utc().min(b.fix().local_minus_utc())
            }
            LocalResult::None => continue,
        }
    }
    // No zone has a gap this long; fall back to the offset right after it.
    tz.offset_from_utc_datetime(&naive).fix().local_minus_utc()
}

// ---------------------------------------------------------------------------------------------
// Messages.

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

/// A value as it appears in an error message: JSON text, cut at 60 characters.
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

#[cfg(test)]
mod tests {
    use super::repair_quoted_values;

    /// `expect`: the repaired text, or `None` when the repair must leave the text alone.
    fn check(input: &str, expect: Option<&str>) {
        assert_eq!(
            repair_quoted_values(input).as_deref(),
            expect,
            "input: {input}"
        );
    }

    #[test]
    fn repairs_quoted_values_where_a_value_starts() {
        check(r#"{"a":""Ivan Petrov""}"#, Some(r#"{"a":"Ivan Petrov"}"#));
        check(
            r#"{"a": ""Ivan"" , "b":1}"#,
            Some(r#"{"a": "Ivan" , "b":1}"#),
        );
        check("{\"a\":\n\t\"\"x\"\"\n}", Some("{\"a\":\n\t\"x\"\n}"));
        check(r#"{"a":[""x"",""y""]}"#, Some(r#"{"a":["x","y"]}"#));
        check(r#"{"a":""""}"#, Some(r#"{"a":""}"#));
        check(r#"{"a":"""" ,"b":""""}"#, Some(r#"{"a":"" ,"b":""}"#));
        // Escapes inside the doubled value survive, including escaped quotes.
        check(
            r#"{"a":""Ivan \"Vanya\" Petrov""}"#,
            Some(r#"{"a":"Ivan \"Vanya\" Petrov"}"#),
        );
        check(r#"{"a":""back\\""}"#, Some(r#"{"a":"back\\"}"#));
        // Commas and brackets inside the value do not close it.
        check(
            r#"{"a":""Petrov, Ivan [VIP]""}"#,
            Some(r#"{"a":"Petrov, Ivan [VIP]"}"#),
        );
        check(r#"{"a":""Иван Петров""}"#, Some(r#"{"a":"Иван Петров"}"#));
    }

    #[test]
    fn valid_json_is_never_changed() {
        // In valid JSON a `""` where a value starts is an empty string followed by `,` `}` `]`,
        // which never opens a candidate.
        let bodies = [
            include_str!("../tests/data/callgear/handset.json"),
            include_str!("../tests/data/callgear/recording.json"),
            r#"{"a":"","b":[""," ",""],"c":{"":""},"d":"\"\"x\"\"","e":"\\"}"#,
            r#"[["",""],{"k":""}, "" ,""]"#,
        ];
        for body in bodies {
            serde_json::from_str::<serde_json::Value>(body).unwrap();
            check(body, None);
        }
    }

    #[test]
    fn leaves_everything_else_alone() {
        // Nothing to do.
        check(r#"{"a":"x","b":""}"#, None);
        check(r#"{"a":"x",}"#, None);
        // Plain empty strings next to a repaired value are kept.
        check(
            r#"{"t":["",""],"n":""Ivan""}"#,
            Some(r#"{"t":["",""],"n":"Ivan"}"#),
        );
        check(r#"{"a":"", "b":""Ivan""}"#, Some(r#"{"a":"", "b":"Ivan"}"#));
        // Escaped doubled quotes inside ordinary strings never fire.
        check(
            r#"{"s":"he said :\"\"x\"\"}","n":""Ivan""}"#,
            Some(r#"{"s":"he said :\"\"x\"\"}","n":"Ivan"}"#),
        );
        check(
            r#"{"s":"\\","n":""Ivan""}"#,
            Some(r#"{"s":"\\","n":"Ivan"}"#),
        );
        check(r#"{"s":"x\"\"","t":1,}"#, None);
        // Keys are never repaired: after `{` no value starts, and after `,` the closing `""`
        // is followed by `:`.
        check(r#"{""a"":1}"#, None);
        check(r#"{"x":1,""a"":2}"#, None);
        // An unescaped quote inside means we cannot tell where the value ends.
        check(r#"{"a":""x"y""}"#, None);
        check(r#"{"a":""x", "b":""}"#, None);
        // The closing `""` must be followed by a delimiter.
        check(r#"{"a":""x"" y}"#, None);
        check(r#"{"a":""x""#, None);
        // A raw newline inside is not a rendered value.
        check("{\"a\":\"\"x\ny\"\"}", None);
        // Three quotes: not a doubled value.
        check(r#"{"a":"""}"#, None);
    }
}
