//! The seed file: custom objects and fields, records, connected apps and
//! users to start an org with.
//!
//! ```json
//! {
//!   "objects": [{ "name": "Invoice__c", "label": "Invoice", "fields": [
//!     { "name": "Amount__c", "type": "currency", "required": true },
//!     { "name": "Account__c", "type": "reference", "reference_to": ["Account"] }
//!   ]}, { "name": "Order_Placed__e", "fields": [
//!     { "name": "Order_Number__c", "type": "string", "length": 40 }
//!   ]}],
//!   "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "length": 40, "external_id": true }] },
//!   "records": { "Account": [{ "Name": "Acme", "Erp_Id__c": "E-1" }] },
//!   "apps": [{ "client_id": "my-app", "client_secret": "s3cret" }],
//!   "users": [{ "username": "ada@example.com", "password": "pw" }],
//!   "faults": [{ "path": "/sobjects/Lead", "method": "POST", "kind": "unable_to_lock_row", "times": 2 }],
//!   "outbound_messages": [{ "object": "Lead", "fields": ["Email", "Company"],
//!     "endpoint": "http://127.0.0.1:8080/outbound/new-leads", "on_create": true, "on_update": false }]
//! }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::{ConnectedApp, Login};
use crate::faults::Fault;
use crate::org::Org;
use crate::outbound::OutboundRule;
use crate::schema::{Field, FieldType};

/// A seed file's contents.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Custom objects.
    #[serde(default)]
    pub objects: Vec<CustomObject>,
    /// Custom fields added to existing objects, by object name.
    #[serde(default)]
    pub fields: BTreeMap<String, Vec<CustomField>>,
    /// Records to create, by object name, in order.
    #[serde(default)]
    pub records: BTreeMap<String, Vec<Map<String, Value>>>,
    /// Connected apps besides the default one.
    #[serde(default)]
    pub apps: Vec<SeedApp>,
    /// Users who may log in with a password, besides the default one.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Faults to inject from the start.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Outbound Message rules.
    #[serde(default)]
    pub outbound_messages: Vec<OutboundRule>,
}

/// A custom object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomObject {
    /// Its API name, ending in `__c`.
    pub name: String,
    /// Its label (from the name when not given).
    pub label: Option<String>,
    /// Its plural label (the label and an "s" when not given).
    pub label_plural: Option<String>,
    /// Its fields besides `Id`, `Name`, `OwnerId` and the audit fields.
    #[serde(default)]
    pub fields: Vec<CustomField>,
}

/// A custom field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// Its API name, ending in `__c`.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Its label (from the name when not given).
    pub label: Option<String>,
    /// The most characters of a text value.
    pub length: Option<u32>,
    /// Whether a create must set it.
    #[serde(default)]
    pub required: bool,
    /// Whether upserts may match on it.
    #[serde(default)]
    pub external_id: bool,
    /// Whether two records may not share a value.
    #[serde(default)]
    pub unique: bool,
    /// A picklist's values.
    #[serde(default)]
    pub values: Vec<String>,
    /// The objects a reference points to.
    #[serde(default)]
    pub reference_to: Vec<String>,
    /// The value a create gives it when not set.
    pub default: Option<Value>,
}

/// A connected app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApp {
    /// Its consumer key.
    pub client_id: String,
    /// Its consumer secret.
    pub client_secret: String,
}

/// A user who may log in with a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// Why a seed could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file is not a seed.
    #[error("the seed file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// A name does not follow Salesforce's rules.
    #[error("{0}")]
    Invalid(String),
    /// A record was refused as Salesforce would refuse it.
    #[error("record {index} of {object} was refused: {code}: {message}")]
    Record {
        /// The object.
        object: String,
        /// Its position in the seed.
        index: usize,
        /// Salesforce's errorCode.
        code: &'static str,
        /// The message.
        message: String,
    },
}

impl Seed {
    /// Reads a seed from JSON text.
    pub fn parse(text: &str) -> Result<Self, SeedError> {
        Ok(serde_json::from_str(text)?)
    }

    /// A digest of the seed's records, saved beside the org's records so
    /// that a later start can tell the seed changed.
    pub fn records_digest(&self) -> String {
        use sha2::{Digest as _, Sha256};
        let records = serde_json::to_vec(&self.records).unwrap_or_default();
        format!("{:x}", Sha256::digest(records))
    }

    /// The seed's apps and users, for the token endpoint.
    pub fn logins(&self) -> (Vec<ConnectedApp>, Vec<Login>) {
        let apps = self
            .apps
            .iter()
            .map(|app| ConnectedApp {
                client_id: app.client_id.clone(),
                client_secret: app.client_secret.clone(),
            })
            .collect();
        let users = self
            .users
            .iter()
            .map(|user| Login {
                username: user.username.clone(),
                password: user.password.clone(),
            })
            .collect();
        (apps, users)
    }

    /// Adds the seed's objects, fields and records to `org`.
    pub fn apply(&self, org: &mut Org) -> Result<(), SeedError> {
        self.apply_schema(org)?;
        self.apply_records(org)
    }

