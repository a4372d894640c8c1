//! What starts runs: requests (webhooks, Outbound Messages) and background
//! tasks (schedules, Salesforce polls, Salesforce events).
//!
//! Each trigger is a folder holding its definition (`config.rs`), its
//! validation, its runtime (an HTTP route, or a `BackgroundTrigger` task)
//! and its tests. A trigger is handed a narrow context, never the engine:
//! background triggers a `TriggerContext` (submit events with their state
//! writes in one durable write, read that state, report status), routes the
//! `TriggerHost` it is scoped from. [`Trigger`] is the closed enum that a
//! workflow's `"trigger"` is.

pub(crate) mod background;
mod context;
mod definition;
pub mod outbound_message;
pub mod salesforce_events;
pub mod salesforce_poll;
pub mod schedule;
pub mod webhook;

pub(crate) use background::{BackgroundSpec, Supervisor};
pub(crate) use context::TriggerHost;
pub(crate) use definition::validate;
pub use definition::{ManualTrigger, NoBody, Trigger};
