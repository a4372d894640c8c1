//! The Salesforce events trigger against an in-process sf-emulator's
//! Pub/Sub API: how fast change events become stored runs, and how long
//! after a record is written its run is stored and its first step starts,
//! beside two baselines measured in the same run: a bare Pub/Sub client
//! reading the same events and storing nothing, and the Salesforce poll
//! trigger (every second) seeing the same writes.
//!
//! - throughput: `EVENTS` Accounts created at once; the subscription
//!   stores each response's events (100 at most) in one durable write;
//! - latency: `PACED` Accounts created one every 5 ms; for each, the time
//!   from its write to its run stored, and to its first step starting.
//!
//! Run with
//!
//! ```not_rust
//! cargo bench -p gust-tests --bench change_events
//! ```
//!
//! `EVENTS=50000 PACED=2000` change the counts.

#![allow(missing_docs, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gust_engine::store::RunQuery;
use gust_engine::workflow::{WorkflowFile, parse};
use gust_engine::{Config, Engine};
use gust_pubsub::client::{Credentials, Endpoint, connect};
use gust_pubsub::proto::pub_sub_client::PubSubClient;
use gust_pubsub::proto::{FetchRequest, ReplayPreset};
use gust_tests::bench::{emulator_client, env_or, ms, percentile};
use serde_json::{Value, json};
use sf_emulator::pubsub::{self, Listen, Serving, replay_bytes};
use sf_emulator::{Emulator, Running};
use tokio_stream::wrappers::ReceiverStream;

/// The allocator the `gust` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Org {
    running: Running,
    pubsub: Serving,
}

