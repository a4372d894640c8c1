//! Group commit: one thread applies every write and flushes once for all
//! the writes that arrived while the previous flush ran.
//!
//! sled 0.34 takes an exclusive lock for `apply_batch` that its `flush`
//! holds shared for the whole sync, so writers that apply their own batches
//! wait out every flush one by one (measured here: one writer per flush).
//! Concurrent `flush_async` calls deadlock (spacejam/sled#1308). So writers
//! send their batches to this thread instead: it merges everything queued
//! into one atomic batch (each `apply_batch` has a fixed cost), makes it
//! durable with one blocking `flush()` and answers every writer it covered.
//! Under load one flush acknowledges every request that arrived during the
//! previous one. A group is applied whole or not at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;
use super::sled_store::unavailable;

/// What a writer learns: `Ok(None)` when its batch was applied (and made
/// durable if asked), `Ok(Some(value))` when its dedupe key was already
/// taken (nothing applied), or why it failed.
pub(super) type Outcome = Result<Option<sled::IVec>, StoreError>;

/// What a writer of several parts learns: one answer per part, as in
/// [`Outcome`], or why the whole write failed (nothing applied).
pub(super) type Outcomes = Result<Vec<Option<sled::IVec>>, StoreError>;

/// One part of a write: a batch applied unless its dedupe key is taken.
#[derive(Debug, Default)]
pub(super) struct Part {
    /// What to apply.
    pub(super) batch: Batch,
    /// A key that must not exist yet; the batch is applied only if it does
    /// not, and it should insert it.
    pub(super) unless_exists: Option<Vec<u8>>,
}

/// Inserts (`Some(value)`) and removals (`None`) applied together.
#[derive(Debug, Default)]
pub(super) struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Stores `value` under `key`.
    pub(super) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), Some(value.into())));
    }

    /// Removes `key`.
    pub(super) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push((key.into(), None));
    }

    /// Applies the batch to `db` directly, outside the group commit.
    pub(super) fn apply_to(self, db: &sled::Db) -> sled::Result<()> {
        let mut batch = sled::Batch::default();
        add_ops(&mut batch, self.ops);
        db.apply_batch(batch)
    }
}

