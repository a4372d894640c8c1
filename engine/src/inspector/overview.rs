//! The overview: each workflow with its trigger, URLs and the state of its
//! schedule or poll, and the files that failed to load.

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::Inspector;
use super::layout::{Context, Section, json_block, page, time};
use crate::api::WorkflowView;

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
) -> Markup {
    let list = inspector.engine.workflow_list("");
    let body = html! {
        h1 { "Workflows" }
        div.table-wrap {
            table {
                thead { tr { th { "Workflow" } th { "Trigger" } th { "URL" } th { "State" } th { "Runs" } } }
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
    page(&context, Section::Overview, "Overview", body)
}

/// `text` for a query string.
pub(super) fn urlencoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
