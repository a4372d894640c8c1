//! The Avro schema of an object's events, made from its describe as
//! Salesforce makes it: a change event is `<Entity>ChangeEvent` with the
//! `ChangeEventHeader` first, then every field as a nullable union, the
//! parts of an address or a person's name gathered into one compound
//! record (`BillingAddress`, `Name`); a platform event is its `__e` name
//! with `CreatedDate`, `CreatedById` and its custom fields. Named types are
//! defined once and referred to by name after.

use apache_avro::Schema as AvroSchema;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::schema::{FieldType, Object};

/// The namespace of every event schema.
pub(super) const NAMESPACE: &str = "com.sforce.eventbus";

/// Every `changeType` symbol, in the enum's order.
pub(super) const CHANGE_TYPES: [&str; 9] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
];

/// The parts of a compound address, in Salesforce's order.
const ADDRESS_PARTS: [&str; 11] = [
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "StateCode",
    "CountryCode",
    "Latitude",
    "Longitude",
    "Xyz",
    "GeocodeAccuracy",
];

/// The parts of a person's compound name, in Salesforce's order.
const NAME_PARTS: [&str; 6] = [
    "Salutation",
    "FirstName",
    "LastName",
    "MiddleName",
    "InformalName",
    "Suffix",
];

/// Fields a change event leaves out: the Id is in the header, and these
/// Salesforce does not send.
const NOT_SENT: [&str; 3] = ["Id", "IsDeleted", "SystemModstamp"];

/// One field of an event record after the header.
#[derive(Debug, Clone)]
pub enum Column {
    /// A field of the object, by name, with its type.
    Field(String, FieldType),
    /// A compound field (`BillingAddress`): its parts, each with the
    /// object's field it is read from, when the object has one.
    Compound {
        /// Its name.
        name: String,
        /// Its parts: their names and the object's fields they come from.
        parts: Vec<(String, Option<(String, FieldType)>)>,
    },
}

impl Column {
    /// Its name in the schema.
    pub fn name(&self) -> &str {
        match self {
            Self::Field(name, _) | Self::Compound { name, .. } => name,
        }
    }
}

/// An object's event schema, with what encoding and bitmaps need.
#[derive(Debug)]
pub struct Layout {
    /// The schema's JSON, as GetSchema answers.
    pub json: String,
    /// The schema, parsed.
    pub schema: AvroSchema,
    /// Its id: a hash of its canonical form.
    pub id: String,
    /// The record's fields after the header (a change event's) or all of
    /// them (a platform event's), in order.
    pub columns: Vec<Column>,
}

/// The name of `object`'s change event: `AccountChangeEvent`,
/// `Employee__ChangeEvent` for `Employee__c`.
pub fn change_event_name(object: &str) -> String {
    match object.strip_suffix("__c") {
        Some(base) => format!("{base}__ChangeEvent"),
        None => format!("{object}ChangeEvent"),
    }
}

/// The change event schema of `object`.
pub(super) fn change_event(object: &Object) -> Result<Layout, apache_avro::Error> {
    let columns = change_columns(object);
    let mut defined = Defined::default();
    let mut fields = vec![json!({
        "name": "ChangeEventHeader",
        "type": header_schema(),
        "doc": "Data:ChangeEventHeader",
    })];
    fields.extend(
        columns
            .iter()
            .map(|column| column_schema(column, &mut defined)),
    );
    let json = json!({
        "type": "record",
        "name": change_event_name(&object.name),
        "namespace": NAMESPACE,
        "fields": fields,
    });
    Layout::new(json, columns)
}

/// The schema of platform event `object`.
pub(super) fn platform_event(object: &Object) -> Result<Layout, apache_avro::Error> {
    let mut defined = Defined::default();
    let columns: Vec<Column> = object
        .fields
        .iter()
        .filter(|field| field.custom)
        .map(|field| Column::Field(field.name.clone(), field.kind))
        .collect();
    let mut fields = vec![
        json!({"name": "CreatedDate", "type": "long", "doc": "CreatedDate:DateTime"}),
        json!({"name": "CreatedById", "type": "string", "doc": "CreatedBy:EntityId"}),
    ];
    fields.extend(
        columns
            .iter()
            .map(|column| column_schema(column, &mut defined)),
    );
    let json = json!({
        "type": "record",
        "name": object.name,
        "namespace": NAMESPACE,
        "fields": fields,
    });
    Layout::new(json, columns)
}

impl Layout {
    fn new(json: Value, columns: Vec<Column>) -> Result<Self, apache_avro::Error> {
        let text = json.to_string();
        let schema = AvroSchema::parse_str(&text)?;
        let digest = Sha256::digest(schema.canonical_form().as_bytes());
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        Ok(Self {
            json: text,
            schema,
            id,
            columns,
        })
    }

