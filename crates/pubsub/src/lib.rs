//! Salesforce's Pub/Sub API, the gRPC interface through which change data
//! capture events and platform events are published and subscribed to.
//!
//! - [`proto`]: the service as Salesforce publishes it (package
//!   `eventbus.v1`), generated at build time for both sides: the client a
//!   subscriber uses and the server the emulator answers with;
//! - [`decode`]: an event's Avro payload as clean JSON, with a change
//!   event header's field bitmaps decoded ([`bitmap`]);
//! - [`client`]: a channel to an endpoint, and the metadata headers that
//!   authenticate each call.

pub mod bitmap;
pub mod client;
pub mod decode;

/// The `eventbus.v1` package: messages, the `PubSub` client and server.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    tonic::include_proto!("eventbus.v1");
}

pub use decode::{DecodeError, EventSchema};
