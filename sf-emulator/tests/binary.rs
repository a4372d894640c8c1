//! The `sf-emulator` binary as a developer runs it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{login, login_as};
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
    let (_child, _stdout, url) = start(&[std::ffi::OsStr::new("--seed"), seed.as_os_str()]);

    let client = reqwest::Client::new();
    let token = login_as(&client, &url, "seeded-app", "seeded-secret").await;
    let account: Value = client
        .get(format!(
            "{url}/services/data/v60.0/sobjects/Account/Erp_Id__c/E-7"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["Name"], json!("Seeded"));
}

/// Starts the binary with `args`; returns it and its URL.
fn start(args: &[&std::ffi::OsStr]) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_sf-emulator"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Salesforce emulator listening on ")
        .unwrap()
        .to_owned();
    (child, stdout, url)
}

#[tokio::test]
async fn with_a_data_directory_records_outlive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        r#"{ "records": { "Account": [{ "Name": "Seeded" }] } }"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = [
        std::ffi::OsStr::new("--seed"),
        seed.as_os_str(),
        std::ffi::OsStr::new("--data"),
        data.as_os_str(),
    ];
    let client = reqwest::Client::new();
    let names = |url: String, token: String| {
        let client = client.clone();
        async move {
            let found: Value = client
                .get(format!("{url}/services/data/v60.0/query"))
                .query(&[("q", "SELECT Name FROM Account ORDER BY Name")])
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            found["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    {
        let (mut child, _stdout, url) = start(&args);
        let token = login(&client, &url).await;
        let created = client
            .post(format!("{url}/services/data/v60.0/sobjects/Account"))
            .bearer_auth(&token)
            .json(&json!({ "Name": "Created" }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let saved = data.join("org.json");
        for _ in 0..100 {
            if std::fs::read_to_string(&saved).is_ok_and(|text| text.contains("Created")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        child.0.kill().unwrap();
        child.0.wait().unwrap();
    }
    let (mut child, _stdout, url) = start(&args);
    let token = login(&client, &url).await;
    assert_eq!(
        names(url, token).await,
        ["Created", "Seeded"],
        "restored, the seed not applied twice"
    );
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let notice = stderr_of(&mut child);
    assert!(
        notice.contains("records restored from") && notice.contains("(saved from the same seed)"),
        "{notice}"
    );

    // A changed seed is applied, and the saved records are kept aside.
    std::fs::write(
        &seed,
        r#"{ "records": { "Account": [{ "Name": "Reseeded" }] } }"#,
    )
    .unwrap();
    let (mut child, _stdout, url) = start(&args);
    let token = login(&client, &url).await;
    assert_eq!(names(url, token).await, ["Reseeded"]);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let notice = stderr_of(&mut child);
    assert!(
        notice.contains("the seed's records changed since"),
        "{notice}"
    );
    let backup = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.to_string_lossy().contains("org-before-seed-change-"))
        .expect("the saved org was moved aside");
    let kept = std::fs::read_to_string(&backup).unwrap();
    assert!(kept.contains("Created"), "{kept}");
    assert!(notice.contains(&backup.display().to_string()), "{notice}");
}

/// What the ended `child` wrote on standard error.
fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut text).unwrap();
    text
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

#[tokio::test]
async fn token_lifetime_makes_sessions_expire() {
    let (_child, _stdout, url) = start(&[
        std::ffi::OsStr::new("--token-lifetime"),
        std::ffi::OsStr::new("1"),
    ]);
    let client = reqwest::Client::new();
    let token = login(&client, &url).await;
    let limits = format!("{url}/services/data/v60.0/limits");
    let status = |token: String| {
        let request = client.get(&limits).bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(token.clone()).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    assert_eq!(status(token).await, 401);
}

#[tokio::test]
async fn several_orgs_are_served_each_with_its_own_id_and_sessions() {
    let (_child, mut stdout, first) = start(&[std::ffi::OsStr::new("--orgs"), "2".as_ref()]);
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim().to_owned());
    }
    let first_org = lines[0].strip_prefix("org ").unwrap().to_owned();
    let second = lines[1]
        .strip_prefix("Salesforce emulator listening on ")
        .unwrap()
        .to_owned();
    let second_org = lines[2].strip_prefix("org ").unwrap().to_owned();
    assert_ne!(first, second);
    assert_ne!(first_org, second_org);
    let client = reqwest::Client::new();
    for (url, org) in [(&first, &first_org), (&second, &second_org)] {
        let token = login(&client, url).await;
        let info: Value = client
            .get(format!("{url}/services/oauth2/userinfo"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(&info["organization_id"], org.as_str());
        // A session of one org is no session in the other.
        let other = if url == &first { &second } else { &first };
        let status = client
            .get(format!("{other}/services/data/v60.0/limits"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
}
