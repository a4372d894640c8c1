//! The schema's versions, embedded in the binary and applied in order,
//! each in the transaction that records it, under an advisory lock so that
//! nodes starting together apply each once.

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;

use super::{Statements, db_error};
use crate::store::StoreError;

/// The advisory lock migrations are applied under (any number would do;
/// this one is "gust" in ASCII).
const MIGRATION_LOCK: i64 = 0x6775_7374;

/// One version of the schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in this order.
    pub version: u32,
    /// What it does.
    pub name: &'static str,
    sql: &'static str,
}

/// The migrations this build knows.
pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: include_str!("migrations/0001_initial.sql"),
}];

/// A migration and whether the database has it.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    /// The migration.
    pub migration: Migration,
    /// When it was applied, if it was.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Applies every migration the database lacks; the versions applied.
pub(super) async fn apply(client: &mut Object) -> Result<Vec<u32>, StoreError> {
    let tx = client.transaction().await.map_err(db_error)?;
    tx.exec("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gust_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(db_error)?;
    let applied: Vec<i32> = tx
        .rows("SELECT version FROM gust_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if let Some(newer) = applied.iter().find(|v| **v as u32 > latest()) {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {newer}, newer than this Gust knows ({}): \
             upgrade Gust before pointing it at this database",
            latest()
        )));
    }
    let mut done = Vec::new();
    for migration in MIGRATIONS {
        if applied.contains(&(migration.version as i32)) {
            continue;
        }
        tx.batch_execute(migration.sql).await.map_err(|error| {
            StoreError::Unavailable(format!(
                "migration {} ({}) failed: {}",
                migration.version,
                migration.name,
                db_error(error)
            ))
        })?;
        tx.exec(
            "INSERT INTO gust_migrations (version, name) VALUES ($1, $2)",
            &[&(migration.version as i32), &migration.name],
        )
        .await?;
        done.push(migration.version);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(done)
}

/// Every migration this build knows, with when the database applied it.
pub(super) async fn status(client: &Object) -> Result<Vec<MigrationStatus>, StoreError> {
    let table: Option<String> = client
        .row_one("SELECT to_regclass('gust_migrations')::text", &[])
        .await?
        .get(0);
    let applied: Vec<(i32, DateTime<Utc>)> = match table {
        Some(_) => client
            .rows("SELECT version, applied_at FROM gust_migrations", &[])
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect(),
        None => Vec::new(),
    };
    Ok(MIGRATIONS
        .iter()
        .map(|migration| MigrationStatus {
            migration: *migration,
            applied_at: applied
                .iter()
                .find(|(version, _)| *version as u32 == migration.version)
                .map(|(_, at)| *at),
        })
        .collect())
}

/// The newest version this build knows.
fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}
