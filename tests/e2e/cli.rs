use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gust_tests::guests;
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn gust(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(args)
        .env("GUST_CACHE_DIR", cache)
        .output()
        .expect("gust runs")
}

/// `gust run <workflow> --event <event> [--json]`.
fn gust_run(workflow: &Path, event: impl AsRef<Path>, json: bool, cache: &Path) -> Output {
    let mut args = vec![
        "run".to_owned(),
        workflow.display().to_string(),
        "--event".to_owned(),
        event.as_ref().display().to_string(),
    ];
    if json {
        args.push("--json".to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    gust(&args, cache)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The README's example workflow, with its `score` step pointing at the
/// component this build made.
fn example_workflow(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/workflows/score-lead.json")).unwrap();
    let mut workflow: Value = serde_json::from_str(&text).unwrap();
    let score = workflow["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|step| step["id"] == "score")
        .unwrap();
    assert_eq!(
        score["uses"],
        "../../target/wasm32-wasip2/guest/lead_score.wasm"
    );
    score["uses"] = json!(guests::LEAD_SCORE);
    let path = dir.join("score-lead.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    path
}

fn event(name: &str) -> String {
    repo()
        .join("examples/events")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn run_prints_each_step_and_the_example_lead_scores_an_a() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let output = gust_run(&workflow, event("web-lead.json"), false, dir.path());
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Running workflow `score-lead` (4 steps) on "),
        "{text}"
    );
    assert!(lines[1].starts_with("ok   web-only ("), "{text}");
    assert!(text.contains("\nok   map ("), "{text}");
    assert!(text.contains("\nok   create ("), "{text}");
    assert!(text.contains("\nok   score ("), "{text}");
    assert!(
        text.contains("[info] Wrote Rating Hot to Lead 00Q"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("No Salesforce connection configured: steps call an in-process sf-emulator at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        text.contains("[info] Scored \"ada@analytical-engines.com\" at 100 (A)."),
        "{text}"
    );
    assert!(
        lines.last().unwrap().starts_with("Run succeeded in "),
        "{text}"
    );
}

#[test]
fn run_takes_an_installations_config_and_tenant_and_refuses_one_that_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let workflow = workflow.display().to_string();
    let globex = repo().join("examples/installations/globex.json");
    let globex = globex.display().to_string();
    // (With its defaults the partner lead stops at the filter: see below.)
    // Globex's config keeps partner leads, and sets their LeadSource.
    let args = [
        "run",
        &workflow,
        "--event",
        &event("partner-lead.json"),
        "--installation-config",
        &globex,
        "--tenant",
        "globex",
        "--json",
    ];
    let output = gust(&args, dir.path());
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("\"LeadSource\":\"Globex partners\""),
        "{text}"
    );

    let bad = dir.path().join("bad-config.json");
    std::fs::write(&bad, r#"{ "source": 5, "region": "EMEA" }"#).unwrap();
    let bad = bad.display().to_string();
    let output = gust(
        &[
            "run",
            &workflow,
            "--event",
            &event("web-lead.json"),
            "--installation-config",
            &bad,
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config.source: 5 is not of type \"string\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("config: Additional properties are not allowed"),
        "{stderr}"
    );
}

#[test]
fn run_json_prints_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let output = gust_run(&workflow, event("web-lead.json"), true, dir.path());
    assert!(output.status.success());
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "run_started",
            "step",
            "step",
            "step",
            "step",
            "run_finished"
        ]
    );
    let map = &lines[2];
    assert_eq!(map["step"], "map");
    assert_eq!(map["status"], "succeeded");
    assert_eq!(map["output"]["record"]["LastName"], "Lovelace");
    assert_eq!(map["output"]["record"]["LeadSource"], "Web");
    assert_eq!(map["attempts"][0]["number"], 1);
    assert!(map["duration_ms"].as_f64().unwrap() > 0.0);
    let created = &lines[3];
    assert_eq!(created["step"], "create");
    assert!(created["output"]["id"].as_str().unwrap().starts_with("00Q"));
    let finished = &lines[5];
    assert_eq!(finished["status"], "succeeded");
    assert_eq!(finished["output"]["grade"], "A");
    assert_eq!(finished["output"]["rating"], "Hot");
    assert_eq!(finished["output"]["score"], 100);
    assert_eq!(finished["output"]["leads_scored"], 1);
}

#[test]
fn a_lead_from_elsewhere_stops_at_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let output = gust_run(&workflow, event("partner-lead.json"), true, dir.path());
    assert!(output.status.success());
    let last: Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["stopped_by"], "web-only");
    assert_eq!(last["output"], json!({ "matched": false, "failed": [0] }));
}

