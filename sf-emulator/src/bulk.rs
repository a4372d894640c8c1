//! Bulk API 2.0 jobs: ingest jobs (CSV uploaded, then processed into
//! successful, failed and unprocessed results) and query jobs (results in
//! CSV pages).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::RecordId;
use crate::org::{ExternalIdError, Fields, Org, Upserted};
use crate::schema::FieldType;
use crate::soql;
use crate::values;

/// An ingest operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Creates records.
    Insert,
    /// Updates records by Id.
    Update,
    /// Upserts records by an external id.
    Upsert,
    /// Deletes records by Id.
    Delete,
    /// Deletes records by Id, for good (the emulator deletes them alike).
    HardDelete,
}

impl Operation {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "insert" => Self::Insert,
            "update" => Self::Update,
            "upsert" => Self::Upsert,
            "delete" => Self::Delete,
            "hardDelete" => Self::HardDelete,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Upsert => "upsert",
            Self::Delete => "delete",
            Self::HardDelete => "hardDelete",
        }
    }
}

/// What every job has.
#[derive(Debug, Clone)]
struct Info {
    id: String,
    operation: String,
    object: String,
    created_by: String,
    created: String,
    modified: String,
    state: &'static str,
    api_version: f64,
    line_ending: String,
    delimiter: String,
    error: Option<String>,
}

impl Info {
    fn to_json(&self) -> Map<String, Value> {
        let mut info = Map::new();
        let mut put = |key: &str, value: Value| {
            info.insert(key.to_owned(), value);
        };
        put("id", json!(self.id));
        put("operation", json!(self.operation));
        put("object", json!(self.object));
        put("createdById", json!(self.created_by));
        put("createdDate", json!(self.created));
        put("systemModstamp", json!(self.modified));
        put("state", json!(self.state));
        put("concurrencyMode", json!("Parallel"));
        put("contentType", json!("CSV"));
        put("apiVersion", json!(self.api_version));
        info
    }

    fn touch(&mut self, state: &'static str) {
        self.state = state;
        self.modified = values::format_datetime(values::now());
    }
}

/// An ingest job.
#[derive(Debug, Clone)]
pub struct IngestJob {
    info: Info,
    operation: Operation,
    external_id: Option<String>,
    data: Vec<u8>,
    processed: usize,
    failed: usize,
    successful_csv: String,
    failed_csv: String,
    unprocessed_csv: String,
}

/// A query job, run when created.
#[derive(Debug, Clone)]
pub struct QueryJob {
    info: Info,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Every job, by id.
#[derive(Debug, Default)]
pub struct Jobs {
    next: u64,
    ingest: BTreeMap<String, IngestJob>,
    query: BTreeMap<String, QueryJob>,
}

/// The job info of an unknown job: 404 NOT_FOUND.
fn missing() -> ApiError {
    ApiError::not_found()
}

/// A job request Salesforce refuses.
fn invalid_job(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("INVALIDJOB", message)
}

fn delimiter_char(name: &str) -> Option<u8> {
    Some(match name {
        "COMMA" => b',',
        "TAB" => b'\t',
        "SEMICOLON" => b';',
        "PIPE" => b'|',
        "CARET" => b'^',
        "BACKQUOTE" => b'`',
        _ => return None,
    })
}

impl Jobs {
    fn next_id(&mut self) -> String {
        self.next += 1;
        RecordId::new("750", self.next).to_string()
    }

    fn info(
        &mut self,
        org: &Org,
        request: &Fields,
        operation: &str,
        object: &str,
        version: &str,
    ) -> Result<Info, ApiError> {
        let text = |key: &str| request.get(key).and_then(Value::as_str);
        let line_ending = text("lineEnding").unwrap_or("LF");
        if !matches!(line_ending, "LF" | "CRLF") {
            return Err(invalid_job(format!("Invalid lineEnding: {line_ending}")));
        }
        let delimiter = text("columnDelimiter").unwrap_or("COMMA");
        if delimiter_char(delimiter).is_none() {
            return Err(invalid_job(format!("Invalid columnDelimiter: {delimiter}")));
        }
        if text("contentType").is_some_and(|content| content != "CSV") {
            return Err(invalid_job("Invalid contentType: only CSV is supported"));
        }
        let now = values::format_datetime(values::now());
        Ok(Info {
            id: self.next_id(),
            operation: operation.to_owned(),
            object: object.to_owned(),
            created_by: org.user().to_string(),
            created: now.clone(),
            modified: now,
            state: "Open",
            api_version: version.trim_start_matches('v').parse().unwrap_or(60.0),
            line_ending: line_ending.to_owned(),
            delimiter: delimiter.to_owned(),
            error: None,
        })
    }