fn add_ops(batch: &mut sled::Batch, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
    for (key, value) in ops {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
}

/// One write queued for the thread: parts applied together, each unless
/// its dedupe key is taken.
struct Write {
    parts: Vec<Part>,
    /// Answer only once the parts applied are durable.
    durable: bool,
    reply: oneshot::Sender<Outcomes>,
}

/// The writer thread and its queue.
pub(super) struct Writer {
    queue: Mutex<Option<Sender<Write>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    flushes: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread writing to `db`.
    pub(super) fn start(db: sled::Db) -> Self {
        let (queue, writes) = mpsc::channel();
        let flushes = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("gust-writer".to_owned())
            .spawn({
                let flushes = flushes.clone();
                move || write_loop(&db, &writes, &flushes)
            })
            .expect("the writer thread starts");
        Self {
            queue: Mutex::new(Some(queue)),
            flushes,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Applies `batch` (unless the key `unless_exists` is already stored)
    /// and waits until it is applied, or durable when `durable`.
    pub(super) async fn write(
        &self,
        batch: Batch,
        unless_exists: Option<Vec<u8>>,
        durable: bool,
    ) -> Outcome {
        let part = Part {
            batch,
            unless_exists,
        };
        let mut outcomes = self.write_parts(vec![part], durable).await?;
        Ok(outcomes.pop().flatten())
    }

    /// Applies every part whose dedupe key is not taken, in one atomic
    /// batch, and waits until they are applied, or durable when `durable`.
    pub(super) async fn write_parts(&self, parts: Vec<Part>, durable: bool) -> Outcomes {
        let (reply, outcome) = oneshot::channel();
        let write = Write {
            parts,
            durable,
            reply,
        };
        let sent = match &*lock(&self.queue) {
            Some(queue) => queue.send(write).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the store is closed".to_owned()));
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer stopped".to_owned())))
    }

    /// The flushes made so far; each acknowledged a group of writes.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Finishes the writes queued, then stops the thread.
    pub(super) fn close(&self) {
        lock(&self.queue).take();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("The store's writer thread panicked.");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(db: &sled::Db, writes: &Receiver<Write>, flushes: &AtomicU64) {
    while let Ok(first) = writes.recv() {
        let group: Vec<Write> = std::iter::once(first).chain(writes.try_iter()).collect();
        let mut merged = sled::Batch::default();
        // Dedupe keys this group takes, with the value each was given.
        let mut taken: HashMap<Vec<u8>, sled::IVec> = HashMap::new();
        let mut answers = Vec::with_capacity(group.len());
        for write in group {
            let outcomes = admit(db, &mut taken, &mut merged, write.parts);
            answers.push((write.reply, write.durable, outcomes));
        }
        let applied = db.apply_batch(merged).map_err(unavailable);
        let mut waiting = Vec::new();
        for (reply, durable, outcomes) in answers {
            match (&applied, outcomes) {
                (Err(error), _) => {
                    reply.send(Err(error.clone())).ok();
                }
                (Ok(()), Ok(outcomes)) if !durable && outcomes.iter().all(Option::is_none) => {
                    // Applied, and not waiting for the flush.
                    reply.send(Ok(outcomes)).ok();
                }
                (Ok(()), outcomes) => waiting.push((reply, outcomes)),
            }
        }
        if waiting.is_empty() {
            continue;
        }
        let flushed = db.flush().map(drop).map_err(unavailable);
        flushes.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = &flushed {
            tracing::error!(%error, "Flushing the store failed.");
        }
        for (reply, outcomes) in waiting {
            // A writer that stopped waiting needs no answer.
            reply.send(flushed.clone().and(outcomes)).ok();
        }
    }
}

/// Adds to `merged` every part of a write whose dedupe key is neither
/// stored nor `taken` by an earlier part, and records the keys it takes.
/// When a key cannot be read, nothing of the write is added.
fn admit(
    db: &sled::Db,
    taken: &mut HashMap<Vec<u8>, sled::IVec>,
    merged: &mut sled::Batch,
    parts: Vec<Part>,
) -> Outcomes {
    let mut mine: HashMap<Vec<u8>, sled::IVec> = HashMap::new();
    let mut outcomes = Vec::with_capacity(parts.len());
    let mut admitted = Vec::with_capacity(parts.len());
    for part in parts {
        let existing = match &part.unless_exists {
            Some(key) => match mine.get(key).or_else(|| taken.get(key)) {
                Some(value) => Some(value.clone()),
                None => db.get(key).map_err(unavailable)?,
            },
            None => None,
        };
        if existing.is_none() {
            if let Some(key) = part.unless_exists {
                let value = part
                    .batch
                    .ops
                    .iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|(_, v)| v.clone());
                mine.insert(key, value.map(sled::IVec::from).unwrap_or_default());
            }
            admitted.push(part.batch.ops);
        }
        outcomes.push(existing);
    }
    taken.extend(mine);
    for ops in admitted {
        add_ops(merged, ops);
    }
    Ok(outcomes)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn batch(key: &str) -> Batch {
        let mut batch = Batch::default();
        batch.insert(key.as_bytes(), b"v".as_slice());
        batch
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_durable_writes_are_all_applied_and_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let writer = Arc::new(Writer::start(db.clone()));
        let writers: Vec<_> = (0..200)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write(batch(&format!("k{n}")), None, true).await })
            })
            .collect();
        for write in writers {
            assert_eq!(write.await.unwrap(), Ok(None));
        }
        assert_eq!(db.len(), 200);
        let flushes = writer.flushes();
        assert!(
            (1..100).contains(&flushes),
            "{flushes} flushes for 200 writes"
        );
    }

    #[tokio::test]
    async fn a_taken_key_applies_nothing_and_returns_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let writer = Writer::start(db.clone());
        let mut first = batch("dedupe");
        first.insert(b"payload-1".as_slice(), b"1".as_slice());
        assert_eq!(
            writer.write(first, Some(b"dedupe".to_vec()), true).await,
            Ok(None)
        );
        let mut second = batch("dedupe");
        second.insert(b"payload-2".as_slice(), b"2".as_slice());
        assert_eq!(
            writer.write(second, Some(b"dedupe".to_vec()), true).await,
            Ok(Some(sled::IVec::from(b"v")))
        );
        assert!(db.get(b"payload-2").unwrap().is_none());
    }

    #[tokio::test]
    async fn a_write_of_parts_applies_those_whose_key_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let writer = Writer::start(db.clone());
        writer
            .write(batch("d1"), Some(b"d1".to_vec()), true)
            .await
            .unwrap();
        let part = |dedupe: &str, payload: &str| {
            let mut batch = batch(dedupe);
            batch.insert(payload.as_bytes(), b"p".as_slice());
            Part {
                batch,
                unless_exists: Some(dedupe.as_bytes().to_vec()),
            }
        };
        let outcomes = writer
            .write_parts(
                vec![part("d1", "p1"), part("d2", "p2"), part("d2", "p3")],
                true,
            )
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            vec![
                Some(sled::IVec::from(b"v")),
                None,
                Some(sled::IVec::from(b"v"))
            ]
        );
        assert!(db.get(b"p1").unwrap().is_none(), "its key was stored");
        assert!(db.get(b"p2").unwrap().is_some());
        assert!(
            db.get(b"p3").unwrap().is_none(),
            "an earlier part took its key"
        );
    }

    #[tokio::test]
    async fn a_closed_writer_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Writer::start(sled::open(dir.path()).unwrap());
        writer.close();
        assert!(writer.write(batch("k"), None, false).await.is_err());
    }
}