async fn org() -> Org {
    let running = Emulator::new(sf_emulator::Config {
        daily_api_requests: 10_000_000,
        pubsub_keepalive: Duration::from_millis(100),
        ..sf_emulator::Config::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    let listen = Listen {
        plaintext: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: None,
    };
    let pubsub = pubsub::serve(vec![running.emulator.clone()], &listen)
        .await
        .unwrap();
    Org { running, pubsub }
}

impl Org {
    fn url(&self) -> String {
        self.pubsub.plaintext_url.clone().unwrap()
    }

    /// Creates one Account; its Id and when its write began.
    fn create(&self, n: usize) -> (String, DateTime<Utc>) {
        let fields = serde_json::from_value(json!({ "Name": format!("Account {n}") })).unwrap();
        let at = Utc::now();
        let id = self
            .running
            .emulator
            .org()
            .create("Account", &fields)
            .unwrap();
        (id.to_string(), at)
    }

    fn latest_replay(&self) -> String {
        hex::encode(replay_bytes(self.running.emulator.event_bus().latest()))
    }
}

fn workflow(trigger: Value) -> WorkflowFile {
    let definition = json!({
        "id": "accounts",
        "trigger": trigger,
        "steps": [{ "id": "pass", "uses": "builtin:filter",
                     "with": { "conditions": [{ "value": "a", "op": "equals", "to": "a" }] } }],
    });
    WorkflowFile {
        path: "accounts.json".into(),
        workflow: parse(&definition.to_string()).unwrap(),
    }
}

async fn engine(org: &Org, dir: &std::path::Path, trigger: Value) -> Engine {
    let mut config = Config::new(dir);
    config.salesforce = Arc::new(emulator_client(&org.running.url).await);
    config.pubsub = Endpoint {
        url: org.url(),
        ca_certificate: None,
    };
    let engine = Engine::start(config).await.unwrap();
    engine.add_workflow(&workflow(trigger)).await.unwrap();
    engine
}

/// Waits until the subscription stored position `replay` (every event up
/// to it stored).
async fn stored_up_to(engine: &Engine, replay: &str) {
    loop {
        let status = engine.trigger_status("accounts").unwrap();
        let at = status
            .cursor
            .as_ref()
            .and_then(|cursor| cursor["replay_id"].as_str().map(str::to_owned));
        if at.as_deref() >= Some(replay) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Seconds for a bare client to receive `count` events from the start,
/// asking for 100 at a time and storing nothing.
async fn client_alone(org: &Org, count: usize) -> f64 {
    let client = emulator_client(&org.running.url).await;
    let session = client.session(false).await.unwrap();
    let credentials = Credentials {
        access_token: session.access_token.expose().to_owned(),
        instance_url: session.instance_url,
        tenant_id: session.organization_id,
    };
    let channel = connect(&Endpoint {
        url: org.url(),
        ca_certificate: None,
    })
    .await
    .unwrap();
    let mut client = PubSubClient::new(channel).max_decoding_message_size(64 << 20);
    let (more, requests) = tokio::sync::mpsc::channel(16);
    let started = Instant::now();
    more.send(FetchRequest {
        topic_name: "/data/AccountChangeEvent".into(),
        replay_preset: ReplayPreset::Earliest.into(),
        num_requested: 100,
        ..FetchRequest::default()
    })
    .await
    .unwrap();
    let mut stream = client
        .subscribe(credentials.request(ReceiverStream::new(requests)).unwrap())
        .await
        .unwrap()
        .into_inner();
    let mut received = 0;
    while received < count {
        let response = stream.message().await.unwrap().unwrap();
        let n = response.events.len();
        received += n;
        if n > 0 {
            more.send(FetchRequest {
                num_requested: n as i32,
                ..FetchRequest::default()
            })
            .await
            .unwrap();
        }
    }
    started.elapsed().as_secs_f64()
}

/// For every run of the workflow, its record's write time to its run
/// stored and to its first step started.
async fn latencies(
    engine: &Engine,
    written: &HashMap<String, DateTime<Utc>>,
    record: impl Fn(&Value) -> Option<String>,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut stored, mut started) = (Vec::new(), Vec::new());
    let mut before = None;
    loop {
        let page = engine
            .runs(&RunQuery {
                workflow: Some("accounts".into()),
                limit: 1000,
                before,
                ..RunQuery::default()
            })
            .await
            .unwrap();
        for run in &page.runs {
            let detail = engine.run_detail(run.id).await.unwrap().unwrap();
            let Some(at) = record(&detail.event).and_then(|id| written.get(&id).copied()) else {
                continue;
            };
            stored.push((run.created_at - at).to_std().unwrap_or_default());
            if let Some(attempt) = detail.steps.first().and_then(|step| step.attempts.first()) {
                started.push((attempt.started_at - at).to_std().unwrap_or_default());
            }
        }
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    stored.sort();
    started.sort();
    (stored, started)
}

fn latency_row(name: &str, (stored, started): (Vec<Duration>, Vec<Duration>)) {
    println!(
        "| {name} | {} | {} | {} | {} | {} |",
        stored.len(),
        ms(percentile(&stored, 0.5)),
        ms(percentile(&stored, 0.99)),
        ms(percentile(&started, 0.5)),
        ms(percentile(&started, 0.99)),
    );
}

async fn paced(org: &Org, count: usize) -> HashMap<String, DateTime<Utc>> {
    let mut written = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    for n in 0..count {
        tick.tick().await;
        let (id, at) = org.create(n);
        written.insert(id, at);
    }
    written
}

fn main() {
    let events = env_or("EVENTS", 20_000);
    let paced_count = env_or("PACED", 1_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("| throughput | events | time | events/s |");
        println!("|---|---|---|---|");
        let org = org().await;
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(
            &org,
            dir.path(),
            json!({ "salesforce_events": { "topic": "/data/AccountChangeEvent" } }),
        )
        .await;
        // Subscribed once it has stored where it starts.
        stored_up_to(&engine, &org.latest_replay()).await;
        let started = Instant::now();
        for n in 0..events {
            org.create(n);
        }
        let written = started.elapsed().as_secs_f64();
        stored_up_to(&engine, &org.latest_replay()).await;
        let took = started.elapsed().as_secs_f64();
        let alone = client_alone(&org, events).await;
        for (name, seconds) in [
            ("emulator: records written (the source)", written),
            ("bare Pub/Sub client: received, nothing stored", alone),
            ("gust: change events to stored runs", took),
        ] {
            println!(
                "| {name} | {events} | {seconds:.2} s | {:.0} |",
                events as f64 / seconds
            );
        }
        engine.shutdown().await;

        println!();
        println!("| latency, write to | runs | stored p50 | stored p99 | first step p50 | first step p99 |");
        println!("|---|---|---|---|---|---|");
        let org = self::org().await;
        let dir = tempfile::tempdir().unwrap();
        let engine = self::engine(
            &org,
            dir.path(),
            json!({ "salesforce_events": { "topic": "/data/AccountChangeEvent" } }),
        )
        .await;
        stored_up_to(&engine, &org.latest_replay()).await;
        let written = paced(&org, paced_count).await;
        stored_up_to(&engine, &org.latest_replay()).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        latency_row(
            "gust events (Pub/Sub)",
            latencies(&engine, &written, |event| {
                event
                    .pointer("/payload/ChangeEventHeader/recordIds/0")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .await,
        );
        engine.shutdown().await;

        // The baseline: the same writes seen by a poll every second.
        let org = self::org().await;
        let dir = tempfile::tempdir().unwrap();
        let engine = self::engine(
            &org,
            dir.path(),
            json!({ "salesforce_poll": { "sobject": "Account", "on": "created", "every": "* * * * * *" } }),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let written = paced(&org, paced_count).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        latency_row(
            "gust poll every second (baseline)",
            latencies(&engine, &written, |event| {
                event
                    .pointer("/record/Id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .await,
        );
        engine.shutdown().await;
    });
}
