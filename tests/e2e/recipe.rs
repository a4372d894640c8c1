//! The README's "Writing a step" recipe, run line by line as it is written,
//! in an empty directory outside the workspace, with `gust` on the `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Process, eventually};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The command lines of the README block after the recipe marker.
fn recipe() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- step recipe:")
        .expect("the README has the step recipe");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, block)| block.split_once("```"))
        .expect("the recipe is a sh block")
        .0;
    block
        .lines()
        .map(|line| match line.find("  #") {
            Some(at) => line[..at].trim().to_owned(),
            None => line.trim().to_owned(),
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[tokio::test]
async fn a_new_step_builds_and_runs_outside_the_workspace_as_the_readme_says() {
    let lines = recipe();
    assert!(lines.len() >= 5, "{lines:?}");
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().starts_with(repo()), "outside the workspace");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gust-e2e"), bin.join("gust")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut last = String::new();
    for line in &lines {
        let output = Command::new("sh")
            .args(["-c", line])
            .current_dir(&work)
            .env("PATH", &path)
            .env("GUST_CACHE_DIR", dir.path().join("cache"))
            // Compiled dependencies are kept between runs of the suite.
            .env("CARGO_TARGET_DIR", repo().join("target/recipe"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "`{line}` failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        last = stdout;
    }
    assert!(last.contains("ok   hello ("), "{last}");
    assert!(
        last.contains(r#"output: {"greeting":"Hello, Ada!"}"#),
        "{last}"
    );
    let manifest = std::fs::read_to_string(work.join("hello/Cargo.toml")).unwrap();
    assert!(manifest.contains("[workspace]"), "{manifest}");
    assert!(work.join("hello/hello.wasm").is_file());

    // What the scaffolding refuses, and `gust build` without a source.
    let gust = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap()
    };
    for (args, message) in [
        (
            &["new", "step", "hello"][..],
            "hello already exists; nothing was written",
        ),
        (
            &["new", "step", "Hello World"][..],
            "`Hello World` cannot name a step crate",
        ),
        (
            &["new", "workflow", "hello"][..],
            "hello.json already exists",
        ),
        (
            &["new", "step", "other", "--sdk", "nowhere"][..],
            "--sdk nowhere",
        ),
        (
            &["new", "workflow", "other", "--step", "nowhere"][..],
            "--step nowhere: cannot read",
        ),
    ] {
        let output = gust(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let output = gust(&["new", "workflow", "plain"]);
    assert!(output.status.success());
    let output = gust(&["build", "plain.json"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no step of plain.json names the crate that builds it"),
        "{stderr}"
    );
    let output = gust(&["validate", "plain.json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    watch_rebuilds_and_reloads(&work, dir.path()).await;
}

/// `gust serve --watch` on the recipe's directory: an edit of the step's
/// source is rebuilt and runs next, a new workflow file is served.
async fn watch_rebuilds_and_reloads(work: &Path, dir: &Path) {
    std::fs::remove_file(work.join("body.json")).unwrap();
    let target = repo().join("target/recipe");
    let server = Process::start_with_args(
        "127.0.0.1:0",
        work,
        &dir.join("data"),
        &[("CARGO_TARGET_DIR", target.to_str().unwrap())],
        &["--watch"],
    );
    let client = reqwest::Client::new();
    let greeting = |workflow: &'static str| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let accepted = client
                .post(format!("{base}/hooks/{workflow}"))
                .json(&json!({ "name": "Ada" }))
                .send()
                .await
                .unwrap();
            if accepted.status() != 202 {
                return None;
            }
            let accepted: Value = accepted.json().await.unwrap();
            let url = format!("{base}/api/runs/{}", accepted["run_id"].as_str().unwrap());
            eventually("the run", Duration::from_secs(30), || async {
                let detail: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
                (detail["status"] == "succeeded")
                    .then(|| detail["steps"][0]["output"]["greeting"].clone())
            })
            .await
            .as_str()
            .map(str::to_owned)
        }
    };
    assert_eq!(greeting("hello").await.as_deref(), Some("Hello, Ada!"));

    let component = work.join("hello/hello.wasm");
    let first_build = std::fs::read(&component).unwrap();
    let source = work.join("hello/src/lib.rs");
    let code = std::fs::read_to_string(&source).unwrap();
    assert!(code.contains("Hello, "), "{code}");
    std::fs::write(&source, code.replace("Hello, ", "Howdy, ")).unwrap();
    eventually("the rebuilt step", Duration::from_secs(180), || async {
        (greeting("hello").await.as_deref() == Some("Howdy, Ada!")).then_some(())
    })
    .await;

    // A component replaced by hand (no source changed) runs next too.
    std::fs::write(&component, first_build).unwrap();
    eventually(
        "the replaced component",
        Duration::from_secs(30),
        || async { (greeting("hello").await.as_deref() == Some("Hello, Ada!")).then_some(()) },
    )
    .await;

    let workflow = std::fs::read_to_string(work.join("hello.json")).unwrap();
    let copy = workflow.replacen("\"id\": \"hello\"", "\"id\": \"hello-again\"", 1);
    assert_ne!(copy, workflow);
    std::fs::write(work.join("hello-again.json"), copy).unwrap();
    eventually("the new workflow", Duration::from_secs(30), || async {
        greeting("hello-again").await
    })
    .await;
    let (_, log) = server.terminate();
    assert!(log.contains("Watching"), "{log}");
    assert_eq!(
        log.matches("built  ").count(),
        1,
        "one edit, one build (reading the sources is no change):\n{log}"
    );
    assert!(
        !log.contains("invalid"),
        "the JSON Schema beside the workflow is not a workflow:\n{log}"
    );
}
