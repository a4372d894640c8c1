//! The org's records: created, read, updated, upserted and deleted with the
//! checks Salesforce makes, and the fields it fills itself.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::RecordId;
use crate::schema::{Field, FieldType, Object, Schema};
use crate::values::{self, coerce};
use capture::{Captured, CapturedChange, ChangeKind, PublishedEvent};
use index::ValueIndex;

/// A record's fields by API name.
pub type Fields = Map<String, Value>;

/// The org id an emulator reports (Outbound Messages, token ids) unless
/// its [`Config`](crate::Config) names another.
pub const ORG_ID: &str = "00D5g000004EmuLEAS";

/// The id of the `n`th of several emulated orgs in one process: the first
/// is [`ORG_ID`], the others distinct 18-character `00D` ids.
pub fn nth_org_id(n: u64) -> String {
    if n == 0 {
        ORG_ID.to_owned()
    } else {
        crate::ids::RecordId::new("00D", n).to_string()
    }
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// No record matched: one was created.
    Created(RecordId),
    /// One record matched and was updated.
    Updated(RecordId),
}

/// A record written, as workflow rules (Outbound Messages) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its object.
    pub object: String,
    /// The record.
    pub id: RecordId,
    /// Whether it was created (else updated).
    pub created: bool,
}

/// The records and the data model.
#[derive(Clone)]
pub struct Org {
    schema: Schema,
    records: BTreeMap<RecordId, Fields>,
    next_number: u64,
    user: RecordId,
    /// The writes since they were last taken, kept only once something
    /// watches them (an Outbound Message rule), so that they never pile up.
    changes: Option<Vec<Change>>,
    /// The writes and platform events the event bus has not taken yet,
    /// kept only once it watches them.
    captured: Option<Vec<Captured>>,
    /// Counts writes, so that a saver knows when there is something new.
    version: u64,
    /// The records by unique and external id values; `None` until the next
    /// write after the schema or the records were replaced.
    index: Option<ValueIndex>,
    /// Counts changes to the data model.
    schema_version: u64,
    /// The time writes are stamped with, when pinned.
    clock: Option<DateTime<Utc>>,
}

impl Org {
    /// An org with `schema` and one user, the integration user every write
    /// is made by.
    pub fn new(schema: Schema) -> Self {
        let mut org = Self {
            schema,
            records: BTreeMap::new(),
            next_number: 0,
            user: RecordId::new("005", 0),
            changes: None,
            captured: None,
            version: 0,
            index: None,
            schema_version: 0,
            clock: None,
        };
        let user = org.next_id("005");
        org.user = user.clone();
        let mut fields = Fields::new();
        for (name, value) in [
            ("Username", "integration@gust.example"),
            ("LastName", "Integration"),
            ("FirstName", "Gust"),
            ("Email", "integration@gust.example"),
            ("Alias", "gust"),
        ] {
            fields.insert(name.to_owned(), json!(value));
        }
        org.insert_new("User", user, fields);
        org
    }

    /// Pins the time the audit fields (`CreatedDate`, `LastModifiedDate`,
    /// `SystemModstamp`) are stamped with, as records saved in one
    /// transaction share it; `None` goes back to the clock.
    pub fn pin_clock(&mut self, at: Option<DateTime<Utc>>) {
        self.clock = at.map(|at| at.trunc_subsecs(3));
    }

