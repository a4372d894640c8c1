//! One run: its status and timings, Replay and Resume, a waterfall of its
//! steps' attempts drawn to scale, each step's input, output, logs,
//! Salesforce calls and error, and its trigger event.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::event::{event_section, without_secrets};
use super::layout::{Context, Section, duration, json_block, nothing, page, status_chip, time};
use super::session::Session;
use super::{Guarded, Inspector, csrf_refusal, problem};
use crate::model::{RunId, RunStatus, StepRecord, now};
use crate::store::RunDetail;

/// The run `run_id` names, or the page saying why there is none.
async fn detail(
    inspector: &Inspector,
    context: &Context,
    run_id: &str,
) -> Result<RunDetail, Response> {
    let id = run_id
        .parse::<RunId>()
        .map_err(|error| problem(context, StatusCode::BAD_REQUEST, &error.to_string()))?;
    match inspector.engine.run_detail(id).await {
        Ok(Some(detail)) => Ok(detail),
        Ok(None) => Err(problem(
            context,
            StatusCode::NOT_FOUND,
            &format!("No run `{id}` is stored (it may have been pruned)."),
        )),
        Err(error) => Err(problem(
            context,
            StatusCode::SERVICE_UNAVAILABLE,
            &error.to_string(),
        )),
    }
}

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Path(run_id): Path<String>,
) -> Response {
    let detail = match detail(&inspector, &context, &run_id).await {
        Ok(detail) => detail,
        Err(refused) => return refused,
    };
    let run = &detail.run;
    let ended = run.finished_at;
    let event = without_secrets(&detail.event);
    let trigger = inspector
        .engine
        .workflows()
        .ready
        .get(&run.workflow)
        .map(|ready| ready.workflow.trigger.kind());
    let body = html! {
        h1 data-live-run=[(!run.status.is_final()).then(|| context.link(&format!("/runs/{}/live", run.id)))] data-status=(run.status.as_str()) {
            "Run " code { (run.id) } " " (status_chip(run.status))
        }
        dl.facts {
            dt { "Workflow" } dd { a href=(context.link(&format!("/runs?workflow={}", super::overview::urlencoded(&run.workflow)))) { (run.workflow) } }
            dt { "Trigger" } dd {
                @match trigger {
                    Some(kind) => a href=(context.link(&format!("/runs?kind={kind}"))) { (kind) },
                    None => span.muted { "(the workflow is no longer loaded)" },
                }
                @if run.replay_of.is_some() { " (replayed)" }
            }
            @if let Some(tenant) = &run.tenant { dt { "Tenant" } dd { (tenant) } }
            @if let Some(installation) = &run.installation { dt { "Installation" } dd { code { (installation.as_str()) } } }
            dt { "Accepted" } dd { (time(run.created_at)) }
            @if let Some(ended) = ended {
                dt { "Ended" } dd { (time(ended)) " (" (duration(ended - run.created_at)) ")" }
            }
            @if let Some(replayed) = run.replay_of {
                dt { "Replay of" } dd { a href=(context.link(&format!("/runs/{replayed}"))) { code { (replayed) } } }
            }
            @if let Some(replay) = run.replayed_by {
                dt { "Replayed by" } dd { a href=(context.link(&format!("/runs/{replay}"))) { code { (replay) } } }
            }
            @if let Some(key) = &run.dedupe_key { dt { "Dedupe key" } dd { code { (key) } } }
            @if let Some(error) = &run.error { dt { "Error" } dd.error { (error) } }
        }
        div.actions {
            form method="post" action=(context.link(&format!("/runs/{}/replay", run.id)))
                data-confirm="Replay this run's event as a new run? Its steps call Salesforce again." {
                (context.csrf_field())
                button type="submit" { "Replay" }
            }
            @if run.status == RunStatus::Failed {
                form method="post" action=(context.link(&format!("/runs/{}/resume", run.id)))
                    data-confirm="Resume this run at its failed step?" {
                    (context.csrf_field())
                    button type="submit" { "Resume" }
                }
            }
            a href=(context.link(&format!("/runs/{}/json", run.id))) download { "Download JSON" }
        }
        h2 { "Steps" }
        (waterfall(run.created_at, ended.unwrap_or_else(now), &detail.steps))
        @for step in &detail.steps { (step_panel(step)) }
        @if detail.steps.is_empty() { p.muted { "No step has run yet." } }
        h2 { "Trigger event" }
        (event_section(&event))
        @if let Some(output) = &run.output {
            h2 { "Output" }
            (json_block(output))
        }
    };
    page(&context, Section::Runs, &format!("Run {}", run.id), body).into_response()
}

