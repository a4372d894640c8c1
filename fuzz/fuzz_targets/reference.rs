//! The `${...}` reference parser and resolver, on any template text,
//! against an event and step outputs of its own.

#![no_main]

use std::collections::HashMap;

use gust_engine::workflow::reference::{Scope, parse};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|text: &str| {
    let _ = parse(text);
    let trigger = json!({ "body": { "name": "Ada", "tags": ["a", "b"], "n": 1, "nested": { "x": null } } });
    let steps = HashMap::from([("map".to_owned(), json!({ "Email": "a@b.c", "list": [1, 2, 3] }))]);
    let scope = Scope { trigger: &trigger, steps: &steps };
    let template = json!({ "value": text, "list": [text], "nested": { text: text } });
    let _ = scope.resolve(&template);
    let _ = scope.resolve(&Value::String(text.to_owned()));
});
