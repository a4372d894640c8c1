//! How `gust run` shows a run: text for people, or one JSON object per line
//! (`--json`) for machines.

use std::path::Path;

use serde_json::json;

use crate::model::{LogSource, StepRecord, StepStatus};
use crate::runtime::RunReport;
use crate::workflow::Workflow;

pub(super) struct Printer {
    json: bool,
}

impl Printer {
    pub(super) fn new(json: bool) -> Self {
        Self { json }
    }

    pub(super) fn start(&mut self, workflow: &Workflow, event: &Path) {
        if self.json {
            println!(
                "{}",
                json!({ "type": "run_started", "workflow": workflow.id, "steps": workflow.steps.len() })
            );
        } else {
            println!(
                "Running workflow `{}` ({} steps) on {}",
                workflow.id,
                workflow.steps.len(),
                event.display()
            );
        }
    }

    pub(super) fn step(&mut self, report: &StepRecord) {
        if self.json {
            let mut line = serde_json::to_value(report).unwrap_or_default();
            line["type"] = json!("step");
            println!("{line}");
            return;
        }
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
        println!(
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
                println!(
                    "       [{}{source}] {}",
                    level.as_str().unwrap_or_default(),
                    line.message
                );
            }
            if let Some(error) = &attempt.error
                && attempt.number < report.attempts.len() as u32
            {
                println!("       attempt {} failed: {error}", attempt.number);
            }
        }
        if let Some(output) = &report.output {
            println!("       output: {output}");
        }
        if let Some(error) = &report.error {
            println!("       error: {error}");
        }
        if report.status == StepStatus::Stopped {
            println!("       (the step ended the run)");
        }
    }

    pub(super) fn finish(&mut self, report: &RunReport) {
        if self.json {
            println!(
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
        println!(
            "Run {outcome} in {:.2} ms",
            report.duration.as_secs_f64() * 1e3
        );
    }
}
