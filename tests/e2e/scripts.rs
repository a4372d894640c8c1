//! Steps written in JavaScript and Python: each runs in its interpreter
//! component under the limits and grants of a compiled step, reaches
//! Salesforce (the emulator) through `ctx`, and reports its problems with
//! the script's own lines. No store takes part (`gust run`'s runner keeps
//! its journal and state in memory), so the suite's PostgreSQL pass skips
//! them; a script step served from a store is a test of `server`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gust_engine::model::{CallOutcome, FailureKind, LogSource, RunStatus, StepFailure};
use gust_engine::runtime::{OUTCOME_UNKNOWN, RunReport};
use gust_engine::store::MemoryStateStore;
use gust_engine::wasm::{Error, Flow, Invocation, MAX_LOG_LINES, StepLimits};
use gust_engine::workflow::{Language, Permissions};
use gust_tests::{bare_context, context, guests, read, sandbox};
use serde_json::{Value, json};
use sf_emulator::faults::{Fault, FaultKind};
use sf_emulator::seed::Seed;
use sf_emulator::{Config, Emulator};

use crate::support::{Sf, run_locally};

/// The gust binary, caching compiled components where the other tests do.
fn gust() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gust-e2e"));
    command.env("GUST_CACHE_DIR", gust_tests::component_cache());
    command
}

const LANGUAGES: [Language; 2] = [Language::JavaScript, Language::Python];

/// 64 MiB, and time enough on a loaded machine: the tests of time limits
/// set their own.
fn limits() -> StepLimits {
    StepLimits {
        memory_bytes: 64 << 20,
        timeout: Duration::from_secs(10),
        fuel: None,
    }
}

/// Runs `source` once on `input` with no grants.
async fn invoke(language: Language, source: &str, input: Value) -> Invocation {
    invoke_with(language, source, input, limits()).await
}

async fn invoke_with(
    language: Language,
    source: &str,
    input: Value,
    limits: StepLimits,
) -> Invocation {
    let sandbox = sandbox();
    let name = format!("step.{}", language.extension());
    let step = sandbox.load_script(language, &name, source).unwrap();
    sandbox
        .invoke(&step, &input, &limits, bare_context("script"))
        .await
}

fn failure(invocation: Invocation) -> StepFailure {
    invocation.result.unwrap_err()
}

/// The script of `language`: `js` or `py`.
fn pick<'a>(language: Language, js: &'a str, py: &'a str) -> &'a str {
    match language {
        Language::JavaScript => js,
        Language::Python => py,
    }
}

#[tokio::test]
async fn a_script_gets_its_input_logs_and_returns_its_output_or_stops_the_run() {
    let js = r#"
import { stop } from "gust";
export default function run(input, ctx) {
  ctx.log.info("got", input.n);
  ctx.log.warn("careful");
  console.log("to the console");
  if (input.stop) return stop({ stopped: input.n });
  return { doubled: input.n * 2, text: "é ✓", nested: [null, true, 1.5] };
}
"#;
    let py = r#"
from gust import stop

def run(input, ctx):
    ctx.log.info("got", input["n"])
    ctx.log.warn("careful")
    print("to stdout")
    if input.get("stop"):
        return stop({"stopped": input["n"]})
    return {"doubled": input["n"] * 2, "text": "é ✓", "nested": [None, True, 1.5]}
"#;
    for language in LANGUAGES {
        let invocation = invoke(language, pick(language, js, py), json!({ "n": 21 })).await;
        let lines: Vec<String> = invocation.logs.iter().map(|l| l.message.clone()).collect();
        let success = invocation.result.unwrap();
        assert_eq!(
            success.output,
            json!({ "doubled": 42, "text": "é ✓", "nested": [null, true, 1.5] }),
            "{language}"
        );
        assert_eq!(success.flow, Flow::Continue);
        assert_eq!(
            lines[..2],
            ["got 21".to_owned(), "careful".to_owned()],
            "{language}"
        );
        assert!(
            lines.iter().any(|line| line.starts_with("to ")),
            "{language}: {lines:?}"
        );

        let stopped = invoke(
            language,
            pick(language, js, py),
            json!({ "n": 1, "stop": true }),
        )
        .await
        .result
        .unwrap();
        assert_eq!(stopped.flow, Flow::Stop, "{language}");
        assert_eq!(stopped.output, json!({ "stopped": 1 }), "{language}");
    }
}

