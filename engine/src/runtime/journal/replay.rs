//! Matching a step's calls, in order, against the journal an earlier
//! execution of the step left: what to do with each call.

use std::ops::Range;

use super::call::{CallSpec, Effect};
use crate::model::{CallOperation, CallOutcome, JournalEntry, SalesforceCall};

/// The error code a step gets for a write an earlier execution sent and
/// whose answer was lost: Salesforce may or may not have carried it out.
pub const OUTCOME_UNKNOWN: &str = "GUST_OUTCOME_UNKNOWN";

/// The code of a write the client gave up on after sending it (see
/// `gust-salesforce`): it may have been carried out.
const TRANSPORT_UNCERTAIN: &str = "GUST_TRANSPORT_UNCERTAIN";

/// What to do with a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// Answer it from the journal; send nothing.
    Replay {
        /// The answer kept.
        answer: String,
        /// The call that was answered.
        earlier: SalesforceCall,
    },
    /// Answer it with [`OUTCOME_UNKNOWN`]: a write was sent before and its
    /// answer was lost, so sending it again could write twice.
    Unknown {
        /// The call whose answer was lost.
        earlier: SalesforceCall,
    },
    /// Send it to Salesforce.
    Send {
        /// The earlier execution's entries to remove as it is recorded.
        forget: Range<u32>,
        /// The Bulk API 2.0 job the earlier execution opened, to follow.
        bulk_job: Option<String>,
    },
}

/// Where a re-execution stands against the earlier journal.
#[derive(Debug)]
pub(super) struct Replay {
    earlier: Vec<JournalEntry>,
    /// The number of calls planned so far.
    made: u32,
    /// The call at which the step took another path, if it did: it and
    /// every later call are sent.
    ended_at: Option<u32>,
}

impl Replay {
    /// A replay of `earlier`, the step's journal so far.
    pub(super) fn new(earlier: Vec<JournalEntry>) -> Self {
        Self {
            earlier,
            made: 0,
            ended_at: None,
        }
    }

    /// Whether the replay ended at call `sequence`.
    pub(super) fn ended_at(&self, sequence: u32) -> bool {
        self.ended_at == Some(sequence)
    }

    /// The sequence of the next call and what to do with it; a note for
    /// the step's log when the replay ends or the call is sent again.
    pub(super) fn plan(&mut self, spec: &CallSpec, digest: &str) -> (u32, Plan, Option<String>) {
        self.made += 1;
        let sequence = self.made;
        let send = |forget, bulk_job| Plan::Send { forget, bulk_job };
        let Some(entry) = self
            .earlier
            .get(sequence as usize - 1)
            .filter(|_| self.ended_at.is_none())
        else {
            return (sequence, send(0..0, None), None);
        };
        let call = &entry.call;
        if call.operation != spec.operation || call.digest != digest {
            self.ended_at = Some(sequence);
            let earlier = self.earlier.len() as u32;
            let how = if call.operation == spec.operation {
                "with other arguments than"
            } else {
                "instead of"
            };
            let note = format!(
                "Call {sequence} ({}) was made {how} the earlier execution's ({}): the replay of the journal ends here, and this call and every later one go to Salesforce.",
                describe(spec.operation, spec.sobject.as_deref()),
                describe(call.operation, call.sobject.as_deref()),
            );
            return (sequence, send(sequence + 1..earlier + 1, None), Some(note));
        }
        let lost = match &call.outcome {
            CallOutcome::Succeeded { .. } => match &entry.answer {
                Some(answer) => {
                    let plan = Plan::Replay {
                        answer: answer.clone(),
                        earlier: call.clone(),
                    };
                    return (sequence, plan, None);
                }
                // A read over the size kept: read again.
                None => return (sequence, send(0..0, None), None),
            },
            CallOutcome::InFlight => true,
            CallOutcome::Failed { error_code, .. } => error_code == TRANSPORT_UNCERTAIN,
        };
        // An error Salesforce answered wrote nothing: send again.
        if !lost || spec.effect == Effect::Read {
            return (sequence, send(0..0, None), None);
        }
        if let Some(job) = &entry.bulk_job {
            let note = format!(
                "Call {sequence} ({}) follows Bulk API 2.0 job {job}, which its earlier execution opened, instead of opening another.",
                describe(spec.operation, spec.sobject.as_deref())
            );
            return (sequence, send(0..0, Some(job.clone())), Some(note));
        }
        if spec.effect == Effect::Idempotent {
            let note = format!(
                "Call {sequence} ({}) is sent again: its earlier answer was lost, and an upsert by external id does what it did once.",
                describe(spec.operation, spec.sobject.as_deref())
            );
            return (sequence, send(0..0, None), Some(note));
        }
        let plan = Plan::Unknown {
            earlier: call.clone(),
        };
        (sequence, plan, None)
    }
}

/// `create Lead`, `query`.
pub(super) fn describe(operation: CallOperation, sobject: Option<&str>) -> String {
    match sobject {
        Some(sobject) => format!("{operation} {sobject}"),
        None => operation.to_string(),
    }
}

