//! The prebuilt steps' inputs in the JSON Schema of workflow files: a step
//! whose `uses` names one has its `with` described by that input's schema,
//! so that an editor completes and checks it. Wherever a value goes, a
//! `${...}` reference may stand instead, since its value is known only when
//! the step runs.

use gust_step_inputs::field_mapper::Mapping;
use gust_step_inputs::filter::Filter;
use gust_step_inputs::salesforce::Action;
use gust_step_inputs::soap_to_json::SoapToJson;
use schemars::{JsonSchema, schema_for};
use serde_json::{Map, Value, json};

use super::PREFIX;

/// Where a definition of the workflow schema is referred to from.
const DEFS: &str = "#/$defs/";

/// Adds each prebuilt step's input to `schema`, the JSON Schema of
/// workflow files, as what the `with` of a step using it must be.
pub(crate) fn add_inputs(schema: &mut Value) {
    let mut conditions = Vec::new();
    for (name, prefix, input) in [
        ("filter", "Filter", input::<Filter>()),
        ("field-mapper", "FieldMapper", input::<Mapping>()),
        ("salesforce", "Salesforce", input::<Action>()),
        ("soap-to-json", "SoapToJson", input::<SoapToJson>()),
    ] {
        let root = format!("{prefix}Input");
        for (definition, body) in definitions(input, prefix, &root) {
            schema["$defs"][definition] = body;
        }
        conditions.push(json!({
            "if": {
                "properties": { "uses": { "const": format!("{PREFIX}{name}") } },
                "required": ["uses"]
            },
            "then": { "properties": { "with": { "$ref": format!("{DEFS}{root}") } } }
        }));
    }
    schema["$defs"]["Step"]["allOf"] = Value::Array(conditions);
}

/// The JSON Schema of `T`.
fn input<T: JsonSchema>() -> Value {
    serde_json::to_value(schema_for!(T)).unwrap_or_default()
}

/// The schema `input` as definitions of the workflow schema: its own
/// definitions renamed with `prefix` (so that two inputs' `Query` or
/// `Operation` cannot clash), and itself as `root`; each allowing a
/// reference where a value goes.
fn definitions(mut input: Value, prefix: &str, root: &str) -> Vec<(String, Value)> {
    let own = input
        .as_object_mut()
        .and_then(|input| input.remove("$defs"))
        .and_then(|defs| match defs {
            Value::Object(defs) => Some(defs),
            _ => None,
        })
        .unwrap_or_default();
    if let Some(input) = input.as_object_mut() {
        input.remove("$schema");
        input.remove("title");
    }
    let mut out = vec![(root.to_owned(), input)];
    out.extend(
        own.into_iter()
            .map(|(name, body)| (format!("{prefix}{name}"), body)),
    );
    for (_, body) in &mut out {
        rename_refs(body, prefix);
        *body = allowing_references(std::mem::take(body));
    }
    out
}

/// Points every `$ref` in `schema` at the definition renamed with
/// `prefix`.
fn rename_refs(schema: &mut Value, prefix: &str) {
    match schema {
        Value::Object(fields) => {
            for (key, value) in fields.iter_mut() {
                match (key.as_str(), &*value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix(DEFS) {
                            *value = Value::String(format!("{DEFS}{prefix}{name}"));
                        }
                    }
                    _ => rename_refs(value, prefix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rename_refs(item, prefix)),
        _ => {}
    }
}

/// `schema`, and each schema of a value inside it (properties, items,
/// additional properties), also accepting a string holding a reference.
fn allowing_references(mut schema: Value) -> Value {
    if let Some(fields) = schema.as_object_mut() {
        if let Some(Value::Object(properties)) = fields.get_mut("properties") {
            let taken = std::mem::take(properties);
            *properties = taken
                .into_iter()
                .map(|(name, property)| (name, allowing_references(property)))
                .collect::<Map<_, _>>();
        }
        for key in ["items", "additionalProperties"] {
            if let Some(inner) = fields.get_mut(key).filter(|inner| inner.is_object()) {
                *inner = allowing_references(std::mem::take(inner));
            }
        }
        // A reference may stand for the tag that tells one shape from
        // another (`"action": "${...}"`), and then more than one fits.
        if let Some(shapes) = fields.remove("oneOf") {
            fields.insert("anyOf".to_owned(), shapes);
        }
        for key in ["anyOf", "allOf"] {
            if let Some(Value::Array(variants)) = fields.get_mut(key) {
                for variant in variants.iter_mut() {
                    // A variant is one shape of the same value, not a value
                    // inside it: its own properties may be references.
                    *variant = without_outer(allowing_references(std::mem::take(variant)));
                }
            }
        }
    }
    // The description stays where an editor shows it.
    let description = schema
        .as_object_mut()
        .and_then(|fields| fields.remove("description"));
    let mut wrapped = json!({ "anyOf": [schema, { "type": "string", "pattern": "\\$\\{" }] });
    if let Some(description) = description {
        wrapped["description"] = description;
    }
    wrapped
}

/// The schema that [`allowing_references`] wrapped, with its description.
fn without_outer(mut wrapped: Value) -> Value {
    let mut schema = wrapped["anyOf"][0].take();
    if let (Some(fields), Some(description)) = (
        schema.as_object_mut(),
        wrapped.get_mut("description").map(Value::take),
    ) {
        fields.insert("description".to_owned(), description);
    }
    schema
}
