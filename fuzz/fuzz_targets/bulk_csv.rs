//! The Bulk API 2.0 results readers, on any bytes: a query results page,
//! and an ingest job's three results CSVs matched back to the records sent.
//! The input is the records (a JSON array) and the three CSVs, split at NUL
//! bytes; every reading answers records or an error and never panics.

#![no_main]

use gust_salesforce::fuzzing::{ingest_results, query_page};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = query_page(data) {
        assert!(records.iter().all(|record| record.values().all(|v| v.is_null() || v.is_string())));
    }
    let mut parts = data.split(|&byte| byte == 0);
    let records: Vec<Value> = match parts.next().map(serde_json::from_slice) {
        Some(Ok(Value::Array(records))) => records,
        _ => vec![serde_json::json!({ "LastName": "Ada", "Email": "ada@example.com" })],
    };
    let mut csv = || parts.next().unwrap_or_default();
    let (successful, failed, unprocessed) = (csv(), csv(), csv());
    if let Ok(results) = ingest_results(&records, successful, failed, unprocessed) {
        assert!(results.iter().all(|result| result["success"].is_boolean()));
    }
});