/// One bar per attempt of each step, placed on the run's time from `start`
/// to `end`.
fn waterfall(start: DateTime<Utc>, end: DateTime<Utc>, steps: &[StepRecord]) -> Markup {
    if steps.is_empty() {
        return nothing();
    }
    let total = (end - start).num_microseconds().unwrap_or(1).max(1) as f64;
    let percent = |micros: i64| (micros as f64 / total * 100.0).clamp(0.0, 100.0);
    html! {
        div.waterfall role="list" aria-label="Attempts on the run's time" {
            @for step in steps {
                @for attempt in &step.attempts {
                    @let offset = (attempt.started_at - start).num_microseconds().unwrap_or(0);
                    @let took = i64::try_from(attempt.duration.as_micros()).unwrap_or(i64::MAX);
                    @let left = percent(offset);
                    @let width = percent(took).min(100.0 - left);
                    div.row role="listitem" {
                        span { (step.step) " · attempt " (attempt.number) }
                        span.track {
                            span class={ "bar" @if attempt.error.is_some() { " failed" } }
                                style=(format!("left:{left:.2}%;width:{width:.2}%"))
                                title=(format!("{} attempt {}: {} ms", step.step, attempt.number, attempt.duration.as_millis())) {}
                        }
                        span.muted { (attempt.duration.as_millis()) " ms" }
                    }
                }
            }
        }
    }
}

/// A step's input, output, logs, Salesforce calls and error.
fn step_panel(step: &StepRecord) -> Markup {
    let failed = step.error.is_some();
    let logs: Vec<_> = step
        .attempts
        .iter()
        .flat_map(|a| a.logs.iter().map(move |l| (a.number, l)))
        .collect();
    let calls: Vec<_> = step.attempts.iter().flat_map(|a| a.calls.iter()).collect();
    html! {
        details.step open[failed] data-step=(step.step) {
            summary {
                strong { (step.step) } " "
                span.muted { (format!("{:?}", step.status).to_lowercase()) " · " (step.attempts.len()) " attempt(s) · " (step.duration.as_millis()) " ms" }
            }
            @if let Some(error) = &step.error {
                h3 { "Error" }
                p.error { (error.message) }
            }
            h3 { "Input" } (json_block(&step.input))
            @if let Some(output) = &step.output { h3 { "Output" } (json_block(output)) }
            @if !logs.is_empty() {
                h3 { "Logs" }
                pre.json {
                    @for (attempt, line) in &logs {
                        (format!("#{attempt} {} {}\n", serde_json::to_value(line.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), line.message))
                    }
                }
            }
            @if !calls.is_empty() {
                h3 { "Salesforce calls" }
                table {
                    thead { tr { th { "#" } th { "Operation" } th { "Object" } th { "Records" } th { "Took" } } }
                    tbody {
                        @for call in &calls {
                            tr {
                                td { (call.sequence) }
                                td { (call.operation.as_str()) }
                                td { (call.sobject.as_deref().unwrap_or("")) }
                                td { @for id in &call.record_ids { code { (id) } " " } }
                                td { (call.duration.as_millis()) " ms" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /runs/{id}/json`: the run with its event and steps, to save.
pub(super) async fn download(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Path(run_id): Path<String>,
) -> Response {
    let mut detail = match detail(&inspector, &context, &run_id).await {
        Ok(detail) => detail,
        Err(refused) => return refused,
    };
    detail.event = without_secrets(&detail.event);
    let disposition = format!("attachment; filename=\"run-{}.json\"", detail.run.id);
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        serde_json::to_string_pretty(&detail).unwrap_or_default(),
    )
        .into_response()
}

/// `POST /runs/{id}/replay`: the run's event as a new run, then its page.
pub(super) async fn replay(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Extension(session): Extension<Session>,
    Path(run_id): Path<String>,
    Form(form): Form<Guarded>,
) -> Response {
    act(&inspector, &context, &session, &run_id, &form, Act::Replay).await
}

/// `POST /runs/{id}/resume`: the failed run resumed at its failed step.
pub(super) async fn resume(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Extension(session): Extension<Session>,
    Path(run_id): Path<String>,
    Form(form): Form<Guarded>,
) -> Response {
    act(&inspector, &context, &session, &run_id, &form, Act::Resume).await
}

/// What a run's form asks.
#[derive(Debug, Clone, Copy)]
enum Act {
    Replay,
    Resume,
}

async fn act(
    inspector: &Inspector,
    context: &Context,
    session: &Session,
    run_id: &str,
    form: &Guarded,
    act: Act,
) -> Response {
    if let Some(refused) = csrf_refusal(inspector, session, form) {
        return refused;
    }
    let id = match run_id.parse::<RunId>() {
        Ok(id) => id,
        Err(error) => return problem(context, StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let done = match act {
        Act::Replay => inspector.engine.replay(id).await,
        Act::Resume => inspector.engine.resume(id).await,
    };
    match done {
        Ok(run) => Redirect::to(&context.link(&format!("/runs/{}", run.id))).into_response(),
        Err(error) => problem(context, StatusCode::CONFLICT, &error.to_string()),
    }
}
