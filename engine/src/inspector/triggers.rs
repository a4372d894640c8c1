//! Background triggers (schedules, polls, Salesforce events
//! subscriptions): each running one (a workflow's, or an installation's)
//! with its cadence or topic, next and last fire, last error and warning, a
//! poll's position or a subscription's replay id, and a backfill's progress
//! as a bar.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;

use super::Inspector;
use super::layout::{Context, Section, page, time};
use super::overview::urlencoded;
use crate::api::{BackfillProgress, TriggerStatus};
use crate::model::split_lane;

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
) -> Response {
    let statuses = inspector.engine.trigger_statuses();
    let workflows = inspector.engine.workflows();
    let body = html! {
        h1 { "Schedules, polls and events" }
        @if statuses.is_empty() {
            p.muted { "No workflow or installation has a schedule, a poll or a Salesforce events subscription running." }
        } @else {
            div.table-wrap {
                table.triggers {
                    thead { tr { th { "Workflow" } th { "Installation" } th { "Trigger" } th { "Next" } th { "Last" } th { "Position" } th { "Last error" } } }
                    tbody {
                        @for (key, status) in &statuses {
                            @let (workflow, installation) = split_lane(key);
                            @let trigger = workflows.ready.get(workflow).map(|ready| &ready.workflow.trigger);
                            tr data-trigger=(key) {
                                td { a href=(context.link(&format!("/runs?workflow={}", urlencoded(workflow)))) { (workflow) } }
                                td {
                                    @match &installation {
                                        Some(installation) => a href=(context.link(&format!("/runs?installation={}", installation.as_str()))) { code { (installation.as_str()) } },
                                        None => span.muted { "–" },
                                    }
                                }
                                td {
                                    @if let Some(trigger) = trigger {
                                        (trigger.kind())
                                        @if let Some(summary) = trigger.summary() { br; span.muted { (summary) } }
                                    }
                                }
                                td { @match status.next_fire_at { Some(next) => (time(next)), None => span.muted { "–" } } }
                                td { @match status.last_fired_at { Some(last) => (time(last)), None => span.muted { "not yet" } } }
                                td { (position(status)) }
                                td.error {
                                    (status.last_error.as_deref().unwrap_or(""))
                                    @if let Some(warning) = &status.warning { div.warning data-warning { (warning) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        &context,
        Section::Triggers,
        "Schedules, polls and events",
        body,
    )
    .into_response()
}

/// A poll's position (the last record it reported) and its backfill's
/// progress, or a subscription's replay id; nothing for a schedule.
fn position(status: &TriggerStatus) -> Markup {
    let replay_id = status
        .cursor
        .as_ref()
        .and_then(|cursor| cursor.get("replay_id"))
        .and_then(Value::as_str);
    let cursor = status.cursor.as_ref();
    let stamp = cursor
        .and_then(|cursor| cursor.get("stamp"))
        .and_then(Value::as_str);
    let id = cursor
        .and_then(|cursor| cursor.get("id"))
        .and_then(Value::as_str);
    html! {
        @if let Some(replay_id) = replay_id { "replay id " code { (replay_id) } }
        @if let Some(stamp) = stamp { code { (stamp) } }
        @if let Some(id) = id.filter(|id| !id.is_empty()) { " " code { (id) } }
        @if let Some(progress) = status.backfill { (backfill(progress)) }
    }
}

/// A backfill's progress as a bar, with its figures.
fn backfill(progress: BackfillProgress) -> Markup {
    let percent = match progress.total {
        0 => 0.0,
        total => progress.read as f64 / total as f64 * 100.0,
    };
    html! {
        div.backfill {
            "Backfill "
            progress value=(progress.read) max=(progress.total.max(1)) aria-label="Backfill" {}
            " " span data-backfill-read=(progress.read) { (progress.read) " of " (progress.total) " records (" (format!("{percent:.0}")) "%)" }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_polls_position_and_backfill_are_drawn() {
        let status = TriggerStatus {
            cursor: Some(json!({ "stamp": "2026-12-07T10:00:00Z", "id": "00Q5g00000AbCdEEAZ" })),
            backfill: Some(BackfillProgress {
                read: 5_000,
                total: 20_000,
            }),
            ..TriggerStatus::default()
        };
        let shown = position(&status).into_string();
        assert!(shown.contains("00Q5g00000AbCdEEAZ"), "{shown}");
        assert!(
            shown.contains(r#"<progress value="5000" max="20000""#),
            "{shown}"
        );
        assert!(shown.contains("5000 of 20000 records (25%)"), "{shown}");
        let subscription = TriggerStatus {
            cursor: Some(json!({ "replay_id": "000000000010db4d0000" })),
            ..TriggerStatus::default()
        };
        let shown = position(&subscription).into_string();
        assert!(shown.contains("000000000010db4d0000"), "{shown}");
        let schedule = position(&TriggerStatus::default()).into_string();
        assert!(schedule.is_empty(), "{schedule}");
    }
}
