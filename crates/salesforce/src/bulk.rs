//! Bulk API 2.0: ingest jobs (CSV built from JSON records, the job polled
//! to its end, successful, failed and unprocessed rows merged back in input
//! order) and query jobs (CSV pages behind `Sforce-Locator`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Body, Call, Client};
use super::{Result, SalesforceError, WriteOperation, WriteOptions};

/// The first wait between polls of a job; it doubles up to [`POLL_MAX`].
const POLL_START: Duration = Duration::from_millis(50);
const POLL_MAX: Duration = Duration::from_secs(2);
/// The most bytes of CSV one ingest job takes (Salesforce: 150 MB after
/// base64, which it advises keeping to 100 MB of data).
const MAX_JOB_BYTES: usize = 100_000_000;
/// The most rows of one query results page.
const QUERY_PAGE_ROWS: usize = 10_000;

/// What Salesforce writes for "set this field to null" in a CSV cell.
const CSV_NULL: &str = "#N/A";

/// The rows of an ingest job, as sent.
struct IngestCsv {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl IngestCsv {
    /// The CSV of `records`: one column per field any record has (a nested
    /// object, a relationship by external id, is `Rel.Field`), an empty cell
    /// where a record lacks the field, `#N/A` for null.
    fn build(operation: WriteOperation, records: &[Value]) -> Result<Self> {
        let mut columns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut flat_rows = Vec::with_capacity(records.len());
        for record in records {
            let cells = if operation == WriteOperation::Delete {
                let id = record
                    .as_str()
                    .or_else(|| record["Id"].as_str())
                    .ok_or_else(|| {
                        SalesforceError::bad_request(format!(
                            "a record to delete is an Id or an object with an Id, not {record}"
                        ))
                    })?;
                vec![("Id".to_owned(), id.to_owned())]
            } else {
                flatten(record)?
            };
            for (column, _) in &cells {
                if !index.contains_key(column) {
                    index.insert(column.clone(), columns.len());
                    columns.push(column.clone());
                }
            }
            flat_rows.push(cells);
        }
        let rows = flat_rows
            .into_iter()
            .map(|cells| {
                let mut row = vec![String::new(); columns.len()];
                for (column, value) in cells {
                    row[index[&column]] = value;
                }
                row
            })
            .collect();
        Ok(Self { columns, rows })
    }

    fn to_bytes(&self) -> Result<Bytes> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let written = writer.write_record(&self.columns).and_then(|()| {
            self.rows
                .iter()
                .try_for_each(|row| writer.write_record(row))
        });
        written
            .map_err(|error| SalesforceError::bad_request(format!("cannot write CSV: {error}")))?;
        let bytes = writer
            .into_inner()
            .map_err(|error| SalesforceError::bad_request(format!("cannot write CSV: {error}")))?;
        if bytes.len() > MAX_JOB_BYTES {
            return Err(SalesforceError::bad_request(format!(
                "the records make {} bytes of CSV, more than one Bulk API 2.0 job takes ({MAX_JOB_BYTES})",
                bytes.len()
            )));
        }
        Ok(Bytes::from(bytes))
    }

    /// Maps the rows Salesforce echoes back to the input's positions:
    /// identical rows are interchangeable, so the first unclaimed one wins.
    fn positions(&self) -> HashMap<&[String], VecDeque<usize>> {
        let mut positions: HashMap<&[String], VecDeque<usize>> = HashMap::new();
        for (at, row) in self.rows.iter().enumerate() {
            positions.entry(row.as_slice()).or_default().push_back(at);
        }
        positions
    }
}

/// A record's fields as CSV cells.
fn flatten(record: &Value) -> Result<Vec<(String, String)>> {
    let Value::Object(fields) = record else {
        return Err(SalesforceError::bad_request(format!(
            "a record is a JSON object, not {record}"
        )));
    };
    let mut cells = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if name == "attributes" {
            continue;
        }
        match value {
            Value::Object(related) => {
                for (field, value) in related {
                    if field != "attributes" {
                        cells.push((format!("{name}.{field}"), cell(value)?));
                    }
                }
            }
            value => cells.push((name.clone(), cell(value)?)),
        }
    }
    Ok(cells)
}

