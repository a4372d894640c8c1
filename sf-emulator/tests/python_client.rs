//! A real client no one here wrote, simple-salesforce (PyPI), against the
//! emulator: records, upsert, a paginated `query_all`, Bulk 2.0 insert and
//! query. `scripts/setup` installs it under `target/python`.

use std::net::SocketAddr;
use std::path::PathBuf;

use sf_emulator::schema::{Field, FieldType};
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_salesforce_works_against_the_emulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join("target/python/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup",
        python.display()
    );
    let emulator = Emulator::new(Config::default());
    {
        let mut org = emulator.org();
        let mut external = Field::new("Erp_Id__c", FieldType::String);
        external.external_id = true;
        org.schema_mut().add_field("Account", external).unwrap();
    }
    let running = emulator
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let script = root.join("sf-emulator/tests/clients/simple_salesforce_check.py");
    let url = running.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args([url.as_str(), DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET])
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
}
