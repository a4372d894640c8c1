//! sf-emulator for the tests: started on an ephemeral port with a client
//! of it (the harness of the Salesforce client's own tests, shared), or
//! sending Outbound Messages with quick retries.

use std::collections::HashSet;
use std::time::Duration;

use sf_emulator::outbound::Retries;
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
