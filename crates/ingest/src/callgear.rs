//! TEMPORARY stub, replaced by the lenient parser from the `parser` branch.
use domain::{CallGearKind, CallGearNotification};

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct ParseError {
    message: String,
    field: Option<String>,
}

impl ParseError {
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

pub fn parse(
    kind: CallGearKind,
    body: &[u8],
    _tz: chrono_tz::Tz,
) -> Result<CallGearNotification, ParseError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ParseError {
        message: format!("body is not JSON: {e}"),
        field: None,
    })?;
    let id = value["call_info"]["call_session_id"]
        .as_u64()
        .ok_or_else(|| ParseError {
            message: "call_info.call_session_id: missing".into(),
            field: Some("call_info.call_session_id".into()),
        })?;
    Ok(CallGearNotification::new(kind, id))
}
