//! The Salesforce connection of `gust serve` and `gust run`: the one
//! configured (`[salesforce]` in `gust.toml`, `GUST_SF_*`), or else an
//! in-process sf-emulator, said so on standard error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use sf_emulator::org::nth_org_id;
use sf_emulator::seed::Seed;
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

use crate::salesforce::{Client, Connection, ConnectionSettings, NoConnection, SalesforceService};

/// Where steps' Salesforce calls go, and the emulator serving them when
/// no connection is configured (it stops when this is dropped).
pub(super) struct Salesforce {
    pub(super) api: Arc<dyn SalesforceService>,
    emulator: Option<Running>,
    /// The emulator's other orgs, for customers to connect.
    other_orgs: Vec<Running>,
    /// The file in the emulator's data directory that says where it
    /// listens, for `gust emulator`; removed when it stops.
    address_file: Option<PathBuf>,
    /// The emulator's Pub/Sub API, in plaintext.
    pubsub: Option<sf_emulator::pubsub::Serving>,
}

/// The file in an emulator's data directory holding its URL while it runs.
pub(super) const ADDRESS_FILE: &str = "url";

impl Drop for Salesforce {
    /// Saves the emulator's records (when it has a data directory), so that
    /// a graceful stop keeps the last writes.
    fn drop(&mut self) {
        for running in self.emulator.iter().chain(&self.other_orgs) {
            if let Err(error) = running.emulator.save() {
                eprintln!("warning: cannot save the sf-emulator's records: {error}");
            }
        }
        if let Some(file) = &self.address_file {
            // Gone already is as good.
            std::fs::remove_file(file).ok();
        }
    }
}

impl Salesforce {
    /// The URLs of the in-process emulator's orgs, the first first.
    pub(super) fn emulator_urls(&self) -> Vec<String> {
        self.emulator
            .iter()
            .chain(&self.other_orgs)
            .map(|running| running.url.clone())
            .collect()
    }

    /// The URL of the in-process emulator's Pub/Sub API, if it serves.
    pub(super) fn pubsub_url(&self) -> Option<String> {
        self.pubsub.as_ref()?.plaintext_url.clone()
    }

    /// No connection: for workflows whose steps may not call Salesforce.
    pub(super) fn none() -> Self {
        Self {
            api: Arc::new(NoConnection),
            emulator: None,
            other_orgs: Vec::new(),
            address_file: None,
            pubsub: None,
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
    /// How many orgs it serves (0 is taken as 1).
    pub(super) orgs: u64,
    /// Whether it serves its Pub/Sub API too (for a server's events
    /// triggers; a one-off run has none).
    pub(super) pubsub: bool,
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
            other_orgs: Vec::new(),
            address_file: None,
            pubsub: None,
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
    let listen = emulator
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let running = serve_org(&emulator, &seed, 0, listen).await?;
    if let Some(notice) = running.emulator.origin().notice() {
        eprintln!("sf-emulator: {notice}");
    }
    eprintln!(
        "No Salesforce connection configured: steps call an in-process sf-emulator at {} \
         (client_id {DEFAULT_CLIENT_ID}, client_secret {DEFAULT_CLIENT_SECRET}). \
         Set [salesforce] in gust.toml or GUST_SF_* to use an org.",
        running.url
    );
    // The other orgs get the seed's objects, fields and records, not its
    // Outbound Message rules: their endpoints are the first org's workflows.
    let others = Seed {
        outbound_messages: Vec::new(),
        ..seed.clone()
    };
    let mut other_orgs = Vec::new();
    for n in 1..emulator.orgs {
        // The ports after the first's, or any free ones.
        let port = match listen.port() {
            0 => 0,
            first => first.saturating_add(u16::try_from(n).unwrap_or(u16::MAX)),
        };
        let org = serve_org(&emulator, &others, n, SocketAddr::new(listen.ip(), port)).await?;
        eprintln!(
            "sf-emulator: another org, {}, at {} (connect it with \"login_host\": \"{}\")",
            org.emulator.org_id(),
            org.url,
            org.url
        );
        other_orgs.push(org);
    }
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
    let pubsub = if emulator.pubsub {
        Some(serve_pubsub(&running, &other_orgs, listen).await?)
    } else {
        None
    };
    Ok(Salesforce {
        api: Arc::new(client),
        emulator: Some(running),
        other_orgs,
        address_file,
        pubsub,
    })
}

/// The emulator's Pub/Sub API, for every org, on any free port beside
/// `listen`.
async fn serve_pubsub(
    first: &Running,
    others: &[Running],
    listen: SocketAddr,
) -> anyhow::Result<sf_emulator::pubsub::Serving> {
    let orgs = std::iter::once(first)
        .chain(others)
        .map(|org| org.emulator.clone())
        .collect();
    let listen = sf_emulator::pubsub::Listen {
        plaintext: Some(SocketAddr::new(listen.ip(), 0)),
        tls: None,
    };
    let pubsub = sf_emulator::pubsub::serve(orgs, &listen)
        .await
        .context("cannot serve the sf-emulator's Pub/Sub API")?;
    if let Some(url) = &pubsub.plaintext_url {
        eprintln!("sf-emulator: its Pub/Sub API (change and platform events) at {url}");
    }
    Ok(pubsub)
}

/// Serves the emulator's org number `n` (its records under the data
/// directory's `orgs/<org id>`, the first's in the directory itself) on
/// `listen`.
async fn serve_org(
    settings: &EmulatorSettings,
    seed: &Seed,
    n: u64,
    listen: SocketAddr,
) -> anyhow::Result<Running> {
    let org_id = nth_org_id(n);
    let data_dir = settings.data_dir.as_ref().map(|dir| match n {
        0 => dir.clone(),
        _ => dir.join("orgs").join(&org_id),
    });
    let config = sf_emulator::Config {
        org_id,
        data_dir,
        ..sf_emulator::Config::default()
    };
    let org = Emulator::with_seed(config, seed).context("cannot set up the sf-emulator")?;
    org.serve(listen)
        .await
        .with_context(|| format!("cannot start the sf-emulator on {listen}"))
}

/// A client of the emulator at `url`, logged in as its default app.
pub(super) fn emulator_client(url: &str) -> anyhow::Result<Client> {
    let connection = Connection::client_credentials(url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    Ok(Client::new(connection)?)
}
