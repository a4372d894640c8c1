//! A run as one stored value: its record and its step records, each in
//! the compact form of [`super::compact`] behind its length. (Its event,
//! written once, is kept apart, so that a step's end does not write it
//! again.)
//!
//! One value for both keeps a one-step run's end to one insert (each sled
//! insert has a fixed cost on top of the bytes it writes). A step's end
//! rewrites the run's value, splicing the steps that did not change as
//! they are: they are never decoded again.
//!
//! Layout: a layout byte, then parts, each a little-endian `u32` length
//! and that many bytes: the record, then one per step record in step
//! order. Layout 1 (Gust 0.1 before the compact form) held JSON parts: it
//! is still read, and a run is rewritten in layout 2 when it next changes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::compact::Compact;
use crate::model::{RunId, RunRecord, StepRecord};

/// Records as JSON text.
const JSON_LAYOUT: u8 = 1;
/// Records in their compact form.
const COMPACT_LAYOUT: u8 = 2;

/// The parts of a stored run, borrowed from its value.
pub(super) struct Document<'a> {
    id: RunId,
    layout: u8,
    record: &'a [u8],
    steps: Vec<&'a [u8]>,
}

impl<'a> Document<'a> {
    /// Reads the parts of run `id`'s `value`.
    pub(super) fn parse(id: RunId, value: &'a [u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("the stored value of run {id} is truncated"));
        let (&layout, mut rest) = value.split_first().ok_or_else(corrupt)?;
        if layout != JSON_LAYOUT && layout != COMPACT_LAYOUT {
            return Err(StoreError::Corrupt(format!(
                "run {id} is stored in layout {layout}, which this Gust does not read: the store was written by a later version"
            )));
        }
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let (length, after) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
            let length = u32::from_le_bytes(*length) as usize;
            if after.len() < length {
                return Err(corrupt());
            }
            let (part, after) = after.split_at(length);
            parts.push(part);
            rest = after;
        }
        let mut parts = parts.into_iter();
        let record = parts.next().ok_or_else(corrupt)?;
        Ok(Self {
            id,
            layout,
            record,
            steps: parts.collect(),
        })
    }

    /// The run record.
    pub(super) fn record(&self) -> Result<RunRecord, StoreError> {
        self.decode(self.record)
    }

    /// The step records, in step order.
    pub(super) fn steps(&self) -> Result<Vec<StepRecord>, StoreError> {
        self.steps.iter().map(|step| self.decode(step)).collect()
    }

    fn decode<T: Compact + DeserializeOwned>(&self, part: &[u8]) -> Result<T, StoreError> {
        if self.layout == JSON_LAYOUT {
            decode(part)
        } else {
            T::decode(self.id, part)
        }
    }

    /// The value of this run with `record` as its record and, when given,
    /// step number `.0` set to `.1` (a step one past the last is added).
    pub(super) fn with(
        &self,
        record: &RunRecord,
        step: Option<(usize, &StepRecord)>,
    ) -> Result<Vec<u8>, StoreError> {
        let record = record.encode()?;
        let step = step
            .map(|(index, step)| step.encode().map(|step| (index, step)))
            .transpose()?;
        // Steps in the JSON layout are rewritten in the compact one.
        let converted: Vec<Vec<u8>> = if self.layout == JSON_LAYOUT {
            self.steps()?
                .iter()
                .map(Compact::encode)
                .collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let mut steps: Vec<&[u8]> = if self.layout == JSON_LAYOUT {
            converted.iter().map(Vec::as_slice).collect()
        } else {
            self.steps.clone()
        };
        if let Some((index, step)) = &step {
            match index.cmp(&steps.len()) {
                std::cmp::Ordering::Less => steps[*index] = step,
                std::cmp::Ordering::Equal => steps.push(step),
                std::cmp::Ordering::Greater => {
                    return Err(StoreError::Corrupt(format!(
                        "step record {index} written after only {} stored",
                        steps.len()
                    )));
                }
            }
        }
        Ok(assemble(&record, &steps))
    }
}

/// The value of a new run: its record, no steps yet.
pub(super) fn new_run(record: &RunRecord) -> Result<Vec<u8>, StoreError> {
    Ok(assemble(&record.encode()?, &[]))
}

fn assemble(record: &[u8], steps: &[&[u8]]) -> Vec<u8> {
    let parts = || std::iter::once(record).chain(steps.iter().copied());
    let size = 1 + parts().map(|part| 4 + part.len()).sum::<usize>();
    let mut value = Vec::with_capacity(size);
    value.push(COMPACT_LAYOUT);
    for part in parts() {
        // A part is at most the body limit plus a little: far below 4 GiB.
        value.extend_from_slice(&(part.len() as u32).to_le_bytes());
        value.extend_from_slice(part);
    }
    value
}

