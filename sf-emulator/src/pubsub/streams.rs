//! The open Subscribe streams of an org: what they were asked and sent,
//! for tests to check a client's flow control, and a way to end them all
//! at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use tokio::sync::watch;

/// What an org's subscribers have done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Subscribe streams opened.
    pub opened: u64,
    /// Events sent.
    pub events_sent: u64,
    /// The most events any client had asked for and not yet received, at
    /// any moment (what it claimed it could take; the server owes at most
    /// 100 of them).
    pub most_requested: i64,
}

/// The org's subscribe streams.
#[derive(Debug)]
pub struct Streams {
    opened: AtomicU64,
    events_sent: AtomicU64,
    most_requested: AtomicI64,
    drops: watch::Sender<u64>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            opened: AtomicU64::new(0),
            events_sent: AtomicU64::new(0),
            most_requested: AtomicI64::new(0),
            drops: watch::channel(0).0,
        }
    }
}

impl Streams {
    /// What the subscribers have done so far.
    pub fn stats(&self) -> StreamStats {
        StreamStats {
            opened: self.opened.load(Ordering::Relaxed),
            events_sent: self.events_sent.load(Ordering::Relaxed),
            most_requested: self.most_requested.load(Ordering::Relaxed),
        }
    }

    /// Ends every open stream.
    pub fn drop_all(&self) {
        self.drops.send_modify(|generation| *generation += 1);
    }

    /// A new stream.
    pub(crate) fn open(self: &Arc<Self>) -> Stream {
        self.opened.fetch_add(1, Ordering::Relaxed);
        Stream {
            streams: self.clone(),
            outstanding: AtomicI64::new(0),
            drops: self.drops.subscribe(),
        }
    }
}

/// One open stream.
pub(crate) struct Stream {
    streams: Arc<Streams>,
    /// Events asked for and not yet sent.
    outstanding: AtomicI64,
    drops: watch::Receiver<u64>,
}

impl Stream {
    /// The client asked for `count` more.
    pub(crate) fn asked(&self, count: i32) {
        let now = self
            .outstanding
            .fetch_add(i64::from(count), Ordering::Relaxed)
            + i64::from(count);
        self.streams
            .most_requested
            .fetch_max(now, Ordering::Relaxed);
    }

    /// `count` events were sent.
    pub(crate) fn sent(&self, count: i32) {
        self.outstanding
            .fetch_sub(i64::from(count), Ordering::Relaxed);
        self.streams
            .events_sent
            .fetch_add(count.unsigned_abs().into(), Ordering::Relaxed);
    }

    /// Resolves when every stream is told to end.
    pub(crate) async fn dropped(&self) {
        let mut drops = self.drops.clone();
        drops.changed().await.ok();
    }
}
