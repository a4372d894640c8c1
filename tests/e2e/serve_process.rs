use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gust_engine::store::SledStore;
use gust_engine::store::StateStore;
use gust_tests::guests;
use serde_json::{Value, json};

use sf_emulator::faults::{Fault, FaultKind};
use sf_emulator::org::ORG_ID;
use sf_emulator::outbound::OutboundRule;

use crate::outbound::{delivered, quick_outbound_emulator};
use crate::salesforce::Sf;

/// `gust serve` running as a child process.
struct Process {
    child: Child,
    base: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Process {
    fn start(workflows: &Path, data: &Path) -> Self {
        Self::start_with_env(workflows, data, &[])
    }

    /// Starts `gust serve` with `env` added to an environment without any
    /// `GUST_SF_*` connection settings.
    fn start_with_env(workflows: &Path, data: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_on("127.0.0.1:0", workflows, data, env)
    }

    /// Starts `gust serve` listening on `listen`, with `env` added to an
    /// environment without any `GUST_SF_*` connection settings.
    fn start_on(listen: &str, workflows: &Path, data: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gust-e2e"));
        for (name, _) in std::env::vars() {
            if name.starts_with("GUST_SF_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--listen", listen, "--workflows"])
            .arg(workflows)
            .arg("--data")
            .arg(data)
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
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        (status, self.stderr.join().unwrap())
    }

    /// Sends SIGKILL.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.stderr.join().unwrap()
    }
}

fn write_workflow(dir: &Path, workflow: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{}.json", workflow["id"].as_str().unwrap()));
    std::fs::write(&path, workflow.to_string()).unwrap();
    path
}

