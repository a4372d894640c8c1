//! The org's data model: objects, their fields, and the describe answers
//! built from them.

mod describe;
mod standard;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

pub use describe::{describe_global, describe_object};

/// A field's type, as describe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// The record's own Id.
    Id,
    /// The Id of another record.
    Reference,
    /// Text up to the field's length.
    String,
    /// Long text.
    Textarea,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A URL.
    Url,
    /// One value of a list.
    Picklist,
    /// Values of a list, joined by `;`.
    Multipicklist,
    /// True or false.
    Boolean,
    /// A whole number.
    Int,
    /// A number.
    Double,
    /// An amount of money.
    Currency,
    /// A percentage.
    Percent,
    /// A day.
    Date,
    /// A moment, to the millisecond.
    Datetime,
}

impl FieldType {
    /// Whether values are text.
    pub fn is_text(self) -> bool {
        matches!(
            self,
            Self::String
                | Self::Textarea
                | Self::Email
                | Self::Phone
                | Self::Url
                | Self::Picklist
                | Self::Multipicklist
        )
    }

    /// Whether values are numbers.
    pub fn is_number(self) -> bool {
        matches!(
            self,
            Self::Int | Self::Double | Self::Currency | Self::Percent
        )
    }

    fn soap_type(self) -> &'static str {
        match self {
            Self::Id | Self::Reference => "tns:ID",
            Self::Boolean => "xsd:boolean",
            Self::Int => "xsd:int",
            Self::Double | Self::Currency | Self::Percent => "xsd:double",
            Self::Date => "xsd:date",
            Self::Datetime => "xsd:dateTime",
            _ => "xsd:string",
        }
    }
}

/// A field of an object.
#[derive(Debug, Clone)]
pub struct Field {
    /// Its API name.
    pub name: String,
    /// Its label.
    pub label: String,
    /// Its type.
    pub kind: FieldType,
    /// The most characters a text value may have (0 for other types).
    pub length: u32,
    /// Digits in all, for numbers.
    pub precision: u32,
    /// Digits after the point, for numbers.
    pub scale: u32,
    /// Whether it may be empty.
    pub nillable: bool,
    /// Whether a create may set it.
    pub createable: bool,
    /// Whether an update may set it.
    pub updateable: bool,
    /// Whether Salesforce fills it on create when it is not given.
    pub defaulted_on_create: bool,
    /// The value it gets when a create does not set it.
    pub default_value: Option<Value>,
    /// Whether it is a custom field (`__c`).
    pub custom: bool,
    /// Whether it is an external id (upserts match on it).
    pub external_id: bool,
    /// Whether two records may not share a value.
    pub unique: bool,
    /// Whether it names the record.
    pub name_field: bool,
    /// The objects a reference may point to.
    pub reference_to: Vec<String>,
    /// The name of the parent record in SOQL (`Account` for `AccountId`).
    pub relationship_name: Option<String>,
    /// The values of a picklist.
    pub picklist_values: Vec<String>,
}

impl Field {
    /// A field named `name` of type `kind`, nillable, createable and
    /// updateable, with its type's usual length.
    pub fn new(name: &str, kind: FieldType) -> Self {
        let length = match kind {
            FieldType::Id | FieldType::Reference => 18,
            FieldType::String | FieldType::Picklist | FieldType::Url => 255,
            FieldType::Email => 80,
            FieldType::Phone => 40,
            FieldType::Textarea => 32_000,
            FieldType::Multipicklist => 4_099,
            _ => 0,
        };
        let (precision, scale) = match kind {
            FieldType::Int => (9, 0),
            FieldType::Double | FieldType::Currency => (18, 2),
            FieldType::Percent => (5, 2),
            _ => (0, 0),
        };
        Self {
            name: name.to_owned(),
            label: label_of(name),
            kind,
            length,
            precision,
            scale,
            nillable: true,
            createable: true,
            updateable: true,
            defaulted_on_create: false,
            default_value: None,
            custom: name.ends_with("__c"),
            external_id: false,
            unique: false,
            name_field: false,
            reference_to: Vec::new(),
            relationship_name: None,
            picklist_values: Vec::new(),
        }
    }

    /// Whether a create must set it.
    pub fn is_required(&self) -> bool {
        !self.nillable && self.createable && !self.defaulted_on_create
    }
}

/// An object (sObject type).
#[derive(Debug, Clone)]
pub struct Object {
    /// Its API name.
    pub name: String,
    /// Its label.
    pub label: String,
    /// Its plural label.
    pub label_plural: String,
    /// The first three characters of its records' Ids.
    pub key_prefix: String,
    /// Whether it is a custom object (`__c`).
    pub custom: bool,
    /// Its fields, in describe order.
    pub fields: Vec<Field>,
}

impl Object {
    /// The field named `name`, whatever its case (as Salesforce matches).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|field| field.name.eq_ignore_ascii_case(name))
    }

    /// The reference field whose relationship is named `name`, whatever
    /// its case.
    pub fn relationship(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| {
            field
                .relationship_name
                .as_deref()
                .is_some_and(|relationship| relationship.eq_ignore_ascii_case(name))
        })
    }

    /// Whether it is a platform event (`__e`): published, never stored.
    pub fn is_platform_event(&self) -> bool {
        self.name.ends_with("__e")
    }

    /// The name parents use for this object's records in child
    /// subqueries: `Contacts` for Contact, `Invoices__r` for Invoice__c.
    pub fn child_relationship_name(&self) -> String {
        match self.name.strip_suffix("__c") {
            Some(base) => format!("{base}s__r"),
            None => self.label_plural.replace(' ', ""),
        }
    }
}

