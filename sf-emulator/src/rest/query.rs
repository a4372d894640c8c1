//! `query` and `queryAll`: SOQL over REST, in pages of `batchSize`
//! records (`Sforce-Query-Options`), the rest behind `nextRecordsUrl`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{AppState, version};
use crate::error::ApiError;
use crate::ids::RecordId;
use crate::server::Shared;
use crate::soql;

/// Records per page unless `batchSize` says otherwise (also its maximum).
const DEFAULT_BATCH: usize = 2_000;
/// The smallest `batchSize` Salesforce honours.
const MIN_BATCH: usize = 200;

/// The pages of a query not yet fetched.
#[derive(Default)]
pub(crate) struct Cursors {
    next: u64,
    open: HashMap<String, Cursor>,
}

struct Cursor {
    total_size: usize,
    batch: usize,
    records: Vec<Value>,
}

#[derive(Deserialize)]
pub(super) struct QueryParams {
    q: Option<String>,
}

/// `GET /query?q=`.
pub(super) async fn query(
    state: AppState,
    path: Path<String>,
    params: Query<QueryParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(state, path, params, headers, false)
}

/// `GET /queryAll?q=`: deleted records too.
pub(super) async fn query_all(
    state: AppState,
    path: Path<String>,
    params: Query<QueryParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    run(state, path, params, headers, true)
}

fn run(
    State(shared): AppState,
    Path(version_text): Path<String>,
    Query(params): Query<QueryParams>,
    headers: HeaderMap,
    all: bool,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let text = params.q.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request("MALFORMED_QUERY", "A query string has to be specified")
    })?;
    let result = soql::run(&shared.org(), &text, all, version)?;
    let cursor = Cursor {
        total_size: result.total_size,
        batch: batch_size(&headers),
        records: result.records,
    };
    Ok(page(&shared, version, cursor))
}

/// `batchSize` from `Sforce-Query-Options`, within Salesforce's bounds.
fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|value| value.to_str().ok())
        .and_then(|options| {
            options.split(',').find_map(|option| {
                let (key, value) = option.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("batchSize")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
        })
        .map_or(DEFAULT_BATCH, |size| size.clamp(MIN_BATCH, DEFAULT_BATCH))
}

/// The first page of `cursor`, keeping the rest for `nextRecordsUrl`.
fn page(shared: &Shared, version: &str, mut cursor: Cursor) -> Response {
    let rest = if cursor.records.len() > cursor.batch {
        cursor.records.split_off(cursor.batch)
    } else {
        Vec::new()
    };
    let mut body = Map::new();
    body.insert("totalSize".to_owned(), json!(cursor.total_size));
    body.insert("done".to_owned(), json!(rest.is_empty()));
    if !rest.is_empty() {
        let mut cursors = shared.cursors();
        cursors.next += 1;
        let locator = RecordId::new("01g", cursors.next);
        let offset = cursor.total_size - rest.len();
        let key = format!("{locator}-{offset}");
        body.insert(
            "nextRecordsUrl".to_owned(),
            json!(format!("/services/data/{version}/query/{key}")),
        );
        cursors.open.insert(
            key,
            Cursor {
                total_size: cursor.total_size,
                batch: cursor.batch,
                records: rest,
            },
        );
    }
    body.insert("records".to_owned(), Value::Array(cursor.records));
    axum::Json(body).into_response()
}

/// `GET /query/{locator}`: the next page.
pub(super) async fn more(
    State(shared): State<Arc<Shared>>,
    Path((version_text, locator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let cursor =
        shared.cursors().open.remove(&locator).ok_or_else(|| {
            ApiError::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        })?;
    Ok(page(&shared, version, cursor))
}
