//! Which objects a SOQL query reads, checked against a step's grants
//! before the query is sent. Objects the query names (`FROM`, semi-joins,
//! `TYPEOF ... WHEN`) are checked without any request; objects reached
//! through relationships (`Account.Owner.Name`, `(SELECT ... FROM
//! Contacts)`) are resolved with describes, cached per connection, of
//! objects the step may already read.

use std::collections::HashSet;

use serde_json::Value;

use crate::soql::{QueryShape, UnreadableQuery};
use crate::{SalesforceActions, SalesforceError};

/// The objects a caller may read.
pub trait ReadGrants: Sync {
    /// Whether `sobject` may be read.
    fn may_read(&self, sobject: &str) -> bool;
    /// Whether every object may be read (`*`), so relationships need no
    /// describe to check.
    fn may_read_all(&self) -> bool;
}

/// Why a query may not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryRefusal {
    /// The query is not SOQL Gust can read.
    #[error("{0}")]
    Malformed(String),
    /// It reads an object the step was not granted.
    #[error("the query reads {sobject}, which may not be read")]
    Denied {
        /// The object.
        sobject: String,
        /// The relationship that reaches it, when not named directly.
        via: Option<String>,
    },
    /// A describe needed to resolve a relationship failed.
    #[error(transparent)]
    Salesforce(SalesforceError),
}

/// The most objects one relationship path may reach (SOQL allows five
/// levels; polymorphic relationships fan out).
const MAX_PATH_OBJECTS: usize = 64;

impl From<UnreadableQuery> for QueryRefusal {
    fn from(error: UnreadableQuery) -> Self {
        Self::Malformed(error.to_string())
    }
}

/// Checks every object `soql` reads against `grants`, describing objects
/// through `salesforce` where a relationship must be resolved.
pub async fn check_reads(
    soql: &str,
    grants: &dyn ReadGrants,
    salesforce: &dyn SalesforceActions,
) -> Result<(), QueryRefusal> {
    let shape = QueryShape::parse(soql)?;
    let denied = |sobject: &str, via: Option<String>| QueryRefusal::Denied {
        sobject: sobject.to_owned(),
        via,
    };
    for scope in &shape.scopes {
        if scope.parent.is_none() && !grants.may_read(&scope.from) {
            return Err(denied(&scope.from, None));
        }
        if let Some(object) = scope
            .typeof_objects
            .iter()
            .find(|object| !grants.may_read(object))
        {
            return Err(denied(object, None));
        }
    }
    if grants.may_read_all() {
        return Ok(());
    }
    let describe = |sobject: String| async move {
        salesforce
            .describe(&sobject)
            .await
            .map_err(QueryRefusal::Salesforce)
    };
    // The object each scope reads, once its parent's is known.
    let mut objects: Vec<String> = Vec::with_capacity(shape.scopes.len());
    for scope in &shape.scopes {
        let object = match scope.parent {
            None => scope.from.clone(),
            Some(parent) => {
                let parent_object = &objects[parent];
                let described = describe(parent_object.clone()).await?;
                let via = format!("{parent_object}.{}", scope.from);
                let child = child_object(&described, &scope.from).ok_or_else(|| {
                    QueryRefusal::Malformed(format!(
                        "{parent_object} has no child relationship {}",
                        scope.from
                    ))
                })?;
                if !grants.may_read(&child) {
                    return Err(denied(&child, Some(via)));
                }
                child
            }
        };
        for path in &scope.paths {
            let mut segments: Vec<&str> = path.split('.').collect();
            let qualifier = segments[0];
            if scope
                .alias
                .as_deref()
                .is_some_and(|alias| alias.eq_ignore_ascii_case(qualifier))
                || qualifier.eq_ignore_ascii_case(&object)
            {
                segments.remove(0);
            }
            // Every segment but the last (a field) is a relationship.
            let mut current = vec![object.clone()];
            let mut seen = HashSet::new();
            for relationship in segments.iter().take(segments.len().saturating_sub(1)) {
                let mut next = Vec::new();
                for sobject in current {
                    let described = describe(sobject).await?;
                    for target in relationship_targets(&described, relationship) {
                        if !grants.may_read(&target) {
                            return Err(denied(&target, Some(path.clone())));
                        }
                        if seen.insert(target.to_ascii_lowercase()) {
                            next.push(target);
                        }
                    }
                }
                if next.len() > MAX_PATH_OBJECTS {
                    return Err(QueryRefusal::Malformed(format!(
                        "{path} reaches more than {MAX_PATH_OBJECTS} objects"
                    )));
                }
                current = next;
            }
        }
        objects.push(object);
    }
    Ok(())
}

/// The objects a describe's relationship field points to; none when the
/// object has no such relationship (Salesforce then refuses the query).
fn relationship_targets(describe: &Value, relationship: &str) -> Vec<String> {
    describe["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|field| {
            field["relationshipName"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(relationship))
        })
        .and_then(|field| field["referenceTo"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|target| target.as_str().map(str::to_owned))
        .collect()
}

/// The object a describe's child relationship holds.
fn child_object(describe: &Value, relationship: &str) -> Option<String> {
    describe["childRelationships"]
        .as_array()?
        .iter()
        .find(|child| {
            child["relationshipName"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(relationship))
        })
        .and_then(|child| child["childSObject"].as_str())
        .map(str::to_owned)
}
