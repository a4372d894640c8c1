//! A Rust service that embeds Gust: it builds an engine from a config
//! value, adds a workflow defined in code, mounts Gust's routes under
//! `/gust` beside its own, submits an event in process and reads the run.
//!
//! ```sh
//! cargo run -p embed-gust             # submit one event, print its run, exit
//! cargo run -p embed-gust -- --serve  # then serve on 127.0.0.1:3000 until Ctrl-C
//! ```

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use gust_engine::workflow::parse;
use gust_engine::{Config, Engine};
use serde_json::json;

/// Keeps web leads, then maps them to Salesforce Lead fields, with the
/// prebuilt steps compiled into Gust.
const WORKFLOW: &str = r#"{
  "id": "web-leads",
  "trigger": { "webhook": {} },
  "steps": [
    { "id": "web-only", "uses": "builtin:filter",
      "with": { "conditions": [{ "value": "${trigger.body.source}", "op": "equals", "to": "website" }] } },
    { "id": "map", "uses": "builtin:field-mapper",
      "with": { "relation": "Lead", "id_field": "Email", "record": "${trigger.body}",
                "properties": [{ "from": "email", "to": "Email" }, { "from": "company", "to": "Company" }] } }
  ]
}"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::new(std::env::temp_dir().join("embed-gust-data"));
    config.workers = 8;
    let engine = Engine::start(config).await?;

    // Defined in code; a workflow's relative `uses` paths resolve against
    // the directory given (this one uses prebuilt steps only).
    let workflow = parse(WORKFLOW)?;
    engine.add(workflow, Path::new(".")).await?;

    // The service's own routes, and Gust's under /gust:
    // POST /gust/hooks/web-leads, GET /gust/api/runs, ...
    let app = Router::new()
        .route("/", get(|| async { "my service" }))
        .nest("/gust", engine.router());

    // An event submitted in process is stored and run like a webhook's.
    let event = json!({ "body": { "source": "website", "email": "ada@example.com", "company": "Analytical Engines" } });
    let accepted = engine.submit("web-leads", event, None).await?;
    let run_id = accepted.run().id;
    let ended = engine.wait(run_id, Duration::from_secs(10)).await?;
    println!("run {run_id}: {:?}", ended.map(|run| run.status));
    if let Some(detail) = engine.run_detail(run_id).await? {
        println!("{}", serde_json::to_string_pretty(&detail)?);
    }

    if std::env::args().any(|arg| arg == "--serve") {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
        println!("serving on http://127.0.0.1:3000 (Gust under /gust)");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await?;
    }
    engine.shutdown().await;
    Ok(())
}
