//! Placeholder: arrives with the read models (issue 3).
