//! Pages of runs: a query's filters as SQL.
//!
//! The filters an index serves (workflow, tenant, installation, the failed
//! list, the queue, a time range as an id range) narrow the rows read; the
//! others (another status, a trigger kind's workflows, a search in the
//! event) are checked on each row read. A query that bounds how many runs
//! it examines ([`RunQuery::examine`]) reads at most that many narrowed
//! rows, newest first, and says where it stopped.

use tokio_postgres::types::ToSql;

use super::{PostgresStore, Statements, from_json, run_id, uuid};
use crate::model::{RunRecord, RunStatus};
use crate::store::{RunPage, RunQuery, StoreError};

/// Which runs a page lists besides a query's other filters.
pub(super) enum Listing {
    /// Those of the query's status, if it names one.
    ByStatus,
    /// The unfinished ones, whatever the query's status.
    Unfinished,
}

/// A query's conditions and their parameters.
#[derive(Default)]
struct Conditions {
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    /// Conditions an index serves.
    narrow: Vec<String>,
    /// Conditions checked on each row read.
    rest: Vec<String>,
}

impl Conditions {
    /// Adds `condition`, whose `$` is the place of `value`.
    fn add(&mut self, indexed: bool, condition: &str, value: Box<dyn ToSql + Sync + Send>) {
        self.params.push(value);
        let condition = condition.replace('$', &format!("${}", self.params.len()));
        self.push(indexed, condition);
    }

    fn push(&mut self, indexed: bool, condition: String) {
        match indexed {
            true => self.narrow.push(condition),
            false => self.rest.push(condition),
        }
    }

    /// A parameter's place, for a value that is not a condition's.
    fn param(&mut self, value: Box<dyn ToSql + Sync + Send>) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn of(query: &RunQuery, listing: Listing) -> Self {
        let mut conditions = Self::default();
        if let Some(workflow) = &query.workflow {
            conditions.add(true, "workflow = $", Box::new(workflow.clone()));
        }
        if let Some(tenant) = &query.tenant {
            conditions.add(true, "tenant = $", Box::new(tenant.clone()));
        }
        if let Some(installation) = &query.installation {
            let installation = installation.as_str().to_owned();
            conditions.add(true, "installation = $", Box::new(installation));
        }
        match (listing, query.status) {
            (Listing::Unfinished, _) => conditions.push(true, "due_at IS NOT NULL".to_owned()),
            // A failed run whose replay succeeded is off the failed list.
            (Listing::ByStatus, Some(RunStatus::Failed)) => {
                conditions.push(true, "failed_open".to_owned())
            }
            (Listing::ByStatus, Some(status)) => {
                conditions.add(false, "status = $", Box::new(status.as_str()))
            }
            (Listing::ByStatus, None) => {}
        }
        if let Some(before) = query.before {
            conditions.add(true, "id < $", Box::new(uuid(before)));
        }
        if let Some(after) = query.after {
            conditions.add(true, "id >= $", Box::new(uuid(after)));
        }
        if let Some(workflows) = &query.workflow_in {
            conditions.add(false, "workflow = ANY($)", Box::new(workflows.clone()));
        }
        if let Some(search) = &query.event_contains {
            let condition = match search.is_record_id() {
                true => "strpos(event::text, $) > 0",
                false => "strpos(lower(event::text), $) > 0",
            };
            conditions.add(false, condition, Box::new(search.needle().to_owned()));
        }
        conditions
    }
}

/// `WHERE` and `conditions`, or nothing.
fn clause(conditions: &[String]) -> String {
    match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    }
}

impl PostgresStore {
    /// One page of runs, newest first, that pass `query`'s filters and
    /// `listing`.
    pub(super) async fn page(
        &self,
        query: &RunQuery,
        listing: Listing,
    ) -> Result<RunPage, StoreError> {
        if query.excludes_all() {
            return RunPage::gather([], query, |_| Ok(true));
        }
        let mut conditions = Conditions::of(query, listing);
        let limit = conditions.param(Box::new(
            i64::try_from(query.limit).unwrap_or(i64::MAX - 1) + 1,
        ));
        // Every condition an index serves: no bound needed.
        let examine = query.examine.filter(|_| !conditions.rest.is_empty());
        let sql = match examine {
            None => {
                let all = [conditions.narrow.clone(), conditions.rest.clone()].concat();
                format!(
                    "SELECT record, NULL::uuid FROM gust_runs {} ORDER BY id DESC LIMIT {limit}",
                    clause(&all)
                )
            }
            // The runs examined, then those of them kept and, if as many
            // were examined as allowed, the oldest of them.
            Some(examine) => {
                let examine =
                    conditions.param(Box::new(i64::try_from(examine).unwrap_or(i64::MAX)));
                format!(
                    "WITH examined AS MATERIALIZED ( \
                       SELECT id, status, workflow, event FROM gust_runs {} \
                       ORDER BY id DESC LIMIT {examine}) \
                     (SELECT record, NULL::uuid FROM gust_runs WHERE id IN ( \
                        SELECT id FROM examined {} ORDER BY id DESC LIMIT {limit}) \
                      ORDER BY id DESC) \
                     UNION ALL \
                     (SELECT NULL, id FROM examined \
                      WHERE (SELECT count(*) FROM examined) = {examine} ORDER BY id LIMIT 1)",
                    clause(&conditions.narrow),
                    clause(&conditions.rest)
                )
            }
        };
        let params: Vec<&(dyn ToSql + Sync)> = conditions
            .params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let client = self.client().await?;
        let rows = client.rows(&sql, &params).await?;
        let mut runs: Vec<RunRecord> = Vec::with_capacity(rows.len());
        let mut oldest_examined = None;
        for row in rows {
            match row.get::<_, Option<uuid::Uuid>>(1) {
                Some(oldest) => oldest_examined = Some(oldest),
                None => runs.push(from_json(row.get(0), "run")?),
            }
        }
        let mut page = RunPage {
            next_cursor: None,
            cut_short: false,
            runs,
        };
        if page.runs.len() > query.limit {
            page.runs.truncate(query.limit);
            page.next_cursor = page.runs.last().map(|last| last.id);
        } else if let Some(oldest) = oldest_examined {
            page.next_cursor = Some(run_id(oldest));
            page.cut_short = page.runs.len() < query.limit;
        }
        Ok(page)
    }
}
