//! Gust's Salesforce client against sf-emulator, beside simple-salesforce
//! on the same emulator in the same run: records/s of a query over every
//! page of `RECORDS` records (REST query, 2,000 a page) and of a Bulk API
//! 2.0 upsert of `RECORDS` records with every per-record result read back.
//! Each client gets a fresh emulator seeded with the same records.
//!
//! Run with
//!
//! ```not_rust
//! scripts/setup   # installs simple-salesforce under target/python
//! cargo bench -p gust-tests --bench salesforce_client
//! ```
//!
//! `RECORDS=50000` and `ROUNDS=3` change the sizes; the best round of each
//! is printed.

#![allow(missing_docs, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gust_engine::salesforce::{WriteOperation, WriteOptions};
use gust_tests::bench::{create_leads, emulator_client, env_or};
use serde_json::{Value, json};
use sf_emulator::seed::Seed;
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

/// The allocator the `gust` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const QUERY: &str = "SELECT Id, LastName, Company, Email FROM Lead";

/// A fresh emulator holding `records` leads, with `Account.Erp_Id__c`.
async fn emulator(records: usize) -> Running {
    let seed: Seed = serde_json::from_value(json!({
        "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "external_id": true, "unique": true }] }
    }))
    .unwrap();
    let emulator = Emulator::with_seed(
        Config {
            daily_api_requests: 1_000_000,
            ..Config::default()
        },
        &seed,
    )
    .unwrap();
    create_leads(&mut emulator.org(), records);
    emulator
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// Seconds for the query and for the upsert.
#[derive(Debug, Clone, Copy)]
struct Timing {
    query: f64,
    upsert: f64,
}

async fn gust(records: usize) -> Timing {
    let running = emulator(records).await;
    let client = emulator_client(&running.url).await;

    let started = Instant::now();
    let mut pages = client.query_pages(QUERY, false);
    let mut seen = 0;
    while let Some(page) = pages.next_page().await {
        seen += page.unwrap().len();
    }
    let query = started.elapsed().as_secs_f64();
    assert_eq!(seen, records);

    let rows: Vec<Value> = (0..records)
        .map(|n| json!({ "Erp_Id__c": format!("E-{n}"), "Name": format!("Account {n}"), "NumberOfEmployees": n }))
        .collect();
    let options = WriteOptions {
        external_id_field: Some("Erp_Id__c".to_owned()),
        all_or_none: false,
    };
    let started = Instant::now();
    let results = client
        .write_many(WriteOperation::Upsert, "Account", rows, &options)
        .await
        .unwrap();
    let upsert = started.elapsed().as_secs_f64();
    assert_eq!(results.len(), records);
    assert!(results.iter().all(|r| r["success"] == true));
    Timing { query, upsert }
}

async fn simple_salesforce(records: usize) -> Option<Timing> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/python/bin/python");
    if !python.exists() {
        return None;
    }
    let running = emulator(records).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/simple_salesforce_bench.py");
    let url = running.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([
                &url,
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                &records.to_string(),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures: Value = serde_json::from_slice(&output.stdout).unwrap();
    Some(Timing {
        query: figures["query_seconds"].as_f64().unwrap(),
        upsert: figures["upsert_seconds"].as_f64().unwrap(),
    })
}

fn best(timings: &[Timing]) -> Timing {
    Timing {
        query: timings.iter().map(|t| t.query).fold(f64::MAX, f64::min),
        upsert: timings.iter().map(|t| t.upsert).fold(f64::MAX, f64::min),
    }
}

#[tokio::main]
async fn main() {
    let records = env_or("RECORDS", 50_000);
    let rounds = env_or("ROUNDS", 3).max(1);
    let mut gust_rounds = Vec::new();
    let mut python_rounds = Vec::new();
    for _ in 0..rounds {
        gust_rounds.push(gust(records).await);
        if let Some(timing) = simple_salesforce(records).await {
            python_rounds.push(timing);
        }
    }
    println!("{records} records, best of {rounds} rounds, each client on a fresh sf-emulator");
    println!(
        "{:<28} {:>14} {:>14} {:>16} {:>16}",
        "client", "query s", "query rec/s", "bulk upsert s", "upsert rec/s"
    );
    let row = |name: &str, timing: Timing| {
        println!(
            "{:<28} {:>14.2} {:>14.0} {:>16.2} {:>16.0}",
            name,
            timing.query,
            records as f64 / timing.query,
            timing.upsert,
            records as f64 / timing.upsert
        );
    };
    row("gust-engine Client", best(&gust_rounds));
    if python_rounds.is_empty() {
        println!(
            "simple-salesforce: skipped (run scripts/setup to install it under target/python)"
        );
    } else {
        row("simple-salesforce 1.12.10", best(&python_rounds));
    }
}
