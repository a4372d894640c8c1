//! sf-emulator for the tests: started on an ephemeral port with a client
//! of it, or sending Outbound Messages with quick retries.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use gust_engine::salesforce::{CallRetryPolicy, Client, Connection};
use sf_emulator::outbound::Retries;
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

/// A client-credentials connection to the emulator at `url`, retrying
/// quickly.
pub(crate) fn connection(url: &str) -> Connection {
    let mut connection = gust_tests::emulator_connection(url);
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

/// An emulator that resends Outbound Messages after 100 ms, doubling up to
/// `longest`, instead of Salesforce's 30 s up to 2 h.
pub(crate) fn quick_outbound_emulator(longest: Duration) -> Emulator {
    Emulator::new(Config {
        outbound_retries: Retries {
            first: Duration::from_millis(100),
            longest,
            max_age: Duration::from_secs(300),
        },
        ..Config::default()
    })
}

/// The notification ids the emulator has seen acknowledged, and every one
/// it has sent.
pub(crate) fn delivered(emulator: &Emulator) -> (HashSet<String>, HashSet<String>) {
    let mut acknowledged = HashSet::new();
    let mut sent = HashSet::new();
    for delivery in emulator.outbound_deliveries() {
        sent.extend(delivery.notifications.iter().cloned());
        if delivery.acknowledged {
            acknowledged.extend(delivery.notifications);
        }
    }
    (acknowledged, sent)
}
