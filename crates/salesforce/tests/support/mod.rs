//! sf-emulator on an ephemeral port, and a client of it that retries
//! quickly. The end-to-end tests (`tests/e2e/support/emulator.rs`) include
//! this file too, so there is one such harness.

use std::net::SocketAddr;
use std::time::Duration;

use gust_salesforce::{CallRetryPolicy, Client, Connection};
use sf_emulator::{Config, Emulator, Running};

/// A running emulator and a client of it.
pub(crate) struct Sf {
    pub(crate) running: Running,
    pub(crate) client: Client,
}

/// A retry policy quick enough for tests.
pub(crate) fn quick_retries() -> CallRetryPolicy {
    CallRetryPolicy {
        max_attempts: 6,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        budget: Duration::from_secs(5),
    }
}

/// A client-credentials connection to the emulator at `url`, with its
/// default connected app on API v60.0, retrying quickly.
pub(crate) fn connection(url: &str) -> Connection {
    let mut connection = Connection::client_credentials(
        url,
        sf_emulator::DEFAULT_CLIENT_ID,
        sf_emulator::DEFAULT_CLIENT_SECRET,
    );
    connection.api_version = "60.0".to_owned();
    connection.retry = quick_retries();
    connection
}

impl Sf {
    pub(crate) async fn start() -> Self {
        Self::start_with(Emulator::new(Config::default())).await
    }

    pub(crate) async fn start_with(emulator: Emulator) -> Self {
        let running = emulator
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let client = Client::new(connection(&running.url)).unwrap();
        Self { running, client }
    }

    pub(crate) fn emulator(&self) -> &Emulator {
        &self.running.emulator
    }

    /// The requests the emulator answered, as `"METHOD /path?query STATUS"`.
    pub(crate) fn log(&self) -> Vec<String> {
        self.emulator()
            .requests()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.uri, r.status.as_u16()))
            .collect()
    }

    /// How many logged requests contain `part`.
    pub(crate) fn count(&self, part: &str) -> usize {
        self.log().iter().filter(|line| line.contains(part)).count()
    }
}
