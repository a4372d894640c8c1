//! Several `gust serve` nodes on one PostgreSQL database: one killed
//! mid-load, one stopped past its lease, schedules on all of them. These
//! run in the suite's PostgreSQL pass (`GUST_TEST_STORE=postgres`); on the
//! embedded store there is one node and nothing to share.

use std::path::Path;
use std::time::Duration;

use gust_engine::store::{PostgresStore, Store};
use serde_json::{Value, json};

use crate::support::{
    Process, Sf, accepted_events, all_runs_ended, counting_workflow, emulator_env, eventually,
    postgres_url, runs_with_status, send_all, settled_runs, write_workflow,
};

/// How long a node's runs stay its own after its last heartbeat, here.
const LEASE: &str = "2s";

/// The cluster's database when the suite runs on PostgreSQL.
fn cluster_database(dir: &Path) -> Option<String> {
    postgres_url(&dir.join("cluster"))
}

/// The counting workflow (`crash`, two steps that count their calls per
/// key in state), then a Lead named after the key created in the org.
fn workflow_with_a_write() -> Value {
    let mut workflow = counting_workflow("crash", json!({ "webhook": {} }), "${trigger.body.key}");
    workflow["steps"].as_array_mut().unwrap().push(json!({
        "id": "lead",
        "uses": "builtin:salesforce",
        "with": {
            "action": "create",
            "sobject": "Lead",
            "record": { "LastName": "${trigger.body.key}", "Company": "Cluster" }
        },
        "permissions": { "salesforce": { "write": ["Lead"] } }
    }));
    workflow
}