/// A value stored as JSON (events, journal entries).
pub(super) fn encode(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// A value stored by [`encode`].
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::{Value, json};

    use super::*;
    use crate::model::{
        Attempt, CallOperation, CallOutcome, FailureKind, LogLevel, LogLine, LogSource, RunStatus,
        SalesforceCall, StepFailure, StepStatus,
    };

    /// The API form of a record, to compare records by.
    fn form(record: &impl Serialize) -> Value {
        serde_json::to_value(record).unwrap()
    }

    fn step(name: &str, input: Value) -> StepRecord {
        StepRecord::start(name, input)
    }

    #[test]
    fn parts_read_back_and_steps_are_replaced_or_added() {
        let id = RunId::new();
        let mut record = RunRecord::queued(id, "leads");
        let value = new_run(&record).unwrap();
        let document = Document::parse(id, &value).unwrap();
        assert_eq!(form(&document.record().unwrap()), form(&record));
        assert!(document.steps().unwrap().is_empty());

        record.status = RunStatus::Retrying;
        let value = document
            .with(&record, Some((0, &step("first", json!(1)))))
            .unwrap();
        let value = Document::parse(id, &value)
            .unwrap()
            .with(&record, Some((1, &step("second", json!(2)))))
            .unwrap();
        let value = Document::parse(id, &value)
            .unwrap()
            .with(&record, Some((0, &step("again", json!(3)))))
            .unwrap();
        let document = Document::parse(id, &value).unwrap();
        assert_eq!(document.record().unwrap().status, RunStatus::Retrying);
        assert_eq!(document.record().unwrap().id, id);
        let names: Vec<String> = document
            .steps()
            .unwrap()
            .into_iter()
            .map(|s| s.step)
            .collect();
        assert_eq!(names, ["again", "second"]);
        assert!(
            document
                .with(&record, Some((5, &step("gap", json!(null)))))
                .is_err()
        );
    }

    #[test]
    fn a_run_stored_as_json_reads_back_and_is_rewritten_compact() {
        let id = RunId::new();
        let record = RunRecord::queued(id, "leads");
        let first = step("first", json!({ "a": [1, 2.5, "x"] }));
        let value = [
            vec![JSON_LAYOUT],
            assemble_parts(&[&encode(&record).unwrap(), &encode(&first).unwrap()]),
        ]
        .concat();
        let document = Document::parse(id, &value).unwrap();
        assert_eq!(form(&document.record().unwrap()), form(&record));
        assert_eq!(form(&document.steps().unwrap()), form(&vec![first.clone()]));

        let second = step("second", json!(true));
        let value = document.with(&record, Some((1, &second))).unwrap();
        assert_eq!(value[0], COMPACT_LAYOUT);
        let document = Document::parse(id, &value).unwrap();
        assert_eq!(form(&document.steps().unwrap()), form(&vec![first, second]));
    }

    /// The length-prefixed parts of a value, after its layout byte.
    fn assemble_parts(parts: &[&[u8]]) -> Vec<u8> {
        parts
            .iter()
            .flat_map(|part| [&(part.len() as u32).to_le_bytes()[..], part].concat())
            .collect()
    }

    #[test]
    fn the_compact_form_is_a_third_of_the_json_one() {
        let id = RunId::new();
        let mut record = RunRecord::queued(id, "bench-accepted");
        record.status = RunStatus::Succeeded;
        record.finished_at = Some(record.created_at);
        record.output = Some(json!({ "matched": true }));
        let mut step = step(
            "keep",
            json!({ "conditions": [{ "value": "website", "op": "equals", "to": "website" }] }),
        );
        step.status = StepStatus::Succeeded;
        step.output = Some(json!({ "matched": true }));
        step.attempts.push(Attempt {
            number: 1,
            started_at: step.started_at,
            duration: Duration::from_micros(363),
            error: None,
            logs: Vec::new(),
            calls: Vec::new(),
        });
        step.finished_at = Some(step.started_at);
        let compact = new_run(&record).unwrap();
        let compact = Document::parse(id, &compact)
            .unwrap()
            .with(&record, Some((0, &step)))
            .unwrap();
        let json = encode(&record).unwrap().len() + encode(&step).unwrap().len();
        assert!(
            compact.len() * 2 < json,
            "{} bytes against {json} as JSON",
            compact.len()
        );
    }

    #[test]
    fn a_truncated_or_foreign_value_is_corrupt() {
        let id = RunId::new();
        let value = new_run(&RunRecord::queued(id, "leads")).unwrap();
        assert!(Document::parse(id, &value[..value.len() - 1]).is_err());
        assert!(Document::parse(id, &value[..3]).is_err());
        assert!(Document::parse(id, &[COMPACT_LAYOUT]).is_err(), "no record");
        assert!(Document::parse(id, b"{\"id\":1}").is_err());
        assert!(Document::parse(id, &[]).is_err());
        let garbage = [&[COMPACT_LAYOUT][..], &assemble_parts(&[&[0xff; 7]])].concat();
        assert!(Document::parse(id, &garbage).unwrap().record().is_err());
    }

    /// Any JSON: null, booleans, integers, finite floats, text (any
    /// Unicode), and arrays and objects of those, a few levels deep.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1e300..1e300f64).prop_map(Value::from),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(".*", inner, 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Any time from 1900 to 2200, to the nanosecond.
    fn any_time() -> impl proptest::strategy::Strategy<Value = DateTime<Utc>> {
        use proptest::prelude::*;
        (-2_208_988_800i64..7_258_118_400, 0u32..1_000_000_000)
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
    }

    fn any_failure() -> impl proptest::strategy::Strategy<Value = Option<StepFailure>> {
        use proptest::prelude::*;
        proptest::option::of(
            (".*", any::<bool>()).prop_map(|(message, retryable)| StepFailure {
                kind: FailureKind::Timeout,
                message,
                retryable,
            }),
        )
    }

    fn any_record() -> impl proptest::strategy::Strategy<Value = RunRecord> {
        use proptest::prelude::*;
        (
            (".*", 0..RunStatus::ALL.len(), any_time(), any_time()),
            proptest::option::of(any_time()),
            proptest::option::of(".*"),
            proptest::option::of(any_json()),
            proptest::option::of(".*"),
            any::<bool>(),
        )
            .prop_map(
                |((workflow, status, created, updated), due, key, output, error, replay)| {
                    let mut record = RunRecord::queued(RunId::new(), &workflow);
                    record.status = RunStatus::ALL[status];
                    record.created_at = created;
                    record.updated_at = updated;
                    record.due_at = due;
                    record.finished_at = due.map(|due| due + chrono::TimeDelta::seconds(1));
                    record.dedupe_key = key;
                    record.output = output;
                    record.stopped_by = error.clone();
                    record.error = error;
                    if replay {
                        record.replay_of = Some(RunId::new());
                        record.replayed_by = Some(RunId::new());
                    }
                    record
                },
            )
    }

    fn any_step() -> impl proptest::strategy::Strategy<Value = StepRecord> {
        use proptest::prelude::*;
        let attempt = (
            1u32..5,
            any_time(),
            any::<u64>(),
            any_failure(),
            proptest::collection::vec(".*", 0..3),
            any::<bool>(),
        )
            .prop_map(|(number, started_at, nanos, error, logs, called)| Attempt {
                number,
                started_at,
                duration: Duration::from_nanos(nanos),
                error,
                logs: logs
                    .into_iter()
                    .map(|message| LogLine {
                        level: LogLevel::Warn,
                        source: LogSource::Stderr,
                        message,
                    })
                    .collect(),
                calls: if called {
                    vec![SalesforceCall {
                        sequence: number,
                        operation: CallOperation::Create,
                        sobject: Some("Lead".to_owned()),
                        record_ids: vec!["00Qxx0000001".to_owned()],
                        digest: "ab12".to_owned(),
                        started_at,
                        duration: Duration::from_millis(12),
                        outcome: CallOutcome::Succeeded {
                            status: 201,
                            bytes: 40,
                        },
                        replayed: number > 1,
                    }]
                } else {
                    Vec::new()
                },
            });
        (
            (
                ".*",
                any_json(),
                proptest::option::of(any_json()),
                any_failure(),
            ),
            proptest::collection::vec(attempt, 0..3),
            (
                any_time(),
                proptest::option::of(any_time()),
                any::<u64>(),
                any::<u32>(),
            ),
        )
            .prop_map(
                |((name, input, output, error), attempts, (started, finished, nanos, resumed))| {
                    let mut step = StepRecord::start(&name, input);
                    step.status = if error.is_some() {
                        StepStatus::Failed
                    } else {
                        StepStatus::Succeeded
                    };
                    step.output = output;
                    step.error = error;
                    step.attempts = attempts;
                    step.started_at = started;
                    step.finished_at = finished;
                    step.duration = Duration::from_nanos(nanos);
                    step.resumed_after = resumed;
                    step
                },
            )
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// A run written step by step reads back as written: the record
        /// last given, each step as last set, in order.
        #[test]
        fn a_run_written_step_by_step_reads_back_as_written(
            record in any_record(),
            writes in proptest::collection::vec((0usize..4, any_step()), 0..6),
        ) {
            let id = record.id;
            let mut value = new_run(&RunRecord::queued(id, "first")).unwrap();
            let mut expected: Vec<StepRecord> = Vec::new();
            for (slot, step) in &writes {
                let slot = (*slot).min(expected.len());
                value = Document::parse(id, &value).unwrap().with(&record, Some((slot, step))).unwrap();
                if slot == expected.len() {
                    expected.push(step.clone());
                } else {
                    expected[slot] = step.clone();
                }
            }
            let value = Document::parse(id, &value).unwrap().with(&record, None).unwrap();
            let document = Document::parse(id, &value).unwrap();
            let read = document.record().unwrap();
            proptest::prop_assert_eq!(read.id, id);
            proptest::prop_assert_eq!(form(&read), form(&record));
            proptest::prop_assert_eq!(form(&document.steps().unwrap()), form(&expected));
            // Timestamps and durations come back to the nanosecond, which
            // the API form rounds.
            for (read, written) in document.steps().unwrap().iter().zip(&expected) {
                proptest::prop_assert_eq!(read.started_at, written.started_at);
                proptest::prop_assert_eq!(read.duration, written.duration);
            }
        }
    }
}
