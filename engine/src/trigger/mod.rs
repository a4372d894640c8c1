//! What turns inbound requests into events.

pub mod webhook;
