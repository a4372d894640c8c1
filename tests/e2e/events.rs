//! The Salesforce events trigger against sf-emulator's Pub/Sub API: one run
//! per change event in commit order, never more events in flight than
//! asked for, a dropped stream and a refused token resumed without loss, a
//! lost position handled by its policy and reported, and `gust serve`
//! killed mid-stream losing nothing and running nothing twice.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use gust_engine::Engine;
use gust_engine::store::RunQuery;
use serde_json::{Value, json};
use sf_emulator::org::Fields;
use sf_emulator::pubsub::{self, Listen, Serving};
use sf_emulator::seed::Seed;

use crate::support::{Process, Server, Sf, eventually, write_workflow};

/// An emulator with its Pub/Sub API in plaintext.
struct Org {
    sf: Sf,
    pubsub: Serving,
}

impl Org {
    async fn start() -> Self {
        Self::seeded(&Seed::default()).await
    }

    async fn seeded(seed: &Seed) -> Self {
        // Keepalives every 300 ms rather than Salesforce's minute or so.
        let config = sf_emulator::Config {
            pubsub_keepalive: Duration::from_millis(300),
            ..sf_emulator::Config::default()
        };
        let emulator = sf_emulator::Emulator::with_seed(config, seed).unwrap();
        let sf = Sf::start_with(emulator).await;
        let listen = Listen {
            plaintext: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            tls: None,
        };
        let pubsub = pubsub::serve(vec![sf.emulator().clone()], &listen)
            .await
            .unwrap();
        Self { sf, pubsub }
    }

    fn url(&self) -> String {
        self.pubsub.plaintext_url.clone().unwrap()
    }

    async fn serve(&self, workflows: &[Value]) -> Server {
        let client = self.sf.client.clone();
        let url = self.url();
        Server::start_with(
            workflows,
            move |config| {
                config.salesforce = std::sync::Arc::new(client);
                config.pubsub.url = url;
            },
            None,
        )
        .await
    }

    /// Creates `count` records of each of Account, Contact and Lead, then
    /// updates every Account once: `count * 4` changes. Returns the
    /// Accounts' Ids.
    fn change(&self, prefix: &str, count: usize) -> Vec<String> {
        let mut accounts = Vec::new();
        for n in 0..count {
            let mut org = self.sf.emulator().org();
            let fields = |value: Value| -> Fields { serde_json::from_value(value).unwrap() };
            let account = org
                .create("Account", &fields(json!({"Name": format!("{prefix}{n}")})))
                .unwrap();
            org.create(
                "Contact",
                &fields(json!({"LastName": format!("{prefix}{n}")})),
            )
            .unwrap();
            org.create(
                "Lead",
                &fields(json!({"LastName": format!("{prefix}{n}"), "Company": "Acme"})),
            )
            .unwrap();
            accounts.push(account);
        }
        for (n, id) in accounts.iter().enumerate() {
            let fields: Fields =
                serde_json::from_value(json!({"Phone": format!("555-{n:04}")})).unwrap();
            self.sf
                .emulator()
                .org()
                .update("Account", id, &fields)
                .unwrap();
        }
        accounts.iter().map(ToString::to_string).collect()
    }
}

/// A workflow on `topic` whose one step keeps every event.
fn events_workflow(id: &str, trigger: Value) -> Value {
    json!({
        "id": id,
        "trigger": { "salesforce_events": trigger },
        "steps": [{ "id": "keep", "uses": "builtin:filter", "with": {
            "conditions": [{ "value": "${trigger.kind}", "op": "not_equals", "to": "nothing" }]
        } }],
    })
}

/// Every event `workflow`'s runs got, oldest run first.
async fn events(engine: &Engine, workflow: &str) -> Vec<Value> {
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
            assert_eq!(run.dedupe_key.as_deref(), event["event_id"].as_str());
            all.push(event);
        }
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    all.reverse();
    all
}

async fn wait_events(engine: &Engine, workflow: &str, count: usize) -> Vec<Value> {
    let what = format!("{workflow} getting {count} events");
    eventually(&what, Duration::from_secs(120), || async {
        let page = engine
            .runs(&RunQuery {
                workflow: Some(workflow.to_owned()),
                limit: count + 1,
                ..RunQuery::default()
            })
            .await
            .unwrap();
        (page.runs.len() >= count).then_some(())
    })
    .await;
    events(engine, workflow).await
}