/// The server's `/metrics` text.
async fn metrics(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

/// The events `workflow` has accepted (duplicates included), from
/// `/metrics`.
async fn accepted_events(client: &reqwest::Client, base: &str, workflow: &str) -> usize {
    let prefix = format!("gust_events_accepted_total{{workflow=\"{workflow}\"}}");
    metrics(client, base)
        .await
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
        .unwrap_or(0)
}

/// Waits until no run is queued, running or retrying.
async fn all_runs_ended(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        let mut unfinished = 0;
        for status in ["queued", "running", "retrying"] {
            unfinished += runs_with_status(client, base, status).await.len();
        }
        if unfinished == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{unfinished} runs never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn runs_with_status(client: &reqwest::Client, base: &str, status: &str) -> Vec<Value> {
    let mut runs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/runs?limit=1000&status={status}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        runs.extend(page["runs"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return runs,
        }
    }
}

/// Posts `{"key": key}` with `Idempotency-Key: key` to the `crash` hook for
/// every key, 64 at a time; returns the keys that got a 202.
async fn send_all(base: &str, keys: &[String]) -> Vec<String> {
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
fn counting_workflow(id: &str, trigger: Value, key: &str) -> Value {
    let step = |step: &str, sleep_ms: u64| json!({ "id": step, "uses": guests::MISBEHAVE, "with": { "act": "record", "key": key, "sleep_ms": sleep_ms } });
    json!({ "id": id, "trigger": trigger, "steps": [step("first", 2), step("second", 10)] })
}

/// The succeeded runs once no run is unfinished; none failed.
async fn settled_runs(client: &reqwest::Client, base: &str) -> Vec<Value> {
    all_runs_ended(client, base).await;
    assert!(runs_with_status(client, base, "failed").await.is_empty());
    runs_with_status(client, base, "succeeded").await
}

/// How many of `runs` carry each dedupe key.
fn runs_per_dedupe_key(runs: &[Value]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for run in runs {
        *counts
            .entry(run["dedupe_key"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// Checks in the stopped server's store that each step of the
/// [`counting_workflow`] `workflow` was called once for every key.
fn each_step_ran_once<'a>(data: &Path, workflow: &str, keys: impl IntoIterator<Item = &'a String>) {
    let store = SledStore::open(&data.join("store")).unwrap();
    for key in keys {
        for step in ["first", "second"] {
            let calls = store
                .get(&format!("{workflow}/{step}"), &format!("calls/{key}"))
                .unwrap();
            assert_eq!(calls.as_deref(), Some("1"), "calls of {step} for {key}");
        }
    }
}

/// The crash test: kill -9 mid-load, restart, and every acknowledged event
/// has exactly one completed run in which no finished step ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_acknowledged_event_and_reruns_no_finished_step() {
    const EVENTS: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let data = dir.path().join("data");
    write_workflow(
        &workflows,
        &counting_workflow("crash", json!({ "webhook": {} }), "${trigger.body.key}"),
    );
    let keys: Vec<String> = (0..EVENTS).map(|n| format!("k{n}")).collect();

    // Load, and kill -9 once a third of the events were acknowledged.
    let server = Process::start(&workflows, &data);
    let base = server.base.clone();
    let sending = tokio::spawn({
        let keys = keys.clone();
        async move { send_all(&base, &keys).await }
    });
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if accepted_events(&client, &server.base, "crash").await >= EVENTS / 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "load never reached a third"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let acked_before_kill = sending.await.unwrap();
    assert!(acked_before_kill.len() >= EVENTS / 3);
    assert!(acked_before_kill.len() < EVENTS, "the kill landed mid-load");

    // Restart, and send every event again: the acknowledged ones are
    // duplicates, the others are stored now.
    let server = Process::start(&workflows, &data);
    let acked_after_restart = send_all(&server.base, &keys).await;
    assert_eq!(acked_after_restart.len(), EVENTS);
    let succeeded = settled_runs(&client, &server.base).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status}\n{log}");
    assert!(
        log.contains("Queued the stored unfinished runs"),
        "the restart resumed runs the kill cut off:\n{log}"
    );

    // Exactly one completed run per event.
    let runs_per_key = runs_per_dedupe_key(&succeeded);
    for key in &keys {
        assert_eq!(runs_per_key.get(key), Some(&1), "runs of {key}");
    }
    assert_eq!(succeeded.len(), EVENTS);

    // Each step's calls are counted in state committed with its record: a
    // finished step that ran again would have counted 2.
    each_step_ran_once(&data, "crash", &keys);
}

/// The Outbound Message crash test: sf-emulator keeps posting new leads'
/// notifications while Gust is killed with SIGKILL and started again on the
/// same port. Every notification ends acknowledged and ran once, each step
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_runs_every_outbound_notification_once_after_redelivery() {
    const LEADS: usize = 1_500;
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let data = dir.path().join("data");
    write_workflow(
        &workflows,
        &counting_workflow(
            "om-crash",
            json!({ "outbound_message": { "organization_ids": [ORG_ID], "sobject": "Lead" } }),
            "${trigger.notification_id}",
        ),
    );
    // A port for Gust that stays the same across the restart, as the
    // endpoint in Salesforce's outbound message definition does.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let emulator = quick_outbound_emulator(Duration::from_millis(500));
    emulator.add_outbound_rule(OutboundRule {
        object: "Lead".to_owned(),
        fields: vec!["LastName".to_owned(), "Company".to_owned()],
        endpoint: format!("http://{listen}/salesforce/outbound/om-crash"),
        on_create: true,
        on_update: false,
        send_session_id: false,
        organization_id: None,
    });
    let sf = Sf::start_with(emulator).await;
    let creating = tokio::spawn({
        let client = sf.client.clone();
        async move {
            for n in 0..LEADS {
                let lead = json!({ "LastName": format!("Lead {n}"), "Company": "Acme" });
                client.create("Lead", &lead).await.unwrap();
            }
        }
    });

    // Kill -9 once a fifth of the leads' notifications were accepted.
    let server = Process::start_on(&listen, &workflows, &data, &[]);
    let client = reqwest::Client::new();
    let started = Instant::now();
    while accepted_events(&client, &server.base, "om-crash").await < LEADS / 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never reached a fifth"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let acknowledged_before_kill: usize = sf
        .emulator()
        .outbound_deliveries()
        .iter()
        .filter(|delivery| delivery.acknowledged)
        .map(|delivery| delivery.notifications.len())
        .sum();
    assert!(acknowledged_before_kill > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Up again on the same port: Salesforce's redeliveries come in.
    let server = Process::start_on(&listen, &workflows, &data, &[]);
    creating.await.unwrap();
    let started = Instant::now();
    let notifications = loop {
        let (acknowledged, sent) = delivered(sf.emulator());
        if acknowledged.len() == LEADS && acknowledged == sent {
            break acknowledged;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {LEADS} notifications acknowledged",
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        acknowledged_before_kill < LEADS,
        "the kill landed before the last notification"
    );
    assert!(
        sf.emulator()
            .outbound_deliveries()
            .iter()
            .any(|delivery| !delivery.acknowledged),
        "messages sent while Gust was down failed and were sent again"
    );
    // A notification acknowledged before the kill, delivered again to the
    // restarted server: its dedupe key survived, so it is acknowledged and
    // not stored again.
    let acknowledged_early = sf
        .emulator()
        .outbound_deliveries()
        .into_iter()
        .find(|delivery| delivery.acknowledged)
        .unwrap()
        .notifications[0]
        .clone();
    let fixture = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/salesforce/outbound-messages/om-single-opportunity-compact-ap5.xml"),
    )
    .unwrap();
    let again = fixture
        .replace("00D7F00000107XsUAI", &ORG_ID[..15])
        .replace("04l7F000008aeAyQAI", &acknowledged_early)
        .replace("sf:Opportunity", "sf:Lead");
    let answer = client
        .post(format!("{}/salesforce/outbound/om-crash", server.base))
        .header("content-type", "text/xml")
        .body(again)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("<Ack>true</Ack>"));
    let succeeded = settled_runs(&client, &server.base).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status}\n{log}");

    // One run per notification, and each step ran once for it.
    let org15 = &ORG_ID[..15];
    let keys: std::collections::HashSet<String> = succeeded
        .iter()
        .map(|run| run["dedupe_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(succeeded.len(), LEADS);
    assert_eq!(
        keys,
        notifications
            .iter()
            .map(|id| format!("{org15}/{id}"))
            .collect()
    );
    each_step_ran_once(&data, "om-crash", &notifications);
}

#[tokio::test]
async fn gust_runs_and_gust_workflows_read_the_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &json!({
            "id": "crash",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "key": "${trigger.body.key}" } }],
        }),
    );
    write_workflow(
        &workflows,
        &json!({
            "id": "nightly",
            "trigger": { "schedule": { "cron": "0 0 2 * * *", "timezone": "Europe/Paris" } },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE }],
        }),
    );
    std::fs::write(workflows.join("broken.json"), "{ not json").unwrap();
    let server = Process::start(&workflows, &dir.path().join("data"));
    let acked = send_all(&server.base, &["only".to_owned()]).await;
    assert_eq!(acked, vec!["only".to_owned()]);
    let gust = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
            .arg("runs")
            .args(args)
            .env("GUST_SERVER", &server.base)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, listed, _) = gust(&["list", "--json"]);
    assert!(ok);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let run_id = listed["runs"][0]["id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let shown = loop {
        let (ok, shown, _) = gust(&["show", &run_id]);
        assert!(ok);
        let shown: Value = serde_json::from_str(&shown).unwrap();
        if shown["status"] == "succeeded" {
            break shown;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        shown["steps"][0]["output"],
        json!({ "act": "echo", "key": "only" })
    );

    let (ok, replayed, _) = gust(&["replay", &run_id]);
    assert!(ok);
    assert_ne!(replayed.trim(), run_id);
    let (ok, table, _) = gust(&["list", "--workflow", "crash"]);
    assert!(ok);
    assert_eq!(table.lines().count(), 3, "a header and two runs:\n{table}");
    assert!(table.contains(replayed.trim()));

    let (ok, _, error) = gust(&["show", "not-a-run"]);
    assert!(!ok);
    assert!(
        error.contains("the server answered 400 Bad Request: `not-a-run` is not a run id"),
        "{error}"
    );

    // `gust workflows list`: each workflow with its trigger and next fire.
    let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["workflows", "list"])
        .env("GUST_SERVER", &server.base)
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = |id: &str| {
        table
            .lines()
            .find(|line| line.starts_with(id))
            .unwrap_or_else(|| panic!("{id} is listed:\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("crash")[1..],
        [
            "webhook",
            "-",
            "POST",
            &format!("{}/hooks/crash", server.base)
        ]
    );
    let nightly = line("nightly");
    assert_eq!(nightly[1], "schedule");
    let next = chrono::DateTime::parse_from_rfc3339(&nightly[2]).unwrap();
    let ahead = next.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        ahead > chrono::TimeDelta::zero() && ahead <= chrono::TimeDelta::hours(24),
        "{table}"
    );
    // 02:00 in Paris is 00:00 or 01:00 UTC.
    assert!(
        matches!(
            next.format("%H:%M:%S").to_string().as_str(),
            "00:00:00" | "01:00:00"
        ),
        "{table}"
    );
    assert_eq!(
        nightly[3..],
        ["cron", "0", "0", "2", "*", "*", "*", "Europe/Paris"]
    );
    assert!(
        table.contains("(invalid)") && table.contains("broken.json"),
        "{table}"
    );

    let (status, log) = server.terminate();
    assert!(status.success());
    assert!(
        log.contains("broken.json"),
        "the bad file is reported:\n{log}"
    );
}

