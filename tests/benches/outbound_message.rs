//! Outbound Messages of 100 notifications: the parse alone, and parse +
//! durable store + Ack through the server at concurrency 16, beside a bare
//! axum handler that parses the same messages and answers the Ack without
//! storing anything, in the same run. Every message is new (its
//! notification ids unique), so each stores 100 runs; the workflow's one
//! trivial step runs them, and each round waits for them to finish.
//!
//! Run with
//!
//! ```not_rust
//! cargo bench -p gust-tests --bench outbound_message
//! ```
//!
//! `MESSAGES=500` changes the messages per round, `ROUNDS=3` the rounds. A
//! message refused with 503 (the backlog is full) is sent again 100 ms
//! later, as Salesforce sends it again; the refusals are counted.

#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use gust_engine::Engine;
use gust_engine::model::RunStatus;
use gust_engine::store::RunQuery;
use gust_tests::bench::{engine_with, env_or, ms, percentile, serve};
use gust_tests::guests;
use serde_json::json;

/// The allocator the `gust` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 16;
const NOTIFICATIONS: usize = 100;
const ORG: &str = "00D5g000004EmuLEAS";

/// Message `number`: 100 Lead notifications of 28 fields each, shaped like
/// the captured `om-three-notifications-multiple-types.xml`, with ids no
/// other message has.
fn message(number: usize) -> Bytes {
    let fixture = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/salesforce/outbound-messages/om-three-notifications-multiple-types.xml"
    ))
    .unwrap();
    let start = fixture.find("<Notification>").unwrap();
    let end = fixture.find("</Notification>").unwrap() + "</Notification>".len();
    let template = fixture[start..end].replace("sf:Lead1", "sf:Lead");
    let mut notifications = String::new();
    for n in 0..NOTIFICATIONS {
        let id = format!("04l{number:08}{n:04}AAK");
        notifications.push_str(&template.replace("04l37000000L0E5AAK", &id));
    }
    let last = fixture.rfind("</Notification>").unwrap() + "</Notification>".len();
    let body = format!("{}{notifications}{}", &fixture[..start], &fixture[last..])
        .replace("0123456789ABCDENNN", ORG);
    Bytes::from(body)
}

/// Posts `messages` from `CONCURRENCY` clients as fast as they are
/// acknowledged, a message refused with 503 (the backlog is full) sent
/// again 100 ms later as Salesforce sends it again; returns every time to
/// the Ack (from the first send), sorted, the wall time and how many
/// sends were refused.
async fn load(url: &str, messages: Arc<Vec<Bytes>>) -> (Vec<Duration>, Duration, usize) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, next, messages, url, refused) = (
                client.clone(),
                next.clone(),
                messages.clone(),
                url.to_owned(),
                refused.clone(),
            );
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = messages.get(index) else {
                        return latencies;
                    };
                    let sent = Instant::now();
                    let response = loop {
                        let response = client
                            .post(&url)
                            .header("content-type", "text/xml; charset=utf-8")
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        if response.status() != 503 {
                            break response;
                        }
                        refused.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    };
                    assert_eq!(response.status(), 200);
                    let answer = response.text().await.unwrap();
                    assert!(answer.contains("<Ack>true</Ack>"));
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let wall = started.elapsed();
    latencies.sort();
    (latencies, wall, refused.load(Ordering::Relaxed))
}

async fn succeeded(engine: &Engine) -> usize {
    engine
        .metrics()
        .await
        .lines()
        .find(|line| {
            line.starts_with(r#"gust_runs_finished_total{workflow="leads",status="succeeded"}"#)
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

fn print_row(
    round: usize,
    name: &str,
    (latencies, wall, refused): (Vec<Duration>, Duration, usize),
    extra: &str,
) {
    let messages = latencies.len() as f64 / wall.as_secs_f64();
    println!(
        "| {round} | {name} | {messages:.0} | {:.0} | {} | {} | {refused} | {extra} |",
        messages * NOTIFICATIONS as f64,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
    );
}

fn main() {
    let per_round = env_or("MESSAGES", 500);
    let rounds = env_or("ROUNDS", 3);

    // The parse alone, on one core.
    let sample = message(0);
    let mut parses = Vec::new();
    for _ in 0..500 {
        let started = Instant::now();
        let parsed = gust_outbound::parse(&sample, &|_| None).unwrap();
        parses.push(started.elapsed());
        assert_eq!(parsed.notifications.len(), NOTIFICATIONS);
    }
    parses.sort();
    println!(
        "Parsing one {}-byte message of {NOTIFICATIONS} notifications: median {}, p99 {}\n",
        sample.len(),
        ms(percentile(&parses, 0.5)),
        ms(percentile(&parses, 0.99)),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_dir, engine) = engine_with(&json!({
            "id": "leads",
            "trigger": { "outbound_message": { "organization_ids": [ORG], "sobject": "Lead" } },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "id": "${trigger.record.Id}" } }],
        }))
        .await;
        let gust = format!("{}/salesforce/outbound/leads", serve(engine.router()).await);
        let bare = serve(Router::new().route(
            "/",
            post(|body: Bytes| async move {
                let message = gust_outbound::parse(&body, &|_| None).unwrap();
                assert_eq!(message.notifications.len(), NOTIFICATIONS);
                ([("content-type", "text/xml; charset=utf-8")], gust_outbound::ACK)
            }),
        ))
        .await;

        let mut next_message = 1;
        let mut batch = |count: usize| {
            let batch: Vec<Bytes> = (next_message..next_message + count).map(message).collect();
            next_message += count;
            Arc::new(batch)
        };
        // Warm up: connections, the component, the store.
        let warm = batch(50);
        load(&gust, warm.clone()).await;
        load(&format!("{bare}/"), warm).await;
        while succeeded(&engine).await < 50 * NOTIFICATIONS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        println!("{per_round} messages of {NOTIFICATIONS} notifications per round, {CONCURRENCY} concurrent clients, {rounds} rounds\n");
        println!("| round | server | messages/s acked | notifications/s acked | p50 to Ack | p99 to Ack | sends refused (503) | runs completed/s |");
        println!("|---|---|---|---|---|---|---|---|");
        for round in 1..=rounds {
            let messages = batch(per_round);
            let bare_load = load(&format!("{bare}/"), messages.clone()).await;
            print_row(round, "bare axum: parse + Ack", bare_load, "");
            let before = succeeded(&engine).await;
            let started = Instant::now();
            let gust_load = load(&gust, messages).await;
            while succeeded(&engine).await < before + per_round * NOTIFICATIONS {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let completed = (per_round * NOTIFICATIONS) as f64 / started.elapsed().as_secs_f64();
            print_row(round, "gust: parse + store + Ack", gust_load, &format!("{completed:.0}"));
        }
        let failed = engine
            .runs(&RunQuery { status: Some(RunStatus::Failed), limit: 1, ..RunQuery::default() })
            .await.unwrap();
        assert!(failed.runs.is_empty(), "a bench run failed");
        engine.shutdown().await;
    });
}
