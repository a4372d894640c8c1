//! The Outbound Message trigger: `POST /salesforce/outbound/{workflow_id}`,
//! who may post, and the events a message becomes.
//!
//! A message is refused whole, with nothing stored, unless it comes to the
//! right URL (the trigger's token, when it has one) as XML, reads as an
//! Outbound Message ([`gust_outbound::parse`]), names an organization the
//! trigger allows, carries only the trigger's sObject, and, when the
//! trigger requires it, a session the org confirms. Each notification is
//! then one event, deduplicated by organization and notification id, so a
//! redelivered notification is acknowledged again and never runs twice.

mod config;
mod handler;
mod route;
mod validate;

pub use config::OutboundMessageTrigger;
pub use handler::DEFAULT_MAX_MESSAGE_BYTES;
pub(crate) use route::{with_token as route_with_token, without_token as route};
pub(crate) use validate::validate;
