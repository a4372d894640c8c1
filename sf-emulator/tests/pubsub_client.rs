//! A Pub/Sub API client no one here wrote, built from PyPI's grpcio,
//! grpcio-tools and avro as Salesforce's own Python example builds one,
//! against the emulator's Pub/Sub API over TLS: change events of an
//! Account's create, update, delete and undelete decoded with their
//! field bitmaps, replay, errors, and platform events published through
//! REST and through Publish. `scripts/setup` installs the packages under
//! `target/python`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::json;
use sf_emulator::ids::RecordId;
use sf_emulator::pubsub::{self, Listen};
use sf_emulator::seed::Seed;
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforces_python_example_client_subscribes_to_the_emulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/python/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup",
        python.display()
    );
    let seed = Seed::parse(
        &json!({
            "objects": [{ "name": "Order_Placed__e", "fields": [
                { "name": "Order_Number__c", "type": "string", "length": 40 },
                { "name": "Amount__c", "type": "currency" }
            ]}]
        })
        .to_string(),
    )
    .unwrap();
    let emulator = Emulator::with_seed(Config::default(), &seed).unwrap();
    let running = emulator
        .clone()
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let certificate = dir.path().join("pubsub.pem");
    let listen = Listen {
        plaintext: None,
        tls: Some((SocketAddr::from(([127, 0, 0, 1], 0)), certificate.clone())),
    };
    let serving = pubsub::serve(vec![emulator.clone()], &listen)
        .await
        .unwrap();
    let target = serving
        .tls_url
        .as_deref()
        .unwrap()
        .trim_start_matches("https://")
        .to_owned();

    // One Account through its whole life, each write its own transaction.
    let id: RecordId = {
        let fields = json!({ "Name": "Pub Sub Acme", "BillingCity": "Lyon", "Website": "https://acme.example" });
        emulator
            .org()
            .create("Account", fields.as_object().unwrap())
            .unwrap()
    };
    let changes = json!({ "Phone": "555-0199", "BillingCity": "Paris", "Website": null });
    emulator
        .org()
        .update("Account", &id, changes.as_object().unwrap())
        .unwrap();
    emulator.org().delete("Account", &id).unwrap();
    emulator.org().undelete("Account", &id).unwrap();

    // A platform event published through REST.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/services/oauth2/token", running.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published: serde_json::Value = http
        .post(format!(
            "{}/services/data/v62.0/sobjects/Order_Placed__e",
            running.url
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&json!({ "Order_Number__c": "REST-1", "Amount__c": 99.5 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(published["success"], true, "{published}");

    let script = root.join("sf-emulator/tests/clients/pubsub_check.py");
    let proto = root.join("crates/pubsub/proto/pubsub_api.proto");
    let args = [
        running.url.clone(),
        target,
        certificate.display().to_string(),
        proto.display().to_string(),
        DEFAULT_CLIENT_ID.to_owned(),
        DEFAULT_CLIENT_SECRET.to_owned(),
        emulator.org_id().to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all worked"), "{stdout}");
    // It asked for two events at a time, and never more.
    assert!(emulator.pubsub_stats().most_requested <= 2);
    drop(serving);
}
