//! A run as one stored value: its record and its step records, each a JSON
//! text behind its length. (Its event, written once, is kept apart, so
//! that a step's end does not write it again.)
//!
//! One value for both keeps a one-step run's end to one insert (each sled
//! insert has a fixed cost on top of the bytes it writes). A step's end
//! rewrites the run's value, splicing the steps that did not change as
//! they are: they are never parsed again.
//!
//! Layout: a version byte, then parts, each a little-endian `u32` length
//! and that many bytes: the record, then one per step record in step
//! order.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const VERSION: u8 = 1;

/// The parts of a stored run, borrowed from its value.
pub(super) struct Document<'a> {
    record: &'a [u8],
    steps: Vec<&'a [u8]>,
}

impl<'a> Document<'a> {
    /// Reads the parts of `value`.
    pub(super) fn parse(value: &'a [u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("a run's stored value is truncated".to_owned());
        let (&version, mut rest) = value.split_first().ok_or_else(corrupt)?;
        if version != VERSION {
            return Err(StoreError::Corrupt(format!(
                "a run is stored in layout {version}, which this Gust does not read: the store was written by another version (move it aside to start afresh)"
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
            record,
            steps: parts.collect(),
        })
    }

    /// The run record.
    pub(super) fn record<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        decode(self.record)
    }

    /// The step records, in step order.
    pub(super) fn steps<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.steps.iter().map(|step| decode(step)).collect()
    }

    /// The value of this run with `record` as its record and, when given,
    /// step number `.0` set to `.1` (a step one past the last is added).
    pub(super) fn with(
        &self,
        record: &impl Serialize,
        step: Option<(usize, &impl Serialize)>,
    ) -> Result<Vec<u8>, StoreError> {
        let record = encode(record)?;
        let step = step
            .map(|(index, step)| encode(step).map(|step| (index, step)))
            .transpose()?;
        let mut steps = self.steps.clone();
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
pub(super) fn new_run(record: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    Ok(assemble(&encode(record)?, &[]))
}

fn assemble(record: &[u8], steps: &[&[u8]]) -> Vec<u8> {
    let parts = || std::iter::once(record).chain(steps.iter().copied());
    let size = 1 + parts().map(|part| 4 + part.len()).sum::<usize>();
    let mut value = Vec::with_capacity(size);
    value.push(VERSION);
    for part in parts() {
        // A part is at most the body limit plus a little: far below 4 GiB.
        value.extend_from_slice(&(part.len() as u32).to_le_bytes());
        value.extend_from_slice(part);
    }
    value
}

/// A value as stored: JSON.
pub(super) fn encode(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

/// A value stored by [`encode`].
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn parts_read_back_and_steps_are_replaced_or_added() {
        let value = new_run(&json!({ "id": 1 })).unwrap();
        let document = Document::parse(&value).unwrap();
        assert_eq!(document.record::<Value>().unwrap(), json!({ "id": 1 }));
        assert!(document.steps::<Value>().unwrap().is_empty());

        let value = document
            .with(&json!({ "id": 2 }), Some((0, &json!("first"))))
            .unwrap();
        let value = Document::parse(&value)
            .unwrap()
            .with(&json!({ "id": 3 }), Some((1, &json!("second"))))
            .unwrap();
        let value = Document::parse(&value)
            .unwrap()
            .with(&json!({ "id": 4 }), Some((0, &json!("again"))))
            .unwrap();
        let document = Document::parse(&value).unwrap();
        assert_eq!(document.record::<Value>().unwrap(), json!({ "id": 4 }));
        assert_eq!(
            document.steps::<Value>().unwrap(),
            vec![json!("again"), json!("second")]
        );
        assert!(document.with(&json!({}), Some((5, &json!("gap")))).is_err());
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

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(64))]

        /// A run written step by step reads back as written: the record
        /// last given, each step as last set, in order.
        #[test]
        fn a_run_written_step_by_step_reads_back_as_written(
            record in any_json(),
            writes in proptest::collection::vec((0usize..4, any_json()), 0..8),
        ) {
            let mut value = new_run(&json!(null)).unwrap();
            let mut expected: Vec<Value> = Vec::new();
            for (slot, step) in &writes {
                let slot = (*slot).min(expected.len());
                value = Document::parse(&value).unwrap().with(&record, Some((slot, step))).unwrap();
                if slot == expected.len() {
                    expected.push(step.clone());
                } else {
                    expected[slot] = step.clone();
                }
            }
            let value = Document::parse(&value).unwrap().with(&record, None::<(usize, &Value)>).unwrap();
            let document = Document::parse(&value).unwrap();
            proptest::prop_assert_eq!(document.record::<Value>().unwrap(), record);
            proptest::prop_assert_eq!(document.steps::<Value>().unwrap(), expected);
        }
    }

    #[test]
    fn a_truncated_or_foreign_value_is_corrupt() {
        let value = new_run(&json!({ "id": 1 })).unwrap();
        assert!(Document::parse(&value[..value.len() - 1]).is_err());
        assert!(Document::parse(&value[..3]).is_err());
        assert!(Document::parse(&[VERSION]).is_err(), "no record");
        assert!(Document::parse(b"{\"id\":1}").is_err());
        assert!(Document::parse(&[]).is_err());
    }
}
