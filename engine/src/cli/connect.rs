//! The Salesforce connection of `gust serve` and `gust run`: the one
//! configured (`[salesforce]` in `gust.toml`, `GUST_SF_*`), or else an
//! in-process sf-emulator, said so on standard error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use sf_emulator::seed::Seed;
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

use crate::salesforce::{
    Auth, Client, Connection, ConnectionSettings, NoConnection, SalesforceService, Secret,
};

/// Where steps' Salesforce calls go, and the emulator serving them when
/// no connection is configured (it stops when this is dropped).
pub(super) struct Salesforce {
    pub(super) api: Arc<dyn SalesforceService>,
    emulator: Option<Running>,
}

impl Drop for Salesforce {
    /// Saves the emulator's records (when it has a data directory), so that
    /// a graceful stop keeps the last writes.
    fn drop(&mut self) {
        if let Some(running) = &self.emulator
            && let Err(error) = running.emulator.save()
        {
            eprintln!("warning: cannot save the sf-emulator's records: {error}");
        }
    }
}

impl Salesforce {
    /// No connection: for workflows whose steps may not call Salesforce.
    pub(super) fn none() -> Self {
        Self {
            api: Arc::new(NoConnection),
            emulator: None,
        }
    }
}

/// How the in-process emulator is set up.
#[derive(Debug, Default)]
pub(super) struct EmulatorSettings {
    /// Its address [default: 127.0.0.1, any free port].
    pub(super) listen: Option<SocketAddr>,
    /// A seed file (custom objects and fields, records).
    pub(super) seed: Option<PathBuf>,
    /// Where its records are kept across restarts; memory only without.
    pub(super) data_dir: Option<PathBuf>,
}

/// The configured connection, or an in-process emulator when `settings`
/// configure none.
pub(super) async fn connect(
    settings: ConnectionSettings,
    emulator: EmulatorSettings,
) -> anyhow::Result<Salesforce> {
    if !settings.is_empty() {
        let connection = settings
            .resolve()
            .context("the Salesforce connection is not valid")?;
        eprintln!(
            "Salesforce: {} (API v{}, logging in at {})",
            connection
                .instance_url
                .as_deref()
                .unwrap_or("the instance the login names"),
            connection.api_version,
            connection.login_url
        );
        let client = Client::new(connection)?;
        return Ok(Salesforce {
            api: Arc::new(client),
            emulator: None,
        });
    }
    let seed = match &emulator.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the emulator seed {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("the emulator seed {} is not valid", path.display()))?
        }
        None => Seed::default(),
    };
    let config = sf_emulator::Config {
        data_dir: emulator.data_dir,
        ..sf_emulator::Config::default()
    };
    let running = Emulator::with_seed(config, &seed)
        .context("cannot set up the sf-emulator")?
        .serve(
            emulator
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await
        .context("cannot start the sf-emulator")?;
    eprintln!(
        "No Salesforce connection configured: steps call an in-process sf-emulator at {} \
         (client_id {DEFAULT_CLIENT_ID}, client_secret {DEFAULT_CLIENT_SECRET}). \
         Set [salesforce] in gust.toml or GUST_SF_* to use an org.",
        running.url
    );
    let connection = Connection::new(
        &running.url,
        Auth::ClientCredentials {
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(DEFAULT_CLIENT_SECRET),
        },
    );
    let client = Client::new(connection)?;
    Ok(Salesforce {
        api: Arc::new(client),
        emulator: Some(running),
    })
}
