use std::time::Duration;

use gust_engine::model::{FailureKind, LogSource};
use gust_engine::wasm::{Error, Flow, Sandbox, SandboxConfig, StepLimits};
use gust_tests::{bare_context, guests, read, sandbox};
use serde_json::{Value, json};

fn limits() -> StepLimits {
    StepLimits {
        memory_bytes: 16 << 20,
        timeout: Duration::from_millis(500),
        fuel: None,
    }
}

async fn act(runtime: &Sandbox, input: Value, limits: StepLimits) -> gust_engine::wasm::Invocation {
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    runtime
        .invoke(&component, &input, &limits, bare_context("misbehave"))
        .await
}

#[tokio::test]
async fn a_step_gets_its_input_and_returns_its_output() {
    let runtime = sandbox();
    let input = json!({ "act": "echo", "nested": { "list": [1, 2.5, "three", null] } });
    let invocation = act(&runtime, input.clone(), limits()).await;
    let success = invocation.result.unwrap();
    assert_eq!(success.output, input);
    assert_eq!(success.flow, Flow::Continue);
}

#[tokio::test]
async fn a_panic_fails_the_step_with_the_panic_message() {
    let invocation = act(&sandbox(), json!({ "act": "panic" }), limits()).await;
    let failure = invocation.result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Trap);
    assert!(!failure.retryable);
    assert!(
        failure.message.contains("panicked at")
            && failure
                .message
                .contains("boom: the guest panicked on purpose"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn an_abort_is_a_trap() {
    let failure = act(&sandbox(), json!({ "act": "abort" }), limits())
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Trap);
    assert!(
        failure.message.starts_with("the step trapped:"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_time_limit() {
    let invocation = act(&sandbox(), json!({ "act": "spin" }), limits()).await;
    let failure = invocation.result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert!(failure.retryable);
    assert_eq!(
        failure.message,
        "the step ran past its time limit of 500 ms and was stopped"
    );
    assert!(invocation.duration >= Duration::from_millis(500));
    assert!(
        invocation.duration < Duration::from_secs(5),
        "{:?}",
        invocation.duration
    );
}

#[tokio::test]
async fn an_endless_loop_runs_out_of_fuel_when_fuel_is_set() {
    let limits = StepLimits {
        fuel: Some(5_000_000),
        timeout: Duration::from_secs(30),
        ..limits()
    };
    let failure = act(&sandbox(), json!({ "act": "spin" }), limits)
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::OutOfFuel);
    assert_eq!(
        failure.message,
        "the step used up its fuel budget of 5000000"
    );
}

#[tokio::test]
async fn growing_memory_past_the_limit_fails_the_step() {
    let failure = act(&sandbox(), json!({ "act": "oom" }), limits())
        .await
        .result
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::MemoryLimit);
    assert!(!failure.retryable);
    assert_eq!(
        failure.message,
        "the step ran out of memory: it tried to use more than its limit of 16 MiB"
    );
}

#[tokio::test]
async fn megabytes_of_stdout_are_capped_and_the_step_still_succeeds() {
    let invocation = act(
        &sandbox(),
        json!({ "act": "print", "megabytes": 4 }),
        limits(),
    )
    .await;
    assert_eq!(
        invocation.result.unwrap().output,
        json!({ "printed_mb": 4 })
    );
    let stdout_bytes: usize = invocation
        .logs
        .iter()
        .filter(|line| line.source == LogSource::Stdout)
        .map(|line| line.message.len() + 1)
        .sum();
    assert!(
        stdout_bytes <= gust_engine::wasm::MAX_OUTPUT_BYTES,
        "{stdout_bytes}"
    );
    assert!(
        stdout_bytes >= gust_engine::wasm::MAX_OUTPUT_BYTES / 2,
        "{stdout_bytes}"
    );
    let dropped = invocation
        .logs
        .iter()
        .find(|line| line.source == LogSource::Host)
        .expect("a note about dropped output");
    let expected_dropped = 4 * 1024 * 1024 - gust_engine::wasm::MAX_OUTPUT_BYTES;
    assert_eq!(
        dropped.message,
        format!("{expected_dropped} more bytes of stdout were dropped (over the cap)")
    );
    assert!(
        invocation
            .logs
            .iter()
            .any(|line| line.source == LogSource::Stderr && line.message == "done printing")
    );
}

#[tokio::test]
async fn files_are_out_of_reach() {
    let runtime = sandbox();
    for input in [
        json!({ "act": "read_file", "path": "/etc/passwd" }),
        json!({ "act": "read_file", "path": "Cargo.toml" }),
        json!({ "act": "write_file" }),
    ] {
        let output = act(&runtime, input.clone(), limits())
            .await
            .result
            .unwrap()
            .output;
        let error = output["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{input}: {output}"));
        assert!(!error.is_empty(), "{input}: {output}");
    }
    assert!(!std::path::Path::new("escape.txt").exists());
}

#[tokio::test]
async fn the_environment_and_arguments_are_empty() {
    let output = act(&sandbox(), json!({ "act": "env" }), limits())
        .await
        .result
        .unwrap()
        .output;
    assert_eq!(output, json!({ "vars": [], "home": null, "args": [] }));
}

#[tokio::test]
async fn sockets_are_refused() {
    let output = act(&sandbox(), json!({ "act": "connect" }), limits())
        .await
        .result
        .unwrap()
        .output;
    assert!(output["error"].is_string(), "{output}");
}

#[tokio::test]
async fn the_runtime_keeps_working_after_misbehaving_steps() {
    let runtime = sandbox();
    for bad in ["panic", "abort", "spin", "oom"] {
        assert!(
            act(&runtime, json!({ "act": bad }), limits())
                .await
                .result
                .is_err()
        );
    }
    let output = act(&runtime, json!({ "act": "echo", "n": 1 }), limits())
        .await
        .result
        .unwrap()
        .output;
    assert_eq!(output, json!({ "act": "echo", "n": 1 }));
}

#[tokio::test]
async fn more_concurrent_steps_than_pool_slots_wait_for_a_slot() {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let tasks: Vec<_> = (0..48)
        .map(|n| {
            let runtime = runtime.clone();
            let component = component.clone();
            tokio::spawn(async move {
                runtime
                    .invoke(
                        &component,
                        &json!({ "act": "echo", "n": n }),
                        &limits(),
                        bare_context("s"),
                    )
                    .await
            })
        })
        .collect();
    for (n, task) in tasks.into_iter().enumerate() {
        let output = task.await.unwrap().result.unwrap().output;
        assert_eq!(output["n"], json!(n));
    }
}

#[test]
fn a_core_module_is_refused_as_not_a_component() {
    // The smallest core module: magic and version 1.
    let core = b"\0asm\x01\0\0\0";
    assert!(matches!(sandbox().load(core), Err(Error::NotAComponent)));
    assert_eq!(
        Error::NotAComponent.to_string(),
        "a core WebAssembly module, not a component: build the step for the wasm32-wasip2 target"
    );
}

#[test]
fn bytes_that_are_not_webassembly_are_refused() {
    assert!(matches!(
        sandbox().load(b"{\"not\": \"wasm\"}"),
        Err(Error::NotWasm)
    ));
}

#[test]
fn a_component_of_another_world_is_refused() {
    match sandbox().load(&read(guests::WRONG_WORLD)) {
        Err(Error::World(message)) => assert!(message.contains("run"), "{message}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a component without `run` loaded"),
    }
}

#[test]
fn components_are_compiled_once_and_kept_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = SandboxConfig {
        cache_dir: Some(dir.path().to_owned()),
        max_instances: 4,
        fuel_metering: false,
    };
    let wasm = read(guests::MISBEHAVE);
    let first = Sandbox::new(config.clone()).unwrap();
    let component = first.load(&wasm).unwrap();
    assert_eq!(first.load(&wasm).unwrap().digest(), component.digest());
    let artifacts: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    assert!(artifacts[0].starts_with(component.digest()) && artifacts[0].ends_with(".cwasm"));

    // A restarted runtime loads the artifact; a damaged one is recompiled.
    // (Artifacts are memory-mapped: the runtimes using one are dropped
    // before it is overwritten in place.)
    let inode = |name: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(dir.path().join(name)).unwrap().ino()
    };
    let saved = inode(&artifacts[0]);
    let second = Sandbox::new(config.clone()).unwrap();
    assert_eq!(second.load(&wasm).unwrap().digest(), component.digest());
    // Not compiled again: a recompile saves a new file over the old one.
    assert_eq!(inode(&artifacts[0]), saved);
    let digest = component.digest().to_owned();
    drop((first, second, component));
    std::fs::write(dir.path().join(&artifacts[0]), b"garbage").unwrap();
    let third = Sandbox::new(config).unwrap();
    assert_eq!(third.load(&wasm).unwrap().digest(), digest);
    assert!(
        std::fs::metadata(dir.path().join(&artifacts[0]))
            .unwrap()
            .len()
            > 1000
    );
}
