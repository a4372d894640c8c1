//! What a poll keeps between polls, stored with the events it reports in
//! one atomic write, so it never moves past a record whose event is not
//! stored.
//!
//! `after` is the last record reported, in stamp-then-Id order: the next
//! poll reads from there. A record's stamp is set when its transaction
//! starts, not when it commits, so a record can appear with a stamp older
//! than records already read. Each poll therefore reads again from
//! `settled` (the previous poll's start, less the trigger's `overlap`)
//! when that is before `after`, and the recent keys (of the records
//! reported with a stamp at or after `settled`) keep those it already
//! reported from being reported twice.
//!
//! The recent keys are stored in chunks, one per write that reported
//! records, beside the small cursor: a write costs the size of its own
//! records, not of everything reported since `settled`. A chunk is removed
//! once `settled` passes its newest stamp.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::BackfillProgress;

/// Where a record is in a poll's order: its stamp, then its Id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Position {
    /// The stamp field's value, to the millisecond.
    pub(super) stamp: DateTime<Utc>,
    /// The record's Id; empty for "every record of this stamp".
    pub(super) id: String,
}

impl Position {
    /// The position of the record `id` stamped `stamp`; `None` when `id`
    /// is not a Salesforce Id (it is written into queries).
    pub(super) fn new(stamp: DateTime<Utc>, id: &str) -> Option<Self> {
        let well_formed =
            matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric());
        well_formed.then(|| Self {
            stamp,
            id: id.to_owned(),
        })
    }

    /// The position before every record stamped `stamp` or later.
    pub(super) fn from_time(stamp: DateTime<Utc>) -> Self {
        Self {
            stamp,
            id: String::new(),
        }
    }

    /// The SOQL condition of the records after this position, ordered by
    /// the field `stamp`.
    pub(super) fn condition(&self, stamp: &str) -> String {
        let time = super::query::format_stamp(self.stamp);
        if self.id.is_empty() {
            format!("{stamp} >= {time}")
        } else {
            format!(
                "({stamp} > {time} OR ({stamp} = {time} AND Id > '{}'))",
                self.id
            )
        }
    }
}

/// A Bulk API 2.0 backfill in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BulkProgress {
    /// The query job's path.
    pub(super) job: String,
    /// Where the backfill started, to start a new job from if this one is
    /// gone.
    pub(super) from: Option<Position>,
    /// The page being read (`None`: the first).
    pub(super) locator: Option<String>,
    /// How many records of that page are reported.
    pub(super) done: usize,
    /// How many records the backfill reads in all, as counted when it
    /// started (0 in a state stored before Gust kept it).
    #[serde(default)]
    pub(super) total: u64,
    /// How many records the pages before this one held.
    #[serde(default)]
    pub(super) read_before: u64,
}

/// A stored chunk of recent keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Chunk {
    /// Its number, naming where it is stored.
    pub(super) number: u64,
    /// The newest stamp in it.
    pub(super) newest: DateTime<Utc>,
}

/// The recent keys of one chunk, with their stamps.
pub(super) type Keys = BTreeMap<String, DateTime<Utc>>;

/// What one write of the poll's state does: the cursor, a new chunk of
/// recent keys, and the chunks to remove.
#[derive(Debug, Default)]
pub(super) struct StateChange {
    /// A new chunk and its keys.
    pub(super) added: Option<(u64, Keys)>,
    /// Chunks no longer needed.
    pub(super) removed: Vec<u64>,
}

impl BulkProgress {
    /// How far the backfill is, for the poll's status.
    pub(super) fn progress(&self) -> BackfillProgress {
        let read = self.read_before + self.done as u64;
        BackfillProgress {
            read,
            // Records written since the count are read too.
            total: self.total.max(read),
        }
    }
}

/// A poll's stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PollState {
    /// What is polled (object, change, condition); a state of another poll
    /// is not used.
    pub(super) of: String,
    /// The last record reported; `None` before the first, when the next
    /// poll reads from the oldest record.
    pub(super) after: Option<Position>,
    /// Every record stamped before this was visible when the previous poll
    /// started (less the overlap).
    pub(super) settled: DateTime<Utc>,
    /// The stored chunks of recent keys.
    #[serde(default)]
    pub(super) chunks: Vec<Chunk>,
    /// The number the next chunk takes.
    #[serde(default)]
    pub(super) next_chunk: u64,
    /// A Bulk API 2.0 backfill in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) bulk: Option<BulkProgress>,
    /// The recent keys of every chunk (loaded), with their stamps.
    #[serde(skip)]
    recent: HashMap<String, DateTime<Utc>>,
    /// The keys reported since the last write.
    #[serde(skip)]
    pending: Keys,
    /// Chunks to remove with the next write.
    #[serde(skip)]
    expired: Vec<u64>,
}

