//! The nodes sharing a PostgreSQL store: each one's heartbeat, runs taken
//! over from nodes whose lease lapsed, runs released by a node stopping,
//! and the `LISTEN` that wakes the others when it does.
//!
//! A run is claimed with `FOR UPDATE SKIP LOCKED` in a CTE (READ
//! COMMITTED, one short statement), its epoch counted up, so the node that
//! lost it can no longer write it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::{PostgresStore, Statements, db_error, run_id};
use crate::model::InstallationId;
use crate::store::{QueuedRun, Sharing, StoreError};

/// The channel a node stopping notifies.
const CHANNEL: &str = "gust_runs";

/// How long joining waits for the listener to listen.
const LISTEN_WAIT: Duration = Duration::from_secs(5);

/// How long the listener waits before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The runs no live node holds, claimed for `$1` (at most `$3`; a node is
/// live while its heartbeat is younger than `$2` seconds).
const TAKE_OVER: &str = "
    WITH claimable AS (
        SELECT r.id FROM gust_runs r
        WHERE r.due_at IS NOT NULL AND r.owner IS DISTINCT FROM $1
          AND NOT EXISTS (
              SELECT 1 FROM gust_nodes n
              WHERE n.id = r.owner AND n.heartbeat_at > now() - make_interval(secs => $2))
        ORDER BY r.due_at, r.id
        LIMIT $3
        FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE gust_runs r SET owner = $1, epoch = r.epoch + 1
    FROM claimable c WHERE r.id = c.id
    RETURNING r.id, r.workflow, r.installation, r.due_at, r.epoch";

impl PostgresStore {
    /// Joins the nodes: a first heartbeat, then one every fifth of the
    /// lease, and a listener for runs released by others.
    pub(super) async fn join(&self, url: &str) -> Result<(), StoreError> {
        beat(&self.pool, self.node, self.lease).await?;
        tokio::spawn(heartbeat(
            self.pool.clone(),
            self.node,
            self.lease,
            self.stop.clone(),
        ));
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let (ready, listening) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(
            config,
            self.released.clone(),
            self.stop.clone(),
            ready,
        ));
        // Listening before the node serves; without it, it looks for
        // released runs every fifth of the lease all the same.
        if tokio::time::timeout(LISTEN_WAIT, listening).await.is_err() {
            tracing::warn!(
                "Not listening for runs other nodes release yet; looking for them every {:?}.",
                self.lease / 5
            );
        }
        Ok(())
    }

    /// The lease in seconds, as the SQL above takes it.
    pub(super) fn lease_seconds(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// How often to look for runs to take over, and the wake-up.
    pub(super) fn sharing(&self) -> Sharing {
        Sharing {
            every: self.lease / 5,
            released: self.released.clone(),
        }
    }

    /// Takes over up to `limit` runs no live node holds.
    pub(super) async fn claim(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .rows(TAKE_OVER, &[&self.node, &self.lease_seconds(), &limit])
            .await?;
        let mut held = self.held();
        let mut taken: Vec<QueuedRun> = rows
            .iter()
            .map(|row| {
                let id = run_id(row.get(0));
                held.insert(id, row.get(4));
                let installation: Option<String> = row.get(2);
                QueuedRun {
                    id,
                    workflow: row.get(1),
                    installation: installation.as_deref().and_then(InstallationId::parse),
                    due_at: row.get(3),
                }
            })
            .collect();
        taken.sort_by_key(|run| (run.due_at, run.id));
        Ok(taken)
    }

    /// Gives up this node's unfinished runs and leaves the nodes, telling
    /// the others.
    pub(super) async fn leave(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let released = tx
            .exec(
                "UPDATE gust_runs SET owner = NULL WHERE owner = $1 AND due_at IS NOT NULL",
                &[&self.node],
            )
            .await?;
        tx.exec("DELETE FROM gust_nodes WHERE id = $1", &[&self.node])
            .await?;
        tx.exec("DELETE FROM gust_leases WHERE owner = $1", &[&self.node])
            .await?;
        if released > 0 {
            tx.batch_execute(&format!("NOTIFY {CHANNEL}"))
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        self.stop.cancel();
        self.held().clear();
        Ok(released as usize)
    }
}

/// Writes `node`'s heartbeat, and forgets nodes long dead (their runs were
/// claimable since their lease lapsed).
async fn beat(pool: &Pool, node: uuid::Uuid, lease: Duration) -> Result<(), StoreError> {
    let client = pool
        .get()
        .await
        .map_err(|error| StoreError::Unavailable(format!("cannot reach PostgreSQL: {error}")))?;
    client
        .exec(
            "INSERT INTO gust_nodes (id) VALUES ($1) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
            &[&node],
        )
        .await?;
    client
        .exec(
            "DELETE FROM gust_nodes WHERE heartbeat_at < now() - make_interval(secs => $1)",
            &[&(lease.as_secs_f64() * 100.0)],
        )
        .await?;
    Ok(())
}

/// Beats every fifth of the lease until `stop`.
async fn heartbeat(pool: Pool, node: uuid::Uuid, lease: Duration, stop: CancellationToken) {
    let mut every = tokio::time::interval(lease / 5);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(error) = beat(&pool, node, lease).await {
            tracing::warn!(%error, "This node's heartbeat could not be written; past its lease, other nodes take its runs over.");
        }
    }
}

/// Listens for runs released by other nodes, telling `released`, on its
/// own connection (made again when it drops) until `stop`; tells `ready`
/// once it first listens.
async fn listen(
    config: tokio_postgres::Config,
    released: Arc<Notify>,
    stop: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    while !stop.is_cancelled() {
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let told = released.clone();
            let messages = tokio::spawn(async move {
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if let AsyncMessage::Notification(_) = message {
                        told.notify_one();
                    }
                }
            });
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                if let Some(ready) = ready.take() {
                    let _listening = ready.send(());
                }
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = messages => {}
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
}
