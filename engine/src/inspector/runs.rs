//! The runs page: status chips with counts, filters as GET parameters (so
//! every view is a link), a run id to jump to, pages newest first, and
//! the failed runs selected replayed together.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeDelta;
use maud::html;

use super::filters::{EXAMINE, Filters, KINDS};
use super::layout::{Context, Section, duration, page, status_chip, time};
use super::session::Session;
use super::{Guarded, Inspector, csrf_refusal, problem};
use crate::model::{RunId, RunRecord, RunStatus, now};
use crate::runtime::WorkflowSet;
use crate::store::RunQuery;

/// How many runs the status chips look at, at most (the newest; those
/// that pass the other filters are counted): past that a count reads
/// "n+".
const COUNTED: usize = 5_000;

/// The runs counted for the status chips, by status.
struct Tally {
    counts: [usize; RunStatus::ALL.len()],
    total: usize,
    /// Whether older runs were left uncounted.
    more: bool,
}

impl Tally {
    /// The runs among the newest [`COUNTED`] that pass `filters` but their
    /// status and page, counted by status (a failed run a replay made good is
    /// not counted failed, as the failed list leaves it out).
    async fn count(
        inspector: &Inspector,
        filters: &Filters,
        workflows: &WorkflowSet,
    ) -> Result<Self, String> {
        let every_status = Filters {
            status: String::new(),
            before: String::new(),
            ..filters.clone()
        };
        let query = RunQuery {
            limit: COUNTED,
            examine: Some(COUNTED),
            ..every_status.query(workflows)?
        };
        let page = inspector
            .engine
            .runs(&query)
            .await
            .map_err(|error| error.to_string())?;
        let mut counts = [0; RunStatus::ALL.len()];
        for run in &page.runs {
            if run.status == RunStatus::Failed && run.replayed_by.is_some() {
                continue;
            }
            if let Some(place) = RunStatus::ALL.iter().position(|s| *s == run.status) {
                counts[place] += 1;
            }
        }
        Ok(Self {
            counts,
            total: page.runs.len(),
            more: page.next_cursor.is_some(),
        })
    }

    /// `count`, with a `+` when older runs were left uncounted.
    fn shown(&self, count: usize) -> String {
        match self.more {
            true => format!("{count}+"),
            false => count.to_string(),
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
    let set = inspector.engine.workflows();
    let query = match filters.query(&set) {
        Ok(query) => query,
        Err(error) => return problem(&context, StatusCode::BAD_REQUEST, &error),
    };
    let (runs, tally) = tokio::join!(
        inspector.engine.runs(&query),
        Tally::count(&inspector, &filters, &set)
    );
    let (runs, tally) = match (runs, tally) {
        (Ok(runs), Ok(tally)) => (runs, tally),
        (Err(error), _) => {
            let error = error.to_string();
            return problem(&context, StatusCode::SERVICE_UNAVAILABLE, &error);
        }
        (_, Err(error)) => return problem(&context, StatusCode::SERVICE_UNAVAILABLE, &error),
    };
    let workflows: Vec<&String> = set.ready.keys().collect();
    let now = now();
    let older = runs.next_cursor.map(|next| {
        let mut older = filters.clone();
        older.before = next.to_string();
        older.link(&context)
    });
    let body = html! {
        h1 { "Runs" }
        nav.chips aria-label="Status" title=(format!("Counted among the newest {COUNTED} runs that pass the other filters")) {
            a href=(filters.with_status(&context, None)) aria-current=[query.status.is_none().then_some("page")] {
                span.chip data-count=(tally.total) { "all " (tally.shown(tally.total)) }
            }
            @for (status, count) in RunStatus::ALL.into_iter().zip(tally.counts) {
                a href=(filters.with_status(&context, Some(status))) aria-current=[(query.status == Some(status)).then_some("page")] {
                    span class={ "chip " (status.as_str()) } data-count=(count) { (status.as_str()) " " (tally.shown(count)) }
                }
            }
        }
        form.filters method="get" action=(context.link("/runs")) {
            label { "Workflow"
                select name="workflow" {
                    option value="" { "any" }
                    @for workflow in &workflows {
                        option value=(workflow) selected[**workflow == filters.workflow] { (workflow) }
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
            label { "Trigger"
                select name="kind" {
                    option value="" { "any" }
                    @for kind in KINDS {
                        option value=(kind) selected[kind == filters.kind] { (kind) }
                    }
                }
            }
            label { "Tenant" input name="tenant" value=(filters.tenant) size="14"; }
            label { "Installation" input name="installation" value=(filters.installation) size="14"; }
            label { "From (UTC)" input type="datetime-local" name="from" value=(filters.from); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(filters.to); }
            label { "Event holds" input type="search" name="q" value=(filters.q) placeholder="text or a record Id" size="20"; }
            button type="submit" { "Filter" }
        }
        p.ranges {
            "Accepted in the last "
            a href=(filters.since(&context, now - TimeDelta::hours(1))) { "hour" } ", "
            a href=(filters.since(&context, now - TimeDelta::days(1))) { "day" } ", "
            a href=(filters.since(&context, now - TimeDelta::days(7))) { "7 days" } " · "
            a href=(Filters { from: String::new(), to: String::new(), before: String::new(), ..filters.clone() }.link(&context)) { "any time" }
        }
        form.filters method="get" action=(context.link("/runs")) {
            label { "Run id" input name="id" placeholder="0192…" size="38"; }
            button type="submit" { "Go" }
        }
        @if filters.is_live() {
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
            table.runs data-live=[filters.is_live().then(|| filters.link_to(&context, "/runs/live"))] {
                thead { tr { th { span.visually-hidden { "Select" } } th { "Status" } th { "Run" } th { "Workflow" } th.hide-narrow { "Tenant" } th { "Accepted" } th { "Took" } th.hide-narrow { "Error" } } }
                tbody {
                    @for run in &runs.runs { (row(&context, run)) }
                }
            }
        }
        @if runs.cut_short {
            p.muted data-cut-short {
                "Looked at " (EXAMINE) " runs for this page and stopped: older runs may match."
            }
        } @else if runs.runs.is_empty() {
            p.muted { "No runs match." }
        }
        @if let Some(older) = older {
            p { a rel="next" href=(older) { @if runs.cut_short { "Look further back →" } @else { "Older runs →" } } }
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
