//! The input of `builtin:field-mapper`.
//!
//! In the spirit of Amplitude's Salesforce mapping: a *relation* (the
//! Salesforce object), an *id field* (the field that identifies the record)
//! and a *property list* (which source field fills which Salesforce field).
//! Input:
//!
//! ```json
//! {
//!   "relation": "Lead",
//!   "id_field": "Email",
//!   "properties": [
//!     { "from": "email", "to": "Email" },
//!     { "from": "company.name", "to": "Company" },
//!     { "from": "size", "to": "NumberOfEmployees", "default": 0 }
//!   ],
//!   "record": "${trigger.body}"
//! }
//! ```
//!
//! `from` is a dot path into `record` (`company.name`, `tags.0`).
//! [`Mapping::problems`] checks the mapping: `relation`, `id_field` and
//! `properties` are required, each property needs `from` and `to`, no two
//! properties may fill the same Salesforce field (one would overwrite the
//! other), and the id field must be one of the targets.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Deserialize;
use serde_json::Value;

/// The step's input.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The Salesforce object, such as `Lead`.
    #[serde(default)]
    pub relation: String,
    /// The Salesforce field that identifies the record.
    #[serde(default)]
    pub id_field: String,
    /// Which source field fills which Salesforce field.
    #[serde(default)]
    pub properties: Vec<Property>,
    /// The source record.
    #[serde(default)]
    pub record: Value,
}

/// One source field mapped to one Salesforce field.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// A dot path into the source record.
    #[serde(default)]
    pub from: String,
    /// The Salesforce field it fills.
    #[serde(default)]
    pub to: String,
    /// The value used when the source field is missing or null.
    #[serde(default)]
    pub default: Option<Value>,
}

impl Mapping {
    /// Every problem with the mapping itself, in input order.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.relation.trim().is_empty() {
            problems.push("`relation` is required: the Salesforce object to map to".to_owned());
        }
        if self.id_field.trim().is_empty() {
            problems
                .push("`id_field` is required: the field that identifies the record".to_owned());
        }
        if self.properties.is_empty() {
            problems.push("`properties` is required: list at least one field".to_owned());
        }
        let mut targets: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, property) in self.properties.iter().enumerate() {
            if property.from.trim().is_empty() {
                problems.push(format!("properties[{index}].from is required"));
            }
            if property.to.trim().is_empty() {
                problems.push(format!("properties[{index}].to is required"));
                continue;
            }
            match targets.entry(&property.to) {
                Entry::Vacant(vacant) => {
                    vacant.insert(index);
                }
                Entry::Occupied(first) => {
                    let first = *first.get();
                    problems.push(format!(
                        "properties[{index}].to: `{}` is already filled by properties[{first}] \
                         (`{}`); two source fields cannot map to one Salesforce field",
                        property.to, self.properties[first].from
                    ));
                }
            }
        }
        if !self.id_field.trim().is_empty()
            && !self.properties.is_empty()
            && !targets.contains_key(self.id_field.as_str())
        {
            problems.push(format!(
                "`id_field` `{}` is not the target of any property",
                self.id_field
            ));
        }
        problems
    }
}
