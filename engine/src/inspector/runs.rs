//! The runs page: status chips, filters as GET parameters (so every view
//! is a link), a run id to jump to, and pages newest first.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{Context, Section, duration, page, status_chip, time};
use super::overview::urlencoded;
use super::session::Session;
use super::{Guarded, Inspector, csrf_refusal, problem};
use crate::model::{InstallationId, RunId, RunRecord, RunStatus};
use crate::store::RunQuery;

/// How many runs a page shows.
const PAGE: usize = 50;

/// The filters, as the page's GET parameters.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    installation: String,
    /// The run to jump to.
    #[serde(default)]
    id: String,
    /// Where the page starts (the last run of the page before).
    #[serde(default)]
    before: String,
}

impl Filters {
    /// The query these filters ask, or what is wrong with them.
    pub(super) fn query(&self) -> Result<RunQuery, String> {
        let some = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
        let status = some(&self.status)
            .map(|status| status.parse::<RunStatus>())
            .transpose()
            .map_err(|error| error.to_string())?;
        let installation = some(&self.installation)
            .map(|text| {
                InstallationId::parse(&text)
                    .ok_or_else(|| format!("`{text}` is not an installation id"))
            })
            .transpose()?;
        let before = some(&self.before)
            .map(|text| text.parse::<RunId>().map_err(|error| error.to_string()))
            .transpose()?;
        Ok(RunQuery {
            workflow: some(&self.workflow),
            tenant: some(&self.tenant),
            installation,
            status,
            limit: PAGE,
            before,
        })
    }

    /// The link to the runs page with these filters, `status` in place of
    /// theirs and from the first page.
    fn with_status(&self, context: &Context, status: Option<RunStatus>) -> String {
        let mut filters = self.clone();
        filters.status = status.map(|s| s.as_str().to_owned()).unwrap_or_default();
        filters.before = String::new();
        filters.link(context)
    }

    /// The link to the runs page with these filters.
    fn link(&self, context: &Context) -> String {
        self.link_to(context, "/runs")
    }

    /// The link to `path` with these filters as its query.
    fn link_to(&self, context: &Context, path: &str) -> String {
        let pairs = [
            ("workflow", &self.workflow),
            ("status", &self.status),
            ("tenant", &self.tenant),
            ("installation", &self.installation),
            ("before", &self.before),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", urlencoded(value)))
            .collect();
        match query.is_empty() {
            true => context.link(path),
            false => context.link(&format!("{path}?{}", query.join("&"))),
        }
    }
}

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Query(filters): Query<Filters>,
) -> Response {
    let jump = filters.id.trim();
    if !jump.is_empty() {
        return match jump.parse::<RunId>() {
            Ok(id) => Redirect::to(&context.link(&format!("/runs/{id}"))).into_response(),
            Err(error) => problem(&context, StatusCode::BAD_REQUEST, &error.to_string()),
        };
    }
    let query = match filters.query() {
        Ok(query) => query,
        Err(error) => return problem(&context, StatusCode::BAD_REQUEST, &error),
    };
    let runs = match inspector.engine.runs(&query).await {
        Ok(runs) => runs,
        Err(error) => {
            return problem(
                &context,
                StatusCode::SERVICE_UNAVAILABLE,
                &error.to_string(),
            );
        }
    };
    let workflows: Vec<String> = inspector.engine.workflows().ready.keys().cloned().collect();
    let older = runs.next_cursor.map(|next| {
        let mut older = filters.clone();
        older.before = next.to_string();
        older.link(&context)
    });
    let body = html! {
        h1 { "Runs" }
        nav.chips aria-label="Status" {
            a href=(filters.with_status(&context, None)) aria-current=[query.status.is_none().then_some("page")] {
                span.chip { "all" }
            }
            @for status in RunStatus::ALL {
                a href=(filters.with_status(&context, Some(status))) aria-current=[(query.status == Some(status)).then_some("page")] {
                    (status_chip(status))
                }
            }
        }
        form.filters method="get" action=(context.link("/runs")) {
            label { "Workflow"
                select name="workflow" {
                    option value="" { "any" }
                    @for workflow in &workflows {
                        option value=(workflow) selected[*workflow == filters.workflow] { (workflow) }
                    }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for status in RunStatus::ALL {
                        option value=(status.as_str()) selected[Some(status) == query.status] { (status.as_str()) }
                    }
                }
            }
            label { "Tenant" input name="tenant" value=(filters.tenant) size="14"; }
            label { "Installation" input name="installation" value=(filters.installation) size="14"; }
            button type="submit" { "Filter" }
        }
        form.filters method="get" action=(context.link("/runs")) {
            label { "Run id" input name="id" placeholder="0192…" size="38"; }
            button type="submit" { "Go" }
        }
        @if filters.before.is_empty() {
            p.live {
                button type="button" data-pause aria-pressed="false" { "Pause live updates" }
                span.muted data-live-state { " live" }
            }
        }
        form #bulk method="post" action=(context.link("/runs/replay"))
            data-confirm="Replay the selected runs' events as new runs? Their steps call Salesforce again." {
            (context.csrf_field())
            button type="submit" { "Replay selected failed runs" }
        }
        div.table-wrap {
            table.runs data-live=[filters.before.is_empty().then(|| filters.link_to(&context, "/runs/live"))] {
                thead { tr { th { span.visually-hidden { "Select" } } th { "Status" } th { "Run" } th { "Workflow" } th.hide-narrow { "Tenant" } th { "Accepted" } th { "Took" } th.hide-narrow { "Error" } } }
                tbody {
                    @for run in &runs.runs { (row(&context, run)) }
                }
            }
        }
        @if runs.runs.is_empty() { p.muted { "No runs match." } }
        @if let Some(older) = older {
            p { a rel="next" href=(older) { "Older runs →" } }
        }
    };
    page(&context, Section::Runs, "Runs", body).into_response()
}