#[tokio::test]
async fn a_thrown_exception_fails_the_step_with_its_message_and_the_scripts_stack() {
    let js = "function inner(lead) {\n  return lead.owner.name;\n}\n\nexport default function run(input, ctx) {\n  return inner(input);\n}\n";
    let py = "def inner(lead):\n    return lead['owner']['name']\n\n\ndef run(input, ctx):\n    return inner(input)\n";
    for language in LANGUAGES {
        let failure = failure(invoke(language, pick(language, js, py), json!({})).await);
        assert_eq!(failure.kind, FailureKind::Error, "{language}");
        assert!(!failure.retryable, "{language}");
        let file = format!("step.{}", language.extension());
        let (first, frames) = match language {
            Language::JavaScript => (
                "TypeError: cannot read property 'name' of undefined",
                vec![format!("at inner ({file}:2:"), format!("at run ({file}:6:")],
            ),
            Language::Python => (
                "KeyError: 'owner'",
                vec![
                    format!("File \"{file}\", line 6, in run"),
                    format!("File \"{file}\", line 2, in inner"),
                ],
            ),
        };
        assert!(failure.message.starts_with(first), "{}", failure.message);
        for frame in frames {
            assert!(
                failure.message.contains(&frame),
                "{frame}: {}",
                failure.message
            );
        }
    }
}

