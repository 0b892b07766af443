//! Webhook ingestion.