    /// The index of the top-level field named `name` in a change event
    /// (the header is 0), and, for a part of a compound, its index in it.
    pub fn position(&self, name: &str) -> Option<(usize, Option<usize>)> {
        self.columns
            .iter()
            .enumerate()
            .find_map(|(index, column)| match column {
                Column::Field(field, _) => (field == name).then_some((index + 1, None)),
                Column::Compound { parts, .. } => parts
                    .iter()
                    .position(|(_, source)| source.as_ref().is_some_and(|(field, _)| field == name))
                    .map(|part| (index + 1, Some(part))),
            })
    }
}

/// The columns of `object`'s change event: its fields in describe order,
/// with addresses and a person's name gathered at their first part.
fn change_columns(object: &Object) -> Vec<Column> {
    let has = |name: &str| {
        object
            .field(name)
            .map(|field| (field.name.clone(), field.kind))
    };
    let person = has("FirstName").is_some()
        && has("LastName").is_some()
        && object.field("Name").is_some_and(|name| !name.createable);
    let mut columns = Vec::new();
    let mut taken: Vec<String> = NOT_SENT.iter().map(|name| (*name).to_owned()).collect();
    for field in &object.fields {
        if taken.contains(&field.name) {
            continue;
        }
        let address = field
            .name
            .strip_suffix("Street")
            .filter(|prefix| has(&format!("{prefix}City")).is_some());
        if let Some(prefix) = address {
            let parts = ADDRESS_PARTS
                .iter()
                .map(|part| ((*part).to_owned(), has(&format!("{prefix}{part}"))))
                .collect::<Vec<_>>();
            taken.extend(
                parts
                    .iter()
                    .filter_map(|(_, source)| Some(source.clone()?.0)),
            );
            columns.push(Column::Compound {
                name: format!("{prefix}Address"),
                parts,
            });
        } else if person && (NAME_PARTS.contains(&field.name.as_str()) || field.name == "Name") {
            let parts = NAME_PARTS
                .iter()
                .map(|part| ((*part).to_owned(), has(part)))
                .collect::<Vec<_>>();
            taken.extend(
                parts
                    .iter()
                    .filter_map(|(_, source)| Some(source.clone()?.0)),
            );
            taken.push("Name".to_owned());
            columns.push(Column::Compound {
                name: "Name".to_owned(),
                parts,
            });
        } else {
            columns.push(Column::Field(field.name.clone(), field.kind));
        }
    }
    columns
}

/// The named types already defined in a schema being made.
#[derive(Default)]
struct Defined(Vec<String>);

impl Defined {
    /// `schema` the first time `name` is met, its name after.
    fn once(&mut self, name: &str, schema: impl FnOnce() -> Value) -> Value {
        if self.0.iter().any(|defined| defined == name) {
            json!(name)
        } else {
            self.0.push(name.to_owned());
            schema()
        }
    }
}

fn header_schema() -> Value {
    let strings = || json!({"type": "array", "items": "string"});
    json!({
        "type": "record",
        "name": "ChangeEventHeader",
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings()},
            {"name": "changeType", "type": {
                "type": "enum", "name": "ChangeType", "namespace": NAMESPACE,
                "symbols": CHANGE_TYPES,
            }},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings()},
            {"name": "diffFields", "type": strings()},
            {"name": "changedFields", "type": strings()},
        ],
    })
}

/// The Avro type of a field's values.
fn value_schema(kind: FieldType) -> Value {
    match kind {
        FieldType::Boolean => json!("boolean"),
        FieldType::Int => json!("int"),
        FieldType::Double | FieldType::Currency | FieldType::Percent => json!("double"),
        FieldType::Date => json!({"type": "int", "logicalType": "date"}),
        FieldType::Datetime => json!("long"),
        _ => json!("string"),
    }
}

fn column_schema(column: &Column, defined: &mut Defined) -> Value {
    match column {
        Column::Field(name, kind) => json!({
            "name": name,
            "type": ["null", value_schema(*kind)],
            "default": null,
        }),
        Column::Compound { name, parts } => {
            let (type_name, address) = if name.ends_with("Address") {
                ("Address", true)
            } else {
                ("Switchable_PersonName", false)
            };
            let record = defined.once(type_name, || {
                let fields: Vec<Value> = parts
                    .iter()
                    .map(|(part, _)| {
                        let kind = if address && matches!(part.as_str(), "Latitude" | "Longitude") {
                            json!("double")
                        } else {
                            json!("string")
                        };
                        json!({"name": part, "type": ["null", kind], "default": null})
                    })
                    .collect();
                json!({"type": "record", "name": type_name, "fields": fields})
            });
            json!({"name": name, "type": ["null", record], "default": null})
        }
    }
}
