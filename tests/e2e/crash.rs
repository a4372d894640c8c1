//! `gust serve` killed with SIGKILL mid-load and started again: every
//! acknowledged event runs once, and no finished step runs again.

use crate::support::{
    Process, Sf, accepted_events, counting_workflow, delivered, eventually,
    quick_outbound_emulator, send_all, settled_runs, write_workflow,
};
use gust_engine::model::RunRecord;
use serde_json::json;
use sf_emulator::faults::{Fault, FaultKind};
use sf_emulator::org::ORG_ID;
use sf_emulator::outbound::OutboundRule;
use std::path::Path;
use std::time::Duration;

/// Creates `count` leads in the emulator's org; their Ids in order.
fn create_leads(sf: &Sf, count: usize) -> Vec<String> {
    let mut org = sf.emulator().org();
    (0..count)
        .map(|n| {
            let fields =
                serde_json::from_value(json!({ "LastName": format!("L{n}"), "Company": "Acme" }))
                    .unwrap();
            org.create("Lead", &fields).unwrap().to_string()
        })
        .collect()
}

/// How many of `runs` carry each dedupe key.
fn runs_per_dedupe_key(runs: &[RunRecord]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for run in runs {
        *counts
            .entry(run.dedupe_key.clone().expect("a dedupe key"))
            .or_default() += 1;
    }
    counts
}