/// Starts node `n` of the cluster on `url`, against `sf`'s org.
fn node(sf: &Sf, dir: &Path, n: usize, url: &str, workflows: &Path) -> Process {
    let data = dir.join(format!("node-{n}"));
    let mut env = emulator_env(sf);
    env.push(("GUST_STORE", url.to_owned()));
    env.push(("GUST_STORE_LEASE", LEASE.to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Process::start_with_env(workflows, &data, &env)
}

/// How many Leads named `name` the org holds.
fn leads_named(sf: &Sf, name: &str) -> usize {
    let org = sf.emulator().org();
    let lead = org.object("Lead").unwrap();
    org.records(lead, false)
        .filter(|record| record.get("LastName").and_then(Value::as_str) == Some(name))
        .count()
}

/// The calls each counting step made for `key`, from the shared store.
async fn calls(store: &dyn Store, key: &str) -> [Option<String>; 2] {
    let mut calls = [None, None];
    for (slot, step) in calls.iter_mut().zip(["first", "second"]) {
        *slot = store
            .get(&format!("crash/{step}"), &format!("calls/{key}"))
            .await
            .unwrap();
    }
    calls
}

/// Three nodes share 5,000 webhooks; one is killed with SIGKILL mid-load
/// and its share sent again to another (as a load balancer retries): every
/// acknowledged event has one run, no finished step ran again, no Lead was
/// created twice, and the dead node's runs were finished by the others. A
/// create the kill cut off between sending and its answer is not sent
/// again: its run fails with GUST_OUTCOME_UNKNOWN (the journal's rule).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_killed_mid_load_run_every_event_once() {
    const EVENTS: usize = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = cluster_database(dir.path()) else {
        return;
    };
    let sf = Sf::start().await;
    let workflows = dir.path().join("workflows");
    write_workflow(&workflows, &workflow_with_a_write());
    let nodes: Vec<Process> = (0..3)
        .map(|n| node(&sf, dir.path(), n, &url, &workflows))
        .collect();
    let keys: Vec<String> = (0..EVENTS).map(|n| format!("c{n}")).collect();
    let shares: Vec<Vec<String>> = keys.chunks(EVENTS.div_ceil(3)).map(<[_]>::to_vec).collect();

    // Each node takes its share; the first is killed a third of the way in.
    let sending: Vec<_> = nodes
        .iter()
        .zip(&shares)
        .map(|(node, share)| {
            let (base, share) = (node.base.clone(), share.clone());
            tokio::spawn(async move { send_all(&base, &share).await })
        })
        .collect();
    let client = reqwest::Client::new();
    let (http, first) = (&client, nodes[0].base.as_str());
    let third = shares[0].len() / 3;
    eventually(
        "a third of the first share",
        Duration::from_secs(120),
        || async move { (accepted_events(http, first, "crash").await >= third).then_some(()) },
    )
    .await;
    let mut nodes = nodes.into_iter();
    let killed = nodes.next().unwrap();
    killed.kill();
    let mut acked = Vec::new();
    for sent in sending {
        acked.push(sent.await.unwrap());
    }
    assert!(acked[0].len() < shares[0].len(), "the kill landed mid-load");
    let survivors: Vec<Process> = nodes.collect();

    // The killed node's share, sent again to the second node: the
    // acknowledged ones are duplicates, the others are stored now.
    let resent = send_all(&survivors[0].base, &shares[0]).await;
    assert_eq!(resent.len(), shares[0].len());
    all_runs_ended(&client, &survivors[1].base).await;
    let succeeded = runs_with_status(&client, &survivors[1].base, "succeeded").await;
    let failed = runs_with_status(&client, &survivors[1].base, "failed").await;
    let mut logs = String::new();
    for survivor in survivors {
        let (status, log) = survivor.terminate();
        assert!(status.success(), "{log}");
        logs.push_str(&log);
    }
    assert!(
        logs.contains("Took over runs"),
        "the killed node's runs were taken over:\n{logs}"
    );

    // One run per event, each counting step called once, never two
    // Leads; a run fails only where the kill cut a create off.
    assert_eq!(succeeded.len() + failed.len(), EVENTS);
    assert!(failed.len() <= 64, "{} runs failed", failed.len());
    let store = PostgresStore::open(&url).await.unwrap();
    for run in &failed {
        let detail = store.detail(run.id).await.unwrap().unwrap();
        let step = detail.steps.last().unwrap();
        let error = format!("{:?}", step.error);
        assert!(
            step.step == "lead" && error.contains("GUST_OUTCOME_UNKNOWN"),
            "{}: {error}",
            run.id
        );
    }
    let mut per_key = std::collections::HashMap::new();
    for run in succeeded.iter().chain(&failed) {
        *per_key.entry(run.dedupe_key.clone().unwrap()).or_insert(0) += 1;
    }
    let succeeded_keys: std::collections::HashSet<_> = succeeded
        .iter()
        .filter_map(|run| run.dedupe_key.clone())
        .collect();
    for key in &keys {
        assert_eq!(per_key.get(key), Some(&1), "runs of {key}");
        let [first, second] = calls(&store, key).await;
        assert_eq!(first.as_deref(), Some("1"), "the first step of {key}");
        assert_eq!(second.as_deref(), Some("1"), "the second step of {key}");
        let leads = leads_named(&sf, key);
        match succeeded_keys.contains(key) {
            true => assert_eq!(leads, 1, "Leads named {key}"),
            false => assert!(leads <= 1, "Leads named {key}: {leads}"),
        }
    }
}

/// A node stopped (SIGSTOP) in the middle of a step, past its lease: the
/// other node takes the run over and finishes it; the stopped node,
/// resumed, finds its late write refused by the epoch and leaves the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_past_its_lease_cannot_write_the_run_taken_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = cluster_database(dir.path()) else {
        return;
    };
    let sf = Sf::start().await;
    let workflows = dir.path().join("workflows");
    let mut workflow = workflow_with_a_write();
    // The first step takes 3 s: long enough to be stopped in.
    workflow["steps"][0]["with"]["sleep_ms"] = json!(3_000);
    write_workflow(&workflows, &workflow);
    let stopped = node(&sf, dir.path(), 0, &url, &workflows);
    let other = node(&sf, dir.path(), 1, &url, &workflows);

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/hooks/crash", stopped.base))
        .json(&json!({ "key": "paused" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&stopped, "-STOP");
    // Past the lease, and long enough for the other node to take the run
    // over and start its first step again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    signal(&stopped, "-CONT");

    let base = other.base.as_str();
    let (http, base) = (&client, base);
    let run = eventually(
        "the run succeeded",
        Duration::from_secs(60),
        || async move { runs_with_status(http, base, "succeeded").await.pop() },
    )
    .await;
    // The stopped node's attempt ends after the run was taken from it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, stopped_log) = stopped.terminate();
    let (_, other_log) = other.terminate();
    assert!(other_log.contains("Took over runs"), "{other_log}");
    assert!(
        stopped_log.contains("was taken over by another node"),
        "the stopped node's late write was refused:\n{stopped_log}"
    );
    let store = PostgresStore::open(&url).await.unwrap();
    let detail = store.detail(run.id).await.unwrap().unwrap();
    assert_eq!(detail.run.status.as_str(), "succeeded");
    // The step cut off ran again on the other node: one attempt recorded,
    // and one call counted (the stopped node's count went with its refused
    // write).
    assert_eq!(detail.steps[0].attempts.len(), 1, "{:?}", detail.steps[0]);
    let [first, second] = calls(&store, "paused").await;
    assert_eq!(first.as_deref(), Some("1"));
    assert_eq!(second.as_deref(), Some("1"));
    assert_eq!(leads_named(&sf, "paused"), 1);
}

/// Sends `signal` to `process`.
fn signal(process: &Process, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(signal)
        .arg(process.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A schedule firing every second and a poll every second run on three
/// nodes, one killed and started again meanwhile: each fire has one run
/// and each Lead created one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_and_polls_on_three_nodes_store_each_fire_and_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = cluster_database(dir.path()) else {
        return;
    };
    let sf = Sf::start().await;
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &counting_workflow(
            "tick",
            json!({ "schedule": { "cron": "* * * * * *" } }),
            "${trigger.scheduled_at}",
        ),
    );
    write_workflow(
        &workflows,
        &counting_workflow(
            "new-leads",
            json!({ "salesforce_poll": { "sobject": "Lead", "on": "created", "every": "* * * * * *" } }),
            "${trigger.record.Id}",
        ),
    );
    let started = std::time::Instant::now();
    let mut nodes: Vec<Process> = (0..3)
        .map(|n| node(&sf, dir.path(), n, &url, &workflows))
        .collect();
    let mut created = Vec::new();
    let mut create = |count: usize| {
        let mut org = sf.emulator().org();
        for _ in 0..count {
            let n = created.len();
            let fields =
                serde_json::from_value(json!({ "LastName": format!("P{n}"), "Company": "Acme" }))
                    .unwrap();
            created.push(org.create("Lead", &fields).unwrap().to_string());
        }
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    create(10);
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes.pop().unwrap().kill();
    create(10);
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes.push(node(&sf, dir.path(), 2, &url, &workflows));
    create(10);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = reqwest::Client::new();
    let (http, base) = (&client, nodes[0].base.as_str());
    eventually(
        "every new lead's run",
        Duration::from_secs(60),
        || async move {
            let runs = runs_with_status(http, base, "succeeded").await;
            let polled = runs
                .iter()
                .filter(|run| run.workflow == "new-leads")
                .count();
            (polled >= 30).then_some(())
        },
    )
    .await;
    // The schedule fires on: stop the nodes and read what they stored
    // (runs cut off by the stop included: a duplicate would be a row too).
    for node in nodes {
        let (status, log) = node.terminate();
        assert!(status.success(), "{log}");
    }
    // One node at a time polls: about one query a second, not three.
    let polled_for = started.elapsed().as_secs_f64();
    let queries = sf.count("/query");
    assert!(
        (queries as f64) < 1.5 * polled_for,
        "{queries} queries in {polled_for:.1} s"
    );

    let store = PostgresStore::open(&url).await.unwrap();
    let runs = stored_runs(&store).await;
    let mut per_key = std::collections::HashMap::new();
    for run in &runs {
        let key = (run.workflow.clone(), run.dedupe_key.clone().unwrap());
        *per_key.entry(key).or_insert(0) += 1;
    }
    assert!(per_key.values().all(|runs| *runs == 1), "{per_key:?}");
    let fires = per_key
        .keys()
        .filter(|(workflow, _)| workflow == "tick")
        .count();
    assert!(fires >= 8, "{fires} fires in about 9 seconds");
    for lead in &created {
        let polled = runs.iter().filter(|run| {
            run.workflow == "new-leads"
                && run
                    .dedupe_key
                    .as_deref()
                    .is_some_and(|key| key.starts_with(lead.as_str()))
        });
        assert_eq!(polled.count(), 1, "runs of lead {lead}");
    }
    for run in runs.iter().filter(|run| run.status.is_final()) {
        assert_eq!(run.status.as_str(), "succeeded", "{}", run.id);
        let detail = store.detail(run.id).await.unwrap().unwrap();
        let calls: Vec<Value> = detail
            .steps
            .iter()
            .map(|step| step.output.clone().unwrap_or_default()["calls"].clone())
            .collect();
        assert_eq!(calls, [json!(1), json!(1)], "{}", run.id);
    }
}

/// PostgreSQL stopped under load and started again: while it is down,
/// webhooks are answered 503, and every event acknowledged before was
/// committed; once it is back the server takes events and finishes its
/// runs by itself, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_refuses_then_goes_on_by_itself() {
    /// Events sent at a time, and the pause between two such batches: the
    /// load lasts until the outage is over, however fast the server is.
    const BATCH: usize = 50;
    const PAUSE: Duration = Duration::from_millis(100);
    let dir = tempfile::tempdir().unwrap();
    if cluster_database(dir.path()).is_none() {
        return;
    }
    let postgres = std::sync::Arc::new(gust_test_postgres::PrivateServer::start());
    let url = postgres.database();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &counting_workflow("crash", json!({ "webhook": {} }), "${trigger.body.key}"),
    );
    let server = Process::start_with_env(
        &workflows,
        &dir.path().join("data"),
        &[("GUST_STORE", url.as_str()), ("GUST_STORE_LEASE", LEASE)],
    );

    // Load, with PostgreSQL stopped for 3 seconds half a second in.
    let outage = tokio::task::spawn_blocking({
        let postgres = postgres.clone();
        move || {
            std::thread::sleep(Duration::from_millis(500));
            postgres.stop();
            std::thread::sleep(Duration::from_secs(3));
            postgres.resume();
        }
    });
    let mut keys: Vec<String> = Vec::new();
    let mut acked_during = Vec::new();
    while !outage.is_finished() {
        let batch: Vec<String> = (keys.len()..keys.len() + BATCH)
            .map(|n| format!("r{n}"))
            .collect();
        acked_during.extend(send_all(&server.base, &batch).await);
        keys.extend(batch);
        tokio::time::sleep(PAUSE).await;
    }
    outage.await.unwrap();
    assert!(
        acked_during.len() < keys.len(),
        "some events were refused while PostgreSQL was down"
    );

    // Every event acknowledged then was committed.
    let store = PostgresStore::open(&url).await.unwrap();
    let stored = stored_keys(&store).await;
    for key in &acked_during {
        assert!(
            stored.contains(key),
            "{key} was acknowledged but not stored"
        );
    }

    // Back up: everything is taken, and every run ends once.
    let acked_after = send_all(&server.base, &keys).await;
    assert_eq!(acked_after.len(), keys.len());
    let client = reqwest::Client::new();
    let succeeded = settled_runs(&client, &server.base).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(succeeded.len(), keys.len());
    for key in &keys {
        let [first, second] = calls(&store, key).await;
        assert_eq!(
            (first.as_deref(), second.as_deref()),
            (Some("1"), Some("1")),
            "{key}"
        );
    }
}

