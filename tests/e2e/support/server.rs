//! An engine serving HTTP on an ephemeral port, in the test's process.

use std::sync::Arc;
use std::time::Duration;

use gust_engine::model::RunId;
use gust_engine::store::Store;
use gust_engine::{Config, Engine};
use reqwest::StatusCode;
use serde_json::Value;

use super::Sf;

/// An engine serving HTTP on an ephemeral port.
pub(crate) struct Server {
    pub(crate) engine: Engine,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start(workflows: &[Value]) -> Self {
        Self::start_with(workflows, |_| {}, None).await
    }

    pub(crate) async fn start_with(
        workflows: &[Value],
        configure: impl FnOnce(&mut Config),
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workflow_dir = dir.path().join("workflows");
        std::fs::create_dir(&workflow_dir).unwrap();
        for workflow in workflows {
            let path = workflow_dir.join(format!("{}.json", workflow["id"].as_str().unwrap()));
            std::fs::write(path, workflow.to_string()).unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = super::config(dir.path().join("data"));
        config.sandbox.max_instances = 16;
        config.connect.public_url.clone_from(&base);
        configure(&mut config);
        let engine = match store {
            Some(store) => Engine::with_store(config, store).await.unwrap(),
            None => Engine::start(config).await.unwrap(),
        };
        let set = engine.load_dir(&workflow_dir).await.unwrap();
        assert!(set.invalid.is_empty(), "{:?}", set.invalid);
        tokio::spawn(axum::serve(listener, engine.router()).into_future());
        Self {
            engine,
            base,
            client: reqwest::Client::new(),
            dir,
        }
    }

    /// An engine whose connection is the client of `sf`'s emulator, over
    /// `store` when given.
    pub(crate) async fn against(
        sf: &Sf,
        workflows: &[Value],
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        let client = sf.client.clone();
        Self::start_with(
            workflows,
            move |config| config.salesforce = Arc::new(client),
            store,
        )
        .await
    }

    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The text at `path`.
    pub(crate) async fn text(&self, path: &str) -> String {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    }

    /// Posts `body` as JSON to `workflow`'s hook; returns the status and answer.
    pub(crate) async fn hook(&self, workflow: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .post(&format!("/hooks/{workflow}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Waits for a run to end and returns its detail from the admin API.
    pub(crate) async fn finished(&self, run_id: &str) -> Value {
        let id: RunId = run_id.parse().unwrap();
        let ended = self.engine.wait(id, Duration::from_secs(30)).await.unwrap();
        assert!(ended.is_some(), "run {run_id} did not end");
        let (status, run) = self.get(&format!("/api/runs/{run_id}")).await;
        assert_eq!(status, StatusCode::OK);
        run
    }

    pub(crate) async fn run_count(&self) -> usize {
        let (_, page) = self.get("/api/runs?limit=1000").await;
        page["runs"].as_array().unwrap().len()
    }
}
