use super::*;

fn filter(input: Value) -> Result<Output, Error> {
    evaluate(serde_json::from_value(input).unwrap())
}

#[test]
fn passes_the_pass_value_on_when_every_condition_holds() {
    let out = filter(json!({
        "conditions": [
            { "value": "Web", "op": "equals", "to": "Web" },
            { "value": 120, "op": "greater_than", "to": 100 },
            { "value": "a@acme.com", "op": "ends_with", "to": "@acme.com" },
            { "value": "x", "op": "exists" }
        ],
        "pass": { "id": 7 }
    }));
    assert_eq!(out, Ok(Output::Continue(json!({ "id": 7 }))));
}

#[test]
fn stops_the_run_and_names_the_failed_conditions() {
    let out = filter(json!({
        "conditions": [
            { "value": "Phone", "op": "equals", "to": "Web" },
            { "value": null, "op": "exists" },
            { "value": 3, "op": "in", "to": [1, 2, 3] }
        ]
    }));
    assert_eq!(
        out,
        Ok(Output::Stop(json!({ "matched": false, "failed": [0, 1] })))
    );
}

#[test]
fn any_mode_needs_one_condition_to_hold() {
    let out = filter(json!({
        "match": "any",
        "conditions": [
            { "value": "Phone", "op": "equals", "to": "Web" },
            { "value": ["vip", "b2b"], "op": "contains", "to": "vip" }
        ]
    }));
    assert_eq!(out, Ok(Output::Continue(json!({ "matched": true }))));
}

#[test]
fn compares_iso_dates_as_strings() {
    let out = filter(json!({
        "conditions": [{ "value": "2026-03-01", "op": "less_than", "to": "2026-11-22" }]
    }));
    assert!(matches!(out, Ok(Output::Continue(_))));
}

#[test]
fn a_missing_field_does_not_start_with_anything() {
    let out = filter(json!({
        "conditions": [{ "value": null, "op": "starts_with", "to": "a" }]
    }));
    assert!(matches!(out, Ok(Output::Stop(_))));
}

#[test]
fn ordering_a_string_against_a_number_is_a_non_retryable_error() {
    let err = filter(json!({
        "conditions": [{ "value": "ten", "op": "greater_than", "to": 5 }]
    }))
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.message().starts_with("conditions[0]: cannot order"),
        "{err}"
    );
}

#[test]
fn no_conditions_is_an_error() {
    let err = filter(json!({ "conditions": [] })).unwrap_err();
    assert!(err.message().contains("`conditions` is empty"));
}

#[test]
fn unknown_operators_are_refused_when_parsing() {
    let err = serde_json::from_value::<Filter>(json!({
        "conditions": [{ "value": 1, "op": "roughly", "to": 1 }]
    }))
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown variant `roughly`"),
        "{err}"
    );
}