impl PollState {
    /// A new state of the poll `of`, after `after`, settled up to `settled`.
    pub(super) fn new(of: String, after: Option<Position>, settled: DateTime<Utc>) -> Self {
        Self {
            of,
            after,
            settled,
            chunks: Vec::new(),
            next_chunk: 0,
            bulk: None,
            recent: HashMap::new(),
            pending: Keys::new(),
            expired: Vec::new(),
        }
    }

    /// Adds the keys of a stored chunk, read back.
    pub(super) fn load(&mut self, keys: Keys) {
        self.recent.extend(keys);
    }

    /// Where the next poll reads from: `after`, or `settled` when that is
    /// earlier.
    pub(super) fn start(&self) -> Option<Position> {
        let after = self.after.clone()?;
        Some(if self.settled < after.stamp {
            Position::from_time(self.settled)
        } else {
            after
        })
    }

    /// Whether the record with dedupe key `key` was reported by a recent
    /// poll.
    pub(super) fn reported(&self, key: &str) -> bool {
        self.recent.contains_key(key)
    }

    /// Notes the record `key` at `position` as reported.
    pub(super) fn report(&mut self, key: String, position: Position) {
        if position.stamp >= self.settled {
            self.recent.insert(key.clone(), position.stamp);
            self.pending.insert(key, position.stamp);
        }
        if self.after.as_ref().is_none_or(|after| position > *after) {
            self.after = Some(position);
        }
    }

    /// Moves `settled` forward to `to` (never back) and forgets the keys
    /// stamped before it, and the chunks that hold only such keys.
    pub(super) fn settle(&mut self, to: DateTime<Utc>) {
        self.settled = self.settled.max(to);
        let settled = self.settled;
        self.recent.retain(|_, stamp| *stamp >= settled);
        self.pending.retain(|_, stamp| *stamp >= settled);
        let (expired, kept) = self
            .chunks
            .iter()
            .partition::<Vec<Chunk>, _>(|chunk| chunk.newest < settled);
        self.chunks = kept;
        self.expired
            .extend(expired.into_iter().map(|chunk| chunk.number));
    }

    /// Replaces `previous`, the state of a poll defined otherwise: its
    /// chunks are removed with the next write.
    pub(super) fn replace(&mut self, previous: Self) {
        self.next_chunk = self.next_chunk.max(previous.next_chunk);
        self.expired
            .extend(previous.chunks.iter().map(|chunk| chunk.number));
    }

