//! SOQL: the subset Salesforce integrations use (field lists with parent
//! relationships, `COUNT()`, WHERE, ORDER BY, LIMIT, OFFSET), run against
//! the org, with errors worded like Salesforce's.

mod eval;
mod lexer;
mod parser;

use serde_json::Value;

use crate::error::ApiError;
use crate::org::Org;
use crate::values;

/// The largest OFFSET Salesforce allows.
const MAX_OFFSET: usize = 2_000;

/// What a query found.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// How many records the query returns (LIMIT and OFFSET applied), as
    /// `totalSize` reports; for `COUNT()` the count.
    pub total_size: usize,
    /// The records, shaped like Salesforce's (empty for `COUNT()`).
    pub records: Vec<Value>,
    /// The object queried, as it is named.
    pub object: String,
    /// The selected paths, as results name them (`Account.Name`).
    pub columns: Vec<String>,
}

/// Runs `text`; deleted records too when `all` (queryAll).
pub fn run(org: &Org, text: &str, all: bool, version: &str) -> Result<QueryResult, ApiError> {
    let located = |column: usize, code: &'static str, message: String| {
        ApiError::bad_request(
            code,
            format!(
                "\n{text}\n{}^\nERROR at Row:1:Column:{column}\n{message}",
                " ".repeat(column.saturating_sub(1))
            ),
        )
    };
    let tokens =
        lexer::tokens(text).map_err(|e| located(e.column, "MALFORMED_QUERY", e.message))?;
    let query = parser::parse(tokens, text.chars().count())
        .map_err(|e| located(e.column, "MALFORMED_QUERY", e.message))?;
    let invalid = |e: eval::Invalid| located(e.column, e.code, e.message);
    let object = org.schema().object(&query.object).ok_or_else(|| {
        located(
            query.object_column,
            "INVALID_TYPE",
            format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                query.object
            ),
        )
    })?;
    let selected = query
        .fields
        .iter()
        .map(|path| eval::resolve(org, object, path))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let filter = query
        .condition
        .as_ref()
        .map(|condition| eval::filter(org, object, condition))
        .transpose()
        .map_err(invalid)?;
    let order = query
        .order
        .iter()
        .map(|key| eval::resolve(org, object, &key.path).map(|resolved| (resolved, key)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    if query.offset.is_some_and(|offset| offset > MAX_OFFSET) {
        return Err(ApiError::bad_request(
            "NUMBER_OUTSIDE_VALID_RANGE",
            format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
        ));
    }

    let today = values::now().date_naive();
    let mut matched: Vec<_> = org
        .records(object, all)
        .filter(|record| {
            filter
                .as_ref()
                .is_none_or(|f| eval::matches(org, record, f, today))
        })
        .collect();
    if query.count {
        let counted = matched.len().saturating_sub(query.offset.unwrap_or(0));
        return Ok(QueryResult {
            total_size: counted.min(query.limit.unwrap_or(usize::MAX)),
            records: Vec::new(),
            object: object.name.clone(),
            columns: Vec::new(),
        });
    }
    matched.sort_by(|a, b| {
        order
            .iter()
            .map(|(resolved, key)| {
                eval::order_by(org, a, b, resolved, key.descending, key.nulls_last)
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let records: Vec<Value> = matched
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(query.limit.unwrap_or(usize::MAX))
        .map(|record| eval::project(org, object, record, &selected, version))
        .collect();
    Ok(QueryResult {
        total_size: records.len(),
        records,
        object: object.name.clone(),
        columns: selected.iter().map(eval::Resolved::column).collect(),
    })
}

#[cfg(test)]
mod tests;
