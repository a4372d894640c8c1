//! What the benchmarks share: settings from the environment, an engine
//! serving one workflow, and how latencies are summed up.

use std::time::Duration;

use gust_engine::salesforce::Client;
use gust_engine::{Config, Engine};
use serde_json::{Value, json};
use sf_emulator::org::Org;

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An engine with the default settings, its data in a new temporary
/// directory (kept as long as the returned handle), serving `workflow`.
pub async fn engine_with(workflow: &Value) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    let id = workflow["id"].as_str().expect("the workflow has an id");
    std::fs::write(workflows.join(format!("{id}.json")), workflow.to_string()).unwrap();
    let engine = Engine::start(Config::new(dir.path().join("data")))
        .await
        .unwrap();
    let set = engine.load_dir(&workflows).await.unwrap();
    assert!(set.invalid.is_empty(), "{:?}", set.invalid);
    (dir, engine)
}

/// A client of the sf-emulator at `url`, logged in.
pub async fn emulator_client(url: &str) -> Client {
    let client = Client::new(crate::emulator_connection(url)).unwrap();
    client.instance_url().await.unwrap();
    client
}

/// Creates `count` leads (`Lead {n}`, Acme, `lead{n}@example.com`) in `org`.
pub fn create_leads(org: &mut Org, count: usize) {
    for n in 0..count {
        let fields = serde_json::from_value(json!({
            "LastName": format!("Lead {n}"), "Company": "Acme", "Email": format!("lead{n}@example.com"),
        }))
        .unwrap();
        org.create("Lead", &fields).unwrap();
    }
}

/// Serves `app` on an ephemeral loopback port; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    base
}

/// The `p` quantile (0 to 1) of `sorted`.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// `duration` in milliseconds, two decimals.
pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}
