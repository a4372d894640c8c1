//! The overview: runs and failures per hour over the last day; each
//! workflow with its trigger, URLs, the state of its schedule or poll, its
//! runs of the last hour and day by status and their p50 and p95 duration;
//! and the files that failed to load.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::layout::{Context, Section, duration, json_block, page, time};
use super::recent::{self, Counts, READ_LIMIT, Recent, WorkflowRecent};
use super::{Inspector, problem};
use crate::api::WorkflowView;
use crate::model::now;

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
) -> Response {
    let list = inspector.engine.workflow_list("");
    let recent = match recent::read(&inspector.engine, now()).await {
        Ok(recent) => recent,
        Err(error) => {
            return problem(
                &context,
                StatusCode::SERVICE_UNAVAILABLE,
                &error.to_string(),
            );
        }
    };
    let quiet = WorkflowRecent::default();
    let body = html! {
        h1 { "Workflows" }
        (chart(&recent))
        div.table-wrap {
            table {
                thead { tr { th { "Workflow" } th { "Trigger" } th { "URL" } th { "State" } th { "Last hour" } th { "Last day" } th.hide-narrow { "p50 / p95" } th { "Runs" } } }
                tbody {
                    @for view in &list.workflows {
                        @if let WorkflowView::Ready(workflow) = view {
                            tr data-workflow=(workflow.id) {
                                td {
                                    strong { (workflow.id) }
                                    @if let Some(description) = &workflow.description { br; span.muted { (description) } }
                                }
                                td {
                                    (workflow.trigger.kind)
                                    @if let Some(summary) = &workflow.trigger.summary { br; span.muted { (summary) } }
                                }
                                td { @for url in &workflow.urls { code { (url) } br; } }
                                td {
                                    @if let Some(timer) = &workflow.timer {
                                        @if let Some(next) = timer.next_fire_at { "next " (time(next)) br; }
                                        @if let Some(last) = timer.last_fired_at { "last " (time(last)) br; }
                                        @if let Some(error) = &timer.last_error { span.error { (error) } br; }
                                        @if let Some(cursor) = &timer.cursor {
                                            details { summary { "cursor" } (json_block(cursor)) }
                                        }
                                    } @else { span.muted { "–" } }
                                }
                                @let runs = recent.workflows.get(&workflow.id).unwrap_or(&quiet);
                                td.counts { (counts(&runs.hour)) }
                                td.counts { (counts(&runs.day)) }
                                td.hide-narrow {
                                    @match (runs.percentile(0.5), runs.percentile(0.95)) {
                                        (Some(p50), Some(p95)) => { (duration(chrono::Duration::milliseconds(p50))) " / " (duration(chrono::Duration::milliseconds(p95))) }
                                        _ => span.muted { "–" },
                                    }
                                }
                                td {
                                    a href=(context.link(&format!("/runs?workflow={}", urlencoded(&workflow.id)))) { "runs" }
                                    " · "
                                    a href=(context.link(&format!("/runs?workflow={}&status=failed", urlencoded(&workflow.id)))) { "failed" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @let invalid: Vec<_> = list.workflows.iter().filter_map(|view| match view {
            WorkflowView::Invalid(invalid) => Some(invalid),
            WorkflowView::Ready(_) => None,
        }).collect();
        @if !invalid.is_empty() {
            h2 { "Files that failed to load" }
            @for file in invalid {
                details.step open {
                    summary.error { code { (file.source.display()) } }
                    ul { @for error in &file.errors { li { (error) } } }
                }
            }
        }
    };
    page(&context, Section::Overview, "Overview", body).into_response()
}

/// Runs by status as chips with their counts.
fn counts(counts: &Counts) -> Markup {
    html! {
        @for (status, count) in counts.nonzero() {
            span class={ "chip " (status.as_str()) } title=(status.as_str()) { (count) }
            " "
        }
    }
}

/// Runs and failures of each hour of the last day, the oldest on the left.
fn chart(recent: &Recent) -> Markup {
    let most = recent
        .hours
        .iter()
        .map(|hour| hour.runs)
        .max()
        .unwrap_or(0)
        .max(1);
    let percent = |count: usize| count as f64 / most as f64 * 100.0;
    let total: usize = recent.hours.iter().map(|hour| hour.runs).sum();
    let failed: usize = recent.hours.iter().map(|hour| hour.failed).sum();
    html! {
        figure.chart {
            div.hours role="img" aria-label=(format!("{total} runs in the last day, {failed} failed")) {
                @for (ago, hour) in recent.hours.iter().enumerate().rev() {
                    span.hour title=(format!("{} to {} hours ago: {} runs, {} failed", ago + 1, ago, hour.runs, hour.failed)) {
                        span.runs style=(format!("height:{:.1}%", percent(hour.runs))) {
                            span.failed style=(format!("height:{:.1}%", if hour.runs == 0 { 0.0 } else { hour.failed as f64 / hour.runs as f64 * 100.0 })) {}
                        }
                    }
                }
            }
            figcaption.muted {
                "Runs per hour over the last day: " (total) " accepted, " (failed) " failed"
                @if recent.capped { " (the newest " (READ_LIMIT) " runs only)" }
                "."
            }
        }
    }
}

/// `text` for a query string.
pub(super) fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
