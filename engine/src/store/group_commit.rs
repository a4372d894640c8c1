//! Group commit: writers that need their writes durable wait for one shared
//! flush instead of each flushing.
//!
//! One thread owns flushing (concurrent `flush_async` calls deadlock in sled
//! 0.34, spacejam/sled#1308). A writer applies its batch, then registers and
//! waits; the thread takes every waiter registered so far, calls the
//! blocking `flush()`, and answers them all. A write applied before its
//! waiter registered is covered by the next flush that starts, so under load
//! one flush acknowledges every request that arrived while the previous one
//! ran.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Waiting {
    waiters: Vec<Waiter>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    wake: Condvar,
}

/// The flusher thread and its queue of waiting writers.
pub(super) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommit {
    /// Starts the flusher thread over `flush`.
    pub(super) fn start(flush: impl Fn() -> Result<(), String> + Send + 'static) -> Self {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("gust-flush".to_owned())
            .spawn({
                let shared = shared.clone();
                move || flusher(&shared, flush)
            })
            .expect("the flusher thread starts");
        Self {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Waits until every write applied before this call is durable.
    pub(super) async fn durable(&self) -> Result<(), String> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut waiting = lock(&self.shared.waiting);
            if waiting.closed {
                return Err("the store is closed".to_owned());
            }
            waiting.waiters.push(sender);
        }
        self.shared.wake.notify_one();
        receiver
            .await
            .unwrap_or_else(|_| Err("the flusher stopped".to_owned()))
    }

    /// Answers the writers still waiting, then stops the thread.
    pub(super) fn close(&self) {
        lock(&self.shared.waiting).closed = true;
        self.shared.wake.notify_one();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("The flusher thread panicked.");
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.close();
    }
}

fn flusher(shared: &Shared, flush: impl Fn() -> Result<(), String>) {
    loop {
        let waiters = {
            let mut waiting = lock(&shared.waiting);
            while waiting.waiters.is_empty() && !waiting.closed {
                waiting = shared.wake.wait(waiting).unwrap_or_else(|e| e.into_inner());
            }
            if waiting.waiters.is_empty() {
                return;
            }
            std::mem::take(&mut waiting.waiters)
        };
        let result = flush();
        if let Err(error) = &result {
            tracing::error!(%error, "Flushing the store failed.");
        }
        for waiter in waiters {
            // A writer that stopped waiting needs no answer.
            waiter.send(result.clone()).ok();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let commit = Arc::new(GroupCommit::start({
            let flushes = flushes.clone();
            move || {
                std::thread::sleep(Duration::from_millis(5));
                flushes.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }));
        let writers: Vec<_> = (0..200)
            .map(|_| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.durable().await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let flushes = flushes.load(Ordering::SeqCst);
        assert!(
            (1..50).contains(&flushes),
            "{flushes} flushes for 200 writers"
        );
    }

    #[tokio::test]
    async fn a_failed_flush_fails_every_writer_it_covered() {
        let commit = GroupCommit::start(|| Err("No space left on device".to_owned()));
        assert_eq!(
            commit.durable().await,
            Err("No space left on device".to_owned())
        );
    }

    #[tokio::test]
    async fn a_closed_commit_refuses_writers() {
        let commit = GroupCommit::start(|| Ok(()));
        commit.durable().await.unwrap();
        commit.close();
        assert!(commit.durable().await.is_err());
    }
}
