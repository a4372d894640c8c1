use super::*;

fn mapping(input: Value) -> Mapping {
    serde_json::from_value(input).unwrap()
}

#[test]
fn maps_nested_source_fields_with_defaults() {
    let out = apply(&mapping(json!({
        "relation": "Lead",
        "id_field": "Email",
        "properties": [
            { "from": "email", "to": "Email" },
            { "from": "company.name", "to": "Company" },
            { "from": "tags.1", "to": "LeadSource" },
            { "from": "size", "to": "NumberOfEmployees", "default": 0 },
            { "from": "title", "to": "Title" }
        ],
        "record": { "email": "ada@acme.com", "company": { "name": "Acme" }, "tags": ["b2b", "Web"] }
    })))
    .unwrap();
    assert_eq!(
        out,
        json!({
            "sobject": "Lead",
            "id_field": "Email",
            "id": "ada@acme.com",
            "record": {
                "Email": "ada@acme.com",
                "Company": "Acme",
                "LeadSource": "Web",
                "NumberOfEmployees": 0
            }
        })
    );
}

#[test]
fn reports_every_missing_required_part_at_once() {
    let problems = mapping(json!({ "record": {} })).problems();
    assert_eq!(
        problems,
        vec![
            "`relation` is required: the Salesforce object to map to",
            "`id_field` is required: the field that identifies the record",
            "`properties` is required: list at least one field",
        ]
    );
}

#[test]
fn refuses_two_sources_mapped_to_one_target() {
    let problems = mapping(json!({
        "relation": "Contact",
        "id_field": "Email",
        "properties": [
            { "from": "email", "to": "Email" },
            { "from": "work_email", "to": "Email" },
            { "from": "", "to": "Phone" }
        ]
    }))
    .problems();
    assert_eq!(
        problems,
        vec![
            "properties[1].to: `Email` is already filled by properties[0] (`email`); two source \
             fields cannot map to one Salesforce field",
            "properties[2].from is required",
        ]
    );
}

#[test]
fn the_id_field_must_be_mapped() {
    let problems = mapping(json!({
        "relation": "Account",
        "id_field": "External_Id__c",
        "properties": [{ "from": "name", "to": "Name" }]
    }))
    .problems();
    assert_eq!(
        problems,
        vec!["`id_field` `External_Id__c` is not the target of any property"]
    );
}

#[test]
fn a_record_without_its_id_is_a_non_retryable_error() {
    let err = apply(&mapping(json!({
        "relation": "Lead",
        "id_field": "Email",
        "properties": [{ "from": "email", "to": "Email" }],
        "record": { "email": null }
    })))
    .unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.message(),
        "the record has no value for the id field `Email`"
    );
}
