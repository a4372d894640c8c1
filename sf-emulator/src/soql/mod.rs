//! SOQL: the subset Salesforce integrations use (field lists with parent
//! relationships and child subqueries, `COUNT()`, WHERE, ORDER BY, LIMIT,
//! OFFSET), run against
//! the org, with errors worded like Salesforce's.

mod eval;
mod lexer;
mod parser;

use serde_json::{Value, json};

use crate::error::ApiError;
use crate::org::{Fields, Org};
use crate::schema::Object;
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
    let plan = Plan::new(org, object, &query).map_err(|e| located(e.column, e.code, e.message))?;
    if query.offset.is_some_and(|offset| offset > MAX_OFFSET) {
        return Err(ApiError::bad_request(
            "NUMBER_OUTSIDE_VALID_RANGE",
            format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
        ));
    }
    let today = values::now().date_naive();
    let matched = plan.matching(org, org.records(object, all), today);
    if query.count {
        let counted = matched.len().saturating_sub(query.offset.unwrap_or(0));
        return Ok(QueryResult {
            total_size: counted.min(query.limit.unwrap_or(usize::MAX)),
            records: Vec::new(),
            object: object.name.clone(),
            columns: Vec::new(),
        });
    }
    let records: Vec<Value> = plan
        .cut(org, matched)
        .into_iter()
        .map(|record| plan.project(org, record, all, today, version))
        .collect();
    Ok(QueryResult {
        total_size: records.len(),
        records,
        object: object.name.clone(),
        columns: plan.selected.iter().map(eval::Resolved::column).collect(),
    })
}

/// A query checked against the schema, ready to run over its object's
/// records.
struct Plan<'q> {
    object: Object,
    query: &'q parser::Query,
    selected: Vec<eval::Resolved>,
    filter: Option<eval::Filter>,
    order: Vec<(eval::Resolved, &'q parser::Order)>,
    children: Vec<ChildPlan<'q>>,
}

/// A child subquery: its plan over the child object, and the child's
/// reference field pointing at the parent.
struct ChildPlan<'q> {
    plan: Plan<'q>,
    reference: String,
    relationship: String,
    position: usize,
}

impl<'q> Plan<'q> {
    fn new(org: &Org, object: &Object, query: &'q parser::Query) -> Result<Self, eval::Invalid> {
        let selected = query
            .fields
            .iter()
            .map(|path| eval::resolve(org, object, path))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = query
            .condition
            .as_ref()
            .map(|condition| eval::filter(org, object, condition))
            .transpose()?;
        let order = query
            .order
            .iter()
            .map(|key| eval::resolve(org, object, &key.path).map(|resolved| (resolved, key)))
            .collect::<Result<Vec<_>, _>>()?;
        let children = query
            .children
            .iter()
            .map(|child| {
                let (child_object, reference) = org
                    .schema()
                    .child_relationship(&object.name, &child.query.object)
                    .ok_or_else(|| eval::Invalid {
                        column: child.query.object_column,
                        code: "INVALID_TYPE",
                        message: format!(
                            "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                            child.query.object
                        ),
                    })?;
                Ok(ChildPlan {
                    relationship: child_object.child_relationship_name(),
                    plan: Plan::new(org, &child_object, &child.query)?,
                    reference,
                    position: child.position,
                })
            })
            .collect::<Result<Vec<_>, eval::Invalid>>()?;
        Ok(Self {
            object: object.clone(),
            query,
            selected,
            filter,
            order,
            children,
        })
    }

    /// The records of `records` the WHERE clause keeps.
    fn matching<'r>(
        &self,
        org: &Org,
        records: impl Iterator<Item = &'r Fields>,
        today: chrono::NaiveDate,
    ) -> Vec<&'r Fields> {
        records
            .filter(|record| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| eval::matches(org, record, f, today))
            })
            .collect()
    }

    /// `matched` sorted by ORDER BY, then cut by OFFSET and LIMIT.
    fn cut<'r>(&self, org: &Org, mut matched: Vec<&'r Fields>) -> Vec<&'r Fields> {
        matched.sort_by(|a, b| {
            self.order
                .iter()
                .map(|(resolved, key)| {
                    eval::order_by(org, a, b, resolved, key.descending, key.nulls_last)
                })
                .find(|ordering| ordering.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        matched
            .into_iter()
            .skip(self.query.offset.unwrap_or(0))
            .take(self.query.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// One result record, with its child subqueries' records nested as
    /// `{"totalSize", "done", "records"}` (null when there are none).
    fn project(
        &self,
        org: &Org,
        record: &Fields,
        all: bool,
        today: chrono::NaiveDate,
        version: &str,
    ) -> Value {
        let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
        let children = self
            .children
            .iter()
            .map(|child| {
                let plan = &child.plan;
                let related = org.records(&plan.object, all).filter(|candidate| {
                    candidate.get(&child.reference).and_then(Value::as_str) == Some(id)
                });
                let rows: Vec<Value> = plan
                    .cut(org, plan.matching(org, related, today))
                    .into_iter()
                    .map(|row| plan.project(org, row, all, today, version))
                    .collect();
                let nested = if rows.is_empty() {
                    Value::Null
                } else {
                    json!({ "totalSize": rows.len(), "done": true, "records": rows })
                };
                (child.position, child.relationship.clone(), nested)
            })
            .collect();
        eval::project(org, &self.object, record, &self.selected, children, version)
    }
}

#[cfg(test)]
mod tests;