    /// `POST /jobs/ingest`.
    pub fn create_ingest(
        &mut self,
        org: &Org,
        request: &Fields,
        version: &str,
    ) -> Result<Value, ApiError> {
        let text = |key: &str| request.get(key).and_then(Value::as_str);
        let operation_name = text("operation").unwrap_or_default();
        let operation = Operation::parse(operation_name)
            .ok_or_else(|| invalid_job(format!("Invalid operation: {operation_name}")))?;
        let object_name = text("object").unwrap_or_default();
        let object = org.schema().object(object_name).ok_or_else(|| {
            invalid_job(format!(
                "Entity '{object_name}' is not supported by the Bulk API."
            ))
        })?;
        let external_id = text("externalIdFieldName").map(str::to_owned);
        if operation == Operation::Upsert && external_id.is_none() {
            return Err(invalid_job("External ID was blank for an upsert job"));
        }
        let info = self.info(org, request, operation.name(), &object.name, version)?;
        let id = info.id.clone();
        let job = IngestJob {
            info,
            operation,
            external_id,
            data: Vec::new(),
            processed: 0,
            failed: 0,
            successful_csv: String::new(),
            failed_csv: String::new(),
            unprocessed_csv: String::new(),
        };
        let answer = ingest_json(&job, version, false);
        self.ingest.insert(id, job);
        Ok(answer)
    }

    /// `PUT /jobs/ingest/{id}/batches`.
    pub fn upload(&mut self, id: &str, data: &[u8]) -> Result<(), ApiError> {
        let job = self.ingest.get_mut(id).ok_or_else(missing)?;
        if job.info.state != "Open" {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "INVALIDJOBSTATE",
                format!("Job {id} is not in the Open state: {}", job.info.state),
            ));
        }
        job.data.extend_from_slice(data);
        Ok(())
    }

    /// `PATCH /jobs/ingest/{id}`: `UploadComplete` processes the data,
    /// `Aborted` stops the job.
    pub fn set_state(
        &mut self,
        org: &mut Org,
        id: &str,
        state: &str,
        version: &str,
    ) -> Result<Value, ApiError> {
        let job = self.ingest.get_mut(id).ok_or_else(missing)?;
        if job.info.state != "Open" {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "INVALIDJOBSTATE",
                format!("Job {id} is not in the Open state: {}", job.info.state),
            ));
        }
        match state {
            "UploadComplete" => {
                job.info.touch("UploadComplete");
                let answer = ingest_json(job, version, false);
                process(org, job);
                Ok(answer)
            }
            "Aborted" => {
                job.info.touch("Aborted");
                Ok(ingest_json(job, version, false))
            }
            other => Err(ApiError::bad_request(
                "INVALIDJOBSTATE",
                format!("Invalid state: {other}"),
            )),
        }
    }

    /// `GET /jobs/ingest/{id}`.
    pub fn ingest_info(&self, id: &str, version: &str) -> Result<Value, ApiError> {
        let job = self.ingest.get(id).ok_or_else(missing)?;
        Ok(ingest_json(job, version, true))
    }

    /// One of an ingest job's result files.
    pub fn ingest_results(&self, id: &str, which: &str) -> Result<String, ApiError> {
        let job = self.ingest.get(id).ok_or_else(missing)?;
        Ok(match which {
            "successfulResults" => job.successful_csv.clone(),
            "failedResults" => job.failed_csv.clone(),
            _ => job.unprocessed_csv.clone(),
        })
    }

    /// `DELETE /jobs/ingest/{id}` or `/jobs/query/{id}`.
    pub fn delete(&mut self, id: &str) -> Result<(), ApiError> {
        let removed = self.ingest.remove(id).is_some() || self.query.remove(id).is_some();
        if removed { Ok(()) } else { Err(missing()) }
    }

    /// `POST /jobs/query`: runs the query at once.
    pub fn create_query(
        &mut self,
        org: &Org,
        request: &Fields,
        version: &str,
    ) -> Result<Value, ApiError> {
        let text = |key: &str| request.get(key).and_then(Value::as_str);
        let operation = text("operation").unwrap_or("query");
        if !matches!(operation, "query" | "queryAll") {
            return Err(invalid_job(format!("Invalid operation: {operation}")));
        }
        let query = text("query").ok_or_else(|| invalid_job("The query is missing"))?;
        let result = soql::run(org, query, operation == "queryAll", version)?;
        let header = result.columns;
        let rows = result
            .records
            .iter()
            .map(|record| {
                header
                    .iter()
                    .map(|column| csv_value(lookup(record, column)))
                    .collect()
            })
            .collect();
        let mut info = self.info(org, request, operation, &result.object, version)?;
        info.state = "UploadComplete";
        let answer = query_json(&info, 0, false);
        info.state = "JobComplete";
        let id = info.id.clone();
        self.query.insert(id, QueryJob { info, header, rows });
        Ok(answer)
    }

    /// `GET /jobs/query/{id}`.
    pub fn query_info(&self, id: &str) -> Result<Value, ApiError> {
        let job = self.query.get(id).ok_or_else(missing)?;
        Ok(query_json(&job.info, job.rows.len(), true))
    }

    /// A page of a query job's results: the CSV, how many records, and the
    /// locator of the next page (`None` on the last).
    pub fn query_results(
        &self,
        id: &str,
        locator: Option<&str>,
        max_records: Option<usize>,
    ) -> Result<(String, usize, Option<String>), ApiError> {
        let job = self.query.get(id).ok_or_else(missing)?;
        let start = match locator {
            None => 0,
            Some(locator) => decode_locator(locator)
                .filter(|start| *start <= job.rows.len())
                .ok_or_else(|| {
                    ApiError::bad_request("INVALIDLOCATOR", format!("Invalid locator: {locator}"))
                })?,
        };
        let count = max_records
            .unwrap_or(usize::MAX)
            .max(1)
            .min(job.rows.len() - start);
        let end = start + count;
        let delimiter = delimiter_char(&job.info.delimiter).unwrap_or(b',');
        let mut csv = csv_writer(delimiter, &job.info.line_ending);
        csv.write_record(&job.header).ok();
        for row in &job.rows[start..end] {
            csv.write_record(row).ok();
        }
        let text = String::from_utf8(csv.into_inner().unwrap_or_default()).unwrap_or_default();
        let next = (end < job.rows.len()).then(|| encode_locator(end));
        Ok((text, count, next))
    }
}

