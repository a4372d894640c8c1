//! What runs beside the connections: the keep-alive that refreshes idle
//! connections, and the delivery of their events.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{ConnectError, Connections, events};
use crate::model::ConnectionStatus;

impl Connections {
    /// Runs the keep-alive and the event delivery until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let events = events::deliver(self.shared.clone(), self.shared.wake.clone(), stop.clone());
        let keep_alive = self.keep_alive(stop);
        tokio::join!(events, keep_alive);
    }

    /// Refreshes connections that have not been refreshed for the
    /// keep-alive period, checking every twenty-fourth of it (at most
    /// hourly).
    async fn keep_alive(&self, stop: CancellationToken) {
        let period = self.shared.settings.keep_alive;
        let tick = (period / 24).clamp(Duration::from_millis(100), Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            if let Err(error) = self.refresh_idle(period).await {
                tracing::error!(%error, "The connection keep-alive failed.");
            }
        }
    }

    /// Refreshes every active or degraded connection not refreshed for
    /// `period`; how many were refreshed.
    pub async fn refresh_idle(&self, period: Duration) -> Result<usize, ConnectError> {
        let mut refreshed = 0;
        for record in self.shared.store.connections().await? {
            let due = record.last_refresh.unwrap_or(record.connected_at)
                + chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
            let live = matches!(
                record.status,
                ConnectionStatus::Active | ConnectionStatus::Degraded
            );
            if !live || due > chrono::Utc::now() {
                continue;
            }
            let client = self.stored_client(&record.id).await?;
            match client.refresh_now().await {
                Ok(()) => refreshed += 1,
                Err(error) => {
                    tracing::warn!(connection = %record.id, %error, "A keep-alive refresh failed.");
                }
            }
        }
        Ok(refreshed)
    }
}
