//! What turns inbound requests into events.

pub mod outbound_message;
pub mod webhook;