/// The dedupe keys of every stored run.
async fn stored_keys(store: &dyn Store) -> std::collections::HashSet<String> {
    let runs = stored_runs(store).await;
    runs.into_iter().filter_map(|run| run.dedupe_key).collect()
}

/// Every stored run, finished or not.
async fn stored_runs(store: &dyn Store) -> Vec<gust_engine::model::RunRecord> {
    let mut runs = Vec::new();
    let mut query = gust_engine::store::RunQuery {
        limit: 1_000,
        ..Default::default()
    };
    loop {
        let page = store.list(&query).await.unwrap();
        runs.extend(page.runs);
        match page.next_cursor {
            Some(cursor) => query.before = Some(cursor),
            None => return runs,
        }
    }
}

/// An embedded store copied into PostgreSQL with `gust store copy`: a
/// server on the copy lists the runs, and an event sent again is still a
/// duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gust_store_copy_moves_an_embedded_store_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    if cluster_database(dir.path()).is_none() {
        return;
    }
    let url = gust_test_postgres::database();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &counting_workflow("crash", json!({ "webhook": {} }), "${trigger.body.key}"),
    );
    let keys: Vec<String> = (0..50).map(|n| format!("m{n}")).collect();
    let embedded = dir.path().join("embedded");
    // The embedded store, named as a directory (the pass's PostgreSQL aside).
    let sled = embedded.join("store");
    let server = Process::start_with_env(
        &workflows,
        &embedded,
        &[("GUST_STORE", sled.to_str().unwrap())],
    );
    assert_eq!(send_all(&server.base, &keys).await.len(), keys.len());
    let client = reqwest::Client::new();
    assert_eq!(settled_runs(&client, &server.base).await.len(), keys.len());
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    let gust = || std::process::Command::new(env!("CARGO_BIN_EXE_gust-e2e"));
    let copied = gust()
        .args(["store", "copy", "--from"])
        .arg(&sled)
        .args(["--to", &url])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(said.contains("Copied 50 runs"), "{said}");
    let status = gust()
        .args(["store", "status", "--store", &url])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains("initial") && said.contains("applied"),
        "{said}"
    );

    let server = Process::start_with_env(
        &workflows,
        &dir.path().join("copied"),
        &[("GUST_STORE", url.as_str())],
    );
    assert_eq!(send_all(&server.base, &keys).await.len(), keys.len());
    let succeeded = settled_runs(&client, &server.base).await;
    assert_eq!(succeeded.len(), keys.len(), "sent again: duplicates");
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}

