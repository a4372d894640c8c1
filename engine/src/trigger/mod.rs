//! What starts runs: inbound requests (webhooks, Outbound Messages) and
//! clocks (schedules, Salesforce polls).

pub mod cadence;
pub mod outbound_message;
pub mod salesforce_poll;
pub mod schedule;
pub(crate) mod timers;
pub mod webhook;

pub use timers::TimerStatus;