fn cell(value: &Value) -> Result<String> {
    Ok(match value {
        Value::Null => CSV_NULL.to_owned(),
        Value::String(text) => text.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => {
            return Err(SalesforceError::bad_request(format!(
                "a Bulk API 2.0 field takes text, numbers, booleans or null, not {value}"
            )));
        }
    })
}

/// What a Bulk API 2.0 write tells of the ingest job it opens, so that a
/// write cut off (a process killed while the job ran) is followed to its
/// results by the next execution instead of writing its records twice.
/// Gust's call journal keeps the job; [`Untracked`] keeps nothing.
#[async_trait]
pub trait BulkJobs: Send + Sync {
    /// The job an earlier, cut-off execution of this same write opened.
    /// A job still open (its records perhaps not all uploaded) is aborted
    /// and one aborted before it processed anything is left; either way a
    /// new job is opened. Any other is followed to its results.
    fn earlier(&self) -> Option<String>;
    /// A job was opened, before any record is uploaded to it. An error
    /// aborts the job and fails the write.
    async fn opened(&self, job_id: &str) -> Result<()>;
}

/// Bulk jobs nobody keeps: every write opens its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct Untracked;

#[async_trait]
impl BulkJobs for Untracked {
    fn earlier(&self) -> Option<String> {
        None
    }

    async fn opened(&self, _job_id: &str) -> Result<()> {
        Ok(())
    }
}

