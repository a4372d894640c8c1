//! Where the Salesforce call journal lives: one entry per call, per run and
//! step, in call order (see [`crate::model::JournalEntry`]).
//!
//! An entry is written when its call is sent (a write whose outcome would
//! otherwise be lost in a crash) and again when it is answered, through the
//! same group commit as everything else. A step's journal is dropped when
//! the step ends well (nothing runs it again), and with its run otherwise.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::model::{JournalEntry, RunId};

/// One write to a step's journal: an entry stored at its sequence, and the
/// entries of an earlier execution that no longer apply removed with it.
#[derive(Debug, Clone)]
pub struct JournalWrite<'a> {
    /// The run.
    pub run: RunId,
    /// The step's id.
    pub step: &'a str,
    /// The entry, stored at `entry.call.sequence`.
    pub entry: &'a JournalEntry,
    /// Sequences to remove: an earlier execution's calls after the one
    /// where the step took another path.
    pub forget: Range<u32>,
}

/// Where call journals live.
#[async_trait]
pub trait JournalStore: Send + Sync {
    /// The journal of step `step` of run `run`, in call order.
    async fn journal(&self, run: RunId, step: &str) -> Result<Vec<JournalEntry>, StoreError>;
    /// Applies `write`; returns once it is durable when `durable`.
    async fn record(&self, write: JournalWrite<'_>, durable: bool) -> Result<(), StoreError>;
    /// Every journal entry of run `run`, with its step's id (to copy a
    /// store).
    async fn run_journal(&self, run: RunId) -> Result<Vec<(String, JournalEntry)>, StoreError>;
}

/// Journals held in memory, for `gust run`: a step retried in the process
/// gets its earlier answers back.
#[derive(Debug, Default)]
pub struct MemoryJournalStore {
    journals: Mutex<HashMap<(RunId, String), Vec<JournalEntry>>>,
}

#[async_trait]
impl JournalStore for MemoryJournalStore {
    async fn journal(&self, run: RunId, step: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let journals = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        Ok(journals
            .get(&(run, step.to_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn record(&self, write: JournalWrite<'_>, _durable: bool) -> Result<(), StoreError> {
        let mut journals = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        let entries = journals
            .entry((write.run, write.step.to_owned()))
            .or_default();
        let at = write.entry.call.sequence.saturating_sub(1) as usize;
        if !write.forget.is_empty() {
            entries.truncate(at + 1);
        }
        match at.cmp(&entries.len()) {
            std::cmp::Ordering::Less => entries[at] = write.entry.clone(),
            std::cmp::Ordering::Equal => entries.push(write.entry.clone()),
            std::cmp::Ordering::Greater => {
                return Err(StoreError::Corrupt(format!(
                    "journal entry {} written after {} entries",
                    at + 1,
                    entries.len()
                )));
            }
        }
        Ok(())
    }

    async fn run_journal(&self, run: RunId) -> Result<Vec<(String, JournalEntry)>, StoreError> {
        let journals = self.journals.lock().unwrap_or_else(|e| e.into_inner());
        Ok(journals
            .iter()
            .filter(|((id, _), _)| *id == run)
            .flat_map(|((_, step), entries)| {
                entries
                    .iter()
                    .map(move |entry| (step.clone(), entry.clone()))
            })
            .collect())
    }
}