fn csv_writer(delimiter: u8, line_ending: &str) -> csv::Writer<Vec<u8>> {
    let terminator = if line_ending == "CRLF" {
        csv::Terminator::CRLF
    } else {
        csv::Terminator::Any(b'\n')
    };
    csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(terminator)
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new())
}

/// Locators as Salesforce's look: the next offset, base64 without padding.
fn encode_locator(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(offset.to_string())
}

fn decode_locator(locator: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(locator)
        .ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

fn ingest_json(job: &IngestJob, version: &str, full: bool) -> Value {
    let mut info = job.info.to_json();
    let mut put = |key: &str, value: Value| {
        info.insert(key.to_owned(), value);
    };
    let open = job.info.state == "Open";
    if full {
        put("jobType", json!("V2Ingest"));
    }
    if open {
        put(
            "contentUrl",
            json!(format!(
                "services/data/{version}/jobs/ingest/{}/batches",
                job.info.id
            )),
        );
    }
    if let Some(external_id) = &job.external_id {
        put("externalIdFieldName", json!(external_id));
    }
    if full || open {
        put("lineEnding", json!(job.info.line_ending));
        put("columnDelimiter", json!(job.info.delimiter));
    }
    if full {
        put("numberRecordsProcessed", json!(job.processed));
        put("numberRecordsFailed", json!(job.failed));
        put("retries", json!(0));
        put("totalProcessingTime", json!(0));
        put("apiActiveProcessingTime", json!(0));
        put("apexProcessingTime", json!(0));
        if let Some(error) = &job.info.error {
            put("errorMessage", json!(error));
        }
    }
    Value::Object(info)
}

fn query_json(info: &Info, processed: usize, full: bool) -> Value {
    let mut json = info.to_json();
    if full {
        json.insert("jobType".to_owned(), json!("V2Query"));
    }
    json.insert("lineEnding".to_owned(), json!(info.line_ending));
    json.insert("columnDelimiter".to_owned(), json!(info.delimiter));
    if full {
        json.insert("numberRecordsProcessed".to_owned(), json!(processed));
        json.insert("retries".to_owned(), json!(0));
        json.insert("totalProcessingTime".to_owned(), json!(0));
        json.insert("isPkChunkingSupported".to_owned(), json!(true));
    }
    Value::Object(json)
}

/// Processes an ingest job's CSV, row by row, each row on its own.
fn process(org: &mut Org, job: &mut IngestJob) {
    let delimiter = delimiter_char(&job.info.delimiter).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(job.data.as_slice());
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_owned).collect(),
        Err(error) => return fail(job, format!("InvalidBatch : {error}")),
    };
    let Some(object) = org.schema().object(&job.info.object).cloned() else {
        return fail(
            job,
            format!(
                "InvalidBatch : Entity '{}' is not supported",
                job.info.object
            ),
        );
    };
    if let Some(unknown) = header.iter().find(|name| object.field(name).is_none()) {
        return fail(
            job,
            format!("InvalidBatch : Field name not found : {unknown}"),
        );
    }
    let raw_header = header.join(&(delimiter as char).to_string());
    let mut successful = format!("\"sf__Id\",\"sf__Created\",{raw_header}\n");
    let mut failed = format!("\"sf__Id\",\"sf__Error\",{raw_header}\n");
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(error) => return fail(job, format!("InvalidBatch : {error}")),
        };
        let cells: Vec<String> = row.iter().map(str::to_owned).collect();
        let quoted = cells
            .iter()
            .map(|cell| format!("\"{}\"", cell.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",");
        job.processed += 1;
        match apply_row(org, job, &object, &header, &cells) {
            Ok((id, created)) => successful.push_str(&format!("\"{id}\",\"{created}\",{quoted}\n")),
            Err((id, error)) => {
                job.failed += 1;
                let fields = if error.fields.is_empty() {
                    String::new()
                } else {
                    error.fields.join(",") + " "
                };
                let message = format!("{}:{}:{fields}--", error.code, error.message);
                failed.push_str(&format!(
                    "\"{id}\",\"{}\",{quoted}\n",
                    message.replace('"', "\"\"")
                ));
            }
        }
    }
    job.successful_csv = successful;
    job.failed_csv = failed;
    job.unprocessed_csv = format!("{raw_header}\n");
    job.info.touch("JobComplete");
}