#[test]
fn flags_win_over_the_environment_which_wins_over_gust_toml() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &json!({
            "id": "configured",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE }],
        }),
    );
    // The file's listen address is taken by the environment's, and its data
    // directory (a path no one can create) by the flag's.
    let config = dir.path().join("gust.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:1\"\nworkflows = {:?}\ndata = \"/proc/gust-cannot-create\"\nretention = \"7days\"\nsync_timeout = \"5s\"\n",
            workflows.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(dir.path().join("data"))
        .env("GUST_LISTEN", "127.0.0.1:0")
        .env("GUST_DATA", "/proc/gust-cannot-create-either")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        line.starts_with("Gust listening on http://127.0.0.1:"),
        "{line:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!line.contains(":1\n"));
    assert!(output.status.success());
    assert!(dir.path().join("data/store").is_dir());

    // An unknown key in the file is an error that names it.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nworkers_count = 3\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("is not valid") && error.contains("unknown field `workers_count`"),
        "{error}"
    );
}

#[test]
fn listening_beyond_loopback_needs_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["serve", "--listen", "0.0.0.0:0", "--workflows"])
        .arg(dir.path())
        .arg("--data")
        .arg(dir.path().join("data"))
        .env_remove("GUST_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("0.0.0.0:0 is reachable beyond this machine: set an admin token"),
        "{error}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was opened");
}

