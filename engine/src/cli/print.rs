//! How `gust run` shows a run: text for people, or one JSON object per line
//! (`--json`) for machines.

use serde_json::json;

use crate::model::{CallOutcome, LogSource, SalesforceCall, StepRecord, StepStatus};
use crate::runtime::RunReport;
use crate::workflow::Workflow;

pub(super) struct Printer {
    json: bool,
}

impl Printer {
    pub(super) fn new(json: bool) -> Self {
        Self { json }
    }

    pub(super) fn start(&mut self, workflow: &Workflow, event: &str) {
        if self.json {
            out!(
                "{}",
                json!({ "type": "run_started", "workflow": workflow.id, "steps": workflow.steps.len() })
            );
        } else {
            out!(
                "Running workflow `{}` ({} steps) on {}",
                workflow.id,
                workflow.steps.len(),
                event
            );
        }
    }

    pub(super) fn step(&mut self, report: &StepRecord) {
        if self.json {
            let mut line = serde_json::to_value(report).unwrap_or_default();
            line["type"] = json!("step");
            out!("{line}");
            return;
        }
        step_text(report);
    }

    pub(super) fn finish(&mut self, report: &RunReport) {
        if self.json {
            out!(
                "{}",
                json!({
                    "type": "run_finished",
                    "status": report.status,
                    "output": report.output,
                    "stopped_by": report.stopped_by,
                    "duration_ms": report.duration.as_secs_f64() * 1e3,
                })
            );
            return;
        }
        let outcome = report.status.as_str();
        out!(
            "Run {outcome} in {:.2} ms",
            report.duration.as_secs_f64() * 1e3
        );
    }
}

/// A step's record for people: its outcome and time, its logs, failed
/// attempts, output and error.
pub(super) fn step_text(report: &StepRecord) {
    let mark = match report.status {
        StepStatus::Succeeded => "ok  ",
        StepStatus::Stopped => "stop",
        StepStatus::Failed => "FAIL",
        StepStatus::Retrying => "retry",
    };
    let attempts = match report.attempts.len() {
        0 | 1 => String::new(),
        n => format!(", {n} attempts"),
    };
    out!(
        "{mark} {} ({:.2} ms{attempts})",
        report.step,
        report.duration.as_secs_f64() * 1e3
    );
    for attempt in &report.attempts {
        for line in &attempt.logs {
            let source = match line.source {
                LogSource::Log => String::new(),
                LogSource::Stdout => " stdout".to_owned(),
                LogSource::Stderr => " stderr".to_owned(),
                LogSource::Host => " gust".to_owned(),
            };
            let level = serde_json::to_value(line.level).unwrap_or_default();
            out!(
                "       [{}{source}] {}",
                level.as_str().unwrap_or_default(),
                line.message
            );
        }
        for call in &attempt.calls {
            out!("       {}", call_text(call));
        }
        if let Some(error) = &attempt.error
            && attempt.number < report.attempts.len() as u32
        {
            out!("       attempt {} failed: {error}", attempt.number);
        }
    }
    if let Some(output) = &report.output {
        out!("       output: {output}");
    }
    if let Some(error) = &report.error {
        out!("       error: {error}");
    }
    if report.status == StepStatus::Stopped {
        out!("       (the step ended the run)");
    }
}

/// A Salesforce call of an attempt, on one line: `call 2  create Lead
/// 00Q...  201, 20 bytes  31.02 ms  live`.
fn call_text(call: &SalesforceCall) -> String {
    let mut what = call.operation.to_string();
    if let Some(sobject) = &call.sobject {
        what = format!("{what} {sobject}");
    }
    if !call.record_ids.is_empty() {
        what = format!("{what} {}", call.record_ids.join(" "));
    }
    let outcome = match &call.outcome {
        CallOutcome::Succeeded { status, bytes } => format!("{status}, {bytes} bytes"),
        CallOutcome::Failed {
            status, error_code, ..
        } => format!("{status} {error_code}"),
        CallOutcome::InFlight => "no answer".to_owned(),
    };
    let how = if call.replayed { "replayed" } else { "live" };
    format!(
        "call {}  {what}  {outcome}  {:.2} ms  {how}",
        call.sequence,
        call.duration.as_secs_f64() * 1e3
    )
}