fn fail(job: &mut IngestJob, message: String) {
    job.info.error = Some(message);
    job.unprocessed_csv = String::from_utf8_lossy(&job.data).into_owned();
    job.info.touch("Failed");
}

/// Applies one row; the record's id and whether it was created, or the
/// id (if any) and the error.
fn apply_row(
    org: &mut Org,
    job: &IngestJob,
    object: &crate::schema::Object,
    header: &[String],
    cells: &[String],
) -> Result<(String, bool), (String, ApiError)> {
    let mut fields = Fields::new();
    let mut id_text = String::new();
    for (name, cell) in header.iter().zip(cells) {
        let Some(field) = object.field(name) else {
            continue;
        };
        if field.kind == FieldType::Id {
            id_text.clone_from(cell);
            continue;
        }
        let value = match cell.as_str() {
            // An empty cell leaves the field as it is; #N/A empties it.
            "" => continue,
            "#N/A" => Value::Null,
            text => match field.kind {
                FieldType::Boolean => match text.to_ascii_lowercase().as_str() {
                    "true" | "1" => json!(true),
                    "false" | "0" => json!(false),
                    _ => json!(text),
                },
                _ => json!(text),
            },
        };
        fields.insert(field.name.clone(), value);
    }
    let with_id = |error: ApiError| (id_text.clone(), error);
    let id = || {
        RecordId::parse(&id_text).ok_or_else(|| {
            ApiError::bad_request("MALFORMED_ID", format!("Id: invalid id: {id_text}"))
        })
    };
    match job.operation {
        Operation::Insert => org
            .create(&object.name, &fields)
            .map(|id| (id.to_string(), true))
            .map_err(with_id),
        Operation::Update => {
            let id = id().map_err(with_id)?;
            org.update(&object.name, &id, &fields)
                .map(|()| (id.to_string(), false))
                .map_err(with_id)
        }
        Operation::Delete | Operation::HardDelete => {
            let id = id().map_err(with_id)?;
            org.delete(&object.name, &id)
                .map(|()| (id.to_string(), false))
                .map_err(with_id)
        }
        Operation::Upsert => {
            let field = job.external_id.clone().unwrap_or_default();
            let key = fields
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&field))
                .and_then(|(_, value)| value.as_str().map(str::to_owned))
                .unwrap_or_default();
            match org.upsert(&object.name, &field, &key, &fields, "v60.0") {
                Ok(Upserted::Created(id)) => Ok((id.to_string(), true)),
                Ok(Upserted::Updated(id)) => Ok((id.to_string(), false)),
                Err(ExternalIdError::Api(error)) => Err(with_id(error)),
                Err(ExternalIdError::Multiple(_)) => Err(with_id(ApiError::bad_request(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("{field}: more than one record found for external id field: [{key}]"),
                ))),
            }
        }
    }
}

