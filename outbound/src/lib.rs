//! Salesforce Outbound Messages, read and answered.
//!
//! Salesforce posts an Outbound Message as a SOAP 1.1 `notifications`
//! envelope of up to 100 `Notification`s of one sObject type. [`parse`]
//! reads one with a streaming, namespace-tolerant reader (any prefixes, a
//! UTF-8 byte order mark, no XML declaration, everything on one line) and
//! refuses a DOCTYPE, so that no entity can be declared or expanded.
//! [`Message::events`] turns each notification into the JSON event a
//! workflow sees. [`ACK`] is the answer that tells Salesforce a message was
//! delivered, and [`fault`] the one that makes it send the message again.

mod envelope;
mod message;
mod parse;
mod value;

pub use envelope::{ACK, FaultCode, fault};
pub use message::{Message, NOTIFICATION_XML, Notification};
pub use parse::{MAX_NOTIFICATIONS, ParseError, parse};
pub use value::{FieldType, typed};