    /// The time a write now is stamped with.
    fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(values::now)
    }

    /// A number that grows with every write.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The records (deleted ones too) and the Id counter, to save.
    pub fn snapshot(&self) -> Value {
        json!({ "next_number": self.next_number, "records": self.records.values().collect::<Vec<_>>() })
    }

    /// Replaces the records with those of a [`Org::snapshot`].
    pub fn restore(&mut self, snapshot: &Value) -> Result<(), String> {
        let next_number = snapshot["next_number"]
            .as_u64()
            .ok_or("the saved org has no Id counter")?;
        let mut records = BTreeMap::new();
        for record in snapshot["records"]
            .as_array()
            .ok_or("the saved org has no records")?
        {
            let fields = record
                .as_object()
                .ok_or("a saved record is not an object")?;
            let id = fields
                .get("Id")
                .and_then(Value::as_str)
                .and_then(RecordId::parse)
                .ok_or("a saved record has no valid Id")?;
            records.insert(id, fields.clone());
        }
        self.records = records;
        self.next_number = next_number;
        self.index = None;
        if let Some(changes) = &mut self.changes {
            changes.clear();
        }
        if let Some(captured) = &mut self.captured {
            captured.clear();
        }
        Ok(())
    }

    /// Keeps every write and platform event from now on, for
    /// [`Org::take_captured`] (the event bus).
    pub fn capture_writes(&mut self) {
        self.captured.get_or_insert_with(Vec::new);
    }

    /// The writes and platform events since the last call, in order.
    pub fn take_captured(&mut self) -> Vec<Captured> {
        self.captured
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn capture_change(&mut self, object: &str, id: &RecordId, kind: ChangeKind, values: Fields) {
        let at = self.now();
        let user = self.user.clone();
        if let Some(captured) = &mut self.captured {
            captured.push(Captured::Change(CapturedChange {
                object: object.to_owned(),
                id: id.clone(),
                kind,
                fields: values,
                at,
                user,
            }));
        }
    }

    /// The records created or updated since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Keeps the writes from now on, for [`Org::take_changes`].
    pub fn watch_changes(&mut self) {
        self.changes.get_or_insert_with(Vec::new);
    }

    fn record_change(&mut self, object: &str, id: &RecordId, created: bool) {
        if let Some(changes) = &mut self.changes {
            changes.push(Change {
                object: object.to_owned(),
                id: id.clone(),
                created,
            });
        }
    }

    /// The data model.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The data model, to add custom objects and fields to.
    pub fn schema_mut(&mut self) -> &mut Schema {
        self.index = None;
        self.schema_version += 1;
        &mut self.schema
    }

    /// A number that grows whenever the data model may have changed.
    pub fn schema_version(&self) -> u64 {
        self.schema_version
    }

    /// The integration user's Id.
    pub fn user(&self) -> &RecordId {
        &self.user
    }

    /// The object named `name`, or 404 NOT_FOUND.
    pub fn object(&self, name: &str) -> Result<&Object, ApiError> {
        self.schema
            .object(name)
            .ok_or_else(|| ApiError::unknown_object(name))
    }

    /// Record `id` of `object`, unless deleted.
    pub fn get(&self, object: &str, id: &RecordId) -> Option<&Fields> {
        let object = self.schema.object(object)?;
        (id.key_prefix() == object.key_prefix)
            .then(|| self.records.get(id))
            .flatten()
            .filter(|fields| !is_deleted(fields))
    }

    /// Every record of `object`, deleted ones too when `all`, in Id order.
    pub fn records<'a>(
        &'a self,
        object: &'a Object,
        all: bool,
    ) -> impl Iterator<Item = &'a Fields> + 'a {
        self.records
            .iter()
            .filter(move |(id, fields)| {
                id.key_prefix() == object.key_prefix && (all || !is_deleted(fields))
            })
            .map(|(_, fields)| fields)
    }

    /// Any record, whatever its object, unless deleted.
    pub fn record(&self, id: &RecordId) -> Option<&Fields> {
        self.records.get(id).filter(|fields| !is_deleted(fields))
    }

    /// The Ids of the records of `object` whose `field` equals `value`
    /// (text compared without regard to case, as external ids are).
    pub fn find_by(&self, object: &Object, field: &Field, value: &Value) -> Vec<RecordId> {
        if let Some(found) = self
            .index
            .as_ref()
            .and_then(|index| index.find(&object.name, &field.name, value))
        {
            return found;
        }
        self.records(object, false)
            .filter(|fields| same_value(fields.get(&field.name), value))
            .filter_map(|fields| fields.get("Id")?.as_str().and_then(RecordId::parse))
            .collect()
    }

    /// Creates a record of `object` from the fields of `body`.
    pub fn create(&mut self, object: &str, body: &Fields) -> Result<RecordId, ApiError> {
        self.build_index();
        let object = self.object(object)?.clone();
        let mut fields = self.checked_fields(&object, body, Write::Create)?;
        if object.is_platform_event() {
            return Ok(self.publish(&object, fields));
        }
        for field in &object.fields {
            if !fields.contains_key(&field.name)
                && let Some(default) = &field.default_value
            {
                fields.insert(field.name.clone(), default.clone());
            }
        }
        if let Some(owner) = object.field("OwnerId")
            && fields.get(&owner.name).is_none_or(Value::is_null)
        {
            fields.insert(owner.name.clone(), json!(self.user.to_string()));
        }
        let missing: Vec<String> = object
            .fields
            .iter()
            .filter(|field| {
                field.is_required() && fields.get(&field.name).is_none_or(Value::is_null)
            })
            .map(|field| field.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", missing.join(", ")),
            )
            .with_fields(missing));
        }
        self.check_unique(&object, &fields, None)?;
        let id = self.next_id(&object.key_prefix);
        self.insert_new(&object.name, id.clone(), fields);
        Ok(id)
    }

    /// Publishes a platform event of `object` (an `__e` object): nothing is
    /// stored, the event bus is told. Its Id is new, as Salesforce's are.
    fn publish(&mut self, object: &Object, fields: Fields) -> RecordId {
        let id = self.next_id(&object.key_prefix);
        let at = self.now();
        let user = self.user.clone();
        if let Some(captured) = &mut self.captured {
            captured.push(Captured::Event(PublishedEvent {
                object: object.name.clone(),
                uuid: crate::pubsub::random_uuid(),
                fields,
                at,
                user,
            }));
        }
        id
    }

    /// Updates record `id` of `object` with the fields of `body`.
    pub fn update(&mut self, object: &str, id: &RecordId, body: &Fields) -> Result<(), ApiError> {
        self.build_index();
        let object = self.object(object)?.clone();
        if self.get(&object.name, id).is_none() {
            return Err(ApiError::not_found());
        }
        let changes = self.checked_fields(&object, body, Write::Update)?;
        let cleared: Vec<String> = object
            .fields
            .iter()
            .filter(|field| !field.nillable && changes.get(&field.name).is_some_and(Value::is_null))
            .map(|field| field.name.clone())
            .collect();
        if !cleared.is_empty() {
            return Err(ApiError::bad_request(
                "REQUIRED_FIELD_MISSING",
                format!("Required fields are missing: [{}]", cleared.join(", ")),
            )
            .with_fields(cleared));
        }
        self.check_unique(&object, &changes, Some(id))?;
        let user = self.user.to_string();
        let now = self.now();
        let Some(fields) = self.records.get_mut(id) else {
            return Err(ApiError::not_found());
        };
        if let Some(index) = &mut self.index {
            index.remove(&object.name, id, fields);
        }
        let before = self.captured.is_some().then(|| fields.clone());
        fields.extend(changes);
        stamp(fields, &user, now, false);
        derive(&object, fields);
        if let Some(index) = &mut self.index {
            index.insert(&object.name, id, fields);
        }
        if let Some(before) = before {
            let order = object.fields.iter().map(|field| field.name.as_str());
            let values = capture::differences(order, &before, fields);
            self.capture_change(&object.name, id, ChangeKind::Update, values);
        }
        self.record_change(&object.name, id, false);
        self.version += 1;
        Ok(())
    }

    /// Upserts a record of `object` matched on external id `field` =
    /// `value`: 300 with the matches' URLs when several match.
    pub fn upsert(
        &mut self,
        object: &str,
        field: &str,
        value: &str,
        body: &Fields,
        version: &str,
    ) -> Result<Upserted, ExternalIdError> {
        self.build_index();
        let object = self.object(object)?.clone();
        let external = object
            .field(field)
            .filter(|f| f.external_id || f.kind == FieldType::Id)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!(
                        "Provided external ID field does not exist or is not accessible: {field}"
                    ),
                )
            })?
            .clone();
        if external.kind == FieldType::Id {
            let id = RecordId::parse(value).ok_or_else(|| malformed_id(value))?;
            self.update(&object.name, &id, body)?;
            return Ok(Upserted::Updated(id));
        }
        let key = coerce(&external, &json!(value))?;
        if let Some(given) = body
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&external.name))
            && !same_value(Some(given.1), &key)
        {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!(
                    "The value of the external ID field {} in the body does not match the value in the URL",
                    external.name
                ),
            )
            .into());
        }
        match self.find_by(&object, &external, &key).as_slice() {
            [] => {
                let mut fields = body.clone();
                fields.retain(|k, _| !k.eq_ignore_ascii_case(&external.name));
                fields.insert(external.name.clone(), key);
                Ok(Upserted::Created(self.create(&object.name, &fields)?))
            }
            [id] => {
                let id = id.clone();
                let mut fields = body.clone();
                fields.retain(|k, _| !k.eq_ignore_ascii_case(&external.name));
                self.update(&object.name, &id, &fields)?;
                Ok(Upserted::Updated(id))
            }
            several => Err(ExternalIdError::Multiple(
                several
                    .iter()
                    .map(|id| format!("/services/data/{version}/sobjects/{}/{id}", object.name))
                    .collect(),
            )),
        }
    }

    /// Deletes record `id` of `object` (it stays visible to queryAll).
    pub fn delete(&mut self, object: &str, id: &RecordId) -> Result<(), ApiError> {
        self.build_index();
        let object = self.object(object)?.name.clone();
        let key_prefix = self.object(&object)?.key_prefix.clone();
        let user = self.user.to_string();
        let now = self.now();
        match self
            .records
            .get_mut(id)
            .filter(|_| id.key_prefix() == key_prefix)
        {
            None => Err(ApiError::not_found()),
            Some(fields) if is_deleted(fields) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ENTITY_IS_DELETED",
                "entity is deleted",
            )),
            Some(fields) => {
                if let Some(index) = &mut self.index {
                    index.remove(&object, id, fields);
                }
                fields.insert("IsDeleted".to_owned(), json!(true));
                stamp(fields, &user, now, false);
                self.version += 1;
                self.capture_change(&object, id, ChangeKind::Delete, Fields::new());
                Ok(())
            }
        }
    }

    /// Restores deleted record `id` of `object` from the recycle bin.
    pub fn undelete(&mut self, object: &str, id: &RecordId) -> Result<(), ApiError> {
        self.build_index();
        let object = self.object(object)?.name.clone();
        let user = self.user.to_string();
        let now = self.now();
        let fields = match self.records.get_mut(id) {
            Some(fields) if is_deleted(fields) => fields,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "UNDELETE_FAILED",
                    "Entity is not in the recycle bin",
                ));
            }
            None => return Err(ApiError::not_found()),
        };
        fields.insert("IsDeleted".to_owned(), json!(false));
        stamp(fields, &user, now, false);
        let values = capture::filled(fields);
        if let Some(index) = &mut self.index {
            index.insert(&object, id, &values);
        }
        self.version += 1;
        self.capture_change(&object, id, ChangeKind::Undelete, values);
        Ok(())
    }

    /// Builds the index of unique and external id values, if stale.
    fn build_index(&mut self) {
        if self.index.is_none() {
            self.index = Some(ValueIndex::build(&self.schema, &self.records));
        }
    }

    fn next_id(&mut self, key_prefix: &str) -> RecordId {
        self.next_number += 1;
        RecordId::new(key_prefix, self.next_number)
    }

    fn insert_new(&mut self, object: &str, id: RecordId, mut fields: Fields) {
        let Some(object) = self.schema.object(object) else {
            return;
        };
        fields.insert("Id".to_owned(), json!(id.to_string()));
        fields.insert("IsDeleted".to_owned(), json!(false));
        stamp(&mut fields, &self.user.to_string(), self.now(), true);
        for field in &object.fields {
            if field.name == "CaseNumber" || field.name == "OrderNumber" {
                fields.insert(
                    field.name.clone(),
                    json!(format!("{:08}", 1000 + self.next_number)),
                );
            }
        }
        derive(object, &mut fields);
        let object = object.name.clone();
        self.record_change(&object, &id, true);
        if self.captured.is_some() {
            let values = capture::filled(&fields);
            self.capture_change(&object, &id, ChangeKind::Create, values);
        }
        if let Some(index) = &mut self.index {
            index.insert(&object, &id, &fields);
        }
        self.records.insert(id, fields);
        self.version += 1;
    }

    /// The fields of `body` checked for `object`: known, writable, of the
    /// right type, references to records that exist.
    fn checked_fields(
        &self,
        object: &Object,
        body: &Fields,
        write: Write,
    ) -> Result<Fields, ApiError> {
        let mut fields = Fields::new();
        for (name, value) in body {
            if name == "attributes" {
                continue;
            }
            if name.eq_ignore_ascii_case("Id") {
                if write == Write::Create {
                    return Err(ApiError::bad_request(
                        "INVALID_FIELD",
                        "The Id field should not be specified in the sobject data.",
                    ));
                }
                continue;
            }
            let field = object.field(name).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_FIELD",
                    format!("No such column '{name}' on sobject of type {}", object.name),
                )
            })?;
            let writable = match write {
                Write::Create => field.createable,
                Write::Update => field.updateable,
            };
            if !writable {
                return Err(ApiError::bad_request(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                )
                .with_fields(vec![field.name.clone()]));
            }
            let value = coerce(field, value)?;
            if field.kind == FieldType::Reference
                && let Some(target) = value.as_str()
            {
                self.check_reference(field, target)?;
            }
            fields.insert(field.name.clone(), value);
        }
        Ok(fields)
    }

    fn check_reference(&self, field: &Field, target: &str) -> Result<(), ApiError> {
        let exists = RecordId::parse(target).is_some_and(|id| {
            self.record(&id).is_some()
                && self
                    .schema
                    .object_by_prefix(id.key_prefix())
                    .is_some_and(|object| {
                        field
                            .reference_to
                            .iter()
                            .any(|to| to.eq_ignore_ascii_case(&object.name))
                    })
        });
        if exists {
            return Ok(());
        }
        Err(ApiError::bad_request(
            "INVALID_CROSS_REFERENCE_KEY",
            format!("{}: id value of incorrect type: {target}", field.label),
        )
        .with_fields(vec![field.name.clone()]))
    }

    fn check_unique(
        &self,
        object: &Object,
        fields: &Fields,
        this: Option<&RecordId>,
    ) -> Result<(), ApiError> {
        for field in object.fields.iter().filter(|f| f.unique) {
            let Some(value) = fields.get(&field.name).filter(|v| !v.is_null()) else {
                continue;
            };
            let clash = self
                .find_by(object, field, value)
                .into_iter()
                .find(|id| Some(id) != this);
            if let Some(clash) = clash {
                return Err(ApiError::bad_request(
                    "DUPLICATE_VALUE",
                    format!(
                        "duplicate value found: {} duplicates value on record with id: {clash}",
                        field.name
                    ),
                )
                .with_fields(vec![field.name.clone()]));
            }
        }
        Ok(())
    }
}

