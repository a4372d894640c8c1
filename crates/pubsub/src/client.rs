//! Reaching a Pub/Sub API endpoint: a channel (TLS with the system's roots
//! and any extra certificate, or plaintext for a local emulator, HTTP/2
//! keepalive pings so that a dead connection is noticed), and the metadata
//! headers that authenticate each call.

use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint};
use tonic::{Request, Status};

/// Salesforce's global endpoint.
pub const SALESFORCE_ENDPOINT: &str = "https://api.pubsub.salesforce.com:7443";

/// How often an idle connection is pinged.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Where the Pub/Sub API is, and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host:port`, or `http://host:port` in plaintext (a local
    /// emulator).
    pub url: String,
    /// A certificate (PEM) to trust besides the system's, such as the
    /// emulator's own.
    pub ca_certificate: Option<String>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            url: SALESFORCE_ENDPOINT.to_owned(),
            ca_certificate: None,
        }
    }
}

/// A channel could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Pub/Sub API at {url}: {reason}")]
pub struct ConnectError {
    /// The endpoint.
    pub url: String,
    /// Why.
    pub reason: String,
}

/// A channel to `endpoint`, connected.
pub async fn connect(endpoint: &Endpoint) -> Result<Channel, ConnectError> {
    let failed = |reason: String| ConnectError {
        url: endpoint.url.clone(),
        reason,
    };
    let mut builder = TonicEndpoint::from_shared(endpoint.url.clone())
        .map_err(|error| failed(error.to_string()))?
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    if endpoint.url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_native_roots();
        if let Some(pem) = &endpoint.ca_certificate {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        builder = builder
            .tls_config(tls)
            .map_err(|error| failed(error.to_string()))?;
    }
    builder
        .connect()
        .await
        .map_err(|error| failed(format!("{error} ({:?})", std::error::Error::source(&error))))
}

/// What authenticates a call: a session's token, its instance and its org.
#[derive(Clone)]
pub struct Credentials {
    /// The access token.
    pub access_token: String,
    /// The instance URL.
    pub instance_url: String,
    /// The org's id.
    pub tenant_id: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_token", &"<redacted>")
            .field("instance_url", &self.instance_url)
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

impl Credentials {
    /// `message` as a request carrying the `accesstoken`, `instanceurl`
    /// and `tenantid` headers.
    pub fn request<T>(&self, message: T) -> Result<Request<T>, Status> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        for (name, value) in [
            ("accesstoken", &self.access_token),
            ("instanceurl", &self.instance_url),
            ("tenantid", &self.tenant_id),
        ] {
            let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| {
                Status::invalid_argument(format!("the {name} header is not ASCII text"))
            })?;
            metadata.insert(name, value);
        }
        Ok(request)
    }
}

/// Salesforce's error code of a failed call (its `error-code` trailer,
/// such as `sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted`).
pub fn error_code(status: &Status) -> Option<&str> {
    trailer(status.metadata(), "error-code")
}

fn trailer<'a>(metadata: &'a MetadataMap, name: &str) -> Option<&'a str> {
    metadata.get(name).and_then(|value| value.to_str().ok())
}
