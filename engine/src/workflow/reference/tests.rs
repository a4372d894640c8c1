use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;

fn resolve(template: Value) -> Value {
    let trigger = json!({
        "body": { "name": "Ada", "size": 42, "tags": ["vip", "b2b"], "first name": "A", "none": null },
        "headers": { "x-id": "7" }
    });
    let steps = HashMap::from([(
        "map".to_owned(),
        json!({ "record": { "Email": "ada@acme.com" } }),
    )]);
    Scope {
        trigger: &trigger,
        steps: &steps,
    }
    .resolve(&template)
    .unwrap()
}

#[test]
fn a_whole_string_reference_keeps_its_json_type() {
    assert_eq!(resolve(json!("${trigger.body.size}")), json!(42));
    assert_eq!(
        resolve(json!("${trigger.body.tags}")),
        json!(["vip", "b2b"])
    );
    assert_eq!(
        resolve(json!("${steps.map.record}")),
        json!({ "Email": "ada@acme.com" })
    );
    assert_eq!(resolve(json!("${trigger.body.none}")), Value::Null);
}

#[test]
fn references_inside_text_are_interpolated() {
    assert_eq!(
        resolve(json!(
            "Hi ${trigger.body.name}, size ${trigger.body.size}, tags ${trigger.body.tags}"
        )),
        json!("Hi Ada, size 42, tags [\"vip\",\"b2b\"]")
    );
}

#[test]
fn indexes_and_quoted_keys_reach_into_the_event() {
    assert_eq!(resolve(json!("${trigger.body.tags[1]}")), json!("b2b"));
    assert_eq!(resolve(json!("${trigger.body.tags.0}")), json!("vip"));
    assert_eq!(
        resolve(json!("${trigger.body[\"first name\"]}")),
        json!("A")
    );
    assert_eq!(resolve(json!("${trigger.headers.x-id}")), json!("7"));
}

#[test]
fn a_missing_path_is_null_or_empty_text() {
    assert_eq!(resolve(json!("${trigger.body.nope.deeper}")), Value::Null);
    assert_eq!(resolve(json!("[${trigger.body.nope}]")), json!("[]"));
    assert_eq!(resolve(json!("${steps.later.x}")), Value::Null);
}

#[test]
fn objects_and_arrays_resolve_throughout() {
    assert_eq!(
        resolve(
            json!({ "a": ["${trigger.body.name}", 1, true], "b": { "c": "${trigger.body.size}" } })
        ),
        json!({ "a": ["Ada", 1, true], "b": { "c": 42 } })
    );
}

#[test]
fn dollar_dollar_brace_is_a_literal() {
    assert_eq!(
        resolve(json!("cost: $5, $${trigger.body.name}")),
        json!("cost: $5, ${trigger.body.name}")
    );
}

#[test]
fn malformed_references_are_errors() {
    for (text, message) in [
        ("${trigger.body", "unterminated `${`"),
        ("${}", "empty path segment"),
        ("${trigger..x}", "empty path segment"),
        ("${body.x}", "must start with `trigger` or `steps.<id>`"),
        ("${steps}", "`steps` must be followed by a step id"),
        (
            "${trigger.a[x]}",
            "`[x]` is neither an array index nor a quoted key",
        ),
        ("${trigger.a[0}", "unterminated `[`"),
        ("${trigger. a}", "unexpected space in a path"),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.message.contains(message), "{text}: {error}");
    }
}

#[test]
fn references_are_found_with_their_json_path() {
    let mut found = Vec::new();
    references_in(
        &json!({ "a": ["x", "${steps.map.id}"], "b": "${trigger" }),
        "steps[1].with",
        &mut found,
    );
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths, ["steps[1].with.a[1]", "steps[1].with.b"]);
    assert_eq!(
        found[0].1.as_ref().unwrap().root,
        Root::Step("map".to_owned())
    );
    assert!(found[1].1.is_err());
}