impl Client {
    /// Writes `records` through one Bulk API 2.0 ingest job and returns one
    /// result per record, in input order, like sObject Collections'. The
    /// job is reported to `jobs` once opened, and an earlier one `jobs`
    /// names is followed instead of opening another.
    pub(crate) async fn bulk_write(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: &WriteOptions,
        jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        let csv = IngestCsv::build(operation, &records)?;
        drop(records);
        let data = csv.to_bytes()?;
        let mut job = json!({
            "object": sobject,
            "operation": operation_name(operation),
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        if operation == WriteOperation::Upsert
            && let Some(field) = &options.external_id_field
        {
            job["externalIdFieldName"] = json!(field);
        }
        let job_path = match self.earlier_job(jobs).await? {
            Some(path) => path,
            None => {
                let path = self.create_job("/jobs/ingest", &job).await?;
                let id = path.rsplit('/').next().unwrap_or_default();
                let uploaded = match jobs.opened(id).await {
                    Ok(()) => self.upload(&path, data).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = uploaded {
                    // Best effort: the first error is the one worth reporting.
                    self.abort_job(&path).await;
                    return Err(error);
                }
                path
            }
        };
        let state = self.poll_job(&job_path).await?;
        let mut bodies = Vec::with_capacity(RESULT_RESOURCES.len());
        for (kind, resource) in RESULT_RESOURCES {
            let answer = self
                .send(&Call::new(Method::GET, format!("{job_path}/{resource}")))
                .await?;
            bodies.push((kind, answer.body));
        }
        let bodies: Vec<(Outcome, &[u8])> = bodies
            .iter()
            .map(|(kind, body)| (*kind, body.as_ref()))
            .collect();
        results_in_order(&csv, &bodies, &state)
    }

    /// The path of the job an earlier execution of the write opened, if it
    /// is to be followed (see [`BulkJobs::earlier`]).
    async fn earlier_job(&self, jobs: &dyn BulkJobs) -> Result<Option<String>> {
        let Some(id) = jobs.earlier() else {
            return Ok(None);
        };
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(SalesforceError::bad_request(format!(
                "`{id}` is not a Bulk API 2.0 job id"
            )));
        }
        let path = format!("{}/{id}", self.data_path("/jobs/ingest"));
        let info: Value = self
            .send(&Call::new(Method::GET, path.clone()))
            .await?
            .json()?;
        let processed = info["numberRecordsProcessed"].as_u64().unwrap_or(0);
        match info["state"].as_str().unwrap_or_default() {
            "Open" => {
                // Nothing is processed before the upload is complete.
                self.abort_job(&path).await;
                Ok(None)
            }
            "Aborted" if processed == 0 => Ok(None),
            _ => Ok(Some(path)),
        }
    }

    /// Aborts the job at `job_path`, logging a failure.
    async fn abort_job(&self, job_path: &str) {
        let abort = json!({ "state": "Aborted" });
        if let Err(abort_error) = self
            .send(&Call::new(Method::PATCH, job_path).body(Body::json(&abort)))
            .await
        {
            tracing::warn!(%abort_error, job = %job_path, "Could not abort a Bulk API 2.0 job.");
        }
    }

    /// Creates a job under `jobs` (`/jobs/ingest` or `/jobs/query`) and
    /// returns its path.
    async fn create_job(&self, jobs: &str, job: &Value) -> Result<String> {
        let jobs = self.data_path(jobs);
        let created: Value = self
            .send(&Call::new(Method::POST, jobs.clone()).body(Body::json(job)))
            .await?
            .json()?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| SalesforceError::bad_response(200, "the new job has no id"))?;
        Ok(format!("{jobs}/{id}"))
    }

    async fn upload(&self, job_path: &str, data: Bytes) -> Result<()> {
        let put = Call::new(Method::PUT, format!("{job_path}/batches")).body(Body::Csv(data));
        self.send(&put).await?;
        let complete = json!({ "state": "UploadComplete" });
        self.send(&Call::new(Method::PATCH, job_path).body(Body::json(&complete)))
            .await?;
        Ok(())
    }

    /// Polls a job until it ends and returns its last info; a query job
    /// that failed or was aborted is an error.
    async fn poll_job(&self, job_path: &str) -> Result<Value> {
        let mut wait = POLL_START;
        loop {
            let info: Value = self.send(&Call::new(Method::GET, job_path)).await?.json()?;
            match info["state"].as_str().unwrap_or_default() {
                "JobComplete" | "Failed" | "Aborted" => return Ok(info),
                _ => {}
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(POLL_MAX);
        }
    }

    /// The pages of `soql` through a Bulk API 2.0 query job, each a list of
    /// records whose values are the CSV's text (an empty cell is null).
    pub fn bulk_query(&self, soql: &str, include_deleted: bool) -> BulkQueryPages {
        BulkQueryPages {
            client: self.clone(),
            soql: soql.to_owned(),
            include_deleted,
            job_path: None,
            locator: None,
            done: false,
        }
    }
}

fn operation_name(operation: WriteOperation) -> &'static str {
    match operation {
        WriteOperation::Insert => "insert",
        WriteOperation::Update => "update",
        WriteOperation::Upsert => "upsert",
        WriteOperation::Delete => "delete",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Unprocessed,
}

/// A finished ingest job's three results resources, by outcome.
const RESULT_RESOURCES: [(Outcome, &str); 3] = [
    (Outcome::Succeeded, "successfulResults/"),
    (Outcome::Failed, "failedResults/"),
    (Outcome::Unprocessed, "unprocessedrecords/"),
];

/// One result per row of `csv`, in its order, from the results CSVs of the
/// job (`job` its final state); a row no results CSV names fails with
/// `GUST_NO_RESULT`.
fn results_in_order(
    csv: &IngestCsv,
    bodies: &[(Outcome, &[u8])],
    job: &Value,
) -> Result<Vec<Value>> {
    let mut results: Vec<Option<Value>> = vec![None; csv.rows.len()];
    let mut positions = csv.positions();
    for (kind, body) in bodies {
        merge(csv, &mut positions, &mut results, *kind, body, job)?;
    }
    let unmatched = results.iter().filter(|r| r.is_none()).count();
    Ok(results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                failure(
                    Value::Null,
                    "GUST_NO_RESULT",
                    &format!(
                        "Bulk API 2.0 returned no result for this record ({unmatched} records unmatched)"
                    ),
                    &[],
                )
            })
        })
        .collect())
}

