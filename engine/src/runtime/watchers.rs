//! Callers waiting for runs to end (`"respond": "sync"` webhooks, embedders).

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::model::{RunId, RunRecord};

/// Who waits for which run.
#[derive(Default)]
pub(crate) struct Watchers {
    waiting: Mutex<HashMap<RunId, Vec<oneshot::Sender<RunRecord>>>>,
}

impl Watchers {
    /// A receiver that gets the run's record when it ends. Register before
    /// checking whether it has ended, so the end cannot be missed.
    pub(crate) fn watch(&self, run: RunId) -> oneshot::Receiver<RunRecord> {
        let (sender, receiver) = oneshot::channel();
        self.lock().entry(run).or_default().push(sender);
        receiver
    }

    /// Tells every watcher of `run` that it ended.
    pub(crate) fn ended(&self, run: &RunRecord) {
        let waiting = self.lock().remove(&run.id);
        for sender in waiting.into_iter().flatten() {
            // A watcher that gave up has nothing to be told.
            sender.send(run.clone()).ok();
        }
    }

    /// Drops the watchers of `run` that gave up waiting.
    pub(crate) fn forget_closed(&self, run: RunId) {
        let mut waiting = self.lock();
        if let Some(senders) = waiting.get_mut(&run) {
            senders.retain(|sender| !sender.is_closed());
            if senders.is_empty() {
                waiting.remove(&run);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Vec<oneshot::Sender<RunRecord>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}
