//! `gust serve` as a child process, and its admin API over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gust_engine::api::RunList;
use gust_engine::model::{RunId, RunRecord};
use gust_tests::guests;
use serde_json::{Value, json};

use super::{Sf, eventually};

/// `gust serve` running as a child process.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) base: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Process {
    pub(crate) fn start(workflows: &Path, data: &Path) -> Self {
        Self::start_with_env(workflows, data, &[])
    }

    /// Starts `gust serve` with `env` added to an environment without any
    /// `GUST_SF_*` connection settings.
    pub(crate) fn start_with_env(workflows: &Path, data: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", workflows, data, env)
    }

    /// Starts `gust serve` connected to the emulator of `sf`, with `env`
    /// added.
    pub(crate) fn start_against(
        sf: &Sf,
        workflows: &Path,
        data: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        let mut all = emulator_env(sf);
        all.extend(env.iter().map(|(name, value)| (*name, (*value).to_owned())));
        let all: Vec<(&str, &str)> = all.iter().map(|(n, v)| (*n, v.as_str())).collect();
        Self::start_with_env(workflows, data, &all)
    }

    /// Starts `gust serve` listening on `listen`, with `env` added to an
    /// environment without any `GUST_SF_*` connection settings.
    pub(crate) fn start_on(
        listen: &str,
        workflows: &Path,
        data: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_with_args(listen, workflows, data, env, &[])
    }

    /// Starts `gust serve` as [`Process::start_on`] does, with `args` added
    /// to its command line.
    pub(crate) fn start_with_args(
        listen: &str,
        workflows: &Path,
        data: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gust-e2e"));
        for (name, _) in std::env::vars() {
            if name.starts_with("GUST_SF_") {
                command.env_remove(name);
            }
        }
        if let Some(url) = super::postgres_url(data) {
            command.env("GUST_STORE", url);
        }
        let mut child = command
            .args(["serve", "--listen", listen, "--workflows"])
            .arg(workflows)
            .arg("--data")
            .arg(data)
            .args(args)
            .env("GUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gust serve starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let stderr = std::thread::spawn(move || {
            stderr
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
                .join("\n")
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("Gust listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            stderr,
        }
    }

    /// Sends SIGTERM and returns the exit status and everything logged.
    pub(crate) fn terminate(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        (status, self.stderr.join().unwrap())
    }

    /// Sends SIGKILL.
    pub(crate) fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.stderr.join().unwrap()
    }
}

pub(crate) fn write_workflow(dir: &Path, workflow: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{}.json", workflow["id"].as_str().unwrap()));
    std::fs::write(&path, workflow.to_string()).unwrap();
    path
}

/// The server's `/metrics` text.
pub(crate) async fn metrics(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The events `workflow` has accepted (duplicates included), from
/// `/metrics`.
pub(crate) async fn accepted_events(client: &reqwest::Client, base: &str, workflow: &str) -> usize {
    let prefix = format!("gust_events_accepted_total{{workflow=\"{workflow}\"}}");
    metrics(client, base)
        .await
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
        .unwrap_or(0)
}

/// Waits until no run is queued, running or retrying.
pub(crate) async fn all_runs_ended(client: &reqwest::Client, base: &str) {
    eventually("every run ended", Duration::from_secs(240), || async {
        for status in ["queued", "running", "retrying"] {
            if !runs_with_status(client, base, status).await.is_empty() {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Every run with `status`, read page by page from the admin API.
pub(crate) async fn runs_with_status(
    client: &reqwest::Client,
    base: &str,
    status: &str,
) -> Vec<RunRecord> {
    let mut runs = Vec::new();
    let mut cursor: Option<RunId> = None;
    loop {
        let mut url = format!("{base}/api/runs?limit=1000&status={status}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: RunList = client.get(url).send().await.unwrap().json().await.unwrap();
        runs.extend(page.runs);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return runs,
        }
    }
}

/// The succeeded runs once no run is unfinished; none failed.
pub(crate) async fn settled_runs(client: &reqwest::Client, base: &str) -> Vec<RunRecord> {
    all_runs_ended(client, base).await;
    assert!(runs_with_status(client, base, "failed").await.is_empty());
    runs_with_status(client, base, "succeeded").await
}

/// The first succeeded run of `workflow`, with its event and steps, once
/// there is one.
pub(crate) async fn succeeded_run(client: &reqwest::Client, base: &str, workflow: &str) -> Value {
    let what = format!("a succeeded {workflow} run");
    let run = eventually(&what, Duration::from_secs(60), || async {
        let runs = runs_with_status(client, base, "succeeded").await;
        runs.into_iter().find(|run| run.workflow == workflow)
    })
    .await;
    let url = format!("{base}/api/runs/{}", run.id);
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Posts `{"key": key}` with `Idempotency-Key: key` to the `crash` hook for
/// every key, 64 at a time; returns the keys that got a 202.
pub(crate) async fn send_all(base: &str, keys: &[String]) -> Vec<String> {
    let client = reqwest::Client::new();
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(keys.to_vec());
    let senders: Vec<_> = (0..64)
        .map(|_| {
            let (client, acked, next, keys) =
                (client.clone(), acked.clone(), next.clone(), keys.clone());
            let url = format!("{base}/hooks/crash");
            tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(key) = keys.get(index) else { return };
                    let sent = client
                        .post(&url)
                        .header("idempotency-key", key)
                        .json(&json!({ "key": key }))
                        .timeout(Duration::from_secs(20))
                        .send()
                        .await;
                    if sent.is_ok_and(|response| response.status() == 202) {
                        acked.lock().unwrap().push(key.clone());
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

/// A workflow of two steps, `first` (2 ms) and `second` (10 ms), that
/// count their calls per event in state under `calls/<key>`.
pub(crate) fn counting_workflow(id: &str, trigger: Value, key: &str) -> Value {
    let step = |step: &str, sleep_ms: u64| json!({ "id": step, "uses": guests::MISBEHAVE, "with": { "act": "record", "key": key, "sleep_ms": sleep_ms } });
    json!({ "id": id, "trigger": trigger, "steps": [step("first", 2), step("second", 10)] })
}

/// The environment that connects `gust serve` to the emulator of `sf`.
pub(crate) fn emulator_env(sf: &Sf) -> Vec<(&'static str, String)> {
    vec![
        ("GUST_SF_AUTH", "client_credentials".to_owned()),
        ("GUST_SF_INSTANCE_URL", sf.running.url.clone()),
        (
            "GUST_SF_CLIENT_ID",
            sf_emulator::DEFAULT_CLIENT_ID.to_owned(),
        ),
        (
            "GUST_SF_CLIENT_SECRET",
            sf_emulator::DEFAULT_CLIENT_SECRET.to_owned(),
        ),
        ("GUST_SF_API_VERSION", "60.0".to_owned()),
    ]
}