/// Places each row of one results CSV at its input position.
fn merge(
    csv: &IngestCsv,
    positions: &mut HashMap<&[String], VecDeque<usize>>,
    results: &mut [Option<Value>],
    kind: Outcome,
    body: &[u8],
    job: &Value,
) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let unreadable = unreadable_csv("the job's results");
    let header = reader.headers().map_err(unreadable)?.clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let original: Vec<Option<usize>> = csv.columns.iter().map(|c| column(c)).collect();
    let (id_at, created_at, error_at) =
        (column("sf__Id"), column("sf__Created"), column("sf__Error"));
    for row in reader.records() {
        let row = row.map_err(unreadable)?;
        let key: Vec<String> = original
            .iter()
            .map(|at| at.and_then(|at| row.get(at)).unwrap_or_default().to_owned())
            .collect();
        let Some(at) = positions
            .get_mut(key.as_slice())
            .and_then(VecDeque::pop_front)
        else {
            continue;
        };
        let cell = |at: Option<usize>| at.and_then(|at| row.get(at)).unwrap_or_default();
        let id = match cell(id_at) {
            "" => Value::Null,
            id => json!(id),
        };
        results[at] = Some(match kind {
            Outcome::Succeeded => json!({
                "id": id,
                "success": true,
                "created": cell(created_at) == "true",
                "errors": [],
            }),
            Outcome::Failed => {
                let (code, message, fields) = parse_bulk_error(cell(error_at));
                failure(id, code, message, &fields)
            }
            Outcome::Unprocessed => {
                let reason = job["errorMessage"]
                    .as_str()
                    .unwrap_or("the job ended first");
                failure(
                    Value::Null,
                    "GUST_UNPROCESSED",
                    &format!("Bulk API 2.0 did not process this record: {reason}"),
                    &[],
                )
            }
        });
    }
    Ok(())
}

/// The error of `what` (results Salesforce sent) not being CSV.
fn unreadable_csv(what: &'static str) -> impl Fn(csv::Error) -> SalesforceError + Copy {
    move |error| SalesforceError::bad_response(200, format!("{what} are not CSV: {error}"))
}

fn failure(id: Value, code: &str, message: &str, fields: &[&str]) -> Value {
    json!({
        "id": id,
        "success": false,
        "created": false,
        "errors": [{ "statusCode": code, "message": message, "fields": fields }],
    })
}

/// `CODE:message:Field1,Field2 --`, Bulk API 2.0's `sf__Error`, split.
fn parse_bulk_error(text: &str) -> (&str, &str, Vec<&str>) {
    let text = text.trim().trim_end_matches("--").trim_end();
    let Some((code, rest)) = text.split_once(':') else {
        return (text, "", Vec::new());
    };
    match rest.rsplit_once(':') {
        Some((message, fields)) => (
            code,
            message,
            fields
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect(),
        ),
        None => (code, rest, Vec::new()),
    }
}

/// The pages of a Bulk API 2.0 query job.
#[derive(Debug)]
pub struct BulkQueryPages {
    client: Client,
    soql: String,
    include_deleted: bool,
    job_path: Option<String>,
    locator: Option<String>,
    done: bool,
}

impl BulkQueryPages {
    /// The next page of records; `None` after the last. The first call
    /// creates the job and waits for it.
    pub async fn next_page(&mut self) -> Option<Result<Vec<Map<String, Value>>>> {
        if self.done {
            return None;
        }
        let page = self.fetch().await;
        if page.is_err() {
            self.done = true;
        }
        Some(page)
    }

    async fn fetch(&mut self) -> Result<Vec<Map<String, Value>>> {
        let job_path = match &self.job_path {
            Some(path) => path.clone(),
            None => {
                let path = self
                    .client
                    .start_bulk_query(&self.soql, self.include_deleted)
                    .await?;
                self.job_path = Some(path.clone());
                path
            }
        };
        let page = self
            .client
            .bulk_query_page(&job_path, self.locator.as_deref())
            .await?;
        match page.next_locator {
            Some(locator) => self.locator = Some(locator),
            None => self.done = true,
        }
        Ok(page.records)
    }
}

/// One page of a Bulk API 2.0 query job's results.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkPage {
    /// The records, their values the CSV's text (an empty cell is null).
    pub records: Vec<Map<String, Value>>,
    /// Where the next page starts; `None` after the last.
    pub next_locator: Option<String>,
}

impl Client {
    /// Creates a Bulk API 2.0 query job for `soql` (queryAll when
    /// `include_deleted`), waits for it to complete and returns its path,
    /// from which [`Client::bulk_query_page`] reads its results.
    pub async fn start_bulk_query(&self, soql: &str, include_deleted: bool) -> Result<String> {
        let operation = if include_deleted { "queryAll" } else { "query" };
        let body = json!({ "operation": operation, "query": soql });
        let path = self.create_job("/jobs/query", &body).await?;
        let info = self.poll_job(&path).await?;
        if info["state"] != "JobComplete" {
            return Err(SalesforceError::new(
                200,
                "GUST_BULK_QUERY_FAILED",
                format!(
                    "the query job ended {}: {}",
                    info["state"].as_str().unwrap_or("?"),
                    info["errorMessage"].as_str().unwrap_or("no reason given")
                ),
            ));
        }
        Ok(path)
    }

