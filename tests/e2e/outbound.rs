use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use gust_engine::model::{RunRecord, RunStatus};
use gust_engine::store::RunQuery;
use gust_tests::guests;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sf_emulator::org::ORG_ID;
use sf_emulator::outbound::OutboundRule;

use crate::support::{FullDisk, Server, Sf, delivered, eventually, quick_outbound_emulator};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/salesforce/outbound-messages"
);

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

/// The org of the single-line Opportunity fixture.
const FIXTURE_ORG: &str = "00D7F00000107XsUAI";

/// A workflow started by Outbound Messages whose one step counts its calls
/// per notification in state.
fn outbound_workflow(id: &str, trigger: Value) -> Value {
    json!({
        "id": id,
        "trigger": { "outbound_message": trigger },
        "steps": [{
            "id": "count",
            "uses": guests::MISBEHAVE,
            "with": { "act": "record", "key": "${trigger.notification_id}", "record": "${trigger.record}" },
        }],
    })
}

/// Posts `body` as Salesforce does to `path`.
async fn post_soap(
    server: &Server,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, String) {
    let response = server
        .post(path)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "text/xml; charset=utf-8");
    (status, response.text().await.unwrap())
}

/// The `faultstring` of a SOAP fault, unescaped.
fn fault_string(envelope: &str) -> String {
    let start = envelope.find("<faultstring>").expect("a SOAP fault") + "<faultstring>".len();
    let end = envelope.find("</faultstring>").unwrap();
    envelope[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Waits until every run of the server has ended.
async fn all_finished(server: &Server) -> Vec<RunRecord> {
    eventually("every run ended", Duration::from_secs(60), || async {
        let query = RunQuery {
            limit: 10_000,
            ..RunQuery::default()
        };
        let page = server.engine.runs(&query).await.unwrap();
        page.runs
            .iter()
            .all(|run| run.status.is_final())
            .then_some(page.runs)
    })
    .await
}

/// Stands between the emulator and Gust: answers 503 while Gust is down,
/// forwards each message while it is up but answers every third with 500
/// after Gust acknowledged it (an Ack lost on the way back), and keeps
/// every message it saw.
#[derive(Default)]
struct Relay {
    target: Mutex<Option<String>>,
    seen: Mutex<Vec<Bytes>>,
    forwarded: AtomicUsize,
    client: reqwest::Client,
}

async fn relay(
    State(relay): State<Arc<Relay>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    relay.seen.lock().unwrap().push(body.clone());
    let target = relay.target.lock().unwrap().clone();
    let Some(target) = target else {
        return (AxumStatus::SERVICE_UNAVAILABLE, "Gust is down").into_response();
    };
    let answer = relay
        .client
        .post(format!("{target}{uri}"))
        .header("content-type", headers["content-type"].clone())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = AxumStatus::from_u16(answer.status().as_u16()).unwrap();
    let text = answer.text().await.unwrap();
    if relay.forwarded.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
        return (AxumStatus::INTERNAL_SERVER_ERROR, "the Ack was lost").into_response();
    }
    (status, [("content-type", "text/xml; charset=utf-8")], text).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_sent_while_gust_is_down_run_once_each_however_often_they_come() {
    let emulator = quick_outbound_emulator(Duration::from_millis(400));
    let relay_state = Arc::new(Relay::default());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let relay_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(relay_state.clone());
    tokio::spawn(axum::serve(listener, app).into_future());
    emulator.add_outbound_rule(OutboundRule {
        object: "Lead".to_owned(),
        fields: [
            "LastName",
            "Company",
            "NumberOfEmployees",
            "PostalCode",
            "AnnualRevenue",
        ]
        .map(str::to_owned)
        .to_vec(),
        endpoint: format!("{relay_url}/salesforce/outbound/new-leads"),
        on_create: true,
        on_update: true,
        send_session_id: false,
        organization_id: None,
    });
    let sf = Sf::start_with(emulator).await;

    // Gust is down: leads are created, and every delivery fails.
    let mut leads = Vec::new();
    for n in 0..150 {
        let lead = json!({
            "LastName": format!("Lead {n}"),
            "Company": "Acme",
            "NumberOfEmployees": 500,
            "PostalCode": "02134",
            "AnnualRevenue": 1500000.5,
        });
        leads.push(sf.client.create("Lead", &lead).await.unwrap());
    }
    let emulator = sf.emulator();
    eventually(
        "deliveries tried while Gust is down",
        Duration::from_secs(20),
        || {
            let failed = emulator
                .outbound_deliveries()
                .iter()
                .filter(|delivery| !delivery.acknowledged)
                .count();
            std::future::ready((failed >= 4).then_some(()))
        },
    )
    .await;

    // Gust comes up, with the org as its connection (field types come from
    // its describe); more leads are created and some updated meanwhile.
    let server = Server::against(
        &sf,
        &[outbound_workflow(
            "new-leads",
            json!({ "organization_ids": [ORG_ID], "sobject": "Lead" }),
        )],
        None,
    )
    .await;
    *relay_state.target.lock().unwrap() = Some(server.base.clone());
    for n in 150..200 {
        let lead = json!({ "LastName": format!("Lead {n}"), "Company": "Acme" });
        leads.push(sf.client.create("Lead", &lead).await.unwrap());
    }
    for id in &leads[..20] {
        sf.client
            .update("Lead", id, &json!({ "Company": "Acme Updated" }))
            .await
            .unwrap();
    }

    // Every notification the emulator queued is acknowledged in the end
    // (and no more come for a while).
    let started = Instant::now();
    let mut settled = 0;
    let notifications = loop {
        let (acknowledged, sent) = delivered(sf.emulator());
        let done = acknowledged == sent && acknowledged.len() >= leads.len();
        settled = if done { settled + 1 } else { 0 };
        if settled == 6 {
            break acknowledged;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of {} notifications acknowledged",
            acknowledged.len(),
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sf.emulator().outbound_dropped(), 0);
    assert!(
        relay_state.forwarded.load(Ordering::SeqCst) >= 3,
        "some Acks were lost, so some messages came twice"
    );

    // Every message seen, sent again in reverse order: all acknowledged,
    // nothing new stored.
    let runs_before = all_finished(&server).await.len();
    let seen = relay_state.seen.lock().unwrap().clone();
    for body in seen.iter().rev() {
        let (status, answer) =
            post_soap(&server, "/salesforce/outbound/new-leads", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.contains("<Ack>true</Ack>"));
    }

    // One run per notification, each step run once.
    let runs = all_finished(&server).await;
    assert_eq!(runs.len(), runs_before);
    assert_eq!(runs.len(), notifications.len());
    let org15 = &ORG_ID[..15];
    let keys: HashSet<String> = runs
        .iter()
        .map(|run| run.dedupe_key.clone().unwrap())
        .collect();
    let expected: HashSet<String> = notifications
        .iter()
        .map(|id| format!("{org15}/{id}"))
        .collect();
    assert_eq!(keys, expected);
    let mut runs_per_lead: HashMap<String, usize> = HashMap::new();
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded);
        let detail = server.engine.run_detail(run.id).await.unwrap().unwrap();
        let event = &detail.event;
        assert_eq!(event["sobject_type"], "Lead");
        assert_eq!(event["organization_id"], org15);
        assert_eq!(event["session_id"], Value::Null);
        let record = &event["record"];
        // The notification's element as sent is kept beside the JSON.
        let xml = event["notification_xml"].as_str().unwrap();
        assert!(xml.starts_with("<Notification>"), "{xml}");
        assert!(xml.ends_with("</Notification>"), "{xml}");
        let sent_id = format!("<Id>{}</Id>", event["notification_id"].as_str().unwrap());
        assert!(xml.contains(&sent_id), "{xml}");
        *runs_per_lead
            .entry(record["Id"].as_str().unwrap().to_owned())
            .or_default() += 1;
        // The step counts its calls per notification in state: a second
        // run of one notification would count 2.
        assert_eq!(detail.steps[0].output.as_ref().unwrap()["calls"], 1);
        if record["LastName"] == "Lead 0" {
            assert_eq!(record["NumberOfEmployees"], 500, "typed by the describe");
            assert_eq!(record["PostalCode"], "02134");
            assert_eq!(record["AnnualRevenue"], 1500000.5);
        }
    }
    for (index, id) in leads.iter().enumerate() {
        let expected = if index < 20 { 1..=2 } else { 1..=1 };
        assert!(
            expected.contains(runs_per_lead.get(id).unwrap_or(&0)),
            "runs of lead {index}: {:?}",
            runs_per_lead.get(id)
        );
    }
}

/// The single-line fixture with `replacements` applied.
fn compact_with(replacements: &[(&str, &str)]) -> String {
    let mut body = fixture("om-single-opportunity-compact-ap5.xml");
    for (from, to) in replacements {
        assert!(body.contains(from), "{from}");
        body = body.replace(from, to);
    }
    body
}

/// A message of `count` Opportunity notifications from the fixture's org,
/// each with a `Description` of `padding` bytes.
fn opportunities(count: usize, padding: usize) -> String {
    let notification = |n: usize| {
        format!(
            "<Notification><Id>04l7F0000{n:09}</Id><sObject xsi:type=\"sf:Opportunity\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>0067F0000{n:09}</sf:Id><sf:Description>{}</sf:Description></sObject></Notification>",
            "x".repeat(padding)
        )
    };
    let notifications: String = (0..count).map(notification).collect();
    compact_with(&[(
        "<Notification><Id>04l7F000008aeAyQAI</Id>",
        &format!("{notifications}<Notification><Id>04l7F000008aeAyQAI</Id>"),
    )])
}

#[tokio::test]
async fn bad_messages_get_soap_faults_store_nothing_and_leave_the_server_serving() {
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "s3cret-path-token\n").unwrap();
    let token = format!("file:{}", token_file.path().display());
    let server = Server::start_with(
        &[
            outbound_workflow(
                "opportunities",
                json!({ "organization_ids": [FIXTURE_ORG], "sobject": "Opportunity" }),
            ),
            outbound_workflow(
                "guarded",
                json!({ "organization_ids": [FIXTURE_ORG], "sobject": "Opportunity", "token": token }),
            ),
            json!({ "id": "a-webhook", "trigger": { "webhook": {} }, "steps": [{ "id": "s", "uses": "builtin:filter", "with": { "conditions": [{ "value": 1, "op": "exists" }] } }] }),
        ],
        |config| config.max_outbound_message_bytes = 2 * 1024 * 1024,
        None,
    )
    .await;
    let path = "/salesforce/outbound/opportunities";
    let good = fixture("om-single-opportunity-compact-ap5.xml");
    let refused = [
        (
            "malformed XML",
            path,
            compact_with(&[("</sf:Name>", "</sf:Nam>")]),
            400,
            "the XML is malformed",
        ),
        (
            "a DOCTYPE",
            path,
            compact_with(&[
                (
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                    "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>",
                ),
                ("Phone Inquiry", "&b;"),
            ]),
            400,
            "the message has a DOCTYPE",
        ),
        (
            "an undefined entity",
            path,
            compact_with(&[("Phone Inquiry", "&xxe;")]),
            400,
            "the entity `&xxe;` is not defined",
        ),
        (
            "another org",
            path,
            compact_with(&[("00D7F00000107XsUAI", "00D7F00000107XtUAI")]),
            403,
            "organization `00D7F00000107XtUAI` may not post to this workflow",
        ),
        (
            "another sObject",
            path,
            good.replace("sf:Opportunity", "sf:Contact"),
            400,
            "this workflow takes Opportunity notifications, not Contact",
        ),
        (
            "a JSON body",
            path,
            "{\"Id\": \"006\"}".to_owned(),
            400,
            "the message has no <notifications> element",
        ),
        (
            "no notifications element",
            path,
            fixture("om-empty-notifications.xml"),
            400,
            "the message has no OrganizationId",
        ),
        (
            "101 notifications",
            path,
            opportunities(100, 0),
            400,
            "the message holds more than 100 notifications",
        ),
        (
            "over the size limit",
            path,
            opportunities(99, 22_000),
            413,
            "length limit exceeded",
        ),
        (
            "an unknown workflow",
            "/salesforce/outbound/nope",
            good.clone(),
            404,
            "no workflow `nope` is loaded",
        ),
        (
            "a webhook workflow",
            "/salesforce/outbound/a-webhook",
            good.clone(),
            404,
            "workflow `a-webhook` is not started by Outbound Messages",
        ),
        (
            "no token",
            "/salesforce/outbound/guarded",
            good.clone(),
            403,
            "the URL's token is missing or wrong",
        ),
        (
            "a wrong token",
            "/salesforce/outbound/guarded/s3cret-path-toke",
            good.clone(),
            403,
            "the URL's token is missing or wrong",
        ),
        (
            "a token where none is set",
            "/salesforce/outbound/opportunities/s3cret-path-token",
            good.clone(),
            403,
            "the URL's token is missing or wrong",
        ),
    ];
    for (case, path, body, status, reason) in refused {
        let (got, answer) = post_soap(&server, path, body).await;
        assert_eq!(got.as_u16(), status, "{case}: {answer}");
        assert!(
            fault_string(&answer).contains(reason),
            "{case}: {}",
            fault_string(&answer)
        );
        assert!(
            answer.contains("<faultcode>soapenv:Client</faultcode>"),
            "{case}"
        );
    }
    let response = server
        .post(path)
        .header("content-type", "application/json")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(fault_string(&response.text().await.unwrap()).contains("sent as text/xml"));
    assert_eq!(server.run_count().await, 0, "nothing was stored");

    // The server is unharmed: good messages are taken, the large one too
    // (past the webhooks' 1 MiB, under the trigger's limit).
    for (path, body) in [
        (path, good.clone()),
        (
            "/salesforce/outbound/guarded/s3cret-path-token",
            good.clone(),
        ),
        (path, opportunities(99, 15_000)),
    ] {
        let (status, answer) = post_soap(&server, path, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, gust_outbound_ack());
    }
    // The admin API lists each workflow's URL, the token as a placeholder.
    let (_, listed) = server.get("/api/workflows").await;
    let url_of = |id: &str| {
        listed["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|workflow| workflow["id"] == id)
            .unwrap()["urls"][0]
            .clone()
    };
    assert_eq!(
        url_of("guarded"),
        format!("{}/salesforce/outbound/guarded/{{token}}", server.base)
    );
    assert_eq!(
        url_of("opportunities"),
        format!("{}/salesforce/outbound/opportunities", server.base)
    );

    // The large message repeats the first one's notification: it is not
    // stored twice (the guarded workflow's is its own).
    let runs = all_finished(&server).await;
    assert_eq!(runs.len(), 1 + 1 + 99);
}

fn gust_outbound_ack() -> String {
    fixture("ack-response.xml")
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_a_server_fault_so_salesforce_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FullDisk::new(
        crate::support::open_store(dir.path()).await.unwrap(),
    ));
    let server = Server::start_with(
        &[outbound_workflow(
            "opportunities",
            json!({ "organization_ids": [FIXTURE_ORG], "sobject": "Opportunity" }),
        )],
        |_| {},
        Some(store),
    )
    .await;
    let (status, answer) = post_soap(
        &server,
        "/salesforce/outbound/opportunities",
        fixture("om-single-opportunity-compact-ap5.xml"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer.contains("<faultcode>soapenv:Server</faultcode>"));
    assert!(
        fault_string(&answer).contains("No space left on device"),
        "{answer}"
    );
    assert!(!answer.contains("Ack"));
}

#[tokio::test]
async fn a_required_session_is_confirmed_by_the_org_before_anything_is_stored() {
    let sf = Sf::start().await;
    let other_org = "00D5g000004OthRUAS";
    let server = Server::against(
        &sf,
        &[outbound_workflow(
            "sessions",
            json!({ "organization_ids": [ORG_ID, other_org], "sobject": "Opportunity", "require_session": true }),
        )],
        None,
    )
    .await;
    let path = "/salesforce/outbound/sessions";
    let live = sf.emulator().sessions().issue_access_token();
    let message = |organization: &str, session: &str| {
        compact_with(&[
            ("00D7F00000107XsUAI", organization),
            ("<SessionId xsi:nil=\"true\"/>", session),
        ])
    };
    let cases = [
        (
            message(ORG_ID, "<SessionId xsi:nil=\"true\"/>"),
            403,
            "this workflow requires a SessionId".to_owned(),
        ),
        (
            message(ORG_ID, "<SessionId>00Dforged!session</SessionId>"),
            403,
            format!("the SessionId is not a live session of organization `{ORG_ID}`"),
        ),
        (
            message(other_org, &format!("<SessionId>{live}</SessionId>")),
            403,
            format!("it is a session of `{ORG_ID}`"),
        ),
    ];
    for (body, status, reason) in cases {
        let (got, answer) = post_soap(&server, path, body).await;
        assert_eq!(got.as_u16(), status, "{answer}");
        assert!(fault_string(&answer).contains(&reason), "{answer}");
    }
    assert_eq!(server.run_count().await, 0);
    let (status, answer) = post_soap(
        &server,
        path,
        message(ORG_ID, &format!("<SessionId>{live}</SessionId>")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let runs = all_finished(&server).await;
    assert_eq!(runs.len(), 1);
    let detail = server.engine.run_detail(runs[0].id).await.unwrap().unwrap();
    assert_eq!(detail.event["session_id"], live);
    let userinfo_calls = sf.count("/services/oauth2/userinfo");
    assert_eq!(
        userinfo_calls, 3,
        "the forged, the other org's and the live session were checked"
    );
}

#[tokio::test]
async fn soap_to_json_converts_a_message_that_reaches_a_webhook_as_the_trigger_does() {
    let server = Server::start_with(
        &[
            json!({
                "id": "relayed",
                "trigger": { "webhook": { "respond": "sync" } },
                "steps": [{ "id": "convert", "uses": "builtin:soap-to-json",
                            "with": { "xml": "${trigger.body}", "sobject": "Opportunity",
                                      "field_types": { "Amount": "string" } } }],
            }),
            outbound_workflow(
                "opportunities",
                json!({ "organization_ids": [FIXTURE_ORG], "sobject": "Opportunity" }),
            ),
        ],
        |_| {},
        None,
    )
    .await;
    let body = fixture("om-single-opportunity-compact-ap5.xml");
    let response = server
        .post("/hooks/relayed")
        .header("content-type", "text/xml")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let converted: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{converted}");
    let events = converted["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["record"]["Amount"], "120000.0",
        "a field given the type string stays text"
    );

    // The trigger makes the same events from the same message.
    let (status, _) = post_soap(&server, "/salesforce/outbound/opportunities", body).await;
    assert_eq!(status, StatusCode::OK);
    let mut runs = all_finished(&server).await;
    runs.retain(|run| run.workflow == "opportunities");
    assert_eq!(runs.len(), 1);
    let mut triggered = server
        .engine
        .run_detail(runs[0].id)
        .await
        .unwrap()
        .unwrap()
        .event;
    assert_eq!(triggered["record"]["Amount"], 120000.0);
    triggered["record"]["Amount"] = json!("120000.0");
    assert_eq!(triggered, events[0]);

    let response = server
        .post("/hooks/relayed")
        .header("content-type", "text/xml")
        .body("<html/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let failed: Value = response.json().await.unwrap();
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("not an Outbound Message: the root element is <html>"),
        "{failed}"
    );
}
