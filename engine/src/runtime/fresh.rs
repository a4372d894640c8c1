//! Runs just accepted and not yet picked up, kept with their events so
//! that their first turn need not read them back from the store. Bounded by
//! count and by the memory their events take: a run not kept is read from
//! the store instead, so the bound costs reads, never runs.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::model::{RunId, RunRecord};

/// The most runs kept: more than a default backlog, so that runs taken
/// out of arrival order (installations take turns) still find theirs.
const MAX_RUNS: usize = 16_384;
/// What a kept run takes besides its event, counted against `MAX_BYTES`.
const RUN_BYTES: usize = 512;
/// The most bytes (as [`footprint`] counts them) their events take.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// The runs kept, and the bytes their events take.
#[derive(Default)]
pub(crate) struct FreshRuns {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    runs: HashMap<RunId, (RunRecord, Value, usize)>,
    bytes: usize,
}

impl FreshRuns {
    /// Keeps a run just stored, if there is room.
    pub(crate) fn keep(&self, run: &RunRecord, event: Value) {
        let bytes = RUN_BYTES + footprint(&event);
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.runs.len() < MAX_RUNS && kept.bytes + bytes <= MAX_BYTES {
            kept.bytes += bytes;
            kept.runs.insert(run.id, (run.clone(), event, bytes));
        }
    }

    /// The run `id` and its event, if kept; it is kept no longer.
    pub(crate) fn take(&self, id: RunId) -> Option<(RunRecord, Value)> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let (run, event, bytes) = kept.runs.remove(&id)?;
        kept.bytes -= bytes;
        Some((run, event))
    }
}

/// About the bytes `value` takes in memory: a `Value` per node, and the
/// text of its strings and keys.
fn footprint(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    NODE + match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(footprint).sum(),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| NODE + key.len() + footprint(value))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn runs_are_kept_until_their_events_fill_the_budget() {
        let fresh = FreshRuns::default();
        let big = json!({ "body": "x".repeat(MAX_BYTES / 2) });
        let runs: Vec<RunRecord> = (0..3)
            .map(|_| RunRecord::queued(RunId::new(), "leads"))
            .collect();
        fresh.keep(&runs[0], big.clone());
        fresh.keep(&runs[1], big.clone());
        assert!(fresh.take(runs[1].id).is_none(), "past the budget");
        let (run, event) = fresh.take(runs[0].id).unwrap();
        assert_eq!((run.id, event), (runs[0].id, big.clone()));
        assert!(fresh.take(runs[0].id).is_none(), "taken once");
        // Taking it gave its bytes back.
        fresh.keep(&runs[2], big);
        assert!(fresh.take(runs[2].id).is_some());
    }

    #[test]
    fn small_runs_are_kept_up_to_a_count() {
        let fresh = FreshRuns::default();
        let runs: Vec<RunRecord> = (0..=MAX_RUNS)
            .map(|_| RunRecord::queued(RunId::new(), "leads"))
            .collect();
        for run in &runs {
            fresh.keep(run, json!({ "n": 1 }));
        }
        assert!(fresh.take(runs[MAX_RUNS].id).is_none());
        assert!(fresh.take(runs[MAX_RUNS - 1].id).is_some());
    }

    #[test]
    fn the_footprint_counts_text_and_nodes() {
        let node = std::mem::size_of::<Value>();
        assert_eq!(footprint(&json!(null)), node);
        assert_eq!(footprint(&json!("abc")), node + 3);
        assert_eq!(footprint(&json!(["abc", 1])), 3 * node + 3);
        assert_eq!(footprint(&json!({ "ab": "c" })), 3 * node + 3);
    }
}