/// Checks in the stopped server's store that each step of the
/// [`counting_workflow`] `workflow` was called once for every key.
async fn each_step_ran_once<'a>(
    data: &Path,
    workflow: &str,
    keys: impl IntoIterator<Item = &'a String>,
) {
    let store = crate::support::open_store(data).await.unwrap();
    for key in keys {
        for step in ["first", "second"] {
            let calls = store
                .get(&format!("{workflow}/{step}"), &format!("calls/{key}"))
                .await
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
    let (http, base) = (&client, server.base.as_str());
    eventually(
        "load reaching a third",
        Duration::from_secs(60),
        || async move { (accepted_events(http, base, "crash").await >= EVENTS / 3).then_some(()) },
    )
    .await;
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
    // On PostgreSQL the restarted server is a new node: it takes the runs
    // over once the killed one's lease lapses.
    assert!(
        log.contains("Queued the stored unfinished runs") || log.contains("Took over runs"),
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
    each_step_ran_once(&data, "crash", &keys).await;
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
    let (http, base) = (&client, server.base.as_str());
    eventually("the load reaching a fifth", Duration::from_secs(60), || async move {
        (accepted_events(http, base, "om-crash").await >= LEADS / 5).then_some(())
    })
    .await;
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
    let emulator = sf.emulator();
    let what = format!("all {LEADS} notifications acknowledged");
    let notifications = eventually(&what, Duration::from_secs(120), || async move {
        let (acknowledged, sent) = delivered(emulator);
        (acknowledged.len() == LEADS && acknowledged == sent).then_some(acknowledged)
    })
    .await;
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
        .map(|run| run.dedupe_key.clone().expect("a dedupe key"))
        .collect();
    assert_eq!(succeeded.len(), LEADS);
    assert_eq!(
        keys,
        notifications
            .iter()
            .map(|id| format!("{org15}/{id}"))
            .collect()
    );
    each_step_ran_once(&data, "om-crash", &notifications).await;
}

/// The poll crash test: gust serve is killed with SIGKILL in the middle of
/// a backfill, between its first page's events (stored with the cursor)
/// and its second page, and started again. Every record ends reported by exactly one run,
/// and no step of it ran twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_killed_mid_backfill_reports_every_record_once_after_a_restart() {
    const LEADS: usize = 2_500;
    let sf = Sf::start().await;
    let leads = create_leads(&sf, LEADS);
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
    let client = reqwest::Client::new();

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let (http, base) = (&client, server.base.as_str());
    eventually("the first page", Duration::from_secs(60), || async move {
        (accepted_events(http, base, "poll-crash").await > 0).then_some(())
    })
    .await;
    let accepted_before_kill = accepted_events(&client, &server.base, "poll-crash").await;
    server.kill();
    assert!(
        accepted_before_kill < LEADS,
        "the kill landed mid-backfill ({accepted_before_kill} events)"
    );

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let (http, base) = (&client, server.base.as_str());
    let what = format!("all {LEADS} leads run");
    let succeeded = eventually(&what, Duration::from_secs(120), || async move {
        let succeeded = settled_runs(http, base).await;
        (succeeded.len() >= LEADS).then_some(succeeded)
    })
    .await;
    // Polls go on, reading nothing new.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(settled_runs(&client, &server.base).await.len(), LEADS);
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    let runs_per_lead = runs_per_dedupe_key(&succeeded);
    for lead in &leads {
        assert_eq!(runs_per_lead.get(lead), Some(&1), "runs of {lead}");
    }
    each_step_ran_once(&data, "poll-crash", &leads).await;
}

/// Installs `workflow` for `count` tenants (`t0`, `t1`, ...) with
/// `request` added; returns the installations' ids.
async fn install_many(
    client: &reqwest::Client,
    base: &str,
    workflow: &str,
    count: usize,
    request: serde_json::Value,
) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let mut body = json!({ "tenant": format!("{workflow}-t{n}"), "workflow": workflow });
        body.as_object_mut()
            .unwrap()
            .extend(request.as_object().unwrap().clone());
        let created: serde_json::Value = client
            .post(format!("{base}/api/installations"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(
            created["installation"]["id"]
                .as_str()
                .expect("an installation")
                .to_owned(),
        );
    }
    ids
}

/// The runs of `installation`, settled.
async fn installation_runs(
    client: &reqwest::Client,
    base: &str,
    installation: &str,
) -> Vec<RunRecord> {
    let url = format!("{base}/api/runs?installation={installation}&limit=1000");
    let page: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
    serde_json::from_value(page["runs"].clone()).unwrap()
}

/// The crash test of installations: a hundred installations' schedules
/// and polls running when the server is killed with SIGKILL; after the
/// restart each installation has run each fire and each record once, its
/// steps each once, in its own state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_a_hundred_installations_each_fires_and_reports_exactly_once() {
    const PER_KIND: usize = 50;
    const LEADS: usize = 40;
    let sf = Sf::start().await;
    let leads = create_leads(&sf, LEADS);
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    let data = dir.path().join("data");
    let installed = |mut workflow: serde_json::Value, slot: bool| {
        workflow["config"] = json!({ "type": "object" });
        if slot {
            workflow["connections"] = json!({ "salesforce": {} });
        }
        workflow
    };
    write_workflow(
        &workflows,
        &installed(
            counting_workflow(
                "ticks",
                json!({ "schedule": { "cron": "* * * * * *", "missed": "catch_up", "jitter": "900ms" } }),
                "${trigger.scheduled_at}",
            ),
            false,
        ),
    );
    write_workflow(
        &workflows,
        &installed(
            counting_workflow(
                "polls",
                json!({ "salesforce_poll": { "sobject": "Lead", "on": "created", "backfill": "all",
                                             "every": "* * * * * *", "jitter": "900ms" } }),
                "${trigger.record.Id}",
            ),
            true,
        ),
    );
    let client = reqwest::Client::new();
    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let ticks = install_many(&client, &server.base, "ticks", PER_KIND, json!({})).await;
    let polls = install_many(
        &client,
        &server.base,
        "polls",
        PER_KIND,
        json!({ "connections": { "salesforce": "default" } }),
    )
    .await;
    let (http, base) = (&client, server.base.as_str());
    eventually(
        "the installations run",
        Duration::from_secs(60),
        || async move {
            let accepted = accepted_events(http, base, "ticks").await
                + accepted_events(http, base, "polls").await;
            (accepted >= 600).then_some(())
        },
    )
    .await;
    let polled_before_kill = accepted_events(&client, &server.base, "polls").await;
    server.kill();
    assert!(
        polled_before_kill < PER_KIND * LEADS,
        "the kill landed while the polls reported ({polled_before_kill} events)"
    );

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let (http, base) = (&client, server.base.as_str());
    // Every poll installation reports every lead; the schedules fire on.
    let polls_ref = &polls;
    eventually(
        "every installation's poll reports every lead",
        Duration::from_secs(180),
        || async move {
            for installation in polls_ref {
                let url = format!("{base}/api/installations/{installation}");
                let shown: serde_json::Value =
                    http.get(url).send().await.unwrap().json().await.unwrap();
                let runs: u64 = shown["runs"]
                    .as_object()?
                    .values()
                    .filter_map(serde_json::Value::as_u64)
                    .sum();
                if runs < LEADS as u64 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    // The schedules fire every second: pause them (and the polls) so that
    // the runs settle however slowly a loaded machine runs them.
    for installation in ticks.iter().chain(&polls) {
        let url = format!("{}/api/installations/{installation}/pause", server.base);
        let paused = client.post(url).send().await.unwrap();
        assert!(paused.status().is_success(), "{installation}");
    }
    settled_runs(&client, &server.base).await;
    let mut fired = std::collections::HashMap::new();
    for installation in &ticks {
        let runs = installation_runs(&client, &server.base, installation).await;
        let per_fire = runs_per_dedupe_key(&runs);
        assert!(
            per_fire.values().all(|runs| *runs == 1),
            "{installation}: {per_fire:?}"
        );
        // One run per second, none missing across the kill (caught up).
        let mut fires: Vec<chrono::DateTime<chrono::Utc>> =
            per_fire.keys().map(|key| key.parse().unwrap()).collect();
        fires.sort();
        for pair in fires.windows(2) {
            assert_eq!(
                (pair[1] - pair[0]).num_seconds(),
                1,
                "{installation}: a fire missed at {}",
                pair[0]
            );
        }
        fired.insert(
            installation.clone(),
            per_fire.into_keys().collect::<Vec<_>>(),
        );
    }
    for installation in &polls {
        let runs = installation_runs(&client, &server.base, installation).await;
        let per_lead = runs_per_dedupe_key(&runs);
        for lead in &leads {
            let key = per_lead.keys().find(|key| key.starts_with(lead.as_str()));
            assert_eq!(
                key.map(|key| per_lead[key]),
                Some(1),
                "{installation}: runs of {lead}"
            );
        }
    }
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    // Each step ran once per fire and per lead, in each installation's state.
    let store = crate::support::open_store(&data).await.unwrap();
    let ran_once = async |workflow: &str, installation: &str, key: &str| {
        for step in ["first", "second"] {
            let scope = format!("{workflow}#{installation}/{step}");
            let calls = store.get(&scope, &format!("calls/{key}")).await.unwrap();
            assert_eq!(
                calls.as_deref(),
                Some("1"),
                "{step} of {installation} for {key}"
            );
        }
    };
    for (installation, keys) in &fired {
        for key in keys {
            // The event's `scheduled_at` is the fire time with its offset.
            let at: chrono::DateTime<chrono::Utc> = key.parse().unwrap();
            let scheduled_at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
            ran_once("ticks", installation, &scheduled_at).await;
        }
    }
    for installation in &polls {
        for lead in &leads {
            ran_once("polls", installation, lead).await;
        }
    }
}