    /// What the next write must store beside the cursor: the keys reported
    /// since the last write as a new chunk, and the chunks to remove.
    pub(super) fn take_change(&mut self) -> StateChange {
        let mut change = StateChange {
            added: None,
            removed: std::mem::take(&mut self.expired),
        };
        if let Some(newest) = self.pending.values().max().copied() {
            let number = self.next_chunk;
            self.next_chunk += 1;
            self.chunks.push(Chunk { number, newest });
            change.added = Some((number, std::mem::take(&mut self.pending)));
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::super::query::parse_datetime;
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        parse_datetime(text).unwrap()
    }

    fn at(stamp: &str, id: &str) -> Position {
        Position::new(time(stamp), id).unwrap()
    }

    fn state(after: Option<Position>, settled: &str) -> PollState {
        PollState::new("Lead/created/".to_owned(), after, time(settled))
    }

    #[test]
    fn positions_order_by_stamp_then_id_and_refuse_what_is_no_id() {
        let early = at("2026-11-22T10:00:00.000Z", "00Q5g00000000zzEAA");
        let same_time = at("2026-11-22T10:00:00.000Z", "00Q5g00000001AAEAA");
        let later = at("2026-11-22T10:00:00.001Z", "00Q5g000000000AEAA");
        assert!(early < same_time && same_time < later);
        assert!(Position::from_time(time("2026-11-22T10:00:00.000Z")) < early);
        assert_eq!(
            Position::new(time("2026-11-22T10:00:00Z"), "00Q' OR Id != '"),
            None
        );
        assert_eq!(Position::new(time("2026-11-22T10:00:00Z"), "00Q5g"), None);
    }

    #[test]
    fn a_poll_reads_again_from_settled_until_settled_passes_the_last_record() {
        let last = at("2026-11-22T10:00:05.000Z", "00Q5g00000000zzEAA");
        let mut poll = state(Some(last.clone()), "2026-11-22T10:00:00.000Z");
        assert_eq!(
            poll.start(),
            Some(Position::from_time(time("2026-11-22T10:00:00.000Z")))
        );
        poll.settle(time("2026-11-22T10:00:09.000Z"));
        assert_eq!(poll.start(), Some(last));
        // Settled never moves back.
        poll.settle(time("2026-11-22T09:00:00.000Z"));
        assert_eq!(poll.settled, time("2026-11-22T10:00:09.000Z"));
        assert_eq!(state(None, "2026-11-22T10:00:00Z").start(), None);
    }

    #[test]
    fn recent_keys_are_kept_until_settled_passes_them() {
        let mut poll = state(None, "2026-11-22T10:00:00.000Z");
        let old = at("2026-11-22T09:59:59.999Z", "00Q5g000000001AEAA");
        let new = at("2026-11-22T10:00:01.000Z", "00Q5g000000002AEAA");
        poll.report("old".to_owned(), old);
        poll.report("new".to_owned(), new.clone());
        assert!(
            !poll.reported("old"),
            "stamped before settled: never read again"
        );
        assert!(poll.reported("new"));
        assert_eq!(poll.after, Some(new.clone()));
        // A straggler stamped earlier does not move `after` back.
        poll.report(
            "straggler".to_owned(),
            at("2026-11-22T10:00:00.500Z", "00Q5g000000003AEAA"),
        );
        assert_eq!(poll.after, Some(new));
        poll.settle(time("2026-11-22T10:00:00.600Z"));
        assert!(!poll.reported("straggler") && poll.reported("new"));
    }

    #[test]
    fn each_write_stores_its_own_keys_and_chunks_go_once_settled_passes_them() {
        let mut poll = state(None, "2026-11-22T10:00:00.000Z");
        poll.report(
            "a".to_owned(),
            at("2026-11-22T10:00:01.000Z", "00Q5g000000001AEAA"),
        );
        poll.report(
            "b".to_owned(),
            at("2026-11-22T10:00:02.000Z", "00Q5g000000002AEAA"),
        );
        let first = poll.take_change();
        let (number, keys) = first.added.unwrap();
        assert_eq!(number, 0);
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert!(first.removed.is_empty());
        // A write that reported nothing adds no chunk.
        assert!(poll.take_change().added.is_none());
        poll.report(
            "c".to_owned(),
            at("2026-11-22T10:00:09.000Z", "00Q5g000000003AEAA"),
        );
        assert_eq!(poll.take_change().added.unwrap().1.len(), 1);
        assert_eq!(poll.chunks.len(), 2);
        // Settling past the first chunk's newest key removes it.
        poll.settle(time("2026-11-22T10:00:05.000Z"));
        let change = poll.take_change();
        assert_eq!(change.removed, [0]);
        assert_eq!(
            poll.chunks,
            [Chunk {
                number: 1,
                newest: time("2026-11-22T10:00:09.000Z")
            }]
        );
        assert!(!poll.reported("a") && poll.reported("c"));
        // The stored form holds the cursor and the chunk list, not the keys.
        let stored = serde_json::to_value(&poll).unwrap();
        assert!(
            stored.get("recent").is_none() && stored["chunks"].is_array(),
            "{stored}"
        );
        let mut read: PollState = serde_json::from_value(stored).unwrap();
        read.load(Keys::from([(
            "c".to_owned(),
            time("2026-11-22T10:00:09.000Z"),
        )]));
        assert!(read.reported("c"));
        // A poll defined otherwise starts afresh and removes these chunks.
        let mut fresh = state(None, "2026-11-22T11:00:00.000Z");
        fresh.replace(read);
        let change = fresh.take_change();
        assert_eq!(change.removed, [1]);
        assert_eq!(fresh.next_chunk, 2, "new chunks do not reuse old numbers");
        assert!(!fresh.reported("c"));
    }
}
