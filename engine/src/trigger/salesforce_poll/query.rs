//! The SOQL a poll sends, and the records it reads back.
//!
//! Records are read in keyset order: by the stamp field, then by Id, each
//! page starting strictly after the last record of the one before
//! (`Stamp > t OR (Stamp = t AND Id > 'id')`), never with OFFSET. Records
//! that share one stamp across a page boundary are neither skipped nor
//! read twice, and a page costs the same wherever it starts.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use gust_outbound::FieldType;
use serde_json::{Map, Value};

use super::config::{RecordChange, SalesforcePollTrigger};
use super::cursor::Position;

/// The most records one query page asks for (REST's largest batch).
pub(super) const PAGE_SIZE: usize = 2000;

/// A poll's queries.
#[derive(Debug, Clone)]
pub(super) struct Queries {
    sobject: String,
    on: RecordChange,
    fields: Vec<String>,
    condition: Option<String>,
}

impl Queries {
    pub(super) fn new(trigger: &SalesforcePollTrigger) -> Self {
        let stamp = trigger.on.stamp_field();
        let mut fields = vec!["Id".to_owned(), stamp.to_owned()];
        for field in &trigger.fields {
            if !fields.iter().any(|known| known.eq_ignore_ascii_case(field)) {
                fields.push(field.clone());
            }
        }
        Self {
            sobject: trigger.sobject.clone(),
            on: trigger.on,
            fields,
            condition: trigger.condition.clone(),
        }
    }

    /// Whether the queries read deleted records (queryAll).
    pub(super) fn include_deleted(&self) -> bool {
        self.on == RecordChange::Deleted
    }

    fn stamp(&self) -> &'static str {
        self.on.stamp_field()
    }

    /// The conditions every query has: the workflow's, and for deleted
    /// records `IsDeleted = true`.
    fn filters(&self) -> Vec<String> {
        let mut filters = Vec::new();
        if let Some(condition) = &self.condition {
            filters.push(format!("({condition})"));
        }
        if self.include_deleted() {
            filters.push("IsDeleted = true".to_owned());
        }
        filters
    }

    fn select(&self, fields: &str, filters: &[String]) -> String {
        let mut soql = format!("SELECT {fields} FROM {}", self.sobject);
        if !filters.is_empty() {
            soql.push_str(" WHERE ");
            soql.push_str(&filters.join(" AND "));
        }
        soql
    }

    /// The next page after `after` (from the first record when `None`).
    pub(super) fn page(&self, after: Option<&Position>) -> String {
        let stamp = self.stamp();
        let mut filters = self.filters();
        filters.extend(after.map(|after| after.condition(stamp)));
        format!(
            "{} ORDER BY {stamp} ASC, Id ASC LIMIT {PAGE_SIZE}",
            self.select(&self.fields.join(", "), &filters)
        )
    }

    /// The last record, where a poll that reports no existing record starts.
    pub(super) fn latest(&self) -> String {
        let stamp = self.stamp();
        format!(
            "{} ORDER BY {stamp} DESC, Id DESC LIMIT 1",
            self.select(&format!("Id, {stamp}"), &self.filters())
        )
    }

    /// How many records a backfill from `from` reads.
    pub(super) fn count(&self, from: Option<&Position>) -> String {
        let mut filters = self.filters();
        filters.extend(from.map(|from| from.condition(self.stamp())));
        self.select("COUNT()", &filters)
    }

    /// Every record from `from`, for a Bulk API 2.0 query job (which takes
    /// no ORDER BY).
    pub(super) fn bulk(&self, from: Option<&Position>) -> String {
        let mut filters = self.filters();
        filters.extend(from.map(|from| from.condition(self.stamp())));
        self.select(&self.fields.join(", "), &filters)
    }

    /// Where `record` is in the poll's order; `None` when it has no Id or
    /// stamp Salesforce would write.
    pub(super) fn position(&self, record: &Value) -> Option<Position> {
        let id = record.get("Id")?.as_str()?;
        let stamp = parse_datetime(record.get(self.stamp())?.as_str()?)?;
        Position::new(stamp, id)
    }

    /// The dedupe key of `record` at `position`: its Id for a new record,
    /// its Id and stamp for a save or a deletion (a record saved twice is
    /// reported twice).
    pub(super) fn key(&self, position: &Position) -> String {
        match self.on {
            RecordChange::Created => position.id.clone(),
            RecordChange::Updated | RecordChange::Deleted => {
                format!("{}/{}", position.id, format_stamp(position.stamp))
            }
        }
    }

    /// A row of a Bulk API 2.0 query (text values, dotted names for parent
    /// fields) shaped like a REST record without its `attributes`: values
    /// typed as the describe's `field_types` (by lower-cased name) say,
    /// parent fields nested.
    pub(super) fn record_from_row(
        row: Map<String, Value>,
        field_types: &HashMap<String, FieldType>,
    ) -> Value {
        let mut record = Map::new();
        for (name, value) in row {
            let value = match value {
                Value::String(text) => {
                    let field_type = field_types.get(&name.to_ascii_lowercase()).copied();
                    gust_outbound::typed(text, field_type)
                }
                other => other,
            };
            insert_path(&mut record, &name, value);
        }
        Value::Object(record)
    }
}

