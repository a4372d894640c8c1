use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use gust_engine::Engine;
use gust_engine::salesforce::Client;
use gust_engine::store::RunQuery;
use gust_engine::workflow::WorkflowFile;
use gust_tests::guests;
use serde_json::{Value, json};
use sf_emulator::faults::{Fault, FaultKind};
use sf_emulator::org::Fields;

use crate::support::{FullDisk, Server, eventually};
use crate::support::{Sf, connection};

/// A workflow polling with `poll` (every second unless it says otherwise)
/// whose one step echoes the event.
fn poll_workflow(id: &str, mut poll: Value) -> Value {
    if poll.get("every").is_none() {
        poll["every"] = json!("* * * * * *");
    }
    json!({
        "id": id,
        "trigger": { "salesforce_poll": poll },
        "steps": [
            { "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "event": "${trigger}" } }
        ],
    })
}

async fn serve(sf: &Sf, workflows: &[Value]) -> Server {
    Server::against(sf, workflows, None).await
}

/// Creates leads named `{prefix}{n}` in the emulator's org; returns their
/// Ids in order.
fn create_leads(sf: &Sf, prefix: &str, count: usize) -> Vec<String> {
    let mut org = sf.emulator().org();
    (0..count)
        .map(|n| {
            let fields: Fields = serde_json::from_value(json!({
                "LastName": format!("{prefix}{n}"), "Company": "Acme", "LeadSource": "Web",
            }))
            .unwrap();
            org.create("Lead", &fields).unwrap().to_string()
        })
        .collect()
}

fn update_lead(sf: &Sf, id: &str, fields: Value) {
    let id = sf_emulator::ids::RecordId::parse(id).unwrap();
    let fields: Fields = serde_json::from_value(fields).unwrap();
    sf.emulator().org().update("Lead", &id, &fields).unwrap();
}

/// One record an event reported, with the run's dedupe key.
#[derive(Debug, Clone)]
struct Reported {
    record: Value,
    dedupe_key: Option<String>,
    on: String,
}

/// Every record `workflow`'s events reported, oldest run first.
async fn reported(engine: &Engine, workflow: &str) -> Vec<Reported> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = engine
            .runs(&RunQuery {
                workflow: Some(workflow.to_owned()),
                limit: 1000,
                before,
                ..RunQuery::default()
            })
            .await
            .unwrap();
        for run in &page.runs {
            let event = engine.run_detail(run.id).await.unwrap().unwrap().event;
            assert_eq!(event["sobject"], "Lead", "{event}");
            let records = match event.get("records") {
                Some(records) => records.as_array().unwrap().clone(),
                None => vec![event["record"].clone()],
            };
            for record in records {
                assert!(record.get("attributes").is_none(), "{record}");
                all.push(Reported {
                    record,
                    dedupe_key: run.dedupe_key.clone(),
                    on: event["on"].as_str().unwrap().to_owned(),
                });
            }
        }
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    all.reverse();
    all
}

