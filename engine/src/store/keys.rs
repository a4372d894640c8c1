//! The key layout of the store: every key the store writes is built here.
//!
//! One sled tree holds everything, each kind of record under a one-byte
//! prefix, so that accepting an event (run, event in the workflow's index,
//! dedupe key) or finishing an attempt (run and step records, state writes,
//! queue entry) is one atomic batch. Run ids are UUIDv7, whose bytes sort
//! by creation time, so every range of runs is a time range.
//!
//! | key                                        | value                          |
//! |--------------------------------------------|--------------------------------|
//! | `r` run                                    | run and step records ([`super::document`]) |
//! | `w` workflow, 0, run                       | the run's trigger event        |
//! | `q` due (ms since epoch, u64 BE), run      | lane (workflow or `workflow/installation`) |
//! | `m`                                        | the open-run mark (a run id)   |
//! | `f` run (failed runs: the dead-letter list)| empty                          |
//! | `i` run (installations' runs)              | installation id                |
//! | `d` lane, 0, dedupe key                    | run id                         |
//! | `k` scope, 0, state key                    | state value                    |
//! | `j` run, step, 0, sequence (u32 BE)        | a call journal entry (JSON)    |
//!
//! The queue holds the unfinished runs that wait for a time or a reload;
//! the others are open runs, found from the mark (see
//! [`super::open_runs`]). Only failed runs have a status index. Each sled
//! insert has a fixed cost, so an event costs as few keys as the queries
//! allow: two to accept it, one to finish a one-step run.

use super::RunId;

const RUN: u8 = b'r';
const QUEUE: u8 = b'q';
const MARK: u8 = b'm';
const BY_WORKFLOW: u8 = b'w';
const FAILED: u8 = b'f';
const DEDUPE: u8 = b'd';
const STATE: u8 = b'k';
const JOURNAL: u8 = b'j';
const BY_INSTALLATION: u8 = b'i';

/// The length of a run id in a key.
pub(super) const RUN_ID_LEN: usize = 16;

fn key(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
    key.push(prefix);
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

/// The run record.
pub(super) fn run(id: RunId) -> Vec<u8> {
    key(RUN, &[id.as_bytes()])
}

/// Every run record.
pub(super) fn runs() -> Vec<u8> {
    vec![RUN]
}

/// The run id at the end of a key of [`run`], [`by_workflow`] or
/// [`failed`].
pub(super) fn trailing_run_id(key: &[u8]) -> Option<RunId> {
    let start = key.len().checked_sub(RUN_ID_LEN)?;
    RunId::from_slice(&key[start..])
}

/// A run's entry in the queue, due at `due_ms`.
pub(super) fn queued(due_ms: u64, id: RunId) -> Vec<u8> {
    key(QUEUE, &[&due_ms.to_be_bytes(), id.as_bytes()])
}

/// The whole queue, in due order.
pub(super) fn queue() -> Vec<u8> {
    vec![QUEUE]
}

/// The due time of a queue key.
pub(super) fn queued_due(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(1..9)?.try_into().ok()?))
}

/// The open-run mark.
pub(super) fn mark() -> Vec<u8> {
    vec![MARK]
}

/// A run in the index of its workflow's runs.
pub(super) fn by_workflow(workflow: &str, id: RunId) -> Vec<u8> {
    key(BY_WORKFLOW, &[workflow.as_bytes(), &[0], id.as_bytes()])
}

/// The index of one workflow's runs.
pub(super) fn workflow_runs(workflow: &str) -> Vec<u8> {
    key(BY_WORKFLOW, &[workflow.as_bytes(), &[0]])
}

/// A run of an installation, in the index of installations' runs: by run
/// id, so that every insert appends (however many installations there
/// are), its value the installation's id.
pub(super) fn by_installation(id: RunId) -> Vec<u8> {
    key(BY_INSTALLATION, &[id.as_bytes()])
}

/// The index of installations' runs.
pub(super) fn installation_runs() -> Vec<u8> {
    vec![BY_INSTALLATION]
}

/// A run in the dead-letter list.
pub(super) fn failed(id: RunId) -> Vec<u8> {
    key(FAILED, &[id.as_bytes()])
}

/// The dead-letter list.
pub(super) fn failed_runs() -> Vec<u8> {
    vec![FAILED]
}

