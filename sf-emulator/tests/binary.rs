//! The `sf-emulator` binary as a developer runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[tokio::test]
async fn the_binary_serves_a_seeded_org() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({
            "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "external_id": true }] },
            "records": { "Account": [{ "Name": "Seeded", "Erp_Id__c": "E-7" }] },
            "apps": [{ "client_id": "seeded-app", "client_secret": "seeded-secret" }]
        })
        .to_string(),
    )
    .unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_sf-emulator"))
            .args(["--listen", "127.0.0.1:0", "--seed"])
            .arg(&seed)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    // Kept open: the binary prints more after this line.
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Salesforce emulator listening on ")
        .unwrap()
        .to_owned();

    let client = reqwest::Client::new();
    let token: Value = client
        .post(format!("{url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "seeded-app"),
            ("client_secret", "seeded-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account: Value = client
        .get(format!(
            "{url}/services/data/v60.0/sobjects/Account/Erp_Id__c/E-7"
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["Name"], json!("Seeded"));
}

#[test]
fn a_bad_seed_stops_the_binary_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(&seed, r#"{ "records": { "Lead": [{ "LastName": "L" }] } }"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sf-emulator"))
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "cannot apply the seed: record 0 of Lead was refused: REQUIRED_FIELD_MISSING"
        ),
        "{stderr}"
    );
}
