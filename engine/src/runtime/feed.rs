//! Every change of a run as it happens (accepted, running, a step's end,
//! its end), for whoever follows them: the run inspector's live pages.
//! Nothing is copied while nobody follows.

use tokio::sync::broadcast;

use crate::model::RunRecord;

/// How many changes a follower may fall behind before it misses some.
const BACKLOG: usize = 1024;

/// The changes of runs, to follow.
pub(crate) struct RunFeed {
    sender: broadcast::Sender<RunRecord>,
}

impl Default for RunFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl RunFeed {
    /// Tells every follower that `run` is now as given.
    pub(crate) fn publish(&self, run: &RunRecord) {
        if self.sender.receiver_count() > 0 {
            // Followers that left between the count and the send miss nothing.
            self.sender.send(run.clone()).ok();
        }
    }

    /// Every change from now on; a follower that falls more than a
    /// thousand changes behind is told how many it missed.
    pub(crate) fn follow(&self) -> broadcast::Receiver<RunRecord> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunId;

    #[tokio::test]
    async fn a_follower_gets_each_change_from_when_it_started_following() {
        let feed = RunFeed::default();
        let before = RunRecord::queued(RunId::new(), "leads");
        feed.publish(&before);
        let mut follower = feed.follow();
        let after = RunRecord::queued(RunId::new(), "leads");
        feed.publish(&after);
        assert_eq!(follower.recv().await.unwrap().id, after.id);
        assert!(follower.try_recv().is_err(), "nothing from before");
    }
}
