//! Under load: a full backlog refuses events (503 with `Retry-After`, a
//! SOAP fault, a poll that waits) and loses nothing it acknowledged; memory
//! stays bounded however many events go through.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gust_engine::api::BacklogView;
use gust_engine::model::{RunId, RunStatus};
use gust_engine::store::RunQuery;
use gust_tests::guests;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sf_emulator::org::Fields;

use crate::support::{
    Process, Server, Sf, eventually, metrics, runs_with_status, settled_runs, write_workflow,
};

/// A webhook workflow whose one step sleeps `sleep_ms`.
fn slow_workflow(id: &str, sleep_ms: u64) -> Value {
    json!({
        "id": id,
        "trigger": { "webhook": {} },
        "steps": [{
            "id": "sleep",
            "uses": guests::MISBEHAVE,
            "with": { "act": "record", "key": "${trigger.body.n}", "sleep_ms": sleep_ms },
        }],
    })
}

async fn backlog(server: &Server) -> BacklogView {
    let (status, view) = server.get("/api/backlog").await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_value(view).unwrap()
}

/// The value of the gauge `name` in the server's `/metrics`.
async fn gauge(server: &Server, name: &str) -> String {
    let text = metrics(&server.client, &server.base).await;
    let line = text
        .lines()
        .find(|line| line.starts_with(&format!("{name} ")));
    line.unwrap_or_else(|| panic!("{name} in {text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_answers_503_and_a_soap_fault_stores_nothing_and_then_accepts_again() {
    const ORG: &str = "00D7F00000107XsUAI";
    let outbound = json!({
        "id": "opportunities",
        "trigger": { "outbound_message": { "organization_ids": [ORG], "sobject": "Opportunity" } },
        "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo" } }],
    });
    let server = Server::start_with(
        &[slow_workflow("slow", 1_500), outbound],
        |config| config.max_backlog = 2,
        None,
    )
    .await;
    let mut accepted = Vec::new();
    for n in 0..2 {
        let (status, answer) = server.hook("slow", json!({ "n": n })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        accepted.push(answer["run_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        backlog(&server).await,
        BacklogView {
            runs: 2,
            bound: 2,
            waiting: 0,
            running: 2
        }
    );
    assert_eq!(gauge(&server, "gust_backlog_runs").await, "2");
    assert_eq!(gauge(&server, "gust_backlog_bound").await, "2");

    // A webhook past the bound: 503, with when to send it again.
    let response = server
        .post("/hooks/slow")
        .json(&json!({ "n": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("max_backlog") && error.contains("send it again"),
        "{error}"
    );

    // An Outbound Message past the bound: a SOAP fault, no acknowledgement,
    // so Salesforce sends it again later.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/salesforce/outbound-messages/om-single-opportunity-compact-ap5.xml"
    );
    let response = server
        .post("/salesforce/outbound/opportunities")
        .header("content-type", "text/xml; charset=utf-8")
        .body(std::fs::read_to_string(fixture).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let envelope = response.text().await.unwrap();
    assert!(
        envelope.contains("<faultcode>soapenv:Server</faultcode>"),
        "{envelope}"
    );
    assert!(envelope.contains("max_backlog"), "{envelope}");
    assert!(!envelope.contains("<Ack>"), "{envelope}");
    assert_eq!(server.run_count().await, 2, "nothing refused was stored");

    // The backlog drains, and events are accepted again.
    for run in &accepted {
        assert_eq!(server.finished(run).await["status"], "succeeded");
    }
    eventually("the backlog drained", Duration::from_secs(10), || async {
        (backlog(&server).await.runs == 0).then_some(())
    })
    .await;
    let (status, _) = server.hook("slow", json!({ "n": 3 })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_bound_gets_503s_loses_nothing_acknowledged_and_drains() {
    const SENDERS: usize = 32;
    const EACH: usize = 15;
    let server = Server::start_with(
        &[slow_workflow("flood", 200)],
        |config| config.max_backlog = 20,
        None,
    )
    .await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (client, url) = (
                server.client.clone(),
                format!("{}/hooks/flood", server.base),
            );
            let (acked, refused) = (acked.clone(), refused.clone());
            tokio::spawn(async move {
                for n in 0..EACH {
                    let body = json!({ "n": format!("{sender}-{n}") });
                    let response = client.post(&url).json(&body).send().await.unwrap();
                    match response.status() {
                        StatusCode::ACCEPTED => {
                            let answer: Value = response.json().await.unwrap();
                            let id: RunId = answer["run_id"].as_str().unwrap().parse().unwrap();
                            acked.lock().unwrap().push(id);
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(response.headers().contains_key("retry-after"));
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("{other}: {}", response.text().await.unwrap()),
                    }
                }
            })
        })
        .collect();
    let watching = tokio::spawn({
        let (client, url, most) = (
            server.client.clone(),
            format!("{}/api/backlog", server.base),
            most.clone(),
        );
        async move {
            loop {
                let view: BacklogView =
                    client.get(&url).send().await.unwrap().json().await.unwrap();
                most.fetch_max(view.runs, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    for sender in senders {
        sender.await.unwrap();
    }
    watching.abort();
    let acked: HashSet<RunId> = acked.lock().unwrap().iter().copied().collect();
    let refused = refused.load(Ordering::Relaxed);
    assert_eq!(acked.len() + refused, SENDERS * EACH);
    assert!(refused > 0, "the flood passed the bound");
    assert!(acked.len() >= 20, "{} acknowledged", acked.len());
    assert!(
        most.load(Ordering::Relaxed) <= 20,
        "the backlog stayed within its bound: {}",
        most.load(Ordering::Relaxed)
    );

    // Every acknowledged event ran, and nothing else was stored.
    let succeeded = settled_runs(&server.client, &server.base).await;
    let ran: HashSet<RunId> = succeeded.iter().map(|run| run.id).collect();
    assert_eq!(ran, acked);
    assert_eq!(backlog(&server).await.runs, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_waits_for_room_in_the_backlog_and_then_stores_every_record_once() {
    let sf = Sf::start().await;
    let poll = json!({
        "id": "leads",
        "trigger": { "salesforce_poll": { "sobject": "Lead", "on": "created", "fields": ["LastName"], "every": "* * * * * *" } },
        "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "event": "${trigger}" } }],
    });
    let client = sf.client.clone();
    let server = Server::start_with(
        &[slow_workflow("slow", 3_000), poll],
        move |config| {
            config.salesforce = Arc::new(client);
            config.max_backlog = 2;
        },
        None,
    )
    .await;
    for n in 0..2 {
        let (status, _) = server.hook("slow", json!({ "n": n })).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    create_leads(&sf, 3);
    let engine = &server.engine;
    let waiting = eventually("the poll waiting", Duration::from_secs(10), || async {
        let error = engine.trigger_status("leads")?.last_error?;
        error.starts_with("waiting:").then_some(error)
    })
    .await;
    assert!(waiting.contains("max_backlog"), "{waiting}");
    let stored = async |workflow: &'static str| {
        let query = RunQuery {
            workflow: Some(workflow.to_owned()),
            limit: 100,
            ..RunQuery::default()
        };
        engine.runs(&query).await.unwrap().runs
    };
    assert!(
        stored("leads").await.is_empty(),
        "nothing stored while waiting"
    );

    // Once the slow runs end, the poll stores its records, each once.
    let runs = eventually("the leads' runs", Duration::from_secs(30), || async {
        let runs = stored("leads").await;
        let ended = runs.iter().all(|run| run.status == RunStatus::Succeeded);
        (runs.len() >= 3 && ended).then_some(runs)
    })
    .await;
    let mut names = Vec::new();
    for run in &runs {
        let event = engine.run_detail(run.id).await.unwrap().unwrap().event;
        names.push(event["record"]["LastName"].as_str().unwrap().to_owned());
    }
    names.sort();
    assert_eq!(names, ["Waiting0", "Waiting1", "Waiting2"]);
    eventually(
        "the poll no longer waiting",
        Duration::from_secs(10),
        || async {
            engine
                .trigger_status("leads")?
                .last_error
                .is_none()
                .then_some(())
        },
    )
    .await;
}

/// 200,000 events through `gust serve` with a small store cache: the
/// process's resident memory, read from /proc while the load runs, stays
/// under 200 MB.
/// Clients that hang up as soon as they have sent their request: the
/// server stops answering them, but every run the store took is queued and
/// runs; none is left in the store until a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_stored_for_a_client_that_hung_up_still_runs() {
    use tokio::io::AsyncWriteExt;

    let server = Server::start(&[slow_workflow("hangups", 0)]).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    for round in 0..20 {
        let mut clients = tokio::task::JoinSet::new();
        for n in 0..32 {
            let address = address.clone();
            clients.spawn(async move {
                let body = json!({ "n": round * 100 + n }).to_string();
                let request = format!(
                    "POST /hooks/hangups HTTP/1.1\r\nhost: {address}\r\n\
                     content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                // Dropped: the connection closes before the answer.
            });
        }
        while let Some(client) = clients.join_next().await {
            client.unwrap();
        }
    }
    let stored = eventually(
        "every stored run ended",
        Duration::from_secs(30),
        || async {
            for status in ["queued", "running", "retrying"] {
                if !runs_with_status(&server.client, &server.base, status)
                    .await
                    .is_empty()
                {
                    return None;
                }
            }
            Some(runs_with_status(&server.client, &server.base, "succeeded").await)
        },
    )
    .await;
    assert!(!stored.is_empty(), "no request got as far as the store");
    assert_eq!(backlog(&server).await.runs, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_through_200000_events() {
    const EVENTS: usize = 200_000;
    const MAX_RSS_KB: u64 = 200 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(
        &workflows,
        &json!({
            "id": "bench",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "keep", "uses": "builtin:filter", "with": {
                "conditions": [{ "value": "${trigger.body.source ?? null}", "op": "equals", "to": "website" }]
            } }],
        }),
    );
    let server = Process::start_with_env(
        &workflows,
        &dir.path().join("data"),
        &[("GUST_STORE_CACHE_BYTES", "8388608"), ("GUST_LOG", "warn")],
    );
    let pid = server.child.id();
    let rss_kb = move || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (next, url) = (next.clone(), format!("{}/hooks/bench", server.base));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                while next.fetch_add(1, Ordering::Relaxed) < EVENTS {
                    // A refused event is sent again after `Retry-After`
                    // (shortened here), as a webhook sender would.
                    loop {
                        let response = client
                            .post(&url)
                            .json(&json!({ "source": "website", "email": "ada@example.com" }))
                            .send()
                            .await
                            .unwrap();
                        match response.status() {
                            StatusCode::ACCEPTED => break,
                            StatusCode::SERVICE_UNAVAILABLE => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            other => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut most = 0;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    loop {
        most = most.max(rss_kb());
        let finished = finished_runs(&client, &server.base).await;
        if finished >= EVENTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "only {finished} of {EVENTS} runs finished in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }
    most = most.max(rss_kb());
    assert!(
        runs_with_status(&client, &server.base, "failed")
            .await
            .is_empty(),
        "no run failed"
    );
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    eprintln!("resident memory at most {most} kB through {EVENTS} events");
    assert!(
        most < MAX_RSS_KB,
        "resident memory reached {most} kB through {EVENTS} events"
    );
}

/// The runs finished so far, from `/metrics`.
async fn finished_runs(client: &reqwest::Client, base: &str) -> usize {
    metrics(client, base)
        .await
        .lines()
        .filter(|line| line.starts_with("gust_runs_finished_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<usize>().ok())
        .sum()
}

/// Creates `count` leads in the emulator's org.
fn create_leads(sf: &Sf, count: usize) {
    let mut org = sf.emulator().org();
    for n in 0..count {
        let fields: Fields = serde_json::from_value(json!({
            "LastName": format!("Waiting{n}"), "Company": "Acme",
        }))
        .unwrap();
        org.create("Lead", &fields).unwrap();
    }
}
