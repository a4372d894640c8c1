//! Triggers one node at a time runs (a poll): a lease per trigger, taken
//! when free or expired and renewed by its holder, and the check that a
//! trigger's state write comes from the node holding its lease, in the
//! write's own transaction.

use deadpool_postgres::Transaction;

use super::{PostgresStore, Statements};
use crate::model::StateWrite;
use crate::store::StoreError;

/// Takes or renews lease `$1` for node `$2` until `$3` seconds from now:
/// the epoch it holds it at, or no row when another node holds it.
const HOLD: &str = "
    INSERT INTO gust_leases (name, owner, epoch, expires_at)
    VALUES ($1, $2, 1, now() + make_interval(secs => $3))
    ON CONFLICT (name) DO UPDATE SET
        owner = EXCLUDED.owner,
        epoch = CASE WHEN gust_leases.owner = EXCLUDED.owner
                     THEN gust_leases.epoch ELSE gust_leases.epoch + 1 END,
        expires_at = EXCLUDED.expires_at
    WHERE gust_leases.owner = EXCLUDED.owner OR gust_leases.expires_at < now()
    RETURNING epoch";

impl PostgresStore {
    /// Whether this node holds the lease of trigger `scope` now, taking or
    /// renewing it.
    pub(super) async fn hold(&self, scope: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let held = client
            .row_opt(HOLD, &[&scope, &self.node, &self.lease_seconds()])
            .await?;
        let mut leases = self.leases();
        match held {
            Some(row) => {
                leases.insert(scope.to_owned(), row.get(0));
                Ok(true)
            }
            None => {
                leases.remove(scope);
                Ok(false)
            }
        }
    }

    /// Refuses `writes` inside `tx` when one moves the state of a trigger
    /// this node took a lease on and no longer holds; renews the others.
    pub(super) async fn check_leases(
        &self,
        tx: &Transaction<'_>,
        writes: &[StateWrite],
    ) -> Result<(), StoreError> {
        let held: Vec<(String, i64)> = {
            let leases = self.leases();
            let mut held: Vec<(String, i64)> = writes
                .iter()
                .filter_map(|write| Some((write.scope.clone(), *leases.get(&write.scope)?)))
                .collect();
            held.sort();
            held.dedup();
            held
        };
        for (scope, epoch) in held {
            let renewed = tx
                .exec(
                    "UPDATE gust_leases SET expires_at = now() + make_interval(secs => $4) \
                     WHERE name = $1 AND owner = $2 AND epoch = $3",
                    &[&scope, &self.node, &epoch, &self.lease_seconds()],
                )
                .await?;
            if renewed == 0 {
                self.leases().remove(&scope);
                return Err(StoreError::TriggerTakenOver(scope));
            }
        }
        Ok(())
    }
}