/// Why a request addressed by external id failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalIdError {
    /// A Salesforce error.
    Api(ApiError),
    /// Several records matched: their URLs (answered with 300).
    Multiple(Vec<String>),
}

impl From<ApiError> for ExternalIdError {
    fn from(error: ApiError) -> Self {
        Self::Api(error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Create,
    Update,
}

/// 404 NOT_FOUND for a path segment that is not an Id: Salesforce reads it
/// as the name of an external id field.
pub fn malformed_id(segment: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Provided external ID field does not exist or is not accessible: {segment}"),
    )
}

fn is_deleted(fields: &Fields) -> bool {
    fields.get("IsDeleted").and_then(Value::as_bool) == Some(true)
}

fn same_value(stored: Option<&Value>, value: &Value) -> bool {
    match (stored, value) {
        (Some(Value::String(a)), Value::String(b)) => a.eq_ignore_ascii_case(b),
        (Some(a), b) => a == b,
        (None, _) => false,
    }
}

/// Sets the audit fields: all of them on create, the modification ones on
/// update.
fn stamp(fields: &mut Fields, user: &str, now: DateTime<Utc>, created: bool) {
    let now = json!(values::format_datetime(now));
    if created {
        fields.insert("CreatedDate".to_owned(), now.clone());
        fields.insert("CreatedById".to_owned(), json!(user));
    }
    fields.insert("LastModifiedDate".to_owned(), now.clone());
    fields.insert("LastModifiedById".to_owned(), json!(user));
    fields.insert("SystemModstamp".to_owned(), now);
}

/// Fields Salesforce computes from others.
fn derive(object: &Object, fields: &mut Fields) {
    let text =
        |fields: &Fields, name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    if object.field("FirstName").is_some() && object.field("Name").is_some_and(|f| !f.createable) {
        let name = [text(fields, "FirstName"), text(fields, "LastName")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        fields.insert("Name".to_owned(), json!(name));
    }
    match object.name.as_str() {
        "Opportunity" => {
            let stage = text(fields, "StageName").unwrap_or_default();
            fields.insert("IsClosed".to_owned(), json!(stage.starts_with("Closed")));
            fields.insert("IsWon".to_owned(), json!(stage == "Closed Won"));
        }
        "Case" => {
            let closed = text(fields, "Status").as_deref() == Some("Closed");
            fields.insert("IsClosed".to_owned(), json!(closed));
            if closed && fields.get("ClosedDate").is_none_or(Value::is_null) {
                fields.insert(
                    "ClosedDate".to_owned(),
                    json!(values::format_datetime(values::now())),
                );
            }
        }
        "Task" => {
            let closed = text(fields, "Status").as_deref() == Some("Completed");
            fields.insert("IsClosed".to_owned(), json!(closed));
        }
        _ => {}
    }
}

pub mod capture;
mod index;
#[cfg(test)]
mod tests;
