//! Where a run stands, read from its step records: the one walk over a
//! workflow's steps that `gust run` and the durable executor share, so the
//! two cannot come to disagree about what a run means.
//!
//! A finished step is never run again: its output feeds the steps after it,
//! a step that stopped the run ends it successfully, a failed step ends it
//! as failed. The first unfinished step is the one to attempt, its input
//! resolved from the event and the outputs before it.

use std::collections::HashMap;

use serde_json::Value;

use super::steps::PreparedWorkflow;
use crate::model::{StepRecord, StepStatus};
use crate::workflow::reference::{Installed, Scope};

/// A walk over one run's steps, in order.
pub(crate) struct Walk<'a> {
    prepared: &'a PreparedWorkflow,
    event: &'a Value,
    /// The installation the run is for, if any.
    installation: Option<&'a Installed>,
    /// The outputs of the steps passed, by step id.
    outputs: HashMap<String, Value>,
    /// The output of the last step passed (the event before any).
    previous: Value,
    /// The first step not passed.
    index: usize,
}

/// What a run does next.
pub(crate) enum Position {
    /// Step number `index` has an attempt to make; `record` is its record
    /// so far (new or retrying), kept at `slot` among the run's records.
    Attempt {
        /// The step's place in the workflow.
        index: usize,
        /// The record's place among the run's records.
        slot: usize,
        /// The step's record.
        record: StepRecord,
    },
    /// The run ended.
    Ended(Ending),
}

/// How a run ended.
pub(crate) enum Ending {
    /// Every step succeeded, or one stopped the run.
    Succeeded {
        /// The output of the last step that ran.
        output: Value,
        /// The step that stopped the run, if one did.
        stopped_by: Option<String>,
    },
    /// A step failed.
    Failed {
        /// Why, for the run's record.
        error: String,
        /// The record of a step that failed before its first attempt (its
        /// input could not be resolved), still to be stored.
        unresolvable: Option<StepRecord>,
    },
}

impl<'a> Walk<'a> {
    /// A walk from the first step of `prepared` for `event`, in the run
    /// of `installation` if it is for one.
    pub(crate) fn new(
        prepared: &'a PreparedWorkflow,
        event: &'a Value,
        installation: Option<&'a Installed>,
    ) -> Self {
        Self {
            prepared,
            event,
            installation,
            outputs: HashMap::new(),
            previous: event.clone(),
            index: 0,
        }
    }

    /// Passes every finished step of `records` and says what comes next.
    pub(crate) fn next(&mut self, records: &[StepRecord]) -> Position {
        let steps = &self.prepared.workflow.steps;
        while let Some(step) = steps.get(self.index) {
            let slot = records
                .iter()
                .position(|record| record.step == step.id.as_str());
            let Some(record) = slot.map(|at| &records[at]) else {
                return match self.input(self.index) {
                    Ok(input) => Position::Attempt {
                        index: self.index,
                        slot: records.len(),
                        record: StepRecord::start(step.id.as_str(), input),
                    },
                    Err(error) => {
                        let record = StepRecord::unresolvable(step.id.as_str(), error);
                        Position::Ended(Ending::Failed {
                            error: record.failure_summary(),
                            unresolvable: Some(record),
                        })
                    }
                };
            };
            let output = || record.output.clone().unwrap_or(Value::Null);
            match record.status {
                StepStatus::Succeeded => {
                    let output = output();
                    self.outputs.insert(step.id.to_string(), output.clone());
                    self.previous = output;
                    self.index += 1;
                }
                StepStatus::Stopped => {
                    return Position::Ended(Ending::Succeeded {
                        output: output(),
                        stopped_by: Some(record.step.clone()),
                    });
                }
                StepStatus::Failed => {
                    return Position::Ended(Ending::Failed {
                        error: record.failure_summary(),
                        unresolvable: None,
                    });
                }
                StepStatus::Retrying => {
                    return Position::Attempt {
                        index: self.index,
                        slot: slot.unwrap_or(records.len()),
                        record: record.clone(),
                    };
                }
            }
        }
        Position::Ended(Ending::Succeeded {
            output: std::mem::take(&mut self.previous),
            stopped_by: None,
        })
    }

    /// The input of step number `index`: its `with` resolved against the
    /// event and earlier outputs, or the previous output.
    fn input(&self, index: usize) -> Result<Value, String> {
        let scope = Scope {
            trigger: self.event,
            steps: &self.outputs,
            installation: self.installation,
        };
        match &self.prepared.workflow.steps[index].with {
            Some(with) => scope.resolve(with).map_err(|error| error.to_string()),
            None => Ok(self.previous.clone()),
        }
    }
}