/// The regression of a body alone given to `--event`, which used to stop
/// silently at the filter: `gust run` now warns of what the workflow reads
/// and the event lacks, and `--body` makes the webhook request around it.
#[test]
fn a_body_alone_is_warned_about_with_event_and_runs_with_body() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let envelope: Value =
        serde_json::from_str(&std::fs::read_to_string(event("web-lead.json")).unwrap()).unwrap();
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, envelope["body"].to_string()).unwrap();

    let output = gust_run(&workflow, &body_file, true, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "warning: steps[1].with.record: `${trigger.body}` is absent from the event: \
             `trigger` has no `body` (its keys: `source`, `email`, `name`, `company`, `job_title`)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: --event takes the whole request") && stderr.contains("--body "),
        "{stderr}"
    );

    let args = [
        "run",
        workflow.to_str().unwrap(),
        "--body",
        body_file.to_str().unwrap(),
        "--json",
    ];
    let output = gust(&args, dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let last: Value = serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "succeeded");
    assert_eq!(last["output"]["grade"], "A");

    // Neither: a request without a body, which the filter stops.
    let output = gust(&["run", workflow.to_str().unwrap()], dir.path());
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("on an event without a body"), "{text}");
    assert!(text.contains("\nstop web-only ("), "{text}");

    let args = [
        "run",
        workflow.to_str().unwrap(),
        "--event",
        "a",
        "--body",
        "b",
    ];
    let output = gust(&args, dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn a_failing_run_exits_nonzero_with_the_step_error() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("fails.json");
    let definition = json!({
        "id": "fails", "trigger": { "manual": {} },
        "steps": [{ "id": "boom", "uses": guests::MISBEHAVE, "with": { "act": "panic" } }]
    });
    std::fs::write(&workflow, definition.to_string()).unwrap();
    let event_file = dir.path().join("event.json");
    std::fs::write(&event_file, "{}").unwrap();
    let output = gust_run(&workflow, event_file, false, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("FAIL boom ("), "{text}");
    assert!(text.contains("error: the step panicked at"), "{text}");
    assert!(
        text.contains("boom: the guest panicked on purpose"),
        "{text}"
    );
    assert!(
        text.trim_end().ends_with("ms") && text.contains("Run failed in "),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("sf-emulator"),
        "no step may call Salesforce, so no emulator starts: {stderr}"
    );
}

#[test]
fn run_refuses_an_event_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let event_file = dir.path().join("event.json");
    std::fs::write(&event_file, "<xml/>").unwrap();
    let output = gust_run(&workflow, event_file, false, dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: the event "), "{stderr}");
    assert!(
        stderr.contains("is not JSON: expected value at line 1 column 1"),
        "{stderr}"
    );
}

#[test]
fn validate_accepts_good_workflows_and_lists_every_problem_of_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = example_workflow(dir.path());
    let bad = repo().join("engine/tests/ui/invalid/bad-references.json");
    let missing_module = dir.path().join("missing-module.json");
    let definition = json!({
        "id": "missing", "trigger": { "manual": {} },
        "steps": [{ "id": "gone", "uses": "gone.wasm" }, { "id": "other", "uses": guests::WRONG_WORLD }]
    });
    std::fs::write(&missing_module, definition.to_string()).unwrap();
    let output = gust(
        &[
            "validate",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
            missing_module.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("ok     {} (4 steps)", good.display()));
    assert_eq!(lines[1], format!("error  {}", bad.display()));
    assert_eq!(
        lines[2],
        "       steps[0].with.later: `${steps.second.value}` refers to step `second`, which runs after this step"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("       steps["))
            .count(),
        8,
        "{text}"
    );
    assert_eq!(lines[8], format!("error  {}", missing_module.display()));
    assert!(
        lines[9].starts_with("       steps[0].uses: `gone.wasm`: cannot read the module "),
        "{text}"
    );
    assert!(
        lines[10].contains("does not export the gust:step world"),
        "{text}"
    );

    let output = gust(&["validate", good.to_str().unwrap()], dir.path());
    assert!(output.status.success(), "{}", stdout(&output));
}