/// One run's row.
pub(super) fn row(context: &Context, run: &RunRecord) -> maud::Markup {
    let took = run.finished_at.map(|end| duration(end - run.created_at));
    html! {
        tr data-run=(run.id) {
            td {
                @if run.status == RunStatus::Failed {
                    input type="checkbox" name="run" value=(run.id) form="bulk" aria-label=(format!("Select run {}", run.id));
                }
            }
            td { (status_chip(run.status)) }
            td { a href=(context.link(&format!("/runs/{}", run.id))) { code { (run.id) } } }
            td { (run.workflow) }
            td.hide-narrow { (run.tenant.as_deref().unwrap_or("")) }
            td { (time(run.created_at)) }
            td { (took.unwrap_or_default()) }
            td.hide-narrow.error { (run.error.as_deref().map(|e| e.chars().take(120).collect::<String>()).unwrap_or_default()) }
        }
    }
}

/// The most runs one bulk replay takes.
const MAX_BULK: usize = 100;

/// `POST /runs/replay` (the runs page's selection: `run` once per run, and
/// the CSRF token): each run's event as a new run, and a page saying what
/// became of each.
pub(super) async fn replay_selected(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Extension(session): Extension<Session>,
    body: Bytes,
) -> Response {
    let mut guarded = Guarded {
        csrf: String::new(),
    };
    let mut selected = Vec::new();
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "csrf" => guarded.csrf = value.into_owned(),
            "run" => match value.parse::<RunId>() {
                Ok(id) => selected.push(id),
                Err(error) => {
                    return problem(&context, StatusCode::BAD_REQUEST, &error.to_string());
                }
            },
            _ => {}
        }
    }
    if let Some(refused) = csrf_refusal(&inspector, &session, &guarded) {
        return refused;
    }
    if selected.is_empty() || selected.len() > MAX_BULK {
        let message = format!("Select from 1 to {MAX_BULK} runs to replay.");
        return problem(&context, StatusCode::BAD_REQUEST, &message);
    }
    let mut outcomes = Vec::with_capacity(selected.len());
    for id in selected {
        outcomes.push((id, inspector.engine.replay(id).await));
    }
    let replayed = outcomes
        .iter()
        .filter(|(_, outcome)| outcome.is_ok())
        .count();
    let body = html! {
        h1 { "Replayed " (replayed) " of " (outcomes.len()) " runs" }
        div.table-wrap {
            table.replays {
                thead { tr { th { "Run" } th { "Replay" } } }
                tbody {
                    @for (id, outcome) in &outcomes {
                        tr {
                            td { a href=(context.link(&format!("/runs/{id}"))) { code { (id) } } }
                            @match outcome {
                                Ok(replay) => td data-replay=(replay.id) {
                                    a href=(context.link(&format!("/runs/{}", replay.id))) { code { (replay.id) } }
                                },
                                Err(error) => td.error { (error) },
                            }
                        }
                    }
                }
            }
        }
        p { a href=(context.link("/runs?status=failed")) { "← Failed runs" } }
    };
    page(&context, Section::Runs, "Replayed", body).into_response()
}