/// How many times each Id was reported.
fn times_each(reported: &[Reported]) -> HashMap<String, usize> {
    let mut times = HashMap::new();
    for one in reported {
        *times
            .entry(one.record["Id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    times
}

/// Waits until `workflow` reported at least `count` records.
async fn wait_reported(engine: &Engine, workflow: &str, count: usize) -> Vec<Reported> {
    let what = format!("{workflow} reporting {count} records");
    let found = eventually(&what, Duration::from_secs(120), || async {
        let reported = reported(engine, workflow).await;
        (reported.len() >= count).then_some(reported)
    });
    found.await
}

/// Waits for `polls` more polls of `workflow` to end.
async fn polls_pass(engine: &Engine, workflow: &str, polls: usize) {
    for _ in 0..polls {
        let last = engine.trigger_status(workflow).unwrap().last_fired_at;
        let what = format!("another poll of {workflow}");
        eventually(&what, Duration::from_secs(30), || async {
            (engine.trigger_status(workflow).unwrap().last_fired_at != last).then_some(())
        })
        .await;
    }
}

/// Waits for a poll of `workflow` to fail and returns why.
async fn poll_error(engine: &Engine, workflow: &str) -> String {
    let what = format!("a failed poll of {workflow}");
    eventually(&what, Duration::from_secs(10), || async {
        engine.trigger_status(workflow).unwrap().last_error
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_20000_records_goes_through_bulk_then_polls_pick_up_new_writes() {
    let sf = Sf::start().await;
    let existing = create_leads(&sf, "old", 20_000);
    let server = serve(
        &sf,
        &[poll_workflow(
            "leads",
            // A short overlap: every poll within the overlap of the
            // backfill's 20,000 fresh records would read them all again.
            json!({ "sobject": "Lead", "on": "created", "fields": ["LastName", "Company"],
                    "backfill": "all", "batch_size": 1000, "overlap": "1s" }),
        )],
    )
    .await;
    // The backfill's progress, as the poll's status tells it, sampled.
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (engine, samples) = (server.engine.clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                if let Some(progress) = engine.trigger_status("leads").and_then(|s| s.backfill) {
                    samples.lock().unwrap().push(progress);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Records keep coming while the backfill and the polls run.
    let mut written = Vec::new();
    for round in 0..6 {
        written.extend(create_leads(&sf, &format!("new{round}-"), 50));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let all = wait_reported(&server.engine, "leads", existing.len() + written.len()).await;
    polls_pass(&server.engine, "leads", 1).await;
    assert_eq!(
        reported(&server.engine, "leads").await.len(),
        all.len(),
        "nothing more was reported"
    );
    let times = times_each(&all);
    for id in existing.iter().chain(&written) {
        assert_eq!(times.get(id), Some(&1), "{id} reported once");
    }
    assert_eq!(times.len(), existing.len() + written.len());
    sampler.abort();
    let samples = samples.lock().unwrap().clone();
    assert!(!samples.is_empty(), "the backfill's progress was seen");
    for pair in samples.windows(2) {
        assert!(pair[0].read <= pair[1].read, "{samples:?}");
    }
    for progress in &samples {
        assert!(progress.total >= 20_000, "{progress:?}");
        assert!(progress.read <= progress.total, "{progress:?}");
    }
    assert_eq!(
        server.engine.trigger_status("leads").unwrap().backfill,
        None,
        "a finished backfill has no progress"
    );
    // Bulk rows are typed and shaped as REST records are.
    let first = &all[0].record;
    assert!(
        first["CreatedDate"].as_str().unwrap().ends_with("+0000"),
        "{first}"
    );
    assert_eq!(first["Company"], "Acme");
    assert_eq!(
        sf.count("POST /services/data/v60.0/jobs/query"),
        1,
        "{:?}",
        sf.log()
            .iter()
            .filter(|l| l.contains("jobs"))
            .collect::<Vec<_>>()
    );
    assert_eq!(sf.count("OFFSET"), 0, "keyset pages, never OFFSET");
    assert!(
        server
            .engine
            .trigger_status("leads")
            .unwrap()
            .last_error
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sharing_one_stamp_across_a_page_boundary_are_each_reported_once() {
    let sf = Sf::start().await;
    let server = serve(
        &sf,
        &[poll_workflow(
            "modstamps",
            json!({ "sobject": "Lead", "on": "updated", "batch_size": 250, "every": NEVER }),
        )],
    )
    .await;
    // The first poll (at start) finds the object empty.
    polled(&server.engine, "modstamps").await;
    let mut ids = create_leads(&sf, "before", 1_700);
    let shared = Utc::now() + TimeDelta::seconds(5);
    sf.emulator().org().pin_clock(Some(shared));
    ids.extend(create_leads(&sf, "shared", 500));
    sf.emulator()
        .org()
        .pin_clock(Some(shared + TimeDelta::seconds(1)));
    ids.extend(create_leads(&sf, "after", 100));
    sf.emulator().org().pin_clock(None);
    poll_now(&server).await;
    let reported = wait_reported(&server.engine, "modstamps", ids.len()).await;
    let times = times_each(&reported);
    assert_eq!(times.len(), ids.len());
    assert!(times.values().all(|times| *times == 1), "reported twice");
    // The 2,000-record page boundary fell inside the shared stamp.
    let shared_text = shared.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    let positions: Vec<usize> = reported
        .iter()
        .enumerate()
        .filter(|(_, one)| one.record["SystemModstamp"] == shared_text.as_str())
        .map(|(at, _)| at)
        .collect();
    assert_eq!(positions.len(), 500);
    assert!(
        positions[0] < 2_000 && *positions.last().unwrap() >= 2_000,
        "{:?}",
        (positions[0], positions.last())
    );
    let pages = sf.count("/query?q=SELECT");
    assert!(pages >= 3, "the first poll and two pages: {pages}");
}

/// A poll's `every` that does not fire before 2098.
const NEVER: &str = "0 0 0 1 1 * 2099";

/// Makes every workflow of the server poll once, now, and waits for the
/// polls to end: each is loaded again with `every` switched between two
/// far-off years, which restarts its trigger, and a trigger polls when it
/// starts. Its stored cursor carries on.
async fn poll_now(server: &Server) {
    let set = server.engine.workflows();
    for prepared in set.ready.values() {
        let mut workflow = serde_json::to_value(prepared.workflow.as_ref()).unwrap();
        let every = &mut workflow["trigger"]["salesforce_poll"]["every"];
        *every = json!(if *every == NEVER {
            "0 0 0 1 1 * 2098"
        } else {
            NEVER
        });
        let file = WorkflowFile {
            path: "reloaded.json".into(),
            workflow: gust_engine::workflow::parse(&workflow.to_string()).unwrap(),
        };
        server.engine.add_workflow(&file).await.unwrap();
    }
    for id in set.ready.keys() {
        polled(&server.engine, id).await;
    }
}

/// Waits for the first poll of `workflow`'s (re)started trigger to end.
async fn polled(engine: &Engine, workflow: &str) {
    let what = format!("a first poll of {workflow}");
    eventually(&what, Duration::from_secs(30), || async {
        engine.trigger_status(workflow).unwrap().last_fired_at
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_save_of_a_record_runs_once_however_often_polls_overlap() {
    let sf = Sf::start().await;
    let [lead]: [String; 1] = create_leads(&sf, "early", 1).try_into().unwrap();
    // Every poll reads the last minute again; the batched poll has no
    // per-record dedupe key, only the keys its cursor keeps.
    let overlapping = json!({ "sobject": "Lead", "on": "updated", "fields": ["Rating"], "overlap": "60s", "every": NEVER });
    let mut batched = overlapping.clone();
    batched["batch_size"] = json!(10);
    let server = serve(
        &sf,
        &[
            poll_workflow("saves", overlapping),
            poll_workflow("batched", batched),
        ],
    )
    .await;
    polled(&server.engine, "saves").await;
    polled(&server.engine, "batched").await;
    assert!(
        reported(&server.engine, "saves").await.is_empty(),
        "backfill none: the existing lead is not reported"
    );
    // A save, a poll; two saves, a poll; then polls that read all three
    // saves' record again.
    update_lead(&sf, &lead, json!({ "Rating": "Warm" }));
    poll_now(&server).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    update_lead(&sf, &lead, json!({ "Rating": "Hot" }));
    tokio::time::sleep(Duration::from_millis(5)).await;
    update_lead(&sf, &lead, json!({ "Rating": "Cold" }));
    poll_now(&server).await;
    poll_now(&server).await;
    poll_now(&server).await;
    for workflow in ["saves", "batched"] {
        let saves = reported(&server.engine, workflow).await;
        assert_eq!(
            saves
                .iter()
                .map(|save| save.record["Rating"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["Warm", "Cold"],
            "{workflow}: each poll sees the record as it is; two saves between polls are one"
        );
        assert!(saves.iter().all(|save| save.on == "updated"));
    }
    assert!(
        reported(&server.engine, "batched")
            .await
            .iter()
            .all(|save| save.dedupe_key.is_none())
    );
    let duplicates: Vec<String> = server
        .engine
        .metrics()
        .await
        .lines()
        .filter(|line| line.starts_with("gust_events_duplicate_total"))
        .map(str::to_owned)
        .collect();
    assert!(
        duplicates.iter().all(|line| line.ends_with(" 0")),
        "nothing was even offered twice: {duplicates:?}"
    );
    for save in reported(&server.engine, "saves").await {
        let stamp = save.record["SystemModstamp"].as_str().unwrap();
        let stamp = DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f%z").unwrap();
        let key = format!(
            "{lead}/{}",
            stamp.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        assert_eq!(save.dedupe_key.as_deref(), Some(key.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_records_come_from_query_all_and_a_backfill_can_start_at_a_time() {
    let sf = Sf::start().await;
    // Leads of 2020, then of now.
    sf.emulator()
        .org()
        .pin_clock(Some(Utc::now() - TimeDelta::days(365 * 6)));
    let old = create_leads(&sf, "2020-", 3);
    sf.emulator().org().pin_clock(None);
    let recent = create_leads(&sf, "now-", 4);
    let gone = create_leads(&sf, "gone-", 2);
    let since = (Utc::now() - TimeDelta::days(1)).to_rfc3339();
    let server = serve(
        &sf,
        &[
            poll_workflow("since", json!({ "sobject": "Lead", "on": "created", "backfill": since })),
            poll_workflow(
                "deletions",
                json!({ "sobject": "Lead", "on": "deleted", "fields": ["LastName"], "where": "LastName LIKE 'gone-%'" }),
            ),
        ],
    )
    .await;
    let since = wait_reported(&server.engine, "since", recent.len() + gone.len()).await;
    let times = times_each(&since);
    assert!(
        old.iter().all(|id| !times.contains_key(id)),
        "older than the backfill"
    );
    assert!(
        recent
            .iter()
            .chain(&gone)
            .all(|id| times.get(id) == Some(&1))
    );

    polls_pass(&server.engine, "deletions", 1).await;
    for id in &gone {
        let id = sf_emulator::ids::RecordId::parse(id).unwrap();
        sf.emulator().org().delete("Lead", &id).unwrap();
    }
    let deletions = wait_reported(&server.engine, "deletions", 2).await;
    polls_pass(&server.engine, "deletions", 2).await;
    let deletions_after = reported(&server.engine, "deletions").await;
    assert_eq!(deletions_after.len(), deletions.len());
    let times = times_each(&deletions);
    assert_eq!(times.len(), 2);
    assert!(gone.iter().all(|id| times.get(id) == Some(&1)));
    assert!(deletions.iter().all(|one| one.on == "deleted"));
    assert!(sf.count("/queryAll?q=SELECT") >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_salesforce_refuses_reports_why_and_stores_nothing() {
    let sf = Sf::start().await;
    create_leads(&sf, "x", 2);
    let server = serve(
        &sf,
        &[poll_workflow(
            "typo",
            json!({ "sobject": "Lead", "on": "created", "fields": ["Emial"], "backfill": "all" }),
        )],
    )
    .await;
    let error = poll_error(&server.engine, "typo").await;
    assert!(
        error.contains("INVALID_FIELD") && error.contains("Emial"),
        "{error}"
    );
    assert_eq!(server.run_count().await, 0);
    // The poll runs every second and shows no next time while it polls:
    // wait for a moment between two polls.
    let timer = eventually("the poll's next time", Duration::from_secs(10), || async {
        let (_, workflows) = server.get("/api/workflows").await;
        let timer = workflows["workflows"][0]["timer"].clone();
        timer["next_fire_at"].is_string().then_some(timer)
    })
    .await;
    assert!(
        timer["last_error"].as_str().unwrap().contains("Emial"),
        "{timer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_spend_the_connections_api_budget_and_stop_at_its_end() {
    let sf = Sf::start().await;
    let mut budgeted = connection(&sf.running.url);
    // The org allows 15,000 requests a day (the emulator's default): a
    // share of 0.0001 is one request.
    budgeted.api_limit_share = 0.0001;
    let client = Client::new(budgeted).unwrap();
    let server = Server::start_with(
        &[poll_workflow(
            "thrifty",
            json!({ "sobject": "Lead", "on": "created" }),
        )],
        {
            let client = client.clone();
            move |config| config.salesforce = Arc::new(client)
        },
        None,
    )
    .await;
    let error = poll_error(&server.engine, "thrifty").await;
    assert!(error.contains("GUST_API_BUDGET"), "{error}");
    let stats = client.stats();
    assert!(stats.requests >= 1, "{stats:?}");
}

#[tokio::test]
async fn a_poll_without_a_connection_says_so_and_stores_nothing() {
    let server = Server::start_with(
        &[poll_workflow(
            "offline",
            json!({ "sobject": "Lead", "on": "created" }),
        )],
        |_| {},
        None,
    )
    .await;
    let error = poll_error(&server.engine, "offline").await;
    assert!(error.contains("GUST_NO_CONNECTION"), "{error}");
    assert_eq!(server.run_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_off_a_poll_waiting_on_salesforce() {
    let sf = Sf::start().await;
    sf.emulator().inject(Fault {
        path: "/query".to_owned(),
        method: None,
        kind: FaultKind::Latency { ms: 60_000 },
        times: None,
    });
    let server = serve(
        &sf,
        &[poll_workflow(
            "slow",
            json!({ "sobject": "Lead", "on": "created" }),
        )],
    )
    .await;
    // The poll starts with the workflow and waits on its first query.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server
            .engine
            .trigger_status("slow")
            .unwrap()
            .last_fired_at
            .is_none()
    );
    let stopping = Instant::now();
    server.engine.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for Salesforce",
        stopping.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_record_that_comes_to_match_the_condition_is_not_new() {
    let sf = Sf::start().await;
    sf.emulator()
        .org()
        .pin_clock(Some(Utc::now() - TimeDelta::days(1)));
    let [old]: [String; 1] = create_leads(&sf, "yesterday-", 1).try_into().unwrap();
    sf.emulator().org().pin_clock(None);
    let server = serve(
        &sf,
        &[poll_workflow(
            "hot",
            json!({ "sobject": "Lead", "on": "created", "where": "Rating = 'Hot'", "every": NEVER }),
        )],
    )
    .await;
    // No lead is Hot when the poll starts.
    polled(&server.engine, "hot").await;
    update_lead(&sf, &old, json!({ "Rating": "Hot" }));
    let [new]: [String; 1] = create_leads(&sf, "today-", 1).try_into().unwrap();
    update_lead(&sf, &new, json!({ "Rating": "Hot" }));
    poll_now(&server).await;
    let reported = reported(&server.engine, "hot").await;
    assert_eq!(
        reported
            .iter()
            .map(|one| one.record["Id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        [new.as_str()],
        "yesterday's lead is not new"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_backfill_cut_off_mid_page_goes_on_from_the_stored_locator() {
    let sf = Sf::start().await;
    let leads = create_leads(&sf, "bulk", 12_000);
    let dir = tempfile::tempdir().unwrap();
    // The activation and two 2,000-record chunks of the first 10,000-row
    // page are stored; then the disk is full.
    let disk = Arc::new(FullDisk::after(
        crate::support::open_store(dir.path()).await.unwrap(),
        3,
    ));
    let server = Server::against(
        &sf,
        &[poll_workflow(
            "bulk",
            json!({ "sobject": "Lead", "on": "created", "backfill": "all", "batch_size": 1000, "overlap": "1s" }),
        )],
        Some(disk.clone()),
    )
    .await;
    let error = poll_error(&server.engine, "bulk").await;
    assert!(error.contains("No space left on device"), "{error}");
    assert!(disk.is_full());
    assert_eq!(
        times_each(&reported(&server.engine, "bulk").await).len(),
        4_000
    );
    disk.free();
    let all = wait_reported(&server.engine, "bulk", leads.len()).await;
    polls_pass(&server.engine, "bulk", 1).await;
    assert_eq!(
        reported(&server.engine, "bulk").await.len(),
        all.len(),
        "nothing more was reported"
    );
    let times = times_each(&all);
    assert!(
        leads.iter().all(|id| times.get(id) == Some(&1)),
        "each lead once, in batches"
    );
    assert_eq!(
        sf.count("POST /services/data/v60.0/jobs/query"),
        1,
        "the same job, read on from its locator"
    );
}