#[test]
fn validate_names_an_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = gust(&["validate", "no/such/workflow.json"], dir.path());
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with("error  cannot read no/such/workflow.json: "),
        "{}",
        stdout(&output)
    );
}

/// `GUST_LOG=debug` shows Gust's own logs and not the compiler's thousands
/// of lines; piped, the logs carry no colour codes.
#[test]
fn debug_logs_are_gusts_own_and_plain_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = dir.path().join("echo.json");
    let definition = json!({
        "id": "echo", "trigger": { "manual": {} },
        "steps": [{ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo" } }]
    });
    std::fs::write(&workflow, definition.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["run", workflow.to_str().unwrap()])
        .env("GUST_CACHE_DIR", dir.path().join("fresh-cache"))
        .env("GUST_LOG", "debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("DEBUG gust_engine::wasm::cache: Compiled a component."),
        "{stderr}"
    );
    assert!(!stderr.contains("cranelift"), "{stderr}");
    assert!(!stderr.contains("wasmtime"), "{stderr}");
    assert!(stderr.lines().count() < 50, "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr}");
    assert!(
        stdout(&output).starts_with("Running workflow `echo` (1 steps) on an event without a body"),
        "{}",
        stdout(&output)
    );
}

/// Output cut short by its reader (`gust ... | head`) ends the command
/// quietly, as with any Unix tool, instead of a panic.
#[test]
fn a_closed_stdout_ends_the_command_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = example_workflow(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args([
            "run",
            workflow.to_str().unwrap(),
            "--event",
            &event("web-lead.json"),
        ])
        .env("GUST_CACHE_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

/// `gust validate` takes a directory, reads the trigger's secrets as the
/// server would, and explains a 5-field cron.
#[test]
fn validate_checks_a_directory_secrets_and_cron_fields() {
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    let step = json!({ "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo" } });
    let hook = json!({ "id": "hook", "trigger": { "webhook": { "secret": "env:GUST_E2E_HOOK_SECRET" } }, "steps": [step] });
    let nightly = json!({ "id": "nightly", "trigger": { "schedule": { "cron": "*/5 * * * *" } }, "steps": [step] });
    std::fs::write(workflows.join("hook.json"), hook.to_string()).unwrap();
    std::fs::write(workflows.join("nightly.json"), nightly.to_string()).unwrap();
    std::fs::write(workflows.join("notes.txt"), "not a workflow").unwrap();

    let output = gust(&["validate", workflows.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("error  ") && lines[0].ends_with("hook.json"),
        "{text}"
    );
    assert_eq!(
        lines[1].trim(),
        "trigger.webhook.secret: environment variable `GUST_E2E_HOOK_SECRET` is not set; every \
         request would be refused until it is set"
    );
    assert!(lines[2].ends_with("nightly.json"), "{text}");
    assert!(
        lines[3].ends_with(
            "trigger.schedule.cron: `*/5 * * * *` has 5 fields, but Gust's cron has seconds first \
             (sec min hour day-of-month month day-of-week [year]): did you mean `0 */5 * * * *`?"
        ),
        "{text}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_gust-e2e"))
        .args(["validate", workflows.join("hook.json").to_str().unwrap()])
        .env("GUST_CACHE_DIR", dir.path())
        .env("GUST_E2E_HOOK_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = gust(&["validate", empty.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no *.json workflow"), "{stderr}");

    // A `file:` secret whose file is missing is reported like a variable.
    let key = dir.path().join("missing-signing-key");
    let signed = json!({ "id": "signed", "trigger": { "webhook": { "hmac_secret": format!("file:{}", key.display()) } }, "steps": [step] });
    let signed_file = dir.path().join("signed.json");
    std::fs::write(&signed_file, signed.to_string()).unwrap();
    let output = gust(&["validate", signed_file.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "trigger.webhook.hmac_secret: cannot read `{}`",
            key.display()
        )) && text.contains("every request would be refused until it is set"),
        "{text}"
    );
}

