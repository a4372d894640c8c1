//! A test guest that does what its input's `act` asks: behave, or misbehave
//! in one of the ways the sandbox must contain. See `tests/guests/README.md`.

use gust_sdk::salesforce::{self, WriteMany};
use gust_sdk::{Error, ErrorKind, Output, Value, json, state};

fn run(input: Value) -> Result<Output, Error> {
    let act = input["act"].as_str().unwrap_or("echo");
    let value = match act {
        "echo" => input,
        "stop" => return Ok(Output::stop(json!({ "stopped": true }))),
        "panic" => panic!("boom: the guest panicked on purpose"),
        "abort" => std::process::abort(),
        "spin" => {
            let mut x: u64 = 0;
            loop {
                x = x.wrapping_add(1);
                std::hint::black_box(x);
            }
        }
        "oom" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "print" => {
            let megabytes = input["megabytes"].as_u64().unwrap_or(4);
            let line = "x".repeat(1023);
            for _ in 0..megabytes * 1024 {
                println!("{line}");
            }
            eprintln!("done printing");
            json!({ "printed_mb": megabytes })
        }
        "log" => {
            gust_sdk::trace!("trace line");
            gust_sdk::debug!("debug line");
            gust_sdk::info!("info line {}", 1);
            gust_sdk::warn!("warn line");
            gust_sdk::error!("error line");
            println!("to stdout");
            eprintln!("to stderr");
            json!({ "logged": 5 })
        }
        "log_flood" => {
            for i in 0..5_000 {
                gust_sdk::info!("line {i}");
            }
            json!({ "logged": 5_000 })
        }
        "read_file" => {
            let path = input["path"].as_str().unwrap_or("/etc/passwd");
            match std::fs::read_to_string(path) {
                Ok(text) => json!({ "read": text.len() }),
                Err(error) => json!({ "error": error.to_string() }),
            }
        }
        "write_file" => match std::fs::write("escape.txt", "x") {
            Ok(()) => json!({ "wrote": true }),
            Err(error) => json!({ "error": error.to_string() }),
        },
        "env" => json!({
            "vars": std::env::vars().map(|(k, _)| k).collect::<Vec<_>>(),
            "home": std::env::var("HOME").ok(),
            "args": std::env::args().collect::<Vec<_>>(),
        }),
        "connect" => match std::net::TcpStream::connect("127.0.0.1:80") {
            Ok(_) => json!({ "connected": true }),
            Err(error) => json!({ "error": error.to_string() }),
        },
        "salesforce" => salesforce_call(&input),
        "calls" => calls(&input)?,
        "count" => {
            let count = state::get("count")?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            state::set("count", &json!(count))?;
            json!({ "count": count })
        }
        "record" => {
            // Counts its calls per `key` in state, then sleeps `sleep_ms`.
            let key = format!("calls/{}", input["key"].as_str().unwrap_or_default());
            let calls = state::get(&key)?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            state::set(&key, &json!(calls))?;
            if let Some(ms) = input["sleep_ms"].as_u64() {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            json!({ "key": input["key"], "calls": calls })
        }
        "flaky" => {
            // Fails (retryably) until its `succeed_on`-th attempt.
            let attempt = state::get("attempt")?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
            state::set("attempt", &json!(attempt))?;
            if attempt < input["succeed_on"].as_u64().unwrap_or(2) {
                return Err(Error::new(format!("attempt {attempt} failed")));
            }
            json!({ "attempt": attempt })
        }
        "fail" => return Err(Error::non_retryable("bad input, do not retry")),
        "state_too_big" => {
            state::set("big", &json!("x".repeat(100 * 1024)))?;
            json!({ "stored": true })
        }
        other => return Err(Error::non_retryable(format!("unknown act `{other}`"))),
    };
    Ok(Output::next(value))
}

/// Runs the script `input.calls`, one Salesforce call (or pause) after
/// another, counting its attempts in state; an item with `attempt` runs
/// only on that attempt. Any error fails the step (retryably if it is).
fn calls(input: &Value) -> Result<Value, Error> {
    let attempt = state::get("attempt")?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    state::set("attempt", &json!(attempt))?;
    let mut results = Vec::new();
    let no_items = Vec::new();
    for item in input["calls"].as_array().unwrap_or(&no_items) {
        if item["attempt"].as_u64().is_some_and(|only| only != attempt) {
            continue;
        }
        let text = |key: &str| item[key].as_str().unwrap_or_default();
        let result = if let Some(ms) = item["sleep_ms"].as_u64() {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        } else if item.get("fail").is_some() {
            return Err(Error::new(text("fail")));
        } else if item.get("create").is_some() {
            create_checked(text("create"), &item["record"], item["check"].as_str())?
        } else if item.get("upsert").is_some() {
            let upserted =
                salesforce::upsert(text("upsert"), text("field"), text("id"), &item["record"])?;
            json!(upserted.id)
        } else if item.get("query").is_some() {
            json!(salesforce::query(text("query"))?)
        } else if item.get("insert_many").is_some() {
            let records = item["records"].as_array().unwrap_or(&no_items);
            json!(salesforce::write_many(
                WriteMany::Insert,
                text("insert_many"),
                records,
                false
            )?)
        } else {
            return Err(Error::non_retryable(format!("unknown call {item}")));
        };
        results.push(result);
    }
    Ok(json!({ "attempt": attempt, "results": results }))
}

/// Creates `record`; when its outcome is unknown (an earlier execution's
/// create whose answer was lost), looks for it with the query `check`
/// first and creates it only if it is not there.
fn create_checked(sobject: &str, record: &Value, check: Option<&str>) -> Result<Value, Error> {
    match (salesforce::create(sobject, record), check) {
        (Ok(id), _) => Ok(json!(id)),
        (Err(error), Some(check)) if error.kind() == ErrorKind::OutcomeUnknown => {
            gust_sdk::warn!("{error}; checking");
            match salesforce::query(check)?.first() {
                Some(found) => Ok(found["Id"].clone()),
                None => Ok(json!(salesforce::create(sobject, record)?)),
            }
        }
        (Err(error), _) => Err(error.into()),
    }
}

/// Calls the Salesforce action named by `call` and returns what came back.
fn salesforce_call(input: &Value) -> Value {
    let sobject = input["sobject"].as_str().unwrap_or("Lead");
    let result = match input["call"].as_str().unwrap_or("query") {
        "query" => salesforce::query(input["soql"].as_str().unwrap_or_default()).map(Value::from),
        "query_all" => {
            salesforce::query_all(input["soql"].as_str().unwrap_or_default()).map(Value::from)
        }
        "get" => salesforce::get(sobject, "00Q000000000001AAA", &["Name"]),
        "create" => {
            salesforce::create(sobject, &json!({ "LastName": "Lovelace" })).map(Value::from)
        }
        "update" => salesforce::update(sobject, "00Q000000000001AAA", &json!({ "Rating": "Hot" }))
            .map(|()| Value::Null),
        "upsert" => salesforce::upsert(
            sobject,
            "Email",
            "ada@acme.com",
            &json!({ "LastName": "L" }),
        )
        .map(|u| json!({ "id": u.id, "created": u.created })),
        "delete" => salesforce::delete(sobject, "00Q000000000001AAA").map(|()| Value::Null),
        "write_many" => salesforce::write_many(
            WriteMany::Upsert {
                external_id_field: "Email",
            },
            sobject,
            &[json!({ "Email": "a@b.c" })],
            false,
        )
        .map(Value::from),
        "delete_many" => salesforce::write_many(
            WriteMany::Delete,
            sobject,
            &[json!({ "Id": "00Q000000000001AAA" })],
            true,
        )
        .map(Value::from),
        "describe" => salesforce::describe(sobject),
        "request" => salesforce::request("GET", "/services/data/v62.0/limits", None),
        other => return json!({ "unknown_call": other }),
    };
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(error) => json!({
            "error": {
                "status": error.status,
                "error_code": error.error_code,
                "message": error.message,
                "retryable": error.is_retryable(),
            }
        }),
    }
}

gust_sdk::step!(run);
