//! `gust store`: the schema of a PostgreSQL store, applied and shown.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use super::serve::ServeSettings;
use crate::store::{PostgresStore, SledStore, StoreLocation};

/// What to do with the store.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Apply the schema versions a PostgreSQL store lacks (`gust serve`
    /// does it at start too; nodes starting together apply each once).
    Migrate(StoreArgs),
    /// Show each schema version of this Gust and whether the store has it.
    Status(StoreArgs),
    /// Copy an embedded store into an empty PostgreSQL database: runs with
    /// their events, steps and call journals, state, connections (still
    /// sealed: give the servers the same keys), installations. Stop the
    /// server using the embedded store first.
    Copy {
        /// The embedded store: its directory (the data directory's `store`).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database: postgres://user:password@host:port/database.
        #[arg(long, hide_env_values = true)]
        to: String,
    },
}

/// Which store.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The store: a `postgres://user:password@host:port/database` URL.
    #[arg(long, env = "GUST_STORE", hide_env_values = true)]
    store: Option<String>,
    /// A settings file naming the store [default: ./gust.toml when it exists].
    #[arg(long, env = "GUST_CONFIG")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    /// The PostgreSQL store named by the flag, the environment or the file.
    fn postgres(self) -> anyhow::Result<PostgresStore> {
        let file = ServeSettings::from_file(self.config.as_deref())?;
        let named = self.store.or(file.store).context(
            "name the store: --store postgres://user:password@host:port/database (or GUST_STORE)",
        )?;
        match StoreLocation::parse(&named) {
            StoreLocation::Postgres(url) => Ok(PostgresStore::connect(&url, 2)?),
            StoreLocation::Embedded(dir) => anyhow::bail!(
                "{} is an embedded store, which has no schema versions: \
                 `gust store` manages a PostgreSQL store (postgres://...)",
                dir.display()
            ),
        }
    }
}

pub(super) async fn store(command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Migrate(args) => {
            let applied = args.postgres()?.migrate().await?;
            match applied.as_slice() {
                [] => out!("The store's schema is up to date."),
                versions => out!(
                    "Applied schema versions {}.",
                    versions
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
        StoreCommand::Status(args) => {
            let status = args.postgres()?.migration_status().await?;
            let mut missing = 0;
            for version in &status {
                let migration = &version.migration;
                match version.applied_at {
                    Some(at) => out!(
                        "{:>4}  {:<24} applied {}",
                        migration.version,
                        migration.name,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                    None => {
                        missing += 1;
                        out!(
                            "{:>4}  {:<24} not applied",
                            migration.version,
                            migration.name
                        );
                    }
                }
            }
            if missing > 0 {
                out!("{missing} not applied: run `gust store migrate` (or start `gust serve`).");
            }
        }
        StoreCommand::Copy { from, to } => {
            let StoreLocation::Postgres(url) = StoreLocation::parse(&to) else {
                anyhow::bail!(
                    "--to names a PostgreSQL database: postgres://user:password@host:port/database"
                );
            };
            let source = SledStore::open(&from)
                .with_context(|| format!("stop the server using {} first", from.display()))?;
            let target = PostgresStore::open(&url).await?;
            let copied = crate::store::copy(&source, &target).await?;
            out!(
                "Copied {} runs ({} call journal entries), {} state entries, {} connections \
                 (and {} sessions, apps and events), {} installations into {}.",
                copied.runs,
                copied.journal_entries,
                copied.state_entries,
                copied.connections,
                copied.connection_extras,
                copied.installations,
                StoreLocation::Postgres(url)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