/// `gust schema` is the schema the examples name, and the reference JSON
/// Schema validator (Python's jsonschema, which `scripts/setup` installs)
/// accepts every example with it and refuses a misspelled key.
#[test]
fn the_json_schema_accepts_the_examples_and_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let output = gust(&["schema"], dir.path());
    assert!(output.status.success());
    let published = std::fs::read_to_string(repo().join("examples/workflow.schema.json")).unwrap();
    assert_eq!(stdout(&output), published);

    let typo = dir.path().join("typo.json");
    let mut example: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/workflows/score-lead.json")).unwrap(),
    )
    .unwrap();
    example["steps"][0]["timout_ms"] = json!(100);
    std::fs::write(&typo, example.to_string()).unwrap();
    let mut files: Vec<PathBuf> = ["examples/workflows", "examples/scripts"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(repo().join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    files.sort_by_key(|path| path.file_name().map(ToOwned::to_owned));
    let examples = files.len();
    files.push(typo);
    // Prebuilt steps' inputs: references stand for any value; a wrong
    // operator, action or key is refused.
    let step = |name: &str, uses: &str, with: Value| {
        let path = dir.path().join(format!("{name}.json"));
        let workflow = json!({ "id": name, "trigger": { "webhook": {} },
            "steps": [{ "id": "step", "uses": uses, "with": with }] });
        std::fs::write(&path, workflow.to_string()).unwrap();
        path
    };
    let query = |extra: Value| {
        let mut with = json!({ "action": "query", "soql": "SELECT Id FROM Lead WHERE Email = :email",
            "params": { "email": "${trigger.body.email}" }, "include_deleted": "${trigger.body.all}" });
        with.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        with
    };
    files.extend([
        step("ref-conditions", "builtin:filter", json!({ "conditions": "${trigger.body.rules}" })),
        step("good-query", "builtin:salesforce", query(json!({}))),
        step("good-write-many", "builtin:salesforce", json!({ "action": "write_many",
            "operation": "upsert", "sobject": "Lead", "external_id_field": "Email",
            "records": "${trigger.body.leads}" })),
        step("ref-action", "builtin:salesforce", json!({ "action": "${trigger.body.action}",
            "sobject": "Lead", "id": "${trigger.body.id}" })),
        step("good-publish", "builtin:salesforce", json!({ "action": "publish",
            "event": "Order_Placed__e", "events": "${trigger.body.orders}" })),
        step("good-mapper", "builtin:field-mapper", json!({ "relation": "Lead", "id_field": "Email",
            "record": "${trigger.body}", "properties": [{ "from": "email", "to": "Email", "default": null }] })),
        step("bad-op", "builtin:filter", json!({ "conditions": [{ "value": 1, "op": "equal", "to": 1 }] })),
        step("bad-action", "builtin:salesforce", json!({ "action": "craete", "sobject": "Lead", "record": {} })),
        step("bad-query-key", "builtin:salesforce", query(json!({ "parms": {} }))),
        step("bad-soap", "builtin:soap-to-json", json!({ "xml": "${trigger.body}", "field_type": {} })),
    ]);
    let python = repo().join("target/python/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup: it installs jsonschema under target/python"
    );
    let check = "import json, sys, jsonschema\n\
                 schema = json.load(open(sys.argv[1]))\n\
                 validator = jsonschema.Draft202012Validator(schema)\n\
                 for path in sys.argv[2:]:\n\
                 \x20   errors = sorted(e.message for e in validator.iter_errors(json.load(open(path))))\n\
                 \x20   print(path.rsplit('/', 1)[-1], 'ok' if not errors else errors[0])\n";
    let output = Command::new(python)
        .args(["-c", check])
        .arg(repo().join("examples/workflow.schema.json"))
        .args(&files)
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(examples >= 4, "{text}");
    for line in &lines[..examples] {
        assert!(line.ends_with(".json ok"), "every example is valid: {text}");
    }
    assert!(
        lines[examples].starts_with("typo.json Additional properties are not allowed ('timout_ms'"),
        "{text}"
    );
    let good = [
        "ref-conditions",
        "good-query",
        "good-write-many",
        "ref-action",
        "good-publish",
        "good-mapper",
    ];
    for (line, name) in lines[examples + 1..].iter().zip(good) {
        assert_eq!(*line, format!("{name}.json ok"), "{text}");
    }
    let bad = ["bad-op", "bad-action", "bad-query-key", "bad-soap"];
    for (line, name) in lines[examples + 1 + good.len()..].iter().zip(bad) {
        assert!(line.starts_with(&format!("{name}.json ")), "{text}");
        assert!(!line.ends_with(" ok"), "{text}");
    }
    assert_eq!(lines.len(), examples + 1 + good.len() + bad.len(), "{text}");
}

#[test]
fn run_takes_an_emulator_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({ "records": { "Account": [{ "Name": "O'Reilly Media" }, { "Name": "Acme" }] } })
            .to_string(),
    )
    .unwrap();
    let workflow = dir.path().join("find.json");
    std::fs::write(
        &workflow,
        json!({
            "id": "find",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "find", "uses": "builtin:salesforce",
                "with": { "action": "query", "soql": "SELECT Name FROM Account WHERE Name = :name",
                          "params": { "name": "${trigger.body.name}" } },
                "permissions": { "salesforce": { "read": ["Account"] } } }]
        })
        .to_string(),
    )
    .unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"name": "O'Reilly Media"}"#).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            workflow.to_str().unwrap(),
            "--body",
            body.to_str().unwrap(),
            "--json",
        ];
        args.extend(extra);
        gust(&args, &dir.path().join("cache"))
    };
    let seeded = run(&["--emulator-seed", seed.to_str().unwrap()]);
    assert!(seeded.status.success(), "{}", stdout(&seeded));
    let out = stdout(&seeded);
    assert!(out.contains(r#""count":1"#), "{out}");
    assert!(out.contains("O'Reilly Media"), "{out}");
    let bare = run(&[]);
    assert!(bare.status.success());
    assert!(stdout(&bare).contains(r#""count":0"#), "{}", stdout(&bare));

    let missing = run(&["--emulator-seed", "nowhere.json"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot read the emulator seed nowhere.json"),
        "{stderr}"
    );
}

/// Every prebuilt step the README shows as a JSON block is a step `gust
/// validate` accepts, so the docs cannot drift from the inputs.
#[test]
fn the_readmes_prebuilt_step_examples_validate() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let steps: Vec<Value> = readme
        .split("```json\n")
        .skip(1)
        .filter_map(|block| block.split_once("```").map(|(json, _)| json))
        .filter(|json| json.trim_start().starts_with("{ \"id\"") && json.contains("\"builtin:"))
        .map(|json| serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}")))
        .collect();
    let names: Vec<&str> = steps
        .iter()
        .map(|step| step["uses"].as_str().unwrap())
        .collect();
    for builtin in [
        "builtin:filter",
        "builtin:field-mapper",
        "builtin:salesforce",
    ] {
        assert!(
            names.contains(&builtin),
            "{builtin} has an example: {names:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for (index, step) in steps.iter().enumerate() {
        let path = dir.path().join(format!("example-{index}.json"));
        let workflow = json!({ "id": format!("example-{index}"), "trigger": { "webhook": {} }, "steps": [step] });
        std::fs::write(&path, workflow.to_string()).unwrap();
    }
    let output = gust(
        &["validate", dir.path().to_str().unwrap()],
        &dir.path().join("cache"),
    );
    assert!(output.status.success(), "{}", stdout(&output));
}