#[tokio::test]
async fn an_async_javascript_run_is_refused_with_a_hint() {
    let source = "export default async function run(input, ctx) {\n  return input;\n}\n";
    let failure = failure(invoke(Language::JavaScript, source, json!({})).await);
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .contains("run returned a Promise: a JavaScript step is synchronous"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn step_errors_say_whether_they_are_retryable() {
    let js = r#"
import { StepError } from "gust";
export default function run(input, ctx) {
  if (input.final) throw new StepError("the lead has no email", { retryable: false });
  throw new ctx.StepError("the ERP is down");
}
"#;
    let py = r#"
from gust import StepError

def run(input, ctx):
    if input.get("final"):
        raise StepError("the lead has no email", retryable=False)
    raise StepError("the ERP is down")
"#;
    for language in LANGUAGES {
        let source = pick(language, js, py);
        let final_failure = failure(invoke(language, source, json!({ "final": true })).await);
        assert!(!final_failure.retryable, "{language}");
        assert!(
            final_failure
                .message
                .starts_with("StepError: the lead has no email"),
            "{}",
            final_failure.message
        );
        let passing = failure(invoke(language, source, json!({})).await);
        assert!(passing.retryable, "{language}");
        assert!(
            passing.message.starts_with("StepError: the ERP is down"),
            "{}",
            passing.message
        );
    }
}

#[tokio::test]
async fn an_endless_loop_is_stopped_at_the_time_limit() {
    let js = "export default function run(input, ctx) {\n  for (;;) {}\n}\n";
    let py = "def run(input, ctx):\n    while True:\n        pass\n";
    for language in LANGUAGES {
        let limits = StepLimits {
            timeout: Duration::from_millis(300),
            ..limits()
        };
        let invocation = invoke_with(language, pick(language, js, py), json!({}), limits).await;
        assert!(
            invocation.duration < Duration::from_secs(5),
            "{:?}",
            invocation.duration
        );
        let failure = failure(invocation);
        assert_eq!(
            failure.kind,
            FailureKind::Timeout,
            "{language}: {}",
            failure.message
        );
    }
}

#[tokio::test]
async fn a_memory_bomb_and_a_huge_output_stop_at_the_memory_limit() {
    let bomb_js = "export default function run(input, ctx) {\n  const hoard = [];\n  for (;;) hoard.push(new Array(1 << 20).fill(7));\n}\n";
    let bomb_py = "def run(input, ctx):\n    hoard = []\n    while True:\n        hoard.append(bytearray(1 << 20))\n";
    let huge_js =
        "export default function run(input, ctx) {\n  return 'x'.repeat(256 * 1024 * 1024);\n}\n";
    let huge_py = "def run(input, ctx):\n    return 'x' * (256 * 1024 * 1024)\n";
    for language in LANGUAGES {
        for source in [
            pick(language, bomb_js, bomb_py),
            pick(language, huge_js, huge_py),
        ] {
            let failure = failure(invoke(language, source, json!({})).await);
            assert_eq!(
                failure.kind,
                FailureKind::MemoryLimit,
                "{language}: {}",
                failure.message
            );
            assert_eq!(
                failure.message,
                "the step ran out of memory: it tried to use more than its limit of 64 MiB"
            );
        }
        // The runner is whole again for the next step.
        let next = invoke(
            language,
            pick(language, ECHO_JS, ECHO_PY),
            json!({ "ok": 1 }),
        )
        .await;
        assert_eq!(
            next.result.unwrap().output,
            json!({ "ok": 1 }),
            "{language}"
        );
    }
}

const ECHO_JS: &str = "export default function run(input) {\n  return input;\n}\n";
const ECHO_PY: &str = "def run(input, ctx):\n    return input\n";

#[tokio::test]
async fn a_flood_of_output_is_capped_and_the_step_still_succeeds() {
    let js = "export default function run(input, ctx) {\n  for (let i = 0; i < 20000; i++) console.log('line ' + i + ' ' + 'x'.repeat(100));\n  return { done: true };\n}\n";
    let py = "def run(input, ctx):\n    for i in range(20000):\n        print('line', i, 'x' * 100)\n    return {'done': True}\n";
    for language in LANGUAGES {
        let invocation = invoke(language, pick(language, js, py), json!({})).await;
        let logs = invocation.logs.clone();
        assert_eq!(
            invocation.result.unwrap().output,
            json!({ "done": true }),
            "{language}"
        );
        assert!(
            logs.len() <= MAX_LOG_LINES + 2,
            "{language}: {} lines",
            logs.len()
        );
        let kept: usize = logs.iter().map(|line| line.message.len()).sum();
        assert!(kept < 2 << 20, "{language}: {kept} bytes kept");
        if language == Language::Python {
            assert!(logs.iter().any(|line| line.source == LogSource::Stdout));
        }
    }
}

#[tokio::test]
async fn files_the_environment_and_the_network_are_out_of_reach() {
    // JavaScript has no file, process or network API at all.
    let js = r#"
export default function run(input, ctx) {
  return {
    std: typeof std, os: typeof os, process: typeof process, require: typeof require,
    fetch: typeof fetch, xhr: typeof XMLHttpRequest, websocket: typeof WebSocket,
  };
}
"#;
    let output = invoke(Language::JavaScript, js, json!({}))
        .await
        .result
        .unwrap()
        .output;
    for (api, kind) in output.as_object().unwrap() {
        assert_eq!(kind, "undefined", "{api}");
    }
    // Python has the modules, reached around the import check, and finds
    // nothing: no files, an empty environment, no sockets.
    let py = r#"
def run(input, ctx):
    found = {}
    try:
        found["passwd"] = open("/etc/passwd").read()
    except Exception as error:
        found["passwd"] = type(error).__name__
    try:
        open("escape.txt", "w").write("x")
        found["write"] = "wrote"
    except Exception as error:
        found["write"] = type(error).__name__
    os = __import__("os")
    found["environ"] = dict(os.environ)
    try:
        found["listdir"] = os.listdir("/")
    except Exception as error:
        found["listdir"] = type(error).__name__
    try:
        socket = __import__("socket")
        socket.create_connection(("127.0.0.1", 80), timeout=1)
        found["connect"] = "connected"
    except Exception as error:
        found["connect"] = type(error).__name__
    return found
"#;
    let output = invoke(Language::Python, py, json!({}))
        .await
        .result
        .unwrap()
        .output;
    assert_ne!(output["passwd"].as_str().unwrap_or_default().len(), 0);
    assert!(
        !output["passwd"].as_str().unwrap().contains("root:"),
        "{output}"
    );
    assert_ne!(output["write"], "wrote", "{output}");
    assert_eq!(output["environ"], json!({}));
    assert!(output["listdir"].is_string(), "{output}");
    assert_ne!(output["connect"], "connected", "{output}");
}

#[tokio::test]
async fn a_forbidden_salesforce_object_is_refused_before_anything_is_sent() {
    let sf = Sf::start().await;
    let js = r#"
export default function run(input, ctx) {
  try {
    ctx.salesforce.query("SELECT Id FROM Opportunity");
  } catch (error) {
    return { name: error.name, code: error.errorCode, status: error.status, retryable: error.retryable,
             isSalesforceError: error instanceof ctx.SalesforceError };
  }
  return { name: "no error" };
}
"#;
    let py = r#"
from gust import SalesforceError

def run(input, ctx):
    try:
        ctx.salesforce.query("SELECT Id FROM Opportunity")
    except SalesforceError as error:
        return {"name": type(error).__name__, "code": error.error_code, "status": error.status,
                "retryable": error.retryable, "isSalesforceError": True}
    return {"name": "no error"}
"#;
    let permissions: Permissions =
        serde_json::from_value(json!({ "salesforce": { "read": ["Lead"] } })).unwrap();
    for language in LANGUAGES {
        let sandbox = sandbox();
        let step = sandbox
            .load_script(language, "step", pick(language, js, py))
            .unwrap();
        let context = context(
            "script",
            permissions.clone(),
            Arc::new(sf.client.clone()),
            Arc::new(MemoryStateStore::default()),
        );
        let output = sandbox
            .invoke(&step, &json!({}), &limits(), context)
            .await
            .result
            .unwrap()
            .output;
        assert_eq!(
            output,
            json!({ "name": "SalesforceError", "code": "GUST_PERMISSION_DENIED", "status": 403,
                    "retryable": false, "isSalesforceError": true }),
            "{language}"
        );
    }
    assert!(
        !sf.log().iter().any(|line| line.contains("Opportunity")),
        "{:?}",
        sf.log()
    );
}

#[tokio::test]
async fn syntax_errors_and_unavailable_imports_are_found_when_loading_with_their_position() {
    let cases = [
        (
            Language::JavaScript,
            "export default function run(input, ctx) {\n  const x = ;\n}\n",
            "step.js:2:13: SyntaxError:",
        ),
        (
            Language::Python,
            "def run(input, ctx):\n    return {'a': 1\n",
            "step.py:2:12: SyntaxError: '{' was never closed",
        ),
        (
            Language::JavaScript,
            "// enrich\nimport _ from \"lodash\";\nexport default function run() {}\n",
            "step.js:2:1: cannot import \"lodash\": a JavaScript step runs alone",
        ),
        (
            Language::Python,
            "import json\nimport requests\n\ndef run(input, ctx):\n    return 1\n",
            "step.py:2:1: cannot import 'requests': a Python step can import only __future__, base64,",
        ),
    ];
    for (language, source, expected) in cases {
        match sandbox().load_script(language, &format!("step.{}", language.extension()), source) {
            Err(Error::Script(problem)) => {
                assert!(problem.starts_with(expected), "{problem}");
            }
            Err(other) => panic!("{language}: {other}"),
            Ok(_) => panic!("{language}: {source} loaded"),
        }
    }
}

#[tokio::test]
async fn a_script_changed_under_the_same_name_is_checked_again() {
    let sandbox = sandbox();
    for language in LANGUAGES {
        let name = format!("kept.{}", language.extension());
        let good = pick(language, ECHO_JS, ECHO_PY);
        let broken = pick(
            language,
            "export default function run(input) {\n  return input;\n",
            "def run(input, ctx):\n    return (input\n",
        );
        let first = sandbox.load_script(language, &name, good).unwrap();
        let again = sandbox.load_script(language, &name, good).unwrap();
        assert_eq!(first.digest(), again.digest(), "{language}");
        // A checked script is kept by its text, not its name, and a
        // problem is found every time.
        for _ in 0..2 {
            match sandbox.load_script(language, &name, broken) {
                Err(Error::Script(problem)) => {
                    assert!(problem.starts_with(&format!("{name}:")), "{problem}");
                }
                other => panic!("{language}: {other:?}"),
            }
        }
        let fixed = sandbox.load_script(language, &name, good).unwrap();
        assert_eq!(fixed.digest(), first.digest(), "{language}");
        let invocation = sandbox
            .invoke(&fixed, &json!({ "n": 1 }), &limits(), bare_context("kept"))
            .await;
        assert_eq!(invocation.result.unwrap().output, json!({ "n": 1 }));
    }
}

/// Leads to score: the example events' leads as the field mapper makes
/// them, and edge cases of every rule.
fn leads() -> Vec<Value> {
    vec![
        json!({ "Email": "ada@analytical-engines.com", "LastName": "Lovelace", "FirstName": "Ada",
                "Company": "Analytical Engines Ltd", "NumberOfEmployees": 1200,
                "Title": "VP Engineering", "LeadSource": "Web" }),
        json!({ "Email": "grace@navy.mil", "LastName": "Hopper", "Company": "Partner Co",
                "NumberOfEmployees": 0, "Title": "Engineering Manager", "LeadSource": "Partner" }),
        json!({ "Email": "someone@gmail.com", "Company": "", "Title": "Head-of-Sales",
                "NumberOfEmployees": 150 }),
        json!({ "Email": "no-at-sign", "Title": "CEO/Founder", "NumberOfEmployees": 12,
                "LeadSource": "WEB" }),
        json!({ "Email": null, "Title": 7, "NumberOfEmployees": "1000", "LeadSource": "web" }),
        json!({ "NumberOfEmployees": -5, "Title": "director" }),
        json!({ "Email": "x@y.io", "Company": "Y", "Title": "chief_of_staff", "NumberOfEmployees": 9 }),
        json!({}),
    ]
}

#[tokio::test]
async fn the_javascript_and_python_lead_scores_match_the_rust_step() {
    let sandbox = sandbox();
    let rust = sandbox.load(&read(guests::LEAD_SCORE)).unwrap();
    let scripts = [
        (Language::JavaScript, "examples/scripts/lead-score.js"),
        (Language::Python, "examples/scripts/lead_score.py"),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    for lead in leads() {
        let input = json!({ "lead": lead });
        let expected = sandbox
            .invoke(&rust, &input, &limits(), bare_context("score"))
            .await
            .result
            .unwrap()
            .output;
        for (language, path) in scripts {
            let source = std::fs::read_to_string(root.join(path)).unwrap();
            let step = sandbox.load_script(language, path, &source).unwrap();
            let output = sandbox
                .invoke(&step, &input, &limits(), bare_context("score"))
                .await
                .result
                .unwrap()
                .output;
            assert_eq!(output, expected, "{path} on {lead}");
        }
    }
    // Without a lead each fails alike, and not retryably.
    for (language, path) in scripts {
        let source = std::fs::read_to_string(root.join(path)).unwrap();
        let step = sandbox.load_script(language, path, &source).unwrap();
        let failure = sandbox
            .invoke(&step, &json!({}), &limits(), bare_context("score"))
            .await
            .result
            .unwrap_err();
        assert!(!failure.retryable);
        assert!(
            failure.message.contains("the input has no `lead` object"),
            "{}",
            failure.message
        );
    }
}

/// An emulator whose Account has the external id `Erp_Id__c` and with the
/// platform event `Order_Placed__e`.
fn emulator() -> Emulator {
    let seed: Seed = serde_json::from_value(json!({
        "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "external_id": true, "unique": true }] },
        "objects": [{ "name": "Order_Placed__e", "fields": [
            { "name": "Order_Number__c", "type": "string", "length": 40 }
        ]}]
    }))
    .unwrap();
    Emulator::with_seed(Config::default(), &seed).unwrap()
}

/// Runs `workflow` (written into `dir`) with `gust run`'s runner against
/// the emulator, and checks that it succeeded.
async fn run_succeeding(sf: &Sf, dir: &Path, language: Language, workflow: &Value) -> RunReport {
    let path = dir.join(format!("{}.json", language.extension()));
    std::fs::write(&path, workflow.to_string()).unwrap();
    let report = run_locally(sf, &path, json!({})).await;
    assert_eq!(
        report.status,
        RunStatus::Succeeded,
        "{language}: {report:?}"
    );
    report
}

const EVERY_ACTION_JS: &str = r#"
export default function run(input, ctx) {
  const sf = ctx.salesforce;
  const id = sf.create("Account", { Name: input.name });
  sf.update("Account", id, { Phone: "555-0100" });
  const got = sf.get("Account", id, ["Name", "Phone"]);
  const queried = sf.query("SELECT Id, Name, Phone FROM Account WHERE Id = :id", { id });
  const injected = sf.query("SELECT Id FROM Account WHERE Name = :name", { name: "x' OR Name != 'x" });
  let unbound;
  try {
    sf.query("SELECT Id FROM Account WHERE Name = :name", { nome: 1 });
  } catch (error) {
    unbound = error.errorCode;
  }
  const upserted = sf.upsert("Account", "Erp_Id__c", "ERP-7", { Name: "Upserted Co" });
  const again = sf.upsert("Account", "Erp_Id__c", "ERP-7", { Name: "Upserted Again" });
  const many = sf.writeMany("insert", "Contact", [{ LastName: "One" }, { LastName: "Two" }], { allOrNone: true });
  const published = sf.publish("Order_Placed__e", [{ Order_Number__c: "O-1" }]);
  const described = sf.describe("Account");
  const limits = sf.request("GET", "/services/data/v62.0/limits");
  sf.delete("Account", id);
  const after = sf.query(`SELECT Id FROM Account WHERE Id = '${id}'`);
  const all = sf.queryAll(`SELECT Id, IsDeleted FROM Account WHERE Id = '${id}'`);
  let refused;
  try {
    sf.create("Account", { Name: "x", No_Such_Field__c: 1 });
  } catch (error) {
    refused = { code: error.errorCode, status: error.status };
  }
  const count = (ctx.state.get("count") ?? 0) + 1;
  ctx.state.set("count", count);
  return {
    id, got: { Name: got.Name, Phone: got.Phone }, queried: queried.map((r) => r.Name),
    upserted: upserted.created, again: again.created, sameId: upserted.id === again.id,
    many: many.map((r) => r.success), published: published.map((r) => r.success),
    describedFields: described.fields.some((f) => f.name === "Erp_Id__c"),
    limits: typeof limits === "object", after: after.length, injected: injected.length, unbound,
    deleted: all.map((r) => r.IsDeleted), refused, count,
  };
}
"#;

const EVERY_ACTION_PY: &str = r#"
from gust import SalesforceError

def run(input, ctx):
    sf = ctx.salesforce
    id = sf.create("Account", {"Name": input["name"]})
    sf.update("Account", id, {"Phone": "555-0100"})
    got = sf.get("Account", id, ["Name", "Phone"])
    queried = sf.query("SELECT Id, Name, Phone FROM Account WHERE Id = :id", {"id": id})
    injected = sf.query("SELECT Id FROM Account WHERE Name = :name", {"name": "x' OR Name != 'x"})
    unbound = None
    try:
        sf.query("SELECT Id FROM Account WHERE Name = :name", {"nome": 1})
    except SalesforceError as error:
        unbound = error.error_code
    upserted = sf.upsert("Account", "Erp_Id__c", "ERP-7", {"Name": "Upserted Co"})
    again = sf.upsert("Account", "Erp_Id__c", "ERP-7", {"Name": "Upserted Again"})
    many = sf.write_many("insert", "Contact", [{"LastName": "One"}, {"LastName": "Two"}], all_or_none=True)
    published = sf.publish("Order_Placed__e", [{"Order_Number__c": "O-1"}])
    described = sf.describe("Account")
    limits = sf.request("GET", "/services/data/v62.0/limits")
    sf.delete("Account", id)
    after = sf.query(f"SELECT Id FROM Account WHERE Id = '{id}'")
    every = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{id}'")
    refused = None
    try:
        sf.create("Account", {"Name": "x", "No_Such_Field__c": 1})
    except SalesforceError as error:
        refused = {"code": error.error_code, "status": error.status}
    count = ctx.state.get("count", 0) + 1
    ctx.state.set("count", count)
    return {
        "id": id, "got": {"Name": got["Name"], "Phone": got["Phone"]},
        "queried": [r["Name"] for r in queried],
        "upserted": upserted["created"], "again": again["created"],
        "sameId": upserted["id"] == again["id"],
        "many": [r["success"] for r in many], "published": [r["success"] for r in published],
        "describedFields": any(f["name"] == "Erp_Id__c" for f in described["fields"]),
        "limits": isinstance(limits, dict), "after": len(after), "injected": len(injected),
        "unbound": unbound,
        "deleted": [r["IsDeleted"] for r in every], "refused": refused, "count": count,
    }
"#;

#[tokio::test]
async fn every_salesforce_action_works_from_each_language_against_the_emulator() {
    let sf = Sf::start_with(emulator()).await;
    let dir = tempfile::tempdir().unwrap();
    for language in LANGUAGES {
        let (file, source) = match language {
            Language::JavaScript => ("every-action.js", EVERY_ACTION_JS),
            Language::Python => ("every_action.py", EVERY_ACTION_PY),
        };
        std::fs::write(dir.path().join(file), source).unwrap();
        let workflow = json!({
            "id": "every-action",
            "trigger": { "manual": {} },
            "steps": [{ "id": "act", "uses": file, "with": { "name": format!("{language} Co") },
                "permissions": { "salesforce": {
                    "read": ["Account", "Contact"],
                    "write": ["Account", "Contact", "Order_Placed__e"],
                    "delete": ["Account"], "request": true } } }]
        });
        let report = run_succeeding(&sf, dir.path(), language, &workflow).await;
        let output = report.output;
        let id = output["id"].as_str().unwrap();
        assert_eq!(id.len(), 18, "{output}");
        assert_eq!(
            output,
            json!({
                "id": id, "got": { "Name": format!("{language} Co"), "Phone": "555-0100" },
                "queried": [format!("{language} Co")],
                "upserted": language == Language::JavaScript, "again": false, "sameId": true,
                "many": [true, true], "published": [true], "describedFields": true,
                "limits": true, "after": 0, "injected": 0, "unbound": "GUST_QUERY_PARAMETERS",
                "deleted": [true],
                "refused": { "code": "INVALID_FIELD", "status": 400 }, "count": 1,
            }),
            "{language}"
        );
    }
    let log = sf.log();
    assert!(log.iter().any(|line| line.contains("/queryAll")), "{log:?}");
    assert!(
        log.iter().any(|line| line.contains("/composite/sobjects")),
        "{log:?}"
    );
}

#[tokio::test]
async fn gust_validate_and_gust_run_report_script_problems_in_the_authors_terms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("enrich.js"),
        "export default function run(input, ctx) {\n  return { a: 1,, };\n}\n",
    )
    .unwrap();
    let workflow = json!({
        "id": "broken", "trigger": { "manual": {} },
        "steps": [
            { "id": "enrich", "uses": "enrich.js" },
            { "id": "score", "language": "python", "code": "def run(input, ctx)\n    return 1\n" },
            { "id": "both", "uses": "enrich.js", "language": "python", "code": "x" },
            { "id": "bare", "code": "x = 1" }
        ]
    });
    let path = dir.path().join("broken.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    let validated = gust().arg("validate").arg(&path).output().unwrap();
    assert_eq!(validated.status.code(), Some(1));
    let text = String::from_utf8_lossy(&validated.stdout).to_string()
        + &String::from_utf8_lossy(&validated.stderr);
    for expected in [
        "steps[2].code: a step has `uses` or inline `code`, not both",
        "steps[3].language: inline `code` needs its `language`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }

    let fixed = json!({
        "id": "broken", "trigger": { "manual": {} },
        "steps": [
            { "id": "enrich", "uses": "enrich.js" },
            { "id": "score", "language": "python", "code": "def run(input, ctx)\n    return 1\n" }
        ]
    });
    std::fs::write(&path, fixed.to_string()).unwrap();
    let validated = gust().arg("validate").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&validated.stdout).to_string()
        + &String::from_utf8_lossy(&validated.stderr);
    assert_eq!(validated.status.code(), Some(1), "{text}");
    assert!(
        text.contains("steps[0].uses: enrich.js:2:17: SyntaxError:"),
        "{text}"
    );
    assert!(
        text.contains("steps[1].code: score.py:1:20: SyntaxError: expected ':'"),
        "{text}"
    );

    // Fixed, with no rebuild: the run shows the exception and its stack.
    std::fs::write(
        dir.path().join("enrich.js"),
        "function owner(lead) {\n  return lead.owner.name;\n}\nexport default function run(input, ctx) {\n  return owner(input);\n}\n",
    )
    .unwrap();
    let only_js = json!({ "id": "broken", "trigger": { "manual": {} }, "steps": [{ "id": "enrich", "uses": "enrich.js" }] });
    std::fs::write(&path, only_js.to_string()).unwrap();
    let ran = gust().arg("run").arg(&path).output().unwrap();
    let text =
        String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(1), "{text}");
    assert!(
        text.contains("TypeError: cannot read property 'name' of undefined"),
        "{text}"
    );
    assert!(text.contains("at owner (enrich.js:2:"), "{text}");
    assert!(text.contains("at run (enrich.js:5:"), "{text}");
}

#[tokio::test]
async fn gust_types_declares_every_action_for_editors() {
    let wit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest/wit/step.wit"),
    )
    .unwrap();
    let salesforce = wit.split("interface salesforce {").nth(1).unwrap();
    let salesforce = salesforce.split("\n}").next().unwrap();
    let actions: Vec<&str> = salesforce
        .lines()
        .filter_map(|line| line.trim().split_once(": func("))
        .map(|(name, _)| name)
        .collect();
    assert!(actions.len() >= 11, "{actions:?}");

    let js = gust().args(["types", "--js"]).output().unwrap();
    assert!(js.status.success());
    let js = String::from_utf8(js.stdout).unwrap();
    let python = gust().args(["types", "--python"]).output().unwrap();
    assert!(python.status.success());
    let python = String::from_utf8(python.stdout).unwrap();
    for action in actions {
        let camel: String = action
            .split('-')
            .enumerate()
            .map(|(i, part)| match i {
                0 => part.to_owned(),
                _ => part[..1].to_uppercase() + &part[1..],
            })
            .collect();
        assert!(js.contains(&format!("    {camel}(")), "{camel} in\n{js}");
        assert!(
            python.contains(&format!("    def {}(self", action.replace('-', "_"))),
            "{action} in\n{python}"
        );
    }
    assert!(js.contains("declare module \"gust\""));
    assert!(js.contains("export interface Context"));
    assert!(python.contains("class Context:"));
    // The stub is Python that parses.
    let parsed = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read())"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(python.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(parsed.success());
}