    /// The page of query job `job_path`'s results at `locator` (the first
    /// page when `None`). The same locator gives the same page again.
    pub async fn bulk_query_page(&self, job_path: &str, locator: Option<&str>) -> Result<BulkPage> {
        let mut call = Call::new(Method::GET, format!("{job_path}/results"))
            .query("maxRecords", QUERY_PAGE_ROWS.to_string());
        if let Some(locator) = locator {
            call = call.query("locator", locator);
        }
        let answer = self.send(&call).await?;
        let next_locator = answer
            .header("sforce-locator")
            .filter(|locator| !locator.is_empty() && *locator != "null")
            .map(str::to_owned);
        let records = query_records(&answer.body)?;
        Ok(BulkPage {
            records,
            next_locator,
        })
    }
}

/// The records of one page of query results: a column per field, an empty
/// cell null, every other value text.
fn query_records(body: &[u8]) -> Result<Vec<Map<String, Value>>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(body);
    let unreadable = unreadable_csv("the query job's results");
    let header = reader.headers().map_err(unreadable)?.clone();
    reader
        .records()
        .map(|row| {
            let row = row.map_err(unreadable)?;
            Ok(header
                .iter()
                .zip(row.iter())
                .map(|(name, cell)| {
                    let value = if cell.is_empty() {
                        Value::Null
                    } else {
                        json!(cell)
                    };
                    (name.to_owned(), value)
                })
                .collect())
        })
        .collect()
}

