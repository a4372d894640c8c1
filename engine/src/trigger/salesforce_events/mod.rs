//! The Salesforce events trigger: change data capture and platform events
//! received through Salesforce's Pub/Sub API (gRPC), one run per event.
//!
//! A subscription asks for at most `batch` events (Salesforce's flow
//! control); each response's events are stored as runs in one durable
//! write with the latest replay id, and only then are as many more asked
//! for. A restart, a dropped stream or a refused token resumes right after
//! the stored replay id (the token renewed first); a replay id Salesforce
//! refuses (expired or unknown) is handled by `on_lost_position` and
//! reported. Events carry their id as the dedupe key, so an event received
//! twice runs once.

mod config;
mod decode;
mod runner;
mod validate;

pub use config::{EventStart, KIND, MAX_EVENTS_BATCH, OnLostPosition, SalesforceEventsTrigger};
pub(crate) use validate::validate;