/// Every object of the org.
#[derive(Debug, Clone)]
pub struct Schema {
    objects: BTreeMap<String, Object>,
}

impl Schema {
    /// The standard objects.
    pub fn standard() -> Self {
        let objects = standard::objects()
            .into_iter()
            .map(|object| (object.name.to_ascii_lowercase(), object))
            .collect();
        Self { objects }
    }

    /// The object named `name`, whatever its case.
    pub fn object(&self, name: &str) -> Option<&Object> {
        self.objects.get(&name.to_ascii_lowercase())
    }

    /// The objects and reference fields that point at `parent` (audit and
    /// owner fields left out), as describe's `childRelationships` lists them.
    pub fn child_relationships<'a>(
        &'a self,
        parent: &'a str,
    ) -> impl Iterator<Item = (&'a Object, &'a Field)> + 'a {
        self.objects().flat_map(move |child| {
            child.fields.iter().filter_map(move |field| {
                let points_here = field
                    .reference_to
                    .iter()
                    .any(|target| target.eq_ignore_ascii_case(parent));
                let audit = matches!(
                    field.name.as_str(),
                    "OwnerId" | "CreatedById" | "LastModifiedById"
                );
                (points_here && !audit).then_some((child, field))
            })
        })
    }

    /// The child object and its reference field behind the child
    /// relationship `name` of `parent` (`Contacts` of Account).
    pub fn child_relationship(&self, parent: &str, name: &str) -> Option<(Object, String)> {
        self.child_relationships(parent)
            .find(|(child, _)| child.child_relationship_name().eq_ignore_ascii_case(name))
            .map(|(child, field)| (child.clone(), field.name.clone()))
    }

    /// The object whose Ids start with `key_prefix`.
    pub fn object_by_prefix(&self, key_prefix: &str) -> Option<&Object> {
        self.objects
            .values()
            .find(|object| object.key_prefix == key_prefix)
    }

    /// Every object, by name.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.objects.values()
    }

    /// Adds (or replaces) an object.
    pub fn add_object(&mut self, object: Object) {
        self.objects
            .insert(object.name.to_ascii_lowercase(), object);
    }

    /// Adds a field to the object named `object`.
    pub fn add_field(&mut self, object: &str, field: Field) -> Result<(), String> {
        let object = self
            .objects
            .get_mut(&object.to_ascii_lowercase())
            .ok_or_else(|| format!("no object named {object}"))?;
        object
            .fields
            .retain(|f| !f.name.eq_ignore_ascii_case(&field.name));
        object.fields.push(field);
        Ok(())
    }

    /// A key prefix no object uses yet, for a custom object.
    pub fn free_custom_prefix(&self) -> String {
        (0..62 * 62)
            .map(|n| {
                const DIGITS: &[u8] =
                    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                format!("a{}{}", DIGITS[n / 62] as char, DIGITS[n % 62] as char)
            })
            .find(|prefix| self.object_by_prefix(prefix).is_none())
            .unwrap_or_else(|| "a00".to_owned())
    }
}

/// A platform event object: the fields Salesforce gives every event
/// (`ReplayId`, `CreatedDate`, `CreatedById`, `EventUuid`), read-only, to
/// which custom fields are added.
pub(crate) fn platform_event(
    name: &str,
    label: &str,
    label_plural: &str,
    key_prefix: &str,
) -> Object {
    standard::platform_event(name, label, label_plural, key_prefix)
}

/// A custom object: the system fields (`OwnerId` among them) and `fields`.
pub(crate) fn custom_object(
    name: &str,
    label: &str,
    label_plural: &str,
    key_prefix: &str,
    fields: Vec<Field>,
) -> Object {
    standard::object(name, label, label_plural, key_prefix, true, fields)
}

/// "Annual Revenue" for `AnnualRevenue`, "Region" for `Region__c`.
fn label_of(name: &str) -> String {
    let name = name.strip_suffix("__c").unwrap_or(name);
    let mut label = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c == '_' {
            label.push(' ');
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower {
            label.push(' ');
        }
        previous_lower = c.is_ascii_lowercase();
        label.push(c);
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_made_from_api_names() {
        assert_eq!(label_of("AnnualRevenue"), "Annual Revenue");
        assert_eq!(label_of("Region__c"), "Region");
        assert_eq!(label_of("Net_Terms__c"), "Net Terms");
    }

    #[test]
    fn objects_and_fields_are_found_whatever_their_case() {
        let schema = Schema::standard();
        let account = schema.object("account").unwrap();
        assert_eq!(account.name, "Account");
        assert_eq!(account.key_prefix, "001");
        assert_eq!(account.field("name").unwrap().name, "Name");
        assert_eq!(
            schema
                .object("contact")
                .unwrap()
                .relationship("account")
                .unwrap()
                .name,
            "AccountId"
        );
        assert_eq!(schema.object_by_prefix("00Q").unwrap().name, "Lead");
    }

    #[test]
    fn every_standard_object_has_the_system_fields_and_a_unique_prefix() {
        let schema = Schema::standard();
        let mut prefixes = std::collections::HashSet::new();
        for object in schema.objects() {
            assert!(
                prefixes.insert(object.key_prefix.clone()),
                "{}",
                object.name
            );
            for field in [
                "Id",
                "IsDeleted",
                "CreatedDate",
                "CreatedById",
                "LastModifiedDate",
                "LastModifiedById",
                "SystemModstamp",
            ] {
                assert!(object.field(field).is_some(), "{}.{field}", object.name);
            }
        }
        assert_eq!(prefixes.len(), 12);
    }
}