/// Puts `value` at the dotted `path` of `record` (`Owner.Name` in an
/// `Owner` object); a null parent stays null.
fn insert_path(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_owned(), value);
        }
        Some((parent, rest)) => {
            let entry = record.entry(parent.to_owned()).or_insert(Value::Null);
            if entry.is_null() {
                if value.is_null() {
                    return;
                }
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(parent) = entry {
                insert_path(parent, rest, value);
            }
        }
    }
}

/// A stamp as SOQL and dedupe keys write it: UTC, to the millisecond.
pub(super) fn format_stamp(stamp: DateTime<Utc>) -> String {
    stamp.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A datetime as Salesforce writes it (`2026-11-22T10:00:00.000+0000`),
/// or in RFC 3339.
pub(super) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn queries(trigger: Value) -> Queries {
        Queries::new(&serde_json::from_value(trigger).unwrap())
    }

    fn at(stamp: &str, id: &str) -> Position {
        Position::new(parse_datetime(stamp).unwrap(), id).unwrap()
    }

    #[test]
    fn pages_follow_the_keyset_of_stamp_then_id() {
        let created = queries(json!({
            "sobject": "Lead", "on": "created", "fields": ["Email", "id"],
            "where": "LeadSource = 'Web' OR Rating = 'Hot'"
        }));
        assert_eq!(
            created.page(None),
            "SELECT Id, CreatedDate, Email FROM Lead WHERE (LeadSource = 'Web' OR Rating = 'Hot') ORDER BY CreatedDate ASC, Id ASC LIMIT 2000"
        );
        assert_eq!(
            created.page(Some(&at(
                "2026-11-22T10:00:00.120+0000",
                "00Q5g00000A1b2CEAR"
            ))),
            "SELECT Id, CreatedDate, Email FROM Lead WHERE (LeadSource = 'Web' OR Rating = 'Hot') AND (CreatedDate > 2026-11-22T10:00:00.120Z OR (CreatedDate = 2026-11-22T10:00:00.120Z AND Id > '00Q5g00000A1b2CEAR')) ORDER BY CreatedDate ASC, Id ASC LIMIT 2000"
        );
        let deleted = queries(json!({ "sobject": "Contact", "on": "deleted" }));
        assert!(deleted.include_deleted());
        // A position with no Id takes every record of its stamp.
        assert_eq!(
            deleted.page(Some(&Position::from_time(
                parse_datetime("2026-01-01T00:00:00Z").unwrap()
            ))),
            "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true AND SystemModstamp >= 2026-01-01T00:00:00.000Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000"
        );
        assert_eq!(
            deleted.latest(),
            "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true ORDER BY SystemModstamp DESC, Id DESC LIMIT 1"
        );
        assert_eq!(
            deleted.count(None),
            "SELECT COUNT() FROM Contact WHERE IsDeleted = true"
        );
        assert_eq!(
            deleted.bulk(None),
            "SELECT Id, SystemModstamp FROM Contact WHERE IsDeleted = true"
        );
    }

    #[test]
    fn keys_tell_saves_of_one_record_apart_but_not_its_creation() {
        let position = at("2026-11-22T10:00:00.120+0000", "00Q5g00000A1b2CEAR");
        let key = |on: &str| queries(json!({ "sobject": "Lead", "on": on })).key(&position);
        assert_eq!(key("created"), "00Q5g00000A1b2CEAR");
        assert_eq!(
            key("updated"),
            "00Q5g00000A1b2CEAR/2026-11-22T10:00:00.120Z"
        );
        assert_eq!(
            key("deleted"),
            "00Q5g00000A1b2CEAR/2026-11-22T10:00:00.120Z"
        );
    }

    #[test]
    fn records_are_placed_by_their_stamp_and_id() {
        let updated = queries(json!({ "sobject": "Lead", "on": "updated" }));
        let record =
            json!({ "Id": "00Q5g00000A1b2CEAR", "SystemModstamp": "2026-11-22T10:00:00.120+0000" });
        assert_eq!(
            updated.position(&record),
            Some(at("2026-11-22T10:00:00.120Z", "00Q5g00000A1b2CEAR"))
        );
        assert_eq!(
            updated.position(&json!({ "Id": "00Q5g00000A1b2CEAR" })),
            None
        );
        // An Id that could break out of its quotes is not one.
        let hostile =
            json!({ "Id": "x' OR Id != '", "SystemModstamp": "2026-11-22T10:00:00.000+0000" });
        assert_eq!(updated.position(&hostile), None);
    }

    #[test]
    fn bulk_rows_read_like_rest_records() {
        let row: Map<String, Value> = serde_json::from_value(json!({
            "Id": "0065g00000A1b2CEAR",
            "CreatedDate": "2026-11-22T10:00:00.000Z",
            "Amount": "1200.5",
            "IsWon": "false",
            "Owner.Name": "Ada",
            "Account.Owner.Email": null,
        }))
        .unwrap();
        let types = HashMap::from([
            ("amount".to_owned(), FieldType::Number),
            ("iswon".to_owned(), FieldType::Boolean),
            ("createddate".to_owned(), FieldType::DateTime),
        ]);
        assert_eq!(
            Queries::record_from_row(row, &types),
            json!({
                "Id": "0065g00000A1b2CEAR",
                "CreatedDate": "2026-11-22T10:00:00.000+0000",
                "Amount": 1200.5,
                "IsWon": false,
                "Owner": { "Name": "Ada" },
                "Account": null,
            })
        );
    }
}
