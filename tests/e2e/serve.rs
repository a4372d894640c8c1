//! `gust serve` as a user runs it: configuration, reloads, the example
//! workflows against the emulator, and `gust runs`/`gust workflows` over
//! its admin API.

use crate::support::{
    Process, Sf, emulator_env, eventually, metrics, send_all, succeeded_run, write_workflow,
};

use gust_tests::guests;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

    let shown = eventually(
        "gust runs show a succeeded run",
        Duration::from_secs(30),
        || {
            let (ok, shown, _) = gust(&["show", &run_id, "--json"]);
            assert!(ok);
            let shown: Value = serde_json::from_str(&shown).unwrap();
            std::future::ready((shown["status"] == "succeeded").then_some(shown))
        },
    )
    .await;
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

/// Runs started by hand (`gust runs start`, `POST /api/workflows/{id}/runs`)
/// for a manual and a webhook workflow; a failed run, its error in `gust
/// runs list`, and replays until one succeeds, which takes the runs it
/// replays off the failed list.
#[tokio::test]
async fn runs_start_by_hand_and_a_successful_replay_clears_the_failed_list() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &json!({
            "id": "flaky", "trigger": { "manual": {} },
            "steps": [{ "id": "try", "uses": guests::MISBEHAVE, "with": { "act": "flaky", "succeed_on": 3 },
                        "retry": { "max_attempts": 1 } }],
        }),
    );
    write_workflow(
        &workflows,
        &json!({
            "id": "hook", "trigger": { "webhook": {} },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "email": "${trigger.body.email}" } }],
        }),
    );
    write_workflow(
        &workflows,
        &json!({
            "id": "resumable", "trigger": { "manual": {} },
            "steps": [{ "id": "try", "uses": guests::MISBEHAVE, "with": { "act": "flaky", "succeed_on": 2 },
                        "retry": { "max_attempts": 1 } }],
        }),
    );
    write_workflow(
        &workflows,
        &json!({
            "id": "lead", "trigger": { "manual": {} },
            "steps": [{ "id": "create", "uses": "builtin:salesforce",
                        "with": { "action": "create", "sobject": "Lead", "record": { "LastName": "Shown", "Company": "Acme" } },
                        "permissions": { "salesforce": { "write": ["Lead"] } } }],
        }),
    );
    write_workflow(
        &workflows,
        &json!({
            "id": "nightly", "trigger": { "schedule": { "cron": "0 0 2 * * *" } },
            "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "at": "${trigger.scheduled_at}" } }],
        }),
    );
    let server = Process::start(&workflows, &dir.path().join("data"));
    // Without a scheme, as people type it.
    let address = server.base.trim_start_matches("http://").to_owned();
    let gust = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
            .arg("runs")
            .args(args)
            .env("GUST_SERVER", &address)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "gust runs {args:?}: {stderr}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let ended = |run_id: String| {
        let gust = &gust;
        async move {
            eventually("the run ends", Duration::from_secs(30), || {
                let shown: Value =
                    serde_json::from_str(&gust(&["show", &run_id, "--json"])).unwrap();
                std::future::ready(
                    matches!(shown["status"].as_str(), Some("succeeded" | "failed"))
                        .then_some(shown),
                )
            })
            .await
        }
    };

    let first = gust(&["start", "flaky"]);
    assert_eq!(ended(first.clone()).await["status"], "failed");
    let listed = gust(&["list", "--status", "failed"]);
    assert!(listed.contains(&first), "{listed}");
    assert!(
        listed.contains("    step `try` failed: attempt 1 failed"),
        "the failed step and its error:\n{listed}"
    );
    let second = gust(&["replay", &first]);
    assert_eq!(ended(second.clone()).await["status"], "failed");
    let third = gust(&["replay", &second]);
    assert_eq!(ended(third.clone()).await["status"], "succeeded");
    let listed = gust(&["list", "--status", "failed"]);
    assert_eq!(listed.lines().count(), 1, "only the header:\n{listed}");
    let shown = gust(&["show", &first]);
    assert!(shown.contains("status    failed"), "{shown}");
    assert!(
        shown.contains(&format!("replayed  by {third}, which succeeded")),
        "{shown}"
    );
    assert!(shown.contains("FAIL try ("), "{shown}");

    // A failed run resumed: the same run, one more attempt, succeeded.
    let failed = gust(&["start", "resumable"]);
    assert_eq!(ended(failed.clone()).await["status"], "failed");
    assert_eq!(gust(&["replay", "--resume", &failed]), failed);
    let resumed = ended(failed.clone()).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed:#}");
    assert_eq!(resumed["steps"][0]["attempts"].as_array().unwrap().len(), 2);
    // A run's Salesforce calls, as `gust runs show` prints them.
    let lead = gust(&["start", "lead"]);
    assert_eq!(ended(lead.clone()).await["status"], "succeeded");
    let shown = gust(&["show", &lead]);
    let call = shown
        .lines()
        .find(|line| line.trim_start().starts_with("call 1  create Lead 00Q"))
        .unwrap_or_else(|| panic!("no call line:\n{shown}"));
    assert!(
        call.contains("  201, 20 bytes  ") && call.ends_with(" ms  live"),
        "{call}"
    );

    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"email": "ada@example.com"}"#).unwrap();
    let hooked = gust(&["start", "hook", "--body", body.to_str().unwrap()]);
    let run = ended(hooked).await;
    assert_eq!(run["event"]["body"]["email"], "ada@example.com");
    assert_eq!(run["steps"][0]["output"]["email"], "ada@example.com");

    // The API itself, and what it refuses.
    let client = reqwest::Client::new();
    let start = |workflow: &str, body: &str| {
        client
            .post(format!("{}/api/workflows/{workflow}/runs", server.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let answer = start("nightly", "").await.unwrap();
    assert_eq!(answer.status(), 202);
    let accepted: Value = answer.json().await.unwrap();
    let run = ended(accepted["run_id"].as_str().unwrap().to_owned()).await;
    assert_eq!(run["status"], "succeeded");
    assert!(
        run["event"]["scheduled_at"]
            .as_str()
            .unwrap()
            .ends_with("+00:00")
    );
    for (workflow, body, status, message) in [
        ("nowhere", "{}", 404, "no workflow `nowhere` is loaded"),
        (
            "hook",
            r#"{"event": {}, "body": {}}"#,
            400,
            "give `event` or `body`, not both",
        ),
        (
            "hook",
            "{nope",
            400,
            "the body is `{\"event\": ...}`, `{\"body\": ...}` or empty",
        ),
        ("hook", r#"{"evnt": {}}"#, 400, "unknown field `evnt`"),
        ("nightly", r#"{"body": {}}"#, 400, "a schedule's event is"),
    ] {
        let answer = start(workflow, body).await.unwrap();
        assert_eq!(answer.status(), status, "{workflow} {body}");
        let error: Value = answer.json().await.unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(message), "{workflow} {body}: {error}");
    }
    let (status, _) = server.terminate();
    assert!(status.success());
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
    eventually("the reload", Duration::from_secs(30), || async {
        (status("second").await == 202).then_some(())
    })
    .await;
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

/// Installs the example for tenant `local` on the server's own
/// connection, posts the example web lead to the installation and waits
/// for its run to end.
async fn score_a_lead(client: &reqwest::Client, base: &str) -> Value {
    let installed: Value = client
        .post(format!("{base}/api/installations"))
        .json(&json!({ "tenant": "local", "workflow": "score-lead",
                       "connections": { "salesforce": "default" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = installed["installation"]["path"].as_str().unwrap();
    let secret = installed["webhook_secret"].as_str().unwrap();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/events/web-lead.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let accepted: Value = client
        .post(format!("{base}{path}"))
        .bearer_auth(secret)
        .json(&event["body"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    let url = format!("{base}/api/runs/{run_id}");
    eventually("the lead's run ended", Duration::from_secs(60), || async {
        let run: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        (run["status"] == "succeeded" || run["status"] == "failed").then_some(run)
    })
    .await
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

/// The demo: the example workflows served with the example emulator seed,
/// its Outbound Message rule pointed at this server's port.
#[tokio::test]
async fn without_a_connection_the_server_runs_an_emulator_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    example_workflow(&workflows);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for example in [
        "lead-follow-up.json",
        "hot-leads.json",
        "won-opportunities.json",
    ] {
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
    // An opportunity moved to Closed Won: its change event started
    // won-opportunities, which created an onboarding Task on it.
    let opportunity = win_an_opportunity(&client, &data).await;
    let onboarding = eventually("an onboarding task", Duration::from_secs(60), || async {
        let page: Value = client
            .get(format!(
                "{}/api/runs?workflow=won-opportunities",
                server.base
            ))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        for run in page["runs"].as_array()? {
            let url = format!("{}/api/runs/{}", server.base, run["id"].as_str()?);
            let detail: Value = client.get(url).send().await.ok()?.json().await.ok()?;
            if let Some(task) = detail["steps"][1]["output"]["id"].as_str() {
                assert_eq!(
                    detail["steps"][1]["input"]["record"]["WhatId"],
                    opportunity.as_str()
                );
                return Some(task.to_owned());
            }
        }
        None
    })
    .await;
    assert!(onboarding.starts_with("00T"), "{onboarding}");
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

/// Creates an opportunity in the in-process emulator whose data directory
/// is `data`'s, then moves it to Closed Won; its Id.
async fn win_an_opportunity(client: &reqwest::Client, data: &Path) -> String {
    let url = std::fs::read_to_string(data.join("sf-emulator").join("url")).unwrap();
    let token: Value = client
        .post(format!("{url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", sf_emulator::DEFAULT_CLIENT_ID),
            ("client_secret", sf_emulator::DEFAULT_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let created: Value = client
        .post(format!("{url}/services/data/v62.0/sobjects/Opportunity"))
        .bearer_auth(token)
        .json(&json!({ "Name": "Analytical Engines renewal", "StageName": "Prospecting", "CloseDate": "2027-01-31" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let won = client
        .patch(format!(
            "{url}/services/data/v62.0/sobjects/Opportunity/{id}"
        ))
        .bearer_auth(token)
        .json(&json!({ "StageName": "Closed Won" }))
        .send()
        .await
        .unwrap();
    assert!(won.status().is_success());
    id
}

#[tokio::test]
async fn gust_emulator_query_reads_the_records_of_the_running_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &json!({ "id": "echo", "trigger": { "webhook": {} }, "steps": [{ "id": "echo", "uses": guests::MISBEHAVE }] }),
    );
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({ "records": { "Account": [{ "Name": "Acme", "NumberOfEmployees": 12 }, { "Name": "Initech" }] } })
            .to_string(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let query = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
            .args(["emulator", "query"])
            .args(args)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap()
    };
    let none = query(&["SELECT Name FROM Account"]);
    assert_eq!(none.status.code(), Some(1));
    let error = String::from_utf8_lossy(&none.stderr);
    assert!(error.contains("no sf-emulator runs on"), "{error}");

    let server = Process::start_with_env(
        &workflows,
        &data,
        &[("GUST_EMULATOR_SEED", seed.to_str().unwrap())],
    );
    let table = query(&["SELECT Name, NumberOfEmployees FROM Account ORDER BY Name"]);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let table = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines,
        [
            "Name     NumberOfEmployees",
            "Acme     12",
            "Initech",
            "(2 records)"
        ],
        "{table}"
    );
    let json = query(&["SELECT Name FROM Account WHERE Name = 'Acme'", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&json.stdout),
        "{\"Name\":\"Acme\"}\n"
    );
    let wrong = query(&["SELECT Nme FROM Account"]);
    assert_eq!(wrong.status.code(), Some(1));
    let error = String::from_utf8_lossy(&wrong.stderr);
    assert!(error.contains("INVALID_FIELD"), "{error}");

    let (exit, _) = server.terminate();
    assert!(exit.success());
    let gone = query(&["SELECT Name FROM Account"]);
    assert_eq!(
        gone.status.code(),
        Some(1),
        "the address file is removed on stop"
    );
}