/// A column's value in a query result record (null past an empty parent).
fn lookup<'a>(record: &'a Value, column: &str) -> &'a Value {
    column
        .split('.')
        .try_fold(record, |value, part| value.get(part))
        .unwrap_or(&Value::Null)
}

fn csv_value(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn locators_look_like_salesforce_ones() {
        assert_eq!(encode_locator(10_000), "MTAwMDA");
        assert_eq!(encode_locator(200_000), "MjAwMDAw");
        assert_eq!(decode_locator("MTAwMDA"), Some(10_000));
        assert_eq!(decode_locator("not a locator!"), None);
    }

    #[test]
    fn an_ingest_job_reports_each_row() {
        let mut org = Org::new(Schema::standard());
        let mut jobs = Jobs::default();
        let request = json!({ "object": "Contact", "operation": "insert", "lineEnding": "LF" });
        let created = jobs
            .create_ingest(&org, request.as_object().unwrap(), "v60.0")
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        jobs.upload(&id, b"FirstName,LastName,Birthdate\nAda,Lovelace,1815-12-10\nNo,,\n\"Grace \"\"Amazing\"\"\",Hopper,1906-12-09\n").unwrap();
        jobs.set_state(&mut org, &id, "UploadComplete", "v60.0")
            .unwrap();
        let info = jobs.ingest_info(&id, "v60.0").unwrap();
        assert_eq!(
            (
                info["state"].clone(),
                info["numberRecordsProcessed"].clone(),
                info["numberRecordsFailed"].clone()
            ),
            (json!("JobComplete"), json!(3), json!(1))
        );
        let successful = jobs.ingest_results(&id, "successfulResults").unwrap();
        let lines: Vec<&str> = successful.lines().collect();
        assert_eq!(
            lines[0],
            "\"sf__Id\",\"sf__Created\",FirstName,LastName,Birthdate"
        );
        assert!(
            lines[1].starts_with("\"003")
                && lines[1].ends_with("\"true\",\"Ada\",\"Lovelace\",\"1815-12-10\""),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].ends_with(",\"Grace \"\"Amazing\"\"\",\"Hopper\",\"1906-12-09\""),
            "{}",
            lines[2]
        );
        let failed = jobs.ingest_results(&id, "failedResults").unwrap();
        assert_eq!(
            failed.lines().nth(1).unwrap(),
            "\"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --\",\"No\",\"\",\"\""
        );
        assert!(
            jobs.upload(&id, b"more").is_err(),
            "a processed job takes no more data"
        );
    }

    #[test]
    fn an_unknown_column_fails_the_job() {
        let mut org = Org::new(Schema::standard());
        let mut jobs = Jobs::default();
        let request = json!({ "object": "Account", "operation": "insert" });
        let id = jobs
            .create_ingest(&org, request.as_object().unwrap(), "v60.0")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        jobs.upload(&id, b"Name,Bogus\nA,B\n").unwrap();
        jobs.set_state(&mut org, &id, "UploadComplete", "v60.0")
            .unwrap();
        let info = jobs.ingest_info(&id, "v60.0").unwrap();
        assert_eq!(info["state"], json!("Failed"));
        assert_eq!(
            info["errorMessage"],
            json!("InvalidBatch : Field name not found : Bogus")
        );
        assert_eq!(
            jobs.ingest_results(&id, "unprocessedrecords").unwrap(),
            "Name,Bogus\nA,B\n"
        );
    }
}
