//! Describe answers in Salesforce's shape (the keys of
//! `fixtures/salesforce/rest/describe-sobject-Whizbang.json`).

use serde_json::{Map, Value, json};

use super::{Field, FieldType, Object, Schema};

/// `GET /services/data/vXX.X/sobjects/`.
pub fn describe_global(schema: &Schema, version: &str) -> Value {
    let sobjects: Vec<Value> = schema
        .objects()
        .map(|object| Value::Object(summary(object, version)))
        .collect();
    json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects })
}

/// What the global describe says of an object; its own describe says this
/// and more.
fn summary(object: &Object, version: &str) -> Map<String, Value> {
    let summary = json!({
        "activateable": false,
        "createable": true,
        "custom": object.custom,
        "customSetting": false,
        "deletable": true,
        "deprecatedAndHidden": false,
        "feedEnabled": false,
        "keyPrefix": object.key_prefix,
        "label": object.label,
        "labelPlural": object.label_plural,
        "layoutable": true,
        "mergeable": false,
        "mruEnabled": false,
        "name": object.name,
        "queryable": true,
        "replicateable": true,
        "retrieveable": true,
        "searchable": true,
        "triggerable": true,
        "undeletable": true,
        "updateable": true,
        "urls": urls(version, &object.name),
    });
    match summary {
        Value::Object(summary) => summary,
        _ => unreachable!("json! of an object is an object"),
    }
}

/// `GET /services/data/vXX.X/sobjects/{object}/describe`.
pub fn describe_object(
    schema: &Schema,
    object: &Object,
    version: &str,
    instance_url: &str,
) -> Value {
    let child_relationships: Vec<Value> = schema
        .child_relationships(&object.name)
        .map(|(child, field)| {
            json!({
                "cascadeDelete": false,
                "childSObject": child.name,
                "deprecatedAndHidden": false,
                "field": field.name,
                "relationshipName": child.child_relationship_name(),
            })
        })
        .collect();
    let mut described = summary(object, version);
    // The object's own describe (per the fixture) has no mruEnabled.
    described.remove("mruEnabled");
    let urls = &mut described["urls"];
    urls["uiEditTemplate"] = json!(format!("{instance_url}/{{ID}}/e"));
    urls["uiDetailTemplate"] = json!(format!("{instance_url}/{{ID}}"));
    urls["uiNewRecord"] = json!(format!("{instance_url}/{}/e", object.key_prefix));
    let more = json!({
        "childRelationships": child_relationships,
        "fields": object.fields.iter().map(describe_field).collect::<Vec<_>>(),
        "listviewable": null,
        "lookupLayoutable": null,
        "recordTypeInfos": [{
            "available": true,
            "defaultRecordTypeMapping": true,
            "name": "Master",
            "recordTypeId": "012000000000000AAA",
        }],
        "searchLayoutable": null,
    });
    if let Value::Object(more) = more {
        described.extend(more);
    }
    Value::Object(described)
}

/// The API URLs of an object.
fn urls(version: &str, name: &str) -> Value {
    json!({
        "sobject": format!("/services/data/{version}/sobjects/{name}"),
        "describe": format!("/services/data/{version}/sobjects/{name}/describe"),
        "rowTemplate": format!("/services/data/{version}/sobjects/{name}/{{ID}}"),
    })
}

fn describe_field(field: &Field) -> Value {
    let is_id = matches!(field.kind, FieldType::Id | FieldType::Reference);
    let text = field.kind.is_text() || is_id;
    let mut described = Map::new();
    let mut put = |key: &str, value: Value| {
        described.insert(key.to_owned(), value);
    };
    put("autoNumber", json!(false));
    let byte_length = match (is_id, text) {
        (true, _) => field.length,
        (false, true) => field.length * 3,
        (false, false) => 0,
    };
    put("byteLength", json!(byte_length));
    put("calculated", json!(false));
    put("calculatedFormula", Value::Null);
    put("caseSensitive", json!(false));
    put("controllerName", Value::Null);
    put("createable", json!(field.createable));
    put("custom", json!(field.custom));
    put(
        "defaultValue",
        field.default_value.clone().unwrap_or(Value::Null),
    );
    put("defaultValueFormula", Value::Null);
    put("defaultedOnCreate", json!(field.defaulted_on_create));
    put("dependentPicklist", json!(false));
    put("deprecatedAndHidden", json!(false));
    put(
        "digits",
        json!(if field.kind == FieldType::Int {
            field.precision
        } else {
            0
        }),
    );
    put("externalId", json!(field.external_id));
    put("filterable", json!(field.kind != FieldType::Textarea));
    put(
        "groupable",
        json!(!matches!(
            field.kind,
            FieldType::Textarea
                | FieldType::Double
                | FieldType::Currency
                | FieldType::Percent
                | FieldType::Datetime
        )),
    );
    put("htmlFormatted", json!(false));
    put(
        "idLookup",
        json!(field.kind == FieldType::Id || field.external_id || field.name == "Username"),
    );
    put("inlineHelpText", Value::Null);
    put("label", json!(field.label));
    put("length", json!(if text { field.length } else { 0 }));
    put("name", json!(field.name));
    put("nameField", json!(field.name_field));
    put("namePointing", json!(field.reference_to.len() > 1));
    put("nillable", json!(field.nillable));
    put(
        "picklistValues",
        Value::Array(
            field
                .picklist_values
                .iter()
                .map(|value| {
                    json!({
                        "active": true,
                        "defaultValue": field.default_value.as_ref().and_then(Value::as_str) == Some(value.as_str()),
                        "label": value,
                        "validFor": null,
                        "value": value,
                    })
                })
                .collect(),
        ),
    );
    let numeric = matches!(
        field.kind,
        FieldType::Double | FieldType::Currency | FieldType::Percent
    );
    put(
        "precision",
        json!(if numeric { field.precision } else { 0 }),
    );
    put("referenceTo", json!(field.reference_to));
    put("relationshipName", json!(field.relationship_name));
    put("relationshipOrder", Value::Null);
    put("restrictedPicklist", json!(false));
    put("scale", json!(if numeric { field.scale } else { 0 }));
    put("soapType", json!(field.kind.soap_type()));
    put("sortable", json!(field.kind != FieldType::Textarea));
    put("type", json!(kind_name(field.kind)));
    put("unique", json!(field.unique));
    put("updateable", json!(field.updateable));
    put("writeRequiresMasterRead", json!(false));
    Value::Object(described)
}

fn kind_name(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Id => "id",
        FieldType::Reference => "reference",
        FieldType::String => "string",
        FieldType::Textarea => "textarea",
        FieldType::Email => "email",
        FieldType::Phone => "phone",
        FieldType::Url => "url",
        FieldType::Picklist => "picklist",
        FieldType::Multipicklist => "multipicklist",
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::Double => "double",
        FieldType::Currency => "currency",
        FieldType::Percent => "percent",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
    }
}
