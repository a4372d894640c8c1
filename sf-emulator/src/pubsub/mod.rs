//! Salesforce's Pub/Sub API, served over gRPC: each org's change events
//! (from its own record writes: create, update, delete and undelete) and
//! platform events (its seed's `__e` objects, published through REST or
//! the Publish call) on an event bus with replay ids and retention, and
//! the `eventbus.v1.PubSub` service in front of it, plaintext and over TLS
//! with a certificate it makes for itself.

mod bus;
mod encode;
mod layout;
mod service;
mod streams;
mod topic;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gust_pubsub::proto::pub_sub_server::PubSubServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use bus::{
    BusEvent, DEFAULT_CAPACITY, DEFAULT_RETENTION, EventBus, replay_bytes, replay_number,
};
pub use encode::{bitmap, bitmaps};
pub use layout::{Column, Layout, change_event_name};
pub use service::{MAX_REQUESTED, Service};
pub(crate) use streams::Stream;
pub use streams::{StreamStats, Streams};
pub use topic::Topic;

use crate::Emulator;

/// A random version 4 UUID.
pub(crate) fn random_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Where to serve the Pub/Sub API.
#[derive(Debug, Clone, Default)]
pub struct Listen {
    /// A plaintext address (port 0 for any free port).
    pub plaintext: Option<SocketAddr>,
    /// A TLS address, and the file to write the certificate to (PEM), for
    /// clients to trust.
    pub tls: Option<(SocketAddr, PathBuf)>,
}

/// The Pub/Sub API being served.
pub struct Serving {
    /// The plaintext endpoint, `http://host:port`.
    pub plaintext_url: Option<String>,
    /// The TLS endpoint, `https://localhost:port`.
    pub tls_url: Option<String>,
    /// The certificate the TLS endpoint presents, as PEM.
    pub certificate: Option<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Why the Pub/Sub API cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// An address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The certificate could not be made or written.
    #[error("cannot make the TLS certificate: {0}")]
    Certificate(String),
    /// The TLS set-up failed.
    #[error("cannot set up TLS: {0}")]
    Tls(tonic::transport::Error),
}

/// Serves the Pub/Sub API of `orgs` where `listen` says, until the answer
/// is dropped. The orgs are told apart by each call's `tenantid`.
pub async fn serve(orgs: Vec<Emulator>, listen: &Listen) -> Result<Serving, ServeError> {
    let service = Service::new(orgs);
    let mut serving = Serving {
        plaintext_url: None,
        tls_url: None,
        certificate: None,
        tasks: Vec::new(),
    };
    if let Some(address) = listen.plaintext {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|error| ServeError::Listen(address, error))?;
        let local = listener
            .local_addr()
            .map_err(|e| ServeError::Listen(address, e))?;
        serving.plaintext_url = Some(format!("http://{local}"));
        let router = Server::builder().add_service(PubSubServer::new(service.clone()));
        serving.tasks.push(tokio::spawn(async move {
            if let Err(error) = router.serve_with_incoming(incoming(listener)).await {
                tracing::error!(%error, "The Pub/Sub API stopped.");
            }
        }));
    }
    if let Some((address, certificate_file)) = &listen.tls {
        let (certificate, key) = self_signed(certificate_file)?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|error| ServeError::Listen(*address, error))?;
        let local = listener
            .local_addr()
            .map_err(|e| ServeError::Listen(*address, e))?;
        serving.tls_url = Some(format!("https://localhost:{}", local.port()));
        let identity = Identity::from_pem(&certificate, key);
        let router = Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(ServeError::Tls)?
            .add_service(PubSubServer::new(service));
        serving.certificate = Some(certificate);
        serving.tasks.push(tokio::spawn(async move {
            if let Err(error) = router.serve_with_incoming(incoming(listener)).await {
                tracing::error!(%error, "The Pub/Sub API (TLS) stopped.");
            }
        }));
    }
    Ok(serving)
}

/// The connections `listener` accepts, without Nagle's delay (which would
/// hold each response back until the client acknowledges the last one).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// A certificate for `localhost` and `127.0.0.1` and its key, made now;
/// the certificate is written to `file`.
fn self_signed(file: &Path) -> Result<(String, String), ServeError> {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|error| ServeError::Certificate(error.to_string()))?;
    let certificate = made.cert.pem();
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|error| ServeError::Certificate(format!("{}: {error}", dir.display())))?;
    }
    std::fs::write(file, &certificate)
        .map_err(|error| ServeError::Certificate(format!("{}: {error}", file.display())))?;
    Ok((certificate, made.signing_key.serialize_pem()))
}

#[cfg(test)]
mod tests;