#[tokio::test]
async fn sighup_reloads_the_workflow_directory() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let echo = |id: &str| json!({ "id": id, "trigger": { "webhook": {} }, "steps": [{ "id": "echo", "uses": guests::MISBEHAVE }] });
    write_workflow(&workflows, &echo("first"));
    let server = Process::start(&workflows, &dir.path().join("data"));
    let client = reqwest::Client::new();
    let status = |id: &'static str| {
        let request = client
            .post(format!("{}/hooks/{id}", server.base))
            .json(&json!({}))
            .send();
        async move { request.await.unwrap().status().as_u16() }
    };
    assert_eq!(status("second").await, 404);
    write_workflow(&workflows, &echo("second"));
    std::fs::remove_file(workflows.join("first.json")).unwrap();
    Command::new("kill")
        .arg("-HUP")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    let started = Instant::now();
    while status("second").await != 202 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the reload never happened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status("first").await, 404, "a removed file is unloaded");
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert!(log.contains("Reloading"), "{log}");
}

/// The example workflow, its `score` step pointing at the component this
/// build made, in `dir`.
fn example_workflow(dir: &Path) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workflows/score-lead.json"),
    )
    .unwrap();
    let mut workflow: Value = serde_json::from_str(&text).unwrap();
    for step in workflow["steps"].as_array_mut().unwrap() {
        if step["id"] == "score" {
            step["uses"] = json!(guests::LEAD_SCORE);
        }
    }
    write_workflow(dir, &workflow);
}

