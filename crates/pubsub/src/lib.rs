//! Salesforce's Pub/Sub API, the gRPC interface through which change data
//! capture events and platform events are published and subscribed to.
//!
//! [`proto`] is the service as Salesforce publishes it (package
//! `eventbus.v1`), generated at build time for both sides: the client a
//! subscriber uses and the server the emulator answers with.

/// The `eventbus.v1` package: messages, the `PubSub` client and server.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    tonic::include_proto!("eventbus.v1");
}
