use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;

fn resolve(template: Value) -> Value {
    try_resolve(template).unwrap()
}

fn try_resolve(template: Value) -> Result<Value, ResolveError> {
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
        installation: None,
    }
    .resolve(&template)
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

/// The regression of a webhook that omitted `title` and cleared a Contact's
/// Title: an absent value fails the step, naming the path and what was there.
#[test]
fn a_missing_path_fails_naming_what_was_there() {
    let error = try_resolve(json!({ "Title": "${trigger.body.title}" })).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`${trigger.body.title}`: `trigger.body` has no `title` (its keys: `name`, `size`, \
         `tags`, `first name`, `none`); write `${trigger.body.title ?? null}` (or another \
         default) if it may be absent, or `${trigger.body.title?}` to leave the key out"
    );
    for (template, found) in [
        (
            "${trigger.body.frist_name}",
            "`trigger.body` has no `frist_name`",
        ),
        (
            "${steps.map.contactId}",
            "`steps.map` has no `contactId` (its keys: `record`)",
        ),
        (
            "${trigger.body.tags[5]}",
            "`trigger.body.tags` has 2 items, so no [5]",
        ),
        (
            "${trigger.body.name.first}",
            "`trigger.body.name` is a string, not an object",
        ),
        (
            "${trigger.body.none.x}",
            "`trigger.body.none` is null, not an object",
        ),
        ("${steps.later.x}", "step `later` has no output yet"),
        ("[${trigger.body.nope}]", "`trigger.body` has no `nope`"),
        (
            "${trigger.body[\"last name\"]}",
            "`trigger.body` has no `last name`",
        ),
    ] {
        let error = try_resolve(json!(template)).unwrap_err();
        assert!(error.to_string().contains(found), "{template}: {error}");
    }
}

#[test]
fn a_present_null_is_kept_by_a_required_reference() {
    assert_eq!(resolve(json!("${trigger.body.none}")), Value::Null);
    assert_eq!(resolve(json!("[${trigger.body.none}]")), json!("[]"));
}

#[test]
fn a_default_stands_in_for_an_absent_or_null_value() {
    assert_eq!(
        resolve(json!({
            "a": "${trigger.body.title ?? null}",
            "b": "${trigger.body.title ?? \"none\"}",
            "c": "${trigger.body.none ?? 0}",
            "d": "${trigger.body.name ?? \"x\"}",
            "e": "${trigger.body.tags[9] ?? [\"a\", {\"b\": \"}\"}]}",
            "f": "Dear ${trigger.body.title ?? \"customer\"}!",
            "g": "${trigger.body[\"first name\"] ?? \"?\"}",
        })),
        json!({ "a": null, "b": "none", "c": 0, "d": "Ada", "e": ["a", { "b": "}" }],
                "f": "Dear customer!", "g": "A" })
    );
}

#[test]
fn a_question_mark_leaves_the_key_or_element_out() {
    assert_eq!(
        resolve(json!({
            "Title": "${trigger.body.title?}",
            "Empty": "${trigger.body.none?}",
            "Name": "${trigger.body.name?}",
            "List": ["${trigger.body.nope?}", "${trigger.body.size?}"],
        })),
        json!({ "Name": "Ada", "List": [42] })
    );
}

#[test]
fn optional_references_display_as_written() {
    for text in [
        "${trigger.body.title ?? null}",
        "${trigger.body.title ?? \"none\"}",
        "${trigger.body.title?}",
        "${trigger.body[\"first name\"]}",
        "${steps.map.items[0]}",
    ] {
        let parts = parse(text).unwrap();
        let [Part::Reference(reference)] = parts.as_slice() else {
            panic!("{text} is one reference");
        };
        assert_eq!(reference.to_string(), text);
    }
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
        (
            "${body.x}",
            "must start with `trigger`, `steps.<id>`, `config`",
        ),
        ("${steps}", "`steps` must be followed by a step id"),
        (
            "${trigger.a[x]}",
            "`[x]` is neither an array index nor a quoted key",
        ),
        ("${trigger.a[0}", "unterminated `[`"),
        ("${trigger. a}", "unexpected space in a path"),
        (
            "${trigger.a ?? nope}",
            "the default after `??` must be a JSON value",
        ),
        (
            "${trigger.a ??}",
            "the default after `??` must be a JSON value",
        ),
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
    let paths: Vec<&str> = found.iter().map(|found| found.path.as_str()).collect();
    assert_eq!(paths, ["steps[1].with.a[1]", "steps[1].with.b"]);
    assert_eq!(
        found[0].reference.as_ref().unwrap().root,
        Root::Step("map".to_owned())
    );
    assert!(found[0].whole);
    assert!(found[1].reference.is_err());
}

#[test]
fn an_installation_run_reads_its_config_id_and_tenant() {
    let trigger = json!({});
    let steps = HashMap::new();
    let installed = Installed::new(
        "ins_abc",
        "acme",
        json!({ "min_score": 40, "map": { "email": "Email" } }),
    );
    let scope = Scope {
        trigger: &trigger,
        steps: &steps,
        installation: Some(&installed),
    };
    let resolved = scope
        .resolve(&json!({
            "min": "${config.min_score}",
            "field": "${config.map.email}",
            "key": "${tenant}:${installation.id}",
            "who": "${installation.tenant}",
        }))
        .unwrap();
    assert_eq!(
        resolved,
        json!({ "min": 40, "field": "Email", "key": "acme:ins_abc", "who": "acme" })
    );
    let missing = scope.resolve(&json!("${config.absent}")).unwrap_err();
    assert!(
        missing.to_string().contains("`config` has no `absent`"),
        "{missing}"
    );
    let outside = Scope {
        installation: None,
        ..scope
    };
    let error = outside.resolve(&json!("${tenant}")).unwrap_err();
    assert!(
        error.to_string().contains("not for an installation"),
        "{error}"
    );
}
