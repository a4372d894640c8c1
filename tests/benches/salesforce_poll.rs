//! The Salesforce poll trigger against an in-process sf-emulator: how fast
//! records become stored events, beside the same records read by the
//! client alone (keyset pages of 2,000, nothing stored), in the same run.
//!
//! - incremental: `RECORDS` new leads read by one poll in REST keyset
//!   pages, each page's events stored with the cursor in one durable write
//!   (one event per record);
//! - backfill: `RECORDS` existing leads read through a Bulk API 2.0 query
//!   job and stored the same way (`batch_size` 200).
//!
//! Run with
//!
//! ```not_rust
//! cargo bench -p gust-tests --bench salesforce_poll
//! ```
//!
//! `RECORDS=50000` changes the records per measurement.

#![allow(missing_docs, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gust_engine::salesforce::Client;
use gust_engine::workflow::{WorkflowFile, parse};
use gust_engine::{Config, Engine};
use gust_tests::bench::{create_leads, emulator_client, env_or};
use serde_json::{Value, json};
use sf_emulator::{Emulator, Running};

/// The allocator the `gust` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn emulator() -> Running {
    Emulator::new(sf_emulator::Config {
        daily_api_requests: 1_000_000,
        ..sf_emulator::Config::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap()
}

/// A workflow polling leads with `poll`, its step a filter that passes.
fn workflow(poll: Value) -> WorkflowFile {
    let definition = json!({
        "id": "leads",
        "trigger": { "salesforce_poll": poll },
        "steps": [{ "id": "pass", "uses": "builtin:filter",
                     "with": { "conditions": [{ "value": "${trigger.sobject}", "op": "equals", "to": "Lead" }] } }],
    });
    WorkflowFile {
        path: "leads.json".into(),
        workflow: parse(&definition.to_string()).unwrap(),
    }
}

async fn start_engine(client: Client, dir: &std::path::Path) -> Engine {
    let mut config = Config::new(dir);
    config.salesforce = Arc::new(client);
    Engine::start(config).await.unwrap()
}

/// Waits for the poll that ends after `since` and returns when it ended.
async fn poll_done(engine: &Engine, since: Instant) -> Duration {
    loop {
        let status = engine.trigger_status("leads").unwrap();
        if let Some(error) = status.last_error {
            panic!("the poll failed: {error}");
        }
        if status.last_fired_at.is_some() && status.next_fire_at.is_some() {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Seconds for the client alone to read every lead in keyset pages.
async fn client_alone(client: &Client, records: usize) -> f64 {
    let started = Instant::now();
    let mut after: Option<(String, String)> = None;
    let mut seen = 0;
    loop {
        let condition = after.as_ref().map_or(String::new(), |(stamp, id)| {
            format!(
                " WHERE (SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{id}'))"
            )
        });
        let soql = format!(
            "SELECT Id, SystemModstamp FROM Lead{condition} ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000"
        );
        let page: Vec<Value> =
            serde_json::from_str(&client.query_json(&soql, false, 64 << 20).await.unwrap())
                .unwrap();
        seen += page.len();
        let Some(last) = page.last() else { break };
        let stamp = chrono::DateTime::parse_from_str(
            last["SystemModstamp"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S%.f%z",
        )
        .unwrap();
        after = Some((
            stamp
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            last["Id"].as_str().unwrap().to_owned(),
        ));
        if page.len() < 2000 {
            break;
        }
    }
    assert_eq!(seen, records);
    started.elapsed().as_secs_f64()
}

fn row(name: &str, records: usize, seconds: f64) {
    println!(
        "| {name} | {records} | {:.2} s | {:.0} |",
        seconds,
        records as f64 / seconds
    );
}

fn main() {
    let records = env_or("RECORDS", 20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("| measurement | records | time | records/s |");
        println!("|---|---|---|---|");

        // Incremental: the poll activates on an empty org, then reads the
        // new leads when reloaded to poll at once.
        let running = emulator().await;
        let client = emulator_client(&running.url).await;
        let dir = tempfile::tempdir().unwrap();
        let engine = start_engine(client.clone(), dir.path()).await;
        let never = json!({ "sobject": "Lead", "on": "updated", "every": "0 0 0 1 1 * 2099" });
        engine.add_workflow(&workflow(never.clone())).await.unwrap();
        poll_done(&engine, Instant::now()).await;
        create_leads(&mut running.emulator.org(), records);
        row(
            "client alone: keyset pages, nothing stored",
            records,
            client_alone(&client, records).await,
        );
        let mut now = never;
        now["every"] = json!("0 0 0 1 1 * 2098");
        let started = Instant::now();
        engine.add_workflow(&workflow(now)).await.unwrap();
        let took = poll_done(&engine, started).await;
        row(
            "gust poll: keyset pages, one event per record stored",
            records,
            took.as_secs_f64(),
        );
        engine.shutdown().await;

        // Backfill through Bulk API 2.0.
        let running = emulator().await;
        create_leads(&mut running.emulator.org(), records);
        let client = emulator_client(&running.url).await;
        let dir = tempfile::tempdir().unwrap();
        let engine = start_engine(client, dir.path()).await;
        let started = Instant::now();
        engine
            .add_workflow(&workflow(json!({
                "sobject": "Lead", "on": "created", "backfill": "all", "batch_size": 200,
                "fields": ["Email", "Company"], "every": "0 0 0 1 1 * 2099",
            })))
            .await
            .unwrap();
        let took = poll_done(&engine, started).await;
        let bulk = if records > 10_000 {
            "Bulk API 2.0"
        } else {
            "REST pages"
        };
        row(
            &format!("gust backfill: {bulk}, batches of 200 stored"),
            records,
            took.as_secs_f64(),
        );
        engine.shutdown().await;
    });
}