/// Entry points for the fuzz targets in `fuzz/` (built with `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    use serde_json::{Map, Value};

    use super::{IngestCsv, Outcome, query_records, results_in_order};
    use crate::{Result, WriteOperation};

    /// Reads Salesforce's results CSVs for an ingest job of `records`: one
    /// result per record, in order, or an error.
    pub fn ingest_results(
        records: &[Value],
        successful: &[u8],
        failed: &[u8],
        unprocessed: &[u8],
    ) -> Result<Vec<Value>> {
        let csv = IngestCsv::build(WriteOperation::Insert, records)?;
        let bodies = [
            (Outcome::Succeeded, successful),
            (Outcome::Failed, failed),
            (Outcome::Unprocessed, unprocessed),
        ];
        let results = results_in_order(&csv, &bodies, &Value::Null)?;
        assert_eq!(results.len(), records.len(), "one result per record");
        Ok(results)
    }

    /// Reads one page of a query job's results CSV.
    pub fn query_page(body: &[u8]) -> Result<Vec<Map<String, Value>>> {
        query_records(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of up to six fields, named as Salesforce names fields, each
    /// text (commas, quotes and line breaks included), a number, a boolean
    /// or null.
    fn any_record() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let value = prop_oneof![
            "[^\\x00]*".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ];
        proptest::collection::btree_map("[A-Z][A-Za-z0-9_]{0,8}", value, 1..6)
            .prop_map(|fields| Value::Object(fields.into_iter().collect()))
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// The CSV of an ingest job reads back as its columns and rows, and
        /// results Salesforce sends in any order go back to the records'
        /// positions.
        #[test]
        fn an_ingest_csv_reads_back_and_results_find_their_records(
            records in proptest::collection::vec(any_record(), 1..12),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let csv = IngestCsv::build(WriteOperation::Insert, &records).unwrap();
            let bytes = csv.to_bytes().unwrap();
            let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_ref());
            let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
            proptest::prop_assert_eq!(&header, &csv.columns);
            let rows: Vec<Vec<String>> = reader
                .records()
                .map(|row| row.unwrap().iter().map(str::to_owned).collect())
                .collect();
            proptest::prop_assert_eq!(&rows, &csv.rows);

            // Salesforce's successful results: sf__Id, sf__Created, then the
            // row as sent, in an order of its own.
            let mut order: Vec<usize> = (0..rows.len()).collect();
            let mut state = seed;
            for at in (1..order.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(at, (state >> 33) as usize % (at + 1));
            }
            let mut writer = csv::Writer::from_writer(Vec::new());
            let mut results_header = vec!["sf__Id".to_owned(), "sf__Created".to_owned()];
            results_header.extend(csv.columns.iter().cloned());
            writer.write_record(&results_header).unwrap();
            for &at in &order {
                let mut row = vec![format!("00Q{at:015}"), "true".to_owned()];
                row.extend(csv.rows[at].iter().cloned());
                writer.write_record(&row).unwrap();
            }
            let body = writer.into_inner().unwrap();
            let mut results = vec![None; csv.rows.len()];
            let mut positions = csv.positions();
            merge(&csv, &mut positions, &mut results, Outcome::Succeeded, &body, &json!({})).unwrap();
            for (at, result) in results.iter().enumerate() {
                let result = result.as_ref().expect("every record has its result");
                proptest::prop_assert_eq!(&result["success"], &json!(true));
                // Identical rows are interchangeable: the Id is one of a row
                // equal to this record's.
                let id = result["id"].as_str().unwrap();
                let from: usize = id[3..].parse().unwrap();
                proptest::prop_assert_eq!(&csv.rows[from], &csv.rows[at]);
            }
        }
    }

    #[test]
    fn builds_csv_columns_from_every_record() {
        let records = vec![
            json!({"attributes": {"type": "Lead"}, "LastName": "Lovelace", "Company": "Analytical, Ltd"}),
            json!({"LastName": "Hopper", "Email": null, "Account": {"Erp_Id__c": "E-1"}}),
        ];
        let csv = IngestCsv::build(WriteOperation::Insert, &records).unwrap();
        assert_eq!(
            csv.columns,
            ["LastName", "Company", "Email", "Account.Erp_Id__c"]
        );
        let text = String::from_utf8(csv.to_bytes().unwrap().to_vec()).unwrap();
        assert_eq!(
            text,
            "LastName,Company,Email,Account.Erp_Id__c\n\
             Lovelace,\"Analytical, Ltd\",,\n\
             Hopper,,#N/A,E-1\n"
        );
        let deletes = IngestCsv::build(
            WriteOperation::Delete,
            &[json!("00Q1"), json!({"Id": "00Q2"})],
        )
        .unwrap();
        assert_eq!(deletes.rows, [["00Q1"], ["00Q2"]]);
        assert!(IngestCsv::build(WriteOperation::Insert, &[json!({"Tags": [1]})]).is_err());
    }

    #[test]
    fn merges_results_back_in_input_order() {
        let records = vec![
            json!({"LastName": "A"}),
            json!({"LastName": "B"}),
            json!({"LastName": "A"}),
        ];
        let csv = IngestCsv::build(WriteOperation::Insert, &records).unwrap();
        let mut positions = csv.positions();
        let mut results = vec![None; 3];
        let job = json!({"state": "JobComplete"});
        let failed = b"\"sf__Id\",\"sf__Error\",LastName\n\"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --\",\"B\"\n";
        merge(
            &csv,
            &mut positions,
            &mut results,
            Outcome::Failed,
            failed,
            &job,
        )
        .unwrap();
        let ok = b"\"sf__Id\",\"sf__Created\",LastName\n\"00Q2\",\"true\",\"A\"\n\"00Q1\",\"true\",\"A\"\n";
        merge(
            &csv,
            &mut positions,
            &mut results,
            Outcome::Succeeded,
            ok,
            &job,
        )
        .unwrap();
        let results: Vec<Value> = results.into_iter().map(Option::unwrap).collect();
        assert_eq!(results[0]["id"], "00Q2");
        assert_eq!(results[2]["id"], "00Q1");
        assert_eq!(results[1]["success"], false);
        assert_eq!(
            results[1]["errors"][0],
            json!({"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Company]", "fields": ["Company"]})
        );
    }

    #[test]
    fn splits_bulk_errors() {
        assert_eq!(
            parse_bulk_error("INVALID_FIELD:No such column:Foo__c,Bar__c --"),
            ("INVALID_FIELD", "No such column", vec!["Foo__c", "Bar__c"])
        );
        assert_eq!(
            parse_bulk_error("DUPLICATE_VALUE:duplicate value found:--"),
            ("DUPLICATE_VALUE", "duplicate value found", vec![])
        );
    }
}