#[tokio::test]
async fn the_example_workflows_score_the_example_events_alike_in_rust_javascript_and_python() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The Rust workflow, its score step pointing at the component this
    // build made.
    let mut rust: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("examples/workflows/score-lead.json")).unwrap(),
    )
    .unwrap();
    for step in rust["steps"].as_array_mut().unwrap() {
        if step["id"] == "score" {
            step["uses"] = json!(guests::LEAD_SCORE);
        }
    }
    let rust_path = dir.path().join("score-lead.json");
    std::fs::write(&rust_path, rust.to_string()).unwrap();
    let workflows = [
        rust_path,
        root.join("examples/scripts/score-lead-js.json"),
        root.join("examples/scripts/score-lead-python.json"),
    ];
    // The partner lead passes the filter with the settings of the tenant
    // that takes partner leads.
    for (event, settings) in [
        ("web-lead.json", "acme.json"),
        ("partner-lead.json", "globex.json"),
    ] {
        let event = root.join("examples/events").join(event);
        let settings = root.join("examples/installations").join(settings);
        let mut outputs = Vec::new();
        for workflow in &workflows {
            let ran = gust()
                .arg("run")
                .arg(workflow)
                .arg("--event")
                .arg(&event)
                .arg("--installation-config")
                .arg(&settings)
                .arg("--json")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&ran.stdout).into_owned();
            assert!(ran.status.success(), "{}: {text}", workflow.display());
            let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
            outputs.push(last["output"].clone());
        }
        assert!(outputs[0]["grade"].is_string(), "{}", outputs[0]);
        assert_eq!(outputs[0], outputs[1], "{}", event.display());
        assert_eq!(outputs[0], outputs[2], "{}", event.display());
    }
}