/// `gust store status` and `gust store migrate` on a new database: the
/// missing version shown with what to run, applied once, then shown as
/// applied; an embedded store or none named is refused with what to name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gust_store_migrate_applies_the_schema_once_and_status_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    if cluster_database(dir.path()).is_none() {
        return;
    }
    let url = gust_test_postgres::database();
    let gust = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
            .args(args)
            .env_remove("GUST_STORE")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), said)
    };
    let (ok, said) = gust(&["store", "status", "--store", &url]);
    assert!(ok, "{said}");
    assert!(
        said.contains("not applied") && said.contains("gust store migrate"),
        "{said}"
    );
    let (ok, said) = gust(&["store", "migrate", "--store", &url]);
    assert!(ok && said.contains("Applied schema versions 1"), "{said}");
    let (ok, said) = gust(&["store", "migrate", "--store", &url]);
    assert!(ok && said.contains("up to date"), "{said}");
    let (ok, said) = gust(&["store", "status", "--store", &url]);
    assert!(
        ok && said.contains("applied") && !said.contains("not applied"),
        "{said}"
    );

    let embedded = dir.path().join("store");
    let (ok, said) = gust(&["store", "migrate", "--store", embedded.to_str().unwrap()]);
    assert!(!ok && said.contains("postgres://"), "{said}");
    let (ok, said) = gust(&["store", "migrate"]);
    assert!(!ok && said.contains("--store postgres://"), "{said}");
}
