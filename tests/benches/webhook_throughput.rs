//! Webhook to completed run, durably: sustained events/s end to end and the
//! time to 202 at concurrency 64, as fast as answered and at fixed offered
//! rates, beside a bare axum handler answering 202 in the same run. The
//! workflow runs one trivial step with the default concurrency.
//!
//! Run with
//!
//! ```not_rust
//! cargo bench -p gust-tests --bench webhook_throughput
//! ```
//!
//! `EVENTS=50000` changes the number of events per round, `ROUNDS=5` the
//! number of rounds, `RATES=fast,2000,5000` the loads (`fast`: as fast as
//! answered; a number: events/s offered). *CPU/event* is the process's CPU
//! time (user and system, every thread, the load generator's included)
//! over the round, per event.

#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use gust_engine::Engine;
use gust_engine::model::RunStatus;
use gust_engine::store::RunQuery;
use gust_tests::bench::{engine_with, env_or, ms, percentile, serve};
use gust_tests::guests;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;

/// The allocator the `gust` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONCURRENCY: usize = 64;

/// Posts `events` small JSON bodies to `url` from `CONCURRENCY` clients,
/// each on its own keep-alive connection, as fast as they are answered, or
/// at `rate` events/s in all when given (each client on a fixed schedule,
/// its latency counted from when each request was due, so a stall is not
/// hidden); returns every time to answer, sorted, and the wall time. The
/// clients are bare hyper connections, the cheapest load this process can
/// make, since it shares the cores with the server.
async fn load(url: &str, events: usize, rate: Option<f64>) -> (Vec<Duration>, Duration) {
    let uri: hyper::Uri = url.parse().unwrap();
    let address = uri.authority().unwrap().to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|client_index| {
            let (next, uri, address) = (next.clone(), uri.clone(), address.clone());
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(connection);
                let started = Instant::now();
                let mut latencies = Vec::new();
                let interval = rate.map(|rate| Duration::from_secs_f64(CONCURRENCY as f64 / rate));
                // Clients are spread over the interval, not in step.
                let mut due = started
                    + interval.unwrap_or_default() * client_index as u32 / CONCURRENCY as u32;
                while next.fetch_add(1, Ordering::Relaxed) < events {
                    let sent = match interval {
                        Some(interval) => {
                            due += interval;
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                        None => Instant::now(),
                    };
                    let request = hyper::Request::post(uri.clone())
                        .header("host", &address)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(
                            br#"{"email":"ada@example.com","source":"website"}"#,
                        )))
                        .unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    assert_eq!(response.status(), StatusCode::ACCEPTED);
                    response.into_body().collect().await.unwrap();
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(events);
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let wall = started.elapsed();
    latencies.sort();
    (latencies, wall)
}

/// CPU time this process has used (user + system), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

struct Round {
    acked_per_s: f64,
    completed_per_s: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_event: Duration,
    /// Store flushes per event (Gust only).
    flushes_per_event: Option<f64>,
}

async fn gust_round(engine: &Engine, base: &str, events: usize, rate: Option<f64>) -> Round {
    let before = succeeded(engine).await;
    let flushes = metric(engine, "gust_store_flushes").await;
    let cpu = cpu_time();
    let started = Instant::now();
    let (latencies, wall) = load(&format!("{base}/hooks/bench"), events, rate).await;
    loop {
        if succeeded(engine).await >= before + events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let completed = started.elapsed();
    let flushes = metric(engine, "gust_store_flushes").await - flushes;
    Round {
        acked_per_s: events as f64 / wall.as_secs_f64(),
        completed_per_s: events as f64 / completed.as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_per_event: (cpu_time() - cpu) / events as u32,
        flushes_per_event: Some(flushes as f64 / events as f64),
    }
}

/// Runs that succeeded, from the metrics the engine keeps.
async fn succeeded(engine: &Engine) -> usize {
    metric(
        engine,
        r#"gust_runs_finished_total{workflow="bench",status="succeeded"}"#,
    )
    .await
}

async fn metric(engine: &Engine, name: &str) -> usize {
    engine
        .metrics()
        .await
        .lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

async fn axum_round(base: &str, events: usize, rate: Option<f64>) -> Round {
    let cpu = cpu_time();
    let (latencies, wall) = load(&format!("{base}/hooks/bench"), events, rate).await;
    let per_s = events as f64 / wall.as_secs_f64();
    Round {
        acked_per_s: per_s,
        completed_per_s: per_s,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        cpu_per_event: (cpu_time() - cpu) / events as u32,
        flushes_per_event: None,
    }
}

/// The loads of `RATES`: `None` as fast as answered, or events/s offered.
fn rates() -> Vec<Option<f64>> {
    let rates = std::env::var("RATES").unwrap_or_else(|_| "fast,2000,5000".to_owned());
    rates
        .split(',')
        .map(|rate| match rate.trim() {
            "fast" => None,
            rate => Some(
                rate.parse()
                    .expect("RATES: `fast` or events/s, comma-separated"),
            ),
        })
        .collect()
}

fn main() {
    let events = env_or("EVENTS", 20_000);
    let rounds = env_or("ROUNDS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_dir, engine) = engine_with(&json!({
            "id": "bench",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "lead": "${trigger.body}" } }],
        }))
        .await;
        let gust = serve(engine.router()).await;
        let bare = serve(Router::new().route(
            "/hooks/{id}",
            post(|body: axum::body::Bytes| async move {
                let _: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                (StatusCode::ACCEPTED, axum::Json(json!({ "run_id": "0" })))
            }),
        ))
        .await;

        // Warm up both: connections, the component, the store.
        gust_round(&engine, &gust, 2_000, None).await;
        axum_round(&bare, 2_000, None).await;

        println!("{events} events per round, {CONCURRENCY} concurrent clients, {rounds} rounds, interleaved\n");
        println!("| round | load | server | acked/s | completed/s | p50 to 202 | p99 to 202 | CPU/event | flushes/event |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for round in 1..=rounds {
            for rate in rates() {
                let load = rate.map_or("as fast as answered".to_owned(), |rate| format!("{rate:.0}/s offered"));
                let bare_round = axum_round(&bare, events, rate).await;
                let gust_round = gust_round(&engine, &gust, events, rate).await;
                for (name, result) in [("bare axum", &bare_round), ("gust", &gust_round)] {
                    println!(
                        "| {round} | {load} | {name} | {:.0} | {:.0} | {} | {} | {:.0} µs | {} |",
                        result.acked_per_s,
                        result.completed_per_s,
                        ms(result.p50),
                        ms(result.p99),
                        result.cpu_per_event.as_secs_f64() * 1e6,
                        result.flushes_per_event.map_or(String::new(), |f| format!("{f:.2}")),
                    );
                }
            }
        }
        let failed = engine
            .runs(&RunQuery { status: Some(RunStatus::Failed), limit: 1, ..RunQuery::default() })
            .await.unwrap();
        assert!(failed.runs.is_empty(), "a bench run failed");
        engine.shutdown().await;
    });
}
