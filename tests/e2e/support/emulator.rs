//! sf-emulator for the tests: started on an ephemeral port with a client
//! of it (the harness of the Salesforce client's own tests, shared), or
//! sending Outbound Messages with quick retries.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gust_engine::runtime::{LocalRunner, RunReport};
use gust_engine::store::MemoryStateStore;
use gust_engine::workflow::WorkflowFile;
use serde_json::{Value, json};
use sf_emulator::outbound::Retries;
use sf_emulator::seed::Seed;
use sf_emulator::{Config, Emulator};

#[path = "../../../crates/salesforce/tests/support/mod.rs"]
mod client;

pub(crate) use client::{Sf, connection};

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

/// An emulator whose Account has the unique external id field `Erp_Id__c`.
pub(crate) fn with_erp_id(config: Config) -> Emulator {
    let seed: Seed = serde_json::from_value(json!({
        "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "external_id": true, "unique": true }] }
    }))
    .unwrap();
    Emulator::with_seed(config, &seed).unwrap()
}

/// Runs the workflow file at `path` for `event` in process, as `gust run`
/// does, against the emulator of `sf`.
pub(crate) async fn run_locally(sf: &Sf, path: &Path, event: Value) -> RunReport {
    let file = WorkflowFile::load(path).unwrap();
    let runner = LocalRunner::new(
        gust_tests::sandbox(),
        Arc::new(sf.client.clone()),
        Arc::new(MemoryStateStore::default()),
    );
    let prepared = runner.prepare(&file).unwrap();
    runner.run(&prepared, event, |_| {}).await
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
