//! The field lists of a change event header (`changedFields`,
//! `nulledFields`, `diffFields`), which Pub/Sub sends as bitmaps over the
//! event schema's fields rather than names:
//!
//! - an element `0x<hex>` is a bitmap over the record's top-level fields:
//!   the hexadecimal is one big-endian number, and bit `i` (least
//!   significant first) stands for field `i` (0 is `ChangeEventHeader`);
//! - an element `<i>-0x<hex>` is a bitmap over the parts of compound field
//!   `i` (an address, a person's name), named `Parent.Part`.
//!
//! Salesforce's example: `["0x650004E0", "4-0x10", "7-0x06"]` is fields
//! 5, 6, 7, 10, 24, 26, 29 and 30, part 4 of field 4 and parts 1 and 2 of
//! field 7.

use std::collections::HashMap;

use serde_json::Value;

/// The names a schema's bitmaps index: its top-level fields, and the parts
/// of those that are records (or unions holding one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldNames {
    /// The top-level fields, in order.
    pub fields: Vec<String>,
    /// The parts of top-level field `i`, when it is a compound.
    pub parts: HashMap<usize, Vec<String>>,
}

impl FieldNames {
    /// The names of `schema`, an event schema's JSON. Named records are
    /// found where they are defined and where they are referred to by name.
    pub fn of(schema: &Value) -> Self {
        let mut records: HashMap<String, Vec<String>> = HashMap::new();
        let mut names = Self::default();
        let Some(fields) = schema.get("fields").and_then(Value::as_array) else {
            return names;
        };
        for (index, field) in fields.iter().enumerate() {
            names.fields.push(
                field
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            );
            let kind = field.get("type").unwrap_or(&Value::Null);
            if let Some(parts) = record_parts(kind, &mut records) {
                names.parts.insert(index, parts);
            }
        }
        names
    }
}