/// The dedupe key of an event of `lane` (see `RunRecord::lane`).
pub(super) fn dedupe(lane: &str, dedupe_key: &str) -> Vec<u8> {
    key(DEDUPE, &[lane.as_bytes(), &[0], dedupe_key.as_bytes()])
}

/// A step state entry.
pub(super) fn state(scope: &str, state_key: &str) -> Vec<u8> {
    key(STATE, &[scope.as_bytes(), &[0], state_key.as_bytes()])
}

/// Every state entry.
pub(super) fn states() -> Vec<u8> {
    vec![STATE]
}

/// The scope and key of state entry `key`.
pub(super) fn split_state(key: &[u8]) -> Option<(String, String)> {
    let rest = key.strip_prefix(&[STATE])?;
    let at = rest.iter().position(|byte| *byte == 0)?;
    let scope = std::str::from_utf8(&rest[..at]).ok()?;
    let key = std::str::from_utf8(&rest[at + 1..]).ok()?;
    Some((scope.to_owned(), key.to_owned()))
}

/// Every state entry of `scope`.
pub(super) fn state_scope(scope: &str) -> Vec<u8> {
    key(STATE, &[scope.as_bytes(), &[0]])
}

/// Every state entry of the scopes under `scope` (`scope/...`).
pub(super) fn state_scopes_under(scope: &str) -> Vec<u8> {
    key(STATE, &[scope.as_bytes(), b"/"])
}

/// A call journal entry of step `step` of run `id`.
pub(super) fn journal_entry(id: RunId, step: &str, sequence: u32) -> Vec<u8> {
    key(
        JOURNAL,
        &[
            id.as_bytes(),
            step.as_bytes(),
            &[0],
            &sequence.to_be_bytes(),
        ],
    )
}

/// The call journal of step `step` of run `id`, in call order.
pub(super) fn step_journal(id: RunId, step: &str) -> Vec<u8> {
    key(JOURNAL, &[id.as_bytes(), step.as_bytes(), &[0]])
}

/// Every call journal of run `id`.
pub(super) fn run_journals(id: RunId) -> Vec<u8> {
    key(JOURNAL, &[id.as_bytes()])
}

/// The step id of journal entry `key` of run `id`.
pub(super) fn journal_step(id: RunId, key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(run_journals(id).as_slice())?;
    let end = rest.iter().position(|byte| *byte == 0)?;
    std::str::from_utf8(&rest[..end]).ok().map(str::to_owned)
}

/// The end of a range that holds every key starting with `prefix`.
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_sort_by_due_time_then_run() {
        let early = RunId::new();
        let late = RunId::new();
        assert!(queued(5, late) < queued(6, early));
        assert!(queued(5, early) < queued(5, late));
        assert_eq!(
            queued_due(&queued(1_700_000_000_123, early)),
            Some(1_700_000_000_123)
        );
    }

    #[test]
    fn index_keys_end_with_the_run_id() {
        let id = RunId::new();
        assert_eq!(trailing_run_id(&by_workflow("score-leads", id)), Some(id));
        assert_eq!(trailing_run_id(&failed(id)), Some(id));
        assert_eq!(trailing_run_id(&run(id)), Some(id));
    }

    #[test]
    fn one_workflow_index_does_not_hold_another_whose_id_extends_it() {
        let id = RunId::new();
        assert!(!by_workflow("leads-2", id).starts_with(&workflow_runs("leads")));
        assert!(by_workflow("leads", id).starts_with(&workflow_runs("leads")));
    }

    #[test]
    fn journal_entries_sort_by_sequence_within_their_step() {
        let id = RunId::new();
        assert!(journal_entry(id, "a", 2) < journal_entry(id, "a", 10));
        assert!(journal_entry(id, "a", 1).starts_with(&step_journal(id, "a")));
        assert!(!journal_entry(id, "ab", 1).starts_with(&step_journal(id, "a")));
        assert!(journal_entry(id, "ab", 1).starts_with(&run_journals(id)));
    }

    #[test]
    fn prefix_end_bounds_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"w"), b"x".to_vec());
        assert_eq!(prefix_end(&[b'w', 0xff]), b"x".to_vec());
        assert!(by_workflow("a", RunId::new()) < prefix_end(&workflow_runs("a")));
    }
}
