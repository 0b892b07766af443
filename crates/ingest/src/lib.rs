//! Webhook ingestion.

pub mod callgear;