fn record_id(event: &Value) -> String {
    event["payload"]["ChangeEventHeader"]["recordIds"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

fn change_type(event: &Value) -> &str {
    event["payload"]["ChangeEventHeader"]["changeType"]
        .as_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_event_is_one_run_in_commit_order_with_no_more_in_flight_than_asked() {
    const PER_OBJECT: usize = 2_500;
    let org = Org::start().await;
    let server = org
        .serve(&[events_workflow(
            "changes",
            json!({"topic": "/data/ChangeEvents", "start": "earliest"}),
        )])
        .await;
    let accounts = org.change("Co ", PER_OBJECT);
    let got = wait_events(&server.engine, "changes", PER_OBJECT * 4).await;
    assert_eq!(got.len(), PER_OBJECT * 4);
    let ids: HashSet<&str> = got
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), got.len(), "an event ran twice");
    // Runs were made in the bus's order: replay ids only grow.
    let replays: Vec<&str> = got
        .iter()
        .map(|e| e["replay_id"].as_str().unwrap())
        .collect();
    assert!(replays.windows(2).all(|pair| pair[0] < pair[1]));
    // Per record, its create comes before its update.
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for event in &got {
        assert_eq!(event["kind"], "change");
        seen.entry(record_id(event))
            .or_default()
            .push(change_type(event).to_owned());
    }
    for account in &accounts {
        assert_eq!(seen[account], ["CREATE", "UPDATE"], "{account}");
    }
    let update = got.iter().find(|e| change_type(e) == "UPDATE").unwrap();
    let changed = &update["payload"]["ChangeEventHeader"]["changedFields"];
    assert_eq!(changed, &json!(["Phone", "LastModifiedDate"]), "{update}");
    assert!(update["payload"]["Phone"].is_string() && update["payload"].get("Name").is_none());
    let stats = org.sf.emulator().pubsub_stats();
    assert!(stats.most_requested <= 100, "{stats:?}");
    assert_eq!(stats.events_sent as usize, PER_OBJECT * 4, "{stats:?}");
    let status = &server.engine.trigger_statuses()["changes"];
    assert!(
        status.cursor.is_some() && status.last_error.is_none(),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_and_a_refused_token_resume_after_the_stored_position() {
    let org = Org::start().await;
    let server = org
        .serve(&[events_workflow(
            "accounts",
            json!({"topic": "/data/AccountChangeEvent", "batch": 10}),
        )])
        .await;
    // `latest`: the subscription starts once it has said where it is.
    eventually(
        "the subscription started",
        Duration::from_secs(30),
        || async {
            server.engine.trigger_statuses()["accounts"]
                .cursor
                .is_some()
                .then_some(())
        },
    )
    .await;
    org.change("A ", 50);
    wait_events(&server.engine, "accounts", 20).await;
    org.sf.emulator().drop_pubsub_streams();
    org.change("B ", 50);
    // Once the subscription is open again, every token expires: the next subscription is refused, renews its
    // token and goes on.
    eventually("subscribed again", Duration::from_secs(30), || async {
        (org.sf.emulator().pubsub_stats().opened >= 2).then_some(())
    })
    .await;
    org.sf.emulator().sessions().expire_all();
    org.sf.emulator().drop_pubsub_streams();
    let got = wait_events(&server.engine, "accounts", 200).await;
    assert_eq!(got.len(), 200);
    // The third subscription, with a renewed token, opens whether or not
    // events were still owed when its stream was dropped.
    let stats = eventually(
        "subscribed a third time",
        Duration::from_secs(30),
        || async {
            let stats = org.sf.emulator().pubsub_stats();
            (stats.opened >= 3).then_some(stats)
        },
    )
    .await;
    assert!(stats.opened >= 3, "{stats:?}");
    // Resumed after what was stored: at most one batch sent again.
    assert!(stats.events_sent <= 200 + 2 * 10, "{stats:?}");
    assert!(stats.most_requested <= 10, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_position_follows_its_policy_and_is_reported() {
    let org = Org::start().await;
    let server = org
        .serve(&[
            events_workflow(
                "again",
                json!({"topic": "/data/LeadChangeEvent", "start": "earliest"}),
            ),
            events_workflow(
                "halt",
                json!({"topic": "/data/LeadChangeEvent", "start": "earliest", "on_lost_position": "stop"}),
            ),
        ])
        .await;
    org.change("Before ", 5);
    wait_events(&server.engine, "again", 5).await;
    wait_events(&server.engine, "halt", 5).await;
    // While the subscriptions wait to subscribe again, three leads are
    // made and their events expire with every other, as after 72 hours:
    // the stored replay ids are older than anything kept. Two more follow.
    // Each subscription's end shows as its status's error (which its
    // successful subscription had cleared) until it subscribes again: how
    // the stream ends under load (the emulator's status, or the connection
    // reset first) decides the words, not whether it is seen.
    org.sf.emulator().drop_pubsub_streams();
    for workflow in ["again", "halt"] {
        eventually("the stream dropped", Duration::from_secs(30), || async {
            let status = &server.engine.trigger_statuses()[workflow];
            status.last_error.is_some().then_some(())
        })
        .await;
    }
    org.change("Lost ", 3);
    org.sf.emulator().event_bus().expire_all();
    org.change("After ", 2);
    let got = wait_events(&server.engine, "again", 7).await;
    assert_eq!(got.len(), 7, "the earliest events kept were read");
    let warning = eventually(
        "the lost position reported",
        Duration::from_secs(30),
        || async { server.engine.trigger_statuses()["again"].warning.clone() },
    )
    .await;
    assert!(
        warning.contains("on_lost_position is earliest"),
        "{warning}"
    );
    // The inspector's background triggers page shows it too.
    let page = server.text("/triggers").await;
    assert!(page.contains("on_lost_position is earliest"), "{page}");
    assert!(page.contains("events /data/LeadChangeEvent"), "{page}");
    let halted = eventually("the stop reported", Duration::from_secs(30), || async {
        server.engine.trigger_statuses()["halt"].last_error.clone()
    })
    .await;
    assert!(halted.contains("on_lost_position is stop"), "{halted}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(events(&server.engine, "halt").await.len(), 5);
}

/// The dedupe keys (event ids) of the runs of `workflow` on the server at
/// `base`, through the admin API; `None` while it does not answer.
async fn stored_ids(client: &reqwest::Client, base: &str, workflow: &str) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut url = format!("{base}/api/runs?workflow={workflow}&limit=1000");
        if let Some(cursor) = &before {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = client.get(url).send().await.ok()?.json().await.ok()?;
        for run in page["runs"].as_array()? {
            ids.push(run["dedupe_key"].as_str()?.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => return Some(ids),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_resumes_the_stream_with_each_event_once() {
    const ACCOUNTS: usize = 1_500;
    let changes = ACCOUNTS * 4;
    let org = Org::start().await;
    org.change("K ", ACCOUNTS);
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &events_workflow(
            "stream",
            json!({"topic": "/data/ChangeEvents", "start": "earliest", "batch": 20}),
        ),
    );
    let data = dir.path().join("data");
    let url = org.url();
    let env = [("GUST_PUBSUB_URL", url.as_str())];
    let client = reqwest::Client::new();
    let server = Process::start_against(&org.sf, &workflows, &data, &env);
    // Killed once some events are stored, before all are.
    let before_kill = eventually("events arriving", Duration::from_secs(60), || async {
        let ids = stored_ids(&client, &server.base, "stream").await?;
        (ids.len() >= 200).then_some(ids.len())
    })
    .await;
    server.kill();
    assert!(
        before_kill < changes,
        "the kill came after the whole stream"
    );
    let server = Process::start_against(&org.sf, &workflows, &data, &env);
    let ids = eventually("every event stored", Duration::from_secs(120), || async {
        let ids = stored_ids(&client, &server.base, "stream").await?;
        (ids.len() >= changes).then_some(ids)
    })
    .await;
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), changes);
    assert_eq!(unique.len(), changes, "an event ran twice");
    let stats = org.sf.emulator().pubsub_stats();
    // The restart resumed after the stored position: no more than the
    // batch in flight at the kill was sent again.
    assert!(stats.events_sent as usize <= changes + 20, "{stats:?}");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_publishes_platform_events_that_a_subscription_runs() {
    let seed: Seed = serde_json::from_value(json!({
        "objects": [{ "name": "Order_Placed__e", "fields": [
            { "name": "Order_Number__c", "type": "string", "length": 40 },
            { "name": "Amount__c", "type": "currency" }
        ]}]
    }))
    .unwrap();
    let org = Org::seeded(&seed).await;
    let publisher = json!({
        "id": "place",
        "trigger": { "webhook": {} },
        "steps": [{ "id": "announce", "uses": "builtin:salesforce",
            "with": { "action": "publish", "event": "Order_Placed__e", "events": "${trigger.body.orders}" },
            "permissions": { "salesforce": { "write": ["Order_Placed__e"] } } }],
    });
    let server = org
        .serve(&[
            publisher,
            events_workflow(
                "placed",
                json!({"topic": "/event/Order_Placed__e", "start": "earliest"}),
            ),
        ])
        .await;
    let orders = json!({ "orders": [
        { "Order_Number__c": "O-1", "Amount__c": 10.5 },
        { "Order_Number__c": "O-2", "Nope__c": 1 },
        { "Order_Number__c": "O-3" }
    ]});
    let (status, answer) = server.hook("place", orders).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{answer}");
    let run = server.finished(answer["run_id"].as_str().unwrap()).await;
    let output = &run["steps"][0]["output"];
    assert_eq!(output["published"], 2, "{run}");
    assert_eq!(output["failed"], 1, "{run}");
    assert_eq!(
        output["results"][1]["errors"][0]["statusCode"], "INVALID_FIELD",
        "{run}"
    );
    let got = wait_events(&server.engine, "placed", 2).await;
    let numbers: Vec<&str> = got
        .iter()
        .map(|event| {
            assert_eq!(event["kind"], "event");
            event["payload"]["Order_Number__c"].as_str().unwrap()
        })
        .collect();
    assert_eq!(numbers, ["O-1", "O-3"]);
    assert_eq!(got[0]["payload"]["Amount__c"], 10.5);
    assert!(
        got[0]["payload"]["CreatedById"]
            .as_str()
            .unwrap()
            .starts_with("005")
    );
}