/// The message of [`OUTCOME_UNKNOWN`] for `call`.
pub(super) fn unknown_message(call: &SalesforceCall) -> String {
    let named = match call.record_ids.as_slice() {
        [] => String::new(),
        ids => format!(" ({})", ids.join(", ")),
    };
    format!(
        "call {} ({}{named}) was sent to Salesforce by an earlier execution of this step, which stopped before the answer was stored: Salesforce may or may not have carried it out, so it is not sent again. Check (query by an external id) and decide.",
        call.sequence,
        describe(call.operation, call.sobject.as_deref()),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::model::now;

    fn create(last_name: &str) -> CallSpec {
        CallSpec::new(CallOperation::Create, Effect::Write)
            .sobject("Lead")
            .json(&json!({ "LastName": last_name }))
    }

    fn entry(
        sequence: u32,
        spec: &CallSpec,
        outcome: CallOutcome,
        answer: Option<&str>,
    ) -> JournalEntry {
        JournalEntry {
            call: SalesforceCall {
                sequence,
                operation: spec.operation,
                sobject: spec.sobject.clone(),
                record_ids: Vec::new(),
                digest: spec.digest(),
                started_at: now(),
                duration: Duration::from_millis(3),
                outcome,
                replayed: false,
            },
            answer: answer.map(str::to_owned),
            bulk_job: None,
        }
    }

    fn created() -> CallOutcome {
        CallOutcome::Succeeded {
            status: 201,
            bytes: 20,
        }
    }

    fn plan(replay: &mut Replay, spec: &CallSpec) -> (u32, Plan, Option<String>) {
        replay.plan(spec, &spec.digest())
    }

    #[test]
    fn matching_calls_are_answered_from_the_journal_and_new_ones_sent() {
        let (a, b) = (create("A"), create("B"));
        let mut replay = Replay::new(vec![entry(1, &a, created(), Some("\"00Q1\""))]);
        let (sequence, first, note) = plan(&mut replay, &a);
        assert_eq!(sequence, 1);
        assert!(matches!(first, Plan::Replay { answer, .. } if answer == "\"00Q1\""));
        assert_eq!(note, None);
        assert_eq!(
            plan(&mut replay, &b).1,
            Plan::Send {
                forget: 0..0,
                bulk_job: None
            }
        );
    }

    #[test]
    fn another_path_ends_the_replay_and_forgets_the_rest() {
        let (a, b, c) = (create("A"), create("B"), create("C"));
        let earlier = vec![
            entry(1, &a, created(), Some("\"1\"")),
            entry(2, &b, created(), Some("\"2\"")),
            entry(3, &c, created(), Some("\"3\"")),
        ];
        let mut replay = Replay::new(earlier);
        assert!(matches!(plan(&mut replay, &a).1, Plan::Replay { .. }));
        let (sequence, second, note) = plan(&mut replay, &c);
        assert_eq!(sequence, 2);
        assert_eq!(
            second,
            Plan::Send {
                forget: 3..4,
                bulk_job: None
            }
        );
        let note = note.unwrap();
        assert!(
            note.contains("Call 2 (create Lead) was made with other arguments"),
            "{note}"
        );
        // The third call matches the earlier third, but the replay ended.
        assert!(matches!(plan(&mut replay, &c).1, Plan::Send { .. }));
    }

    #[test]
    fn a_write_whose_answer_was_lost_is_unknown_unless_idempotent() {
        let a = create("A");
        let mut replay = Replay::new(vec![entry(1, &a, CallOutcome::InFlight, None)]);
        let (_, first, _) = plan(&mut replay, &a);
        let Plan::Unknown { earlier } = first else {
            panic!("{first:?}");
        };
        assert!(unknown_message(&earlier).contains("call 1 (create Lead)"));

        let upsert = CallSpec::new(CallOperation::Upsert, Effect::Idempotent)
            .sobject("Lead")
            .record_id("ada@example.com");
        let mut replay = Replay::new(vec![entry(1, &upsert, CallOutcome::InFlight, None)]);
        let (_, again, note) = plan(&mut replay, &upsert);
        assert_eq!(
            again,
            Plan::Send {
                forget: 0..0,
                bulk_job: None
            }
        );
        assert!(note.unwrap().contains("sent again"));
    }

    #[test]
    fn errors_salesforce_answered_and_reads_over_the_cap_are_sent_again() {
        let a = create("A");
        let refused = CallOutcome::Failed {
            status: 503,
            error_code: "SERVER_UNAVAILABLE".to_owned(),
            message: "busy".to_owned(),
        };
        let query = CallSpec::new(CallOperation::Query, Effect::Read).text("SELECT Id FROM Lead");
        let big = CallOutcome::Succeeded {
            status: 200,
            bytes: 1 << 20,
        };
        let mut replay = Replay::new(vec![
            entry(1, &a, refused, None),
            entry(2, &query, big, None),
        ]);
        assert!(matches!(plan(&mut replay, &a).1, Plan::Send { .. }));
        assert!(matches!(plan(&mut replay, &query).1, Plan::Send { .. }));
        assert_eq!(replay.ended_at, None);
    }

    #[test]
    fn a_bulk_write_cut_off_follows_its_job() {
        let many = CallSpec::new(CallOperation::WriteMany, Effect::Write)
            .sobject("Lead")
            .json(&json!([{ "LastName": "A" }]));
        let mut cut_off = entry(1, &many, CallOutcome::InFlight, None);
        cut_off.bulk_job = Some("750R0000000001".to_owned());
        let mut replay = Replay::new(vec![cut_off]);
        let (_, plan, note) = plan(&mut replay, &many);
        assert_eq!(
            plan,
            Plan::Send {
                forget: 0..0,
                bulk_job: Some("750R0000000001".to_owned())
            }
        );
        assert!(
            note.unwrap()
                .contains("follows Bulk API 2.0 job 750R0000000001")
        );
    }
}