const LOST_ANSWER_JS: &str = r#"
import { SalesforceError, StepError } from "gust";

export default function run(input, ctx) {
  try {
    return { created: ctx.salesforce.create("Lead", { LastName: "Once", Company: "Acme", Email: input.email }) };
  } catch (error) {
    if (!(error instanceof SalesforceError)) throw error;
    if (error.errorCode !== "GUST_OUTCOME_UNKNOWN") throw new StepError(error.message);
    const found = ctx.salesforce.query("SELECT Id FROM Lead WHERE Email = :email", { email: input.email });
    return { found: found.map((lead) => lead.Id) };
  }
}
"#;

const LOST_ANSWER_PY: &str = r#"
from gust import SalesforceError, StepError

def run(input, ctx):
    try:
        return {"created": ctx.salesforce.create("Lead", {"LastName": "Once", "Company": "Acme", "Email": input["email"]})}
    except SalesforceError as error:
        if error.error_code != "GUST_OUTCOME_UNKNOWN":
            raise StepError(str(error))
        found = ctx.salesforce.query("SELECT Id FROM Lead WHERE Email = :email", {"email": input["email"]})
        return {"found": [lead["Id"] for lead in found]}
"#;

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_unknown_to_the_script_which_finds_its_record() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    for language in LANGUAGES {
        let email = format!("once-{}@example.com", language.extension());
        let source = pick(language, LOST_ANSWER_JS, LOST_ANSWER_PY);
        // Salesforce creates the Lead and answers after the attempt's time
        // limit: the attempt is cut off with its create in flight.
        sf.emulator().inject(Fault {
            path: "/sobjects/Lead".to_owned(),
            method: Some(reqwest::Method::POST),
            kind: FaultKind::SlowAnswer { ms: 4_000 },
            times: Some(1),
        });
        let workflow = json!({
            "id": "lost-answer",
            "trigger": { "manual": {} },
            "steps": [{ "id": "lead", "language": language, "code": source,
                "with": { "email": email }, "timeout_ms": 1_500,
                "retry": { "max_attempts": 2, "backoff_ms": 50 },
                "permissions": { "salesforce": { "read": ["Lead"], "write": ["Lead"] } } }]
        });
        let report = run_succeeding(&sf, dir.path(), language, &workflow).await;

        let attempts = &report.steps[0].attempts;
        assert_eq!(attempts.len(), 2, "{language}: {report:?}");
        let cut_off = attempts[0].error.as_ref().map(|error| error.kind);
        assert_eq!(
            cut_off,
            Some(FailureKind::Timeout),
            "{language}: {report:?}"
        );
        let unknown = &attempts[1].calls[0];
        assert!(unknown.replayed, "{language}: {unknown:?}");
        assert!(
            matches!(&unknown.outcome, CallOutcome::Failed { error_code, .. } if error_code == OUTCOME_UNKNOWN),
            "{language}: {unknown:?}"
        );
        // The create was not sent again: the script found the one Lead it
        // made instead of making another.
        let org = sf.emulator().org();
        let leads: Vec<String> = org
            .records(org.object("Lead").unwrap(), false)
            .filter(|lead| lead.get("Email").and_then(Value::as_str) == Some(email.as_str()))
            .map(|lead| lead.get("Id").and_then(Value::as_str).unwrap().to_owned())
            .collect();
        assert_eq!(leads.len(), 1, "{language}: {leads:?}");
        assert_eq!(report.output, json!({ "found": leads }), "{language}");
    }
}

#[tokio::test]
async fn python_steps_import_the_standard_modules_the_readme_lists() {
    let modules = [
        "json",
        "re",
        "datetime",
        "decimal",
        "math",
        "collections",
        "itertools",
        "functools",
        "typing",
        "base64",
        "hashlib",
        "hmac",
        "urllib.parse",
        "uuid",
        "zoneinfo",
        "random",
        "statistics",
        "string",
        "textwrap",
        "time",
        "unicodedata",
        "dataclasses",
        "enum",
    ];
    let imports: String = modules.iter().map(|m| format!("import {m}\n")).collect();
    let source = format!(
        "from __future__ import annotations\n{imports}\ndef run(input, ctx):\n    return [m.__name__ for m in ({},)]\n",
        modules.join(", ")
    );
    let invocation = invoke(Language::Python, &source, json!({})).await;
    assert_eq!(invocation.result.unwrap().output, json!(modules));
}