/// The fields of the record `kind` is or holds (in a union), learning the
/// named records it defines on the way.
fn record_parts(kind: &Value, records: &mut HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    match kind {
        Value::Array(union) => union
            .iter()
            .filter_map(|member| record_parts(member, records))
            .next(),
        Value::String(name) => records
            .get(name)
            .or_else(|| records.get(name.rsplit('.').next().unwrap_or(name)))
            .cloned(),
        Value::Object(definition) if definition.get("type") == Some(&Value::from("record")) => {
            let parts: Vec<String> = definition
                .get("fields")
                .and_then(Value::as_array)
                .map(|fields| {
                    fields
                        .iter()
                        .filter_map(|field| field.get("name").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(name) = definition.get("name").and_then(Value::as_str) {
                records.insert(name.to_owned(), parts.clone());
                if let Some(namespace) = definition.get("namespace").and_then(Value::as_str) {
                    records.insert(format!("{namespace}.{name}"), parts.clone());
                }
            }
            Some(parts)
        }
        _ => None,
    }
}

/// The field names `encoded` stands for; why not, when an element is not a
/// bitmap of `names`' fields.
pub fn field_names(names: &FieldNames, encoded: &[&str]) -> Result<Vec<String>, String> {
    let mut decoded = Vec::new();
    for element in encoded {
        if let Some(hex) = element.strip_prefix("0x") {
            for bit in set_bits(hex)? {
                let name = names.fields.get(bit).ok_or_else(|| {
                    format!("`{element}` names field {bit}, which the schema lacks")
                })?;
                decoded.push(name.clone());
            }
        } else if let Some((parent, hex)) = element.split_once("-0x") {
            let parent: usize = parent
                .parse()
                .map_err(|_| format!("`{element}` is not `<field>-0x<bitmap>`"))?;
            let parts = names
                .parts
                .get(&parent)
                .ok_or_else(|| format!("`{element}` names field {parent}, which is no compound"))?;
            for bit in set_bits(hex)? {
                let part = parts.get(bit).ok_or_else(|| {
                    format!("`{element}` names part {bit} of field {parent}, which it lacks")
                })?;
                decoded.push(format!("{}.{part}", names.fields[parent]));
            }
        } else {
            // Not a bitmap: a name already (as CometD sends them).
            decoded.push((*element).to_owned());
        }
    }
    Ok(decoded)
}

/// The set bits of hexadecimal `hex`, read as one big-endian number, least
/// significant first.
pub fn set_bits(hex: &str) -> Result<Vec<usize>, String> {
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("`0x{hex}` is not hexadecimal"));
    }
    let mut bits = Vec::new();
    for (from_end, digit) in hex.chars().rev().enumerate() {
        let value = digit.to_digit(16).unwrap_or_default();
        for bit in 0..4 {
            if value & (1 << bit) != 0 {
                bits.push(from_end * 4 + bit);
            }
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn salesforces_example_bitmap_decodes_by_hand() {
        // 0x650004E0 = 0110 0101 0000 0000 0000 0100 1110 0000: bits 5, 6,
        // 7, 10, 24, 26, 29 and 30.
        assert_eq!(set_bits("650004E0").unwrap(), [5, 6, 7, 10, 24, 26, 29, 30]);
        assert_eq!(set_bits("10").unwrap(), [4]);
        assert_eq!(set_bits("06").unwrap(), [1, 2]);
        assert_eq!(set_bits("0100").unwrap(), [8]);
        assert_eq!(set_bits("06").unwrap(), set_bits("6").unwrap());
        assert!(set_bits("").is_err() && set_bits("xy").is_err());
    }

    /// An Account change event's schema, cut to the fields the example
    /// names: header, Name, Type, ParentId, BillingAddress (defined here),
    /// ShippingAddress (named), Phone, LastModifiedDate.
    fn account() -> FieldNames {
        let address = json!({"type": "record", "name": "Address", "namespace": "com.sforce.eventbus",
            "fields": [{"name": "Street"}, {"name": "City"}, {"name": "State"}, {"name": "PostalCode"},
                       {"name": "Country"}]});
        FieldNames::of(
            &json!({"type": "record", "name": "AccountChangeEvent", "fields": [
                {"name": "ChangeEventHeader", "type": {"type": "record", "name": "ChangeEventHeader", "fields": []}},
                {"name": "Name", "type": ["null", "string"]},
                {"name": "Type", "type": ["null", "string"]},
                {"name": "ParentId", "type": ["null", "string"]},
                {"name": "BillingAddress", "type": ["null", address]},
                {"name": "ShippingAddress", "type": ["null", "com.sforce.eventbus.Address"]},
                {"name": "Phone", "type": ["null", "string"]},
                {"name": "LastModifiedDate", "type": ["null", "long"]},
            ]}),
        )
    }

    #[test]
    fn top_level_and_compound_fields_are_named() {
        let names = account();
        // 0xC2 = bits 1, 6 and 7: Name, Phone, LastModifiedDate.
        assert_eq!(
            field_names(&names, &["0xC2"]).unwrap(),
            ["Name", "Phone", "LastModifiedDate"]
        );
        // Parts 1 and 2 of BillingAddress, part 4 of ShippingAddress (by name).
        assert_eq!(
            field_names(&names, &["0x80", "4-0x06", "5-0x10"]).unwrap(),
            [
                "LastModifiedDate",
                "BillingAddress.City",
                "BillingAddress.State",
                "ShippingAddress.Country"
            ]
        );
        assert!(field_names(&names, &[]).unwrap().is_empty());
        // Names as CometD sends them pass through.
        assert_eq!(field_names(&names, &["Phone"]).unwrap(), ["Phone"]);
    }

    #[test]
    fn bits_beyond_the_schema_are_errors() {
        let names = account();
        assert!(
            field_names(&names, &["0x0100"])
                .unwrap_err()
                .contains("field 8")
        );
        assert!(
            field_names(&names, &["1-0x01"])
                .unwrap_err()
                .contains("no compound")
        );
        assert!(
            field_names(&names, &["4-0x80"])
                .unwrap_err()
                .contains("part 7")
        );
        assert!(field_names(&names, &["0xZZ"]).is_err());
    }
}