/// Posts the example web lead and waits for its run to end.
async fn score_a_lead(client: &reqwest::Client, base: &str) -> Value {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/events/web-lead.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let accepted: Value = client
        .post(format!("{base}/hooks/score-lead"))
        .json(&event["body"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let run: Value = client
            .get(format!("{base}/api/runs/{run_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["status"] == "succeeded" || run["status"] == "failed" {
            return run;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The environment that connects `gust serve` to the emulator of `sf`.
fn emulator_env(sf: &Sf) -> Vec<(&'static str, String)> {
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

/// The poll crash test: gust serve is killed with SIGKILL in the middle of
/// a backfill, between its first page's events (stored with the cursor)
/// and its second page, and started again. Every record ends reported by exactly one run,
/// and no step of it ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_killed_mid_backfill_reports_every_record_once_after_a_restart() {
    const LEADS: usize = 2_500;
    let sf = Sf::start().await;
    let leads: Vec<String> = {
        let mut org = sf.emulator().org();
        (0..LEADS)
            .map(|n| {
                let fields = serde_json::from_value(
                    json!({ "LastName": format!("L{n}"), "Company": "Acme" }),
                )
                .unwrap();
                org.create("Lead", &fields).unwrap().to_string()
            })
            .collect()
    };
    // Each page of 2,000 records takes a while to come, so the kill lands
    // between two pages.
    sf.emulator().inject(Fault {
        path: "/query".to_owned(),
        method: None,
        kind: FaultKind::Latency { ms: 300 },
        times: None,
    });
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let data = dir.path().join("data");
    write_workflow(
        &workflows,
        &counting_workflow(
            "poll-crash",
            json!({ "salesforce_poll": { "sobject": "Lead", "on": "created", "backfill": "all", "every": "* * * * * *" } }),
            "${trigger.record.Id}",
        ),
    );
    let env = emulator_env(&sf);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let client = reqwest::Client::new();

    let server = Process::start_with_env(&workflows, &data, &env);
    let started = Instant::now();
    while accepted_events(&client, &server.base, "poll-crash").await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first page never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let accepted_before_kill = accepted_events(&client, &server.base, "poll-crash").await;
    server.kill();
    assert!(
        accepted_before_kill < LEADS,
        "the kill landed mid-backfill ({accepted_before_kill} events)"
    );

    let server = Process::start_with_env(&workflows, &data, &env);
    let started = Instant::now();
    let succeeded = loop {
        let succeeded = settled_runs(&client, &server.base).await;
        if succeeded.len() >= LEADS {
            break succeeded;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {LEADS} ran",
            succeeded.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Polls go on, reading nothing new.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(settled_runs(&client, &server.base).await.len(), LEADS);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    let runs_per_lead = runs_per_dedupe_key(&succeeded);
    for lead in &leads {
        assert_eq!(runs_per_lead.get(lead), Some(&1), "runs of {lead}");
    }
    each_step_ran_once(&data, "poll-crash", &leads);
}

#[tokio::test]
async fn the_example_writes_to_the_org_the_environment_configures() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    example_workflow(&workflows);
    let secret = sf_emulator::DEFAULT_CLIENT_SECRET;
    let env = emulator_env(&sf);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let server = Process::start_with_env(&workflows, &dir.path().join("data"), &env);
    let client = reqwest::Client::new();
    let run = score_a_lead(&client, &server.base).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let lead_id = run["steps"][2]["output"]["id"].as_str().unwrap().to_owned();
    let lead = sf
        .client
        .get("Lead", &lead_id, &["Email".to_owned(), "Rating".to_owned()])
        .await
        .unwrap();
    assert_eq!(lead["Email"], "ada@analytical-engines.com");
    assert_eq!(
        lead["Rating"], "Hot",
        "the score step wrote the rating back"
    );
    let metrics = metrics(&client, &server.base).await;
    assert!(
        metrics.contains("gust_salesforce_api_requests_max 15000"),
        "{metrics}"
    );
    assert!(metrics.contains("gust_salesforce_requests 2"), "{metrics}");
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert!(
        log.contains(&format!("Salesforce: {} (API v60.0", sf.running.url)),
        "{log}"
    );
    assert!(!log.contains(secret), "the secret never reaches the log");
    assert!(!metrics.contains(secret));
}

/// The first succeeded run of `workflow`, with its event and steps, once
/// there is one.
async fn succeeded_run(client: &reqwest::Client, base: &str, workflow: &str) -> Value {
    let started = Instant::now();
    let run = loop {
        let runs = runs_with_status(client, base, "succeeded").await;
        if let Some(run) = runs.iter().find(|run| run["workflow"] == workflow) {
            break run.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no {workflow} run: {:?}",
            runs_with_status(client, base, "failed").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let url = format!("{base}/api/runs/{}", run["id"].as_str().unwrap());
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// The demo: the example workflows served with the example emulator seed,
/// its Outbound Message rule pointed at this server's port.
#[tokio::test]
async fn without_a_connection_the_server_runs_an_emulator_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    example_workflow(&workflows);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for example in ["lead-follow-up.json", "hot-leads.json"] {
        std::fs::copy(
            examples.join("workflows").join(example),
            workflows.join(example),
        )
        .unwrap();
    }
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let seed = std::fs::read_to_string(examples.join("emulator-seed.json"))
        .unwrap()
        .replace("127.0.0.1:8080", &listen);
    let seed_path = dir.path().join("seed.json");
    std::fs::write(&seed_path, seed).unwrap();
    let data = dir.path().join("data");
    let server = Process::start_on(
        &listen,
        &workflows,
        &data,
        &[("GUST_EMULATOR_SEED", seed_path.to_str().unwrap())],
    );
    let client = reqwest::Client::new();
    let run = score_a_lead(&client, &server.base).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][3]["output"]["rating"], "Hot");

    // The new lead's Outbound Message started the follow-up workflow,
    // which created a Task on it.
    let lead_id = run["steps"][2]["output"]["id"].as_str().unwrap().to_owned();
    let detail = succeeded_run(&client, &server.base, "lead-follow-up").await;
    assert_eq!(detail["event"]["record"]["Id"], lead_id.as_str());
    assert_eq!(
        detail["event"]["record"]["Company"],
        "Analytical Engines Ltd"
    );
    assert_eq!(detail["event"]["record"]["NumberOfEmployees"], 1200);
    let task = &detail["steps"][0];
    assert_eq!(
        task["input"]["record"]["Subject"],
        "Follow up with Analytical Engines Ltd"
    );
    assert!(
        task["output"]["id"].as_str().unwrap().starts_with("00T"),
        "{task}"
    );
    // The poll found the lead the score step rated Hot and put it on
    // the call list.
    let detail = succeeded_run(&client, &server.base, "hot-leads").await;
    assert_eq!(detail["event"]["on"], "updated");
    assert_eq!(detail["event"]["record"]["Id"], lead_id.as_str());
    assert_eq!(detail["event"]["record"]["Rating"], "Hot");
    assert_eq!(
        detail["steps"][0]["input"]["record"]["Subject"],
        "Call Analytical Engines Ltd: rated Hot"
    );
    let (exit, log) = server.terminate();
    assert!(exit.success());
    assert!(
        log.contains("No Salesforce connection configured: steps call an in-process sf-emulator at http://127.0.0.1:"),
        "{log}"
    );
    // The emulator's records live in the data directory, so a restart
    // keeps the lead and the task the runs created.
    let saved =
        std::fs::read_to_string(data.join("sf-emulator").join("org.json")).unwrap_or_default();
    assert!(saved.contains(&lead_id), "{saved:.300}");
    let task_id = task["output"]["id"].as_str().unwrap();
    assert!(saved.contains(task_id), "{saved:.300}");
}
