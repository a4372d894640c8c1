//! The Salesforce connection of `gust serve` and `gust run`: the one
//! configured (`[salesforce]` in `gust.toml`, `GUST_SF_*`), or else an
//! in-process sf-emulator, said so on standard error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use sf_emulator::seed::Seed;
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

use crate::salesforce::{Client, Connection, ConnectionSettings, NoConnection, SalesforceService};

/// Where steps' Salesforce calls go, and the emulator serving them when
/// no connection is configured (it stops when this is dropped).
pub(super) struct Salesforce {
    pub(super) api: Arc<dyn SalesforceService>,
    emulator: Option<Running>,
    /// The file in the emulator's data directory that says where it
    /// listens, for `gust emulator`; removed when it stops.
    address_file: Option<PathBuf>,
}

/// The file in an emulator's data directory holding its URL while it runs.
pub(super) const ADDRESS_FILE: &str = "url";

impl Drop for Salesforce {
    /// Saves the emulator's records (when it has a data directory), so that
    /// a graceful stop keeps the last writes.
    fn drop(&mut self) {
        if let Some(running) = &self.emulator
            && let Err(error) = running.emulator.save()
        {
            eprintln!("warning: cannot save the sf-emulator's records: {error}");
        }
        if let Some(file) = &self.address_file {
            // Gone already is as good.
            std::fs::remove_file(file).ok();
        }
    }
}

impl Salesforce {
    /// The in-process emulator's URL, when it serves.
    pub(super) fn emulator_url(&self) -> Option<&str> {
        self.emulator.as_ref().map(|running| running.url.as_str())
    }

    /// No connection: for workflows whose steps may not call Salesforce.
    pub(super) fn none() -> Self {
        Self {
            api: Arc::new(NoConnection),
            emulator: None,
            address_file: None,
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
/// configure none (its URL then written in its data directory, if it has
/// one, for `gust emulator`).
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
            address_file: None,
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
        data_dir: emulator.data_dir.clone(),
        ..sf_emulator::Config::default()
    };
    let org = Emulator::with_seed(config, &seed).context("cannot set up the sf-emulator")?;
    if let Some(notice) = org.origin().notice() {
        eprintln!("sf-emulator: {notice}");
    }
    let running = org
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
    let client = emulator_client(&running.url)?;
    let address_file = match &emulator.data_dir {
        Some(dir) => {
            let file = dir.join(ADDRESS_FILE);
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&file, &running.url))
                .with_context(|| format!("cannot write {}", file.display()))?;
            Some(file)
        }
        None => None,
    };
    Ok(Salesforce {
        api: Arc::new(client),
        emulator: Some(running),
        address_file,
    })
}

/// A client of the emulator at `url`, logged in as its default app.
pub(super) fn emulator_client(url: &str) -> anyhow::Result<Client> {
    let connection = Connection::client_credentials(url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    Ok(Client::new(connection)?)
}