    /// Adds the seed's objects and fields to `org`.
    pub fn apply_schema(&self, org: &mut Org) -> Result<(), SeedError> {
        for custom in &self.objects {
            let name = custom_name(&custom.name, "object")?;
            let label = custom.label.clone().unwrap_or_else(|| {
                name.trim_end_matches("__c")
                    .trim_end_matches("__e")
                    .replace('_', " ")
            });
            let label_plural = custom
                .label_plural
                .clone()
                .unwrap_or_else(|| format!("{label}s"));
            let key_prefix = org.schema().free_custom_prefix();
            if name.ends_with("__e") {
                let event =
                    crate::schema::platform_event(&name, &label, &label_plural, &key_prefix);
                org.schema_mut().add_object(event);
                for field in &custom.fields {
                    org.schema_mut()
                        .add_field(&name, field.to_field()?)
                        .map_err(SeedError::Invalid)?;
                }
                continue;
            }
            let mut name_field = Field::new("Name", FieldType::String)
                .length(80)
                .name_field();
            name_field.label = format!("{label} Name");
            let object = crate::schema::custom_object(
                &name,
                &label,
                &label_plural,
                &key_prefix,
                vec![name_field],
            );
            org.schema_mut().add_object(object);
            for field in &custom.fields {
                org.schema_mut()
                    .add_field(&name, field.to_field()?)
                    .map_err(SeedError::Invalid)?;
            }
        }
        for (object, fields) in &self.fields {
            for field in fields {
                org.schema_mut()
                    .add_field(object, field.to_field()?)
                    .map_err(SeedError::Invalid)?;
            }
        }
        Ok(())
    }

    /// Creates the seed's records in `org`.
    pub fn apply_records(&self, org: &mut Org) -> Result<(), SeedError> {
        for (object, records) in &self.records {
            for (index, record) in records.iter().enumerate() {
                org.create(object, record)
                    .map_err(|error| SeedError::Record {
                        object: object.clone(),
                        index,
                        code: error.code,
                        message: error.message,
                    })?;
            }
        }
        Ok(())
    }
}

impl CustomField {
    fn to_field(&self) -> Result<Field, SeedError> {
        let name = custom_name(&self.name, "field")?;
        let mut field = Field::new(&name, self.kind);
        if let Some(label) = &self.label {
            field.label.clone_from(label);
        }
        if let Some(length) = self.length {
            field.length = length;
        }
        field.nillable = !self.required;
        field.external_id = self.external_id;
        field.unique = self.unique;
        field.picklist_values.clone_from(&self.values);
        if self.kind == FieldType::Reference {
            if self.reference_to.is_empty() {
                return Err(SeedError::Invalid(format!(
                    "the reference field {name} needs reference_to"
                )));
            }
            field.reference_to.clone_from(&self.reference_to);
            field.relationship_name = Some(format!("{}__r", name.trim_end_matches("__c")));
        }
        if let Some(default) = &self.default {
            field.default_value = Some(default.clone());
            field.defaulted_on_create = true;
        }
        Ok(field)
    }
}

/// `name` if it is a valid custom API name (letters, digits and single
/// underscores, ending in `__c`; an object's may end in `__e`, a platform
/// event).
fn custom_name(name: &str, what: &str) -> Result<String, SeedError> {
    let event = (what == "object")
        .then(|| name.strip_suffix("__e"))
        .flatten();
    let base = event
        .or_else(|| name.strip_suffix("__c"))
        .unwrap_or_default();
    let valid = base.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !base.contains("__")
        && !base.ends_with('_');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(SeedError::Invalid(format!(
            "`{name}` is not a custom {what} name: letters, digits and single underscores, ending in __c{}",
            if what == "object" {
                " (or __e for a platform event)"
            } else {
                ""
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::Schema;

    #[test]
    fn a_seed_adds_objects_fields_and_records() {
        let seed = Seed::parse(
            &json!({
                "objects": [{ "name": "Invoice__c", "fields": [
                    { "name": "Amount__c", "type": "currency", "required": true },
                    { "name": "Account__c", "type": "reference", "reference_to": ["Account"] }
                ]}],
                "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "length": 40, "external_id": true }] },
                "records": { "Account": [{ "Name": "Acme", "Erp_Id__c": "E-1" }] }
            })
            .to_string(),
        )
        .unwrap();
        let mut org = Org::new(Schema::standard());
        seed.apply(&mut org).unwrap();
        let invoice = org.schema().object("invoice__c").unwrap();
        assert!(invoice.custom);
        assert!(invoice.key_prefix.starts_with('a'));
        assert_eq!(invoice.label, "Invoice");
        assert_eq!(
            invoice.relationship("Account__r").unwrap().name,
            "Account__c"
        );
        assert!(invoice.field("Amount__c").unwrap().is_required());
        let account = org.schema().object("Account").unwrap().clone();
        assert_eq!(org.records(&account, false).count(), 1);
        let missing = org
            .create(
                "Invoice__c",
                &json!({ "Name": "INV-1" }).as_object().cloned().unwrap(),
            )
            .unwrap_err();
        assert_eq!(missing.code, "REQUIRED_FIELD_MISSING");
    }

    #[test]
    fn bad_seeds_are_refused_with_the_reason() {
        let apply = |seed: Value| {
            let mut org = Org::new(Schema::standard());
            Seed::parse(&seed.to_string())
                .and_then(|seed| seed.apply(&mut org))
                .unwrap_err()
                .to_string()
        };
        assert!(
            apply(json!({ "objects": [{ "name": "Invoice" }] }))
                .contains("is not a custom object name")
        );
        assert!(
            apply(json!({ "fields": { "Account": [{ "name": "Bad__c", "type": "reference" }] } }))
                .contains("needs reference_to")
        );
        assert!(
            apply(json!({ "fields": { "Nope": [{ "name": "X__c", "type": "string" }] } }))
                .contains("no object named Nope")
        );
        assert!(
            apply(json!({ "records": { "Lead": [{ "LastName": "L" }] } }))
                .contains("REQUIRED_FIELD_MISSING")
        );
        assert!(apply(json!({ "object": [] })).contains("unknown field"));
        assert!(
            apply(json!({ "fields": { "Account": [{ "name": "X__c", "type": "blob" }] } }))
                .contains("unknown variant")
        );
    }
}
