//! Outbound Messages as a receiver sees them: the fixtures' envelope,
//! resent until acknowledged, never after.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::{Org, fixture_path};
use reqwest::Method;
use serde_json::json;
use sf_emulator::outbound::{OutboundRule, Retries};
use sf_emulator::{Config, Emulator};

/// A receiver that refuses the first `refusals` posts, then acknowledges;
/// it keeps every body it got.
async fn receiver(refusals: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().route(
        "/outbound",
        post({
            let bodies = bodies.clone();
            move |body: String| async move {
                let mut bodies = bodies.lock().unwrap();
                bodies.push(body);
                if bodies.len() <= refusals {
                    (StatusCode::INTERNAL_SERVER_ERROR, "try later".to_owned())
                } else {
                    let ack =
                        std::fs::read_to_string(fixture_path("outbound-messages/ack-response.xml"))
                            .unwrap();
                    (StatusCode::OK, ack)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/outbound", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, bodies)
}

async fn emulator(retries: Retries) -> Org {
    let config = Config {
        outbound_retries: retries,
        ..Config::default()
    };
    Org::start_with(Emulator::new(config)).await
}

fn quick() -> Retries {
    Retries {
        first: Duration::from_millis(50),
        longest: Duration::from_millis(200),
        max_age: Duration::from_secs(30),
    }
}

/// The element names of `xml`, nested by indentation, sObject fields left
/// out: the envelope's skeleton.
fn skeleton(xml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml.trim_start_matches('\u{feff}'));
    let mut depth = 0;
    let mut names = Vec::new();
    let mut in_sobject = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                if !in_sobject {
                    names.push(format!("{}{name}", " ".repeat(depth)));
                }
                in_sobject |= name == "sObject";
                depth += 1;
            }
            quick_xml::events::Event::Empty(empty) => {
                names.push(format!("{}{}/", " ".repeat(depth), empty.name().as_ref()));
            }
            quick_xml::events::Event::End(end) => {
                depth -= 1;
                if end.name().as_ref() == "sObject" {
                    in_sobject = false;
                }
            }
            quick_xml::events::Event::Eof => return names,
            _ => {}
        }
    }
}

async fn create_leads(org: &Org, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let lead = json!({ "LastName": name, "Company": "Acme & Sons", "Email": format!("{}@example.com", name.to_lowercase()) });
        let (_, created) = Org::send(org.request(Method::POST, "/sobjects/Lead").json(&lead)).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gave up waiting");
}

#[tokio::test]
async fn messages_are_resent_until_acknowledged_and_never_after() {
    let (endpoint, bodies) = receiver(2).await;
    let org = emulator(quick()).await;
    let running = &org.running;
    running.emulator.add_outbound_rule(OutboundRule {
        object: "Lead".into(),
        fields: vec![
            "LastName".into(),
            "Company".into(),
            "Email".into(),
            "CreatedDate".into(),
            "Phone".into(),
        ],
        endpoint,
        on_create: true,
        on_update: false,
        send_session_id: false,
        organization_id: None,
    });
    let ids = create_leads(&org, &["Lovelace", "Hopper"]).await;
    wait_for(|| {
        running
            .emulator
            .outbound_deliveries()
            .iter()
            .any(|d| d.acknowledged)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let deliveries = running.emulator.outbound_deliveries();
    let acknowledged: Vec<_> = deliveries.iter().filter(|d| d.acknowledged).collect();
    let delivered: usize = acknowledged.iter().map(|d| d.notifications.len()).sum();
    assert_eq!(
        delivered, 2,
        "each notification acknowledged once: {deliveries:?}"
    );
    assert!(deliveries.iter().take(2).all(|d| !d.acknowledged
        && d.error.as_deref() == Some("the endpoint answered 500 Internal Server Error")));
    let posts = bodies.lock().unwrap().len();
    assert_eq!(posts, deliveries.len(), "nothing sent after the Ack");

    let body = bodies.lock().unwrap().last().unwrap().clone();
    let documented = std::fs::read_to_string(fixture_path(
        "outbound-messages/om-single-opportunity-nil-sessionid.xml",
    ))
    .unwrap();
    let mut expected = skeleton(&documented);
    let mut got = skeleton(&body);
    // Compare one notification's worth.
    let notification = expected
        .iter()
        .position(|n| n.trim() == "Notification")
        .unwrap();
    expected.truncate(notification + 3);
    got.truncate(notification + 3);
    assert_eq!(got, expected);
    for id in &ids {
        assert!(
            bodies
                .lock()
                .unwrap()
                .iter()
                .any(|b| b.contains(&format!("<sf:Id>{id}</sf:Id>")))
        );
    }
    assert!(body.contains("xsi:type=\"sf:Lead\""));
    assert!(
        body.contains("<sf:Company>Acme &amp; Sons</sf:Company>"),
        "{body}"
    );
    assert!(!body.contains("<sf:Phone>"), "empty fields are left out");
    assert!(body.contains("<OrganizationId>00D5g000004EmuL</OrganizationId>"));
    let created = body
        .split("<sf:CreatedDate>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
}

#[tokio::test]
async fn updates_waiting_together_are_one_notification_dropped_past_its_age() {
    // An endpoint that is down: nothing is ever acknowledged.
    let retries = Retries {
        first: Duration::from_millis(30),
        longest: Duration::from_millis(30),
        max_age: Duration::from_millis(300),
    };
    let org = emulator(retries).await;
    let running = &org.running;
    running.emulator.add_outbound_rule(OutboundRule {
        object: "lead".into(),
        fields: vec!["Email".into()],
        endpoint: "http://127.0.0.1:9/nowhere".into(),
        on_create: false,
        on_update: true,
        send_session_id: true,
        organization_id: Some("00DXX0000000000".into()),
    });
    let ids = create_leads(&org, &["Turing"]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        running.emulator.outbound_deliveries().is_empty(),
        "creates are not watched"
    );
    {
        let mut org = running.emulator.org();
        let id = sf_emulator::ids::RecordId::parse(&ids[0]).unwrap();
        for email in ["a@example.com", "b@example.com"] {
            let change = json!({ "Email": email });
            org.update("Lead", &id, change.as_object().unwrap())
                .unwrap();
        }
    }
    wait_for(|| running.emulator.outbound_dropped() == 1).await;
    let deliveries = running.emulator.outbound_deliveries();
    assert!(
        deliveries.len() >= 2,
        "resent while it lived: {deliveries:?}"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.notifications.len() == 1 && d.notifications == deliveries[0].notifications)
    );
    let count = deliveries.len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        running.emulator.outbound_deliveries().len(),
        count,
        "dropped for good"
    );
}
