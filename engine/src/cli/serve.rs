//! `gust serve`: settings from flags, the environment and `gust.toml` (in
//! that order of precedence), then the engine, its routes and its signals.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use std::collections::BTreeMap;

use super::connect::{EmulatorSettings, connect};
use super::connect_settings::{ConnectTable, OAuthAppTable, connect_settings, emulator_app};
use super::watch::reload_on_change;
use crate::Engine;
use crate::config::Config;
use crate::connections::ConnectSettings;
use crate::salesforce::{ConnectionSettings, SalesforceService};
use crate::secrets::KeySource;
use crate::store::StoreLocation;
use gust_pubsub::client::Endpoint;

/// The settings of `gust serve`. Each is a flag, an environment variable
/// and a key of `gust.toml`; a flag wins over the environment, which wins
/// over the file.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// The directory of workflow files (`*.json`) [default: workflows].
    #[arg(long, env = "GUST_WORKFLOWS")]
    pub workflows: Option<PathBuf>,
    /// Where the store and compiled components are kept [default: gust-data].
    #[arg(long, env = "GUST_DATA")]
    pub data: Option<PathBuf>,
    /// The store: a `postgres://user:password@host:port/database` URL for
    /// one several servers share, else a directory for the embedded one
    /// [default: the data directory's `store`].
    #[arg(long, env = "GUST_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// On a PostgreSQL store, how long this server's unfinished runs stay
    /// its own after its last heartbeat; past it the other servers take
    /// them over [default: 10s].
    #[arg(long, env = "GUST_STORE_LEASE", value_parser = humantime::parse_duration)]
    #[serde(default, with = "humantime_serde")]
    pub store_lease: Option<Duration>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GUST_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The most runs running at once [default: 64].
    #[arg(long, env = "GUST_WORKERS")]
    pub workers: Option<usize>,
    /// The most runs accepted and not finished; past it webhooks answer 503
    /// and Outbound Messages a SOAP fault [default: 10000].
    #[arg(long, env = "GUST_MAX_BACKLOG")]
    pub max_backlog: Option<usize>,
    /// The embedded store's page cache in memory, in bytes [default: 33554432].
    #[arg(long, env = "GUST_STORE_CACHE_BYTES")]
    pub store_cache_bytes: Option<u64>,
    /// The most runs of one workflow running at once, unless it sets
    /// `concurrency` [default: 16].
    #[arg(long, env = "GUST_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// The largest webhook body, in bytes [default: 1048576].
    #[arg(long, env = "GUST_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// The largest Outbound Message, in bytes [default: 10485760].
    #[arg(long, env = "GUST_MAX_OUTBOUND_MESSAGE_BYTES")]
    pub max_outbound_message_bytes: Option<usize>,
    /// How long a `"respond": "sync"` webhook waits for its run [default: 30s].
    #[arg(long, env = "GUST_SYNC_TIMEOUT", value_parser = humantime::parse_duration)]
    #[serde(default, with = "humantime_serde")]
    pub sync_timeout: Option<Duration>,
    /// How long finished runs are kept [default: 30days].
    #[arg(long, env = "GUST_RETENTION", value_parser = humantime::parse_duration)]
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// How long shutdown waits for steps in flight [default: 30s].
    #[arg(long, env = "GUST_SHUTDOWN_GRACE", value_parser = humantime::parse_duration)]
    #[serde(default, with = "humantime_serde")]
    pub shutdown_grace: Option<Duration>,
    /// The largest answer of a Salesforce read a step's call journal keeps,
    /// in bytes; a step run again reads a larger one again [default: 262144].
    #[arg(long, env = "GUST_JOURNAL_MAX_READ_BYTES")]
    pub journal_max_read_bytes: Option<usize>,
    /// Where compiled components are cached [default: the data directory's `components`].
    #[arg(long, env = "GUST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The bearer token of the admin API; required when listening beyond
    /// loopback. Not read from `gust.toml`, to keep it out of files.
    #[arg(long, env = "GUST_ADMIN_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// Where the in-process sf-emulator listens when no Salesforce
    /// connection is configured [default: 127.0.0.1, any free port].
    #[arg(long, env = "GUST_EMULATOR_LISTEN")]
    pub emulator_listen: Option<SocketAddr>,
    /// A seed file for the in-process sf-emulator (custom objects and
    /// fields, records).
    #[arg(long, env = "GUST_EMULATOR_SEED")]
    pub emulator_seed: Option<PathBuf>,
    /// How many orgs the in-process sf-emulator serves, each on its own
    /// port (the ports after the first's) with its own id and records: the
    /// first is the `default` connection, the others are for customers to
    /// connect (as `login_host`), seeded alike but without the seed's
    /// Outbound Message rules [default: 1].
    #[arg(long, env = "GUST_EMULATOR_ORGS", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub emulator_orgs: Option<u64>,
    /// The URL customers' browsers reach this server at: connect links and
    /// the OAuth callback (`<url>/connect/salesforce/callback`, to list in
    /// each OAuth app) are under it [default: the listen address, over http].
    #[arg(long, env = "GUST_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Salesforce's Pub/Sub API, for `salesforce_events` triggers: an
    /// `https://` URL, or `http://` for a local emulator in plaintext
    /// [default: `https://api.pubsub.salesforce.com:7443`, or the in-process
    /// sf-emulator's when no connection is configured].
    #[arg(long, env = "GUST_PUBSUB_URL")]
    pub pubsub_url: Option<String>,
    /// A certificate (PEM) to trust for the Pub/Sub API besides the
    /// system's, such as a local sf-emulator's.
    #[arg(long, env = "GUST_PUBSUB_CA_FILE")]
    pub pubsub_ca_file: Option<PathBuf>,
    /// The key file that seals stored secrets, when GUST_SECRET_KEYS is not
    /// set [default: secret.key in the data directory, made when missing].
    #[arg(long, env = "GUST_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// The `[salesforce]` table of `gust.toml`; the `GUST_SF_*` variables
    /// win over each of its keys.
    #[arg(skip)]
    #[serde(default)]
    pub salesforce: Option<ConnectionSettings>,
    /// The `[connect]` table of `gust.toml`: customers' connections.
    #[arg(skip)]
    #[serde(default)]
    pub connect: Option<ConnectTable>,
    /// The `[oauth_apps.<name>]` tables of `gust.toml`.
    #[arg(skip)]
    #[serde(default)]
    pub oauth_apps: BTreeMap<String, OAuthAppTable>,
}

impl ServeSettings {
    /// Each setting from `self`, else from `lower`.
    fn or(self, lower: Self) -> Self {
        Self {
            workflows: self.workflows.or(lower.workflows),
            data: self.data.or(lower.data),
            store: self.store.or(lower.store),
            store_lease: self.store_lease.or(lower.store_lease),
            listen: self.listen.or(lower.listen),
            workers: self.workers.or(lower.workers),
            max_backlog: self.max_backlog.or(lower.max_backlog),
            store_cache_bytes: self.store_cache_bytes.or(lower.store_cache_bytes),
            concurrency: self.concurrency.or(lower.concurrency),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            max_outbound_message_bytes: self
                .max_outbound_message_bytes
                .or(lower.max_outbound_message_bytes),
            sync_timeout: self.sync_timeout.or(lower.sync_timeout),
            retention: self.retention.or(lower.retention),
            shutdown_grace: self.shutdown_grace.or(lower.shutdown_grace),
            journal_max_read_bytes: self.journal_max_read_bytes.or(lower.journal_max_read_bytes),
            cache_dir: self.cache_dir.or(lower.cache_dir),
            admin_token: self.admin_token.or(lower.admin_token),
            emulator_listen: self.emulator_listen.or(lower.emulator_listen),
            emulator_seed: self.emulator_seed.or(lower.emulator_seed),
            emulator_orgs: self.emulator_orgs.or(lower.emulator_orgs),
            public_url: self.public_url.or(lower.public_url),
            secret_key_file: self.secret_key_file.or(lower.secret_key_file),
            pubsub_url: self.pubsub_url.or(lower.pubsub_url),
            pubsub_ca_file: self.pubsub_ca_file.or(lower.pubsub_ca_file),
            salesforce: self.salesforce.or(lower.salesforce),
            connect: self.connect.or(lower.connect),
            oauth_apps: if self.oauth_apps.is_empty() {
                lower.oauth_apps
            } else {
                self.oauth_apps
            },
        }
    }

    /// The settings of `--config FILE`, else of `./gust.toml` when it
    /// exists, else none.
    pub(super) fn from_file(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            Some(path) => Self::read(path),
            None if Path::new("gust.toml").exists() => Self::read(Path::new("gust.toml")),
            None => Ok(Self::default()),
        }
    }

    /// The Salesforce connection these settings and `GUST_SF_*` configure.
    pub(super) fn connection(&self) -> anyhow::Result<ConnectionSettings> {
        let env = ConnectionSettings::from_env()?;
        Ok(env.or(self.salesforce.clone().unwrap_or_default()))
    }

    /// Reads `gust.toml`-style settings from `path`.
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// The connect settings for a server reached at `address`, with the
    /// in-process emulator's app when no app is configured and an emulator
    /// serves.
    pub(super) fn connect_settings(
        &self,
        address: SocketAddr,
        emulator_urls: &[String],
    ) -> anyhow::Result<ConnectSettings> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{address}"));
        let mut settings = connect_settings(&public_url, self.connect.as_ref(), &self.oauth_apps)?;
        if !emulator_urls.is_empty() && settings.apps.is_empty() {
            emulator_app(&mut settings, emulator_urls);
        }
        Ok(settings)
    }

    /// Where the Pub/Sub API is: as configured, else the in-process
    /// emulator's (`emulator`), else Salesforce's.
    fn pubsub_endpoint(&self, emulator: Option<String>) -> anyhow::Result<Endpoint> {
        let ca_certificate = match &self.pubsub_ca_file {
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read pubsub_ca_file {}", file.display()))?,
            ),
            None => None,
        };
        let url = match (&self.pubsub_url, emulator) {
            (Some(url), _) => {
                if !url.starts_with("https://") && !url.starts_with("http://") {
                    bail!(
                        "pubsub_url `{url}` is not an https:// (or http:// for a local emulator) URL"
                    );
                }
                url.clone()
            }
            (None, Some(emulator)) => emulator,
            (None, None) => Endpoint::default().url,
        };
        Ok(Endpoint {
            url,
            ca_certificate,
        })
    }

    fn config(&self, salesforce: Arc<dyn SalesforceService>) -> Config {
        let mut config = Config::new(self.data.clone().unwrap_or_else(|| "gust-data".into()));
        config.secret_key_file.clone_from(&self.secret_key_file);
        if let Some(workers) = self.workers {
            config.workers = workers;
        }
        if let Some(max_backlog) = self.max_backlog {
            config.max_backlog = max_backlog;
        }
        // An empty setting (GUST_STORE="") is no setting.
        config.store = self
            .store
            .as_deref()
            .filter(|store| !store.is_empty())
            .map(StoreLocation::parse);
        if let Some(lease) = self.store_lease {
            config.store_lease = lease;
        }
        if let Some(cache_bytes) = self.store_cache_bytes {
            config.store_cache_bytes = cache_bytes;
        }
        if let Some(concurrency) = self.concurrency {
            config.default_concurrency = concurrency;
        }
        if let Some(max_body_bytes) = self.max_body_bytes {
            config.max_body_bytes = max_body_bytes;
        }
        if let Some(max_bytes) = self.max_outbound_message_bytes {
            config.max_outbound_message_bytes = max_bytes;
        }
        if let Some(sync_timeout) = self.sync_timeout {
            config.sync_timeout = sync_timeout;
        }
        if let Some(retention) = self.retention {
            config.retention = Some(retention);
        }
        if let Some(grace) = self.shutdown_grace {
            config.shutdown_grace = grace;
        }
        if let Some(max_bytes) = self.journal_max_read_bytes {
            config.journal_max_read_bytes = max_bytes;
        }
        if let Some(cache_dir) = &self.cache_dir {
            config.sandbox.cache_dir = Some(cache_dir.clone());
        }
        config.admin_token = self.admin_token.clone();
        config.salesforce = salesforce;
        config
    }
}

/// Runs the server until SIGTERM or SIGINT; with `watch`, reloading the
/// workflows as their files change.
pub(super) async fn serve(
    settings: ServeSettings,
    config_file: Option<PathBuf>,
    watch: bool,
) -> anyhow::Result<ExitCode> {
    let file = ServeSettings::from_file(config_file.as_deref())?;
    let settings = settings.or(file);
    let listen = settings
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    if !listen.ip().is_loopback() && settings.admin_token.is_none() {
        bail!(
            "{listen} is reachable beyond this machine: set an admin token (--admin-token or GUST_ADMIN_TOKEN) to protect the admin API"
        );
    }
    let workflows_dir = settings
        .workflows
        .clone()
        .unwrap_or_else(|| "workflows".into());
    let data = settings.data.clone().unwrap_or_else(|| "gust-data".into());
    let salesforce = connect(
        settings.connection()?,
        EmulatorSettings {
            listen: settings.emulator_listen,
            seed: settings.emulator_seed.clone(),
            data_dir: Some(data.join("sf-emulator")),
            orgs: settings.emulator_orgs.unwrap_or(1),
            pubsub: true,
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let mut config = settings.config(salesforce.api.clone());
    config.connect = settings.connect_settings(address, &salesforce.emulator_urls())?;
    config.pubsub = settings.pubsub_endpoint(salesforce.pubsub_url())?;
    let engine = Engine::start(config).await?;
    announce_connections(&engine).await;
    load(&engine, &workflows_dir, address).await?;
    let (hangups, terminations) = register_signals().context("cannot handle signals")?;
    out!("Gust listening on http://{address}");
    if watch {
        let (engine, dir) = (engine.clone(), workflows_dir.clone());
        tokio::spawn(async move {
            if let Err(error) = reload_on_change(engine, dir, address).await {
                eprintln!("error: {error:#}; reload with SIGHUP instead");
            }
        });
    }
    tokio::spawn(reload_on_hangup(
        hangups,
        engine.clone(),
        workflows_dir,
        address,
    ));
    axum::serve(listener, engine.router())
        .with_graceful_shutdown(terminations.first())
        .await
        .context("the server failed")?;
    eprintln!("Shutting down: finishing the steps in flight.");
    engine.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Says where customers connect, and that a key file was made.
async fn announce_connections(engine: &Engine) {
    if let KeySource::Created(path) = engine.key_source() {
        eprintln!(
            "Secrets: made the key {} that seals stored connections; keep it (and back it up), they cannot be read without it.",
            path.display()
        );
    }
    let stored = engine
        .connections()
        .list(None)
        .await
        .map(|list| list.iter().filter(|view| view.source == "store").count())
        .unwrap_or_default();
    eprintln!(
        "Connections: {stored} stored; customers connect through POST /api/connect-sessions (callback {}).",
        engine.config().connect.callback_url()
    );
}

/// Loads the workflow directory and says what loaded.
pub(super) async fn load(engine: &Engine, dir: &Path, address: SocketAddr) -> anyhow::Result<()> {
    let set = engine
        .load_dir(dir)
        .await
        .with_context(|| format!("cannot read the workflow directory {}", dir.display()))?;
    for (id, prepared) in &set.ready {
        let workflow = &prepared.workflow;
        let url = match workflow.request_path() {
            Some(path) => format!("POST http://{address}{path}"),
            None => workflow.trigger.summary().unwrap_or_default(),
        };
        let installed = if workflow.is_installable() {
            " (installed per customer)"
        } else {
            ""
        };
        eprintln!("loaded   {id}: {url}{installed}");
    }
    for invalid in &set.invalid {
        eprintln!("invalid  {}", invalid.source.display());
        for error in &invalid.errors {
            eprintln!("         {error}");
        }
    }
    Ok(())
}

/// Reloads the workflow directory on each SIGHUP.
async fn reload_on_hangup(mut hangups: Hangups, engine: Engine, dir: PathBuf, address: SocketAddr) {
    while hangups.next().await {
        eprintln!("Reloading {}.", dir.display());
        if let Err(error) = load(&engine, &dir, address).await {
            eprintln!("error: {error:#}");
        }
    }
}

/// Registers the signals `gust serve` handles, before it says it listens,
/// so that none arrives unhandled.
fn register_signals() -> anyhow::Result<(Hangups, Terminations)> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Ok((
            Hangups(signal(SignalKind::hangup())?),
            Terminations {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            },
        ))
    }
    #[cfg(not(unix))]
    {
        Ok((Hangups, Terminations))
    }
}

/// SIGHUP.
#[cfg(unix)]
struct Hangups(tokio::signal::unix::Signal);
/// SIGHUP, which only Unix has.
#[cfg(not(unix))]
struct Hangups;

impl Hangups {
    /// Waits for the next one; `false` when none will come.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            self.0.recv().await.is_some()
        }
        #[cfg(not(unix))]
        {
            std::future::pending::<bool>().await
        }
    }
}

/// SIGTERM and SIGINT.
#[cfg(unix)]
struct Terminations {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}
/// Ctrl-C.
#[cfg(not(unix))]
struct Terminations;

impl Terminations {
    /// Waits for the first one.
    async fn first(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.terminate.recv() => {}
                _ = self.interrupt.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::AuthMethod;

    #[test]
    fn the_salesforce_table_of_gust_toml_is_the_connection() {
        let settings: ServeSettings = toml::from_str(
            "listen = \"127.0.0.1:9000\"\n\
             [salesforce]\n\
             instance_url = \"https://acme.my.salesforce.com\"\n\
             auth = \"client_credentials\"\n\
             client_id = \"app\"\n\
             client_secret = \"env:ACME_SF_SECRET\"\n",
        )
        .unwrap();
        let salesforce = settings.salesforce.unwrap();
        assert_eq!(salesforce.auth, Some(AuthMethod::ClientCredentials));
        assert_eq!(salesforce.client_id.as_deref(), Some("app"));
        let inline = toml::from_str::<ServeSettings>(
            "[salesforce]\nauth = \"access_token\"\naccess_token = \"00D!abc\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(inline.contains("never inline"), "{inline}");
    }

    #[test]
    fn oauth_apps_and_the_connect_table_make_the_connect_settings() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = format!(
            "public_url = \"https://gust.example.com\"\n\
             [oauth_apps.platform]\n\
             client_id = \"3MVG9\"\n\
             client_secret = \"file:{}\"\n\
             [oauth_apps.acme-own]\n\
             client_id = \"byo\"\n\
             client_secret = \"file:{}\"\n\
             login_host = \"https://acme.my.salesforce.com\"\n\
             tenant = \"acme\"\n\
             introspect = false\n\
             [connect]\n\
             redirect_allow = [\"https://app.example.com/done\"]\n\
             session_ttl = \"10m\"\n\
             api_limit_share = 0.5\n",
            secret.display(),
            secret.display()
        );
        let settings: ServeSettings = toml::from_str(&text).unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], 8080));
        let connect = settings.connect_settings(address, &[]).unwrap();
        assert_eq!(connect.public_url, "https://gust.example.com");
        assert_eq!(
            connect.callback_url(),
            "https://gust.example.com/connect/salesforce/callback"
        );
        assert_eq!(connect.session_ttl, Duration::from_secs(600));
        assert!((connect.api_limit_share - 0.5).abs() < f64::EPSILON);
        let names: Vec<_> = connect.apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["acme-own", "platform"]);
        let own = &connect.apps[0];
        assert_eq!(own.client_secret.expose(), "s3cret");
        assert_eq!(own.tenant.as_deref(), Some("acme"));
        assert!(!own.introspect);
        assert_eq!(connect.apps[1].login_host, "https://login.salesforce.com");

        // With no app, the emulator's is registered and trusted.
        let bare = ServeSettings::default()
            .connect_settings(address, &["http://127.0.0.1:8787".to_owned()])
            .unwrap();
        assert_eq!(bare.public_url, "http://127.0.0.1:8080");
        assert_eq!(bare.apps[0].login_host, "http://127.0.0.1:8787");
        assert_eq!(bare.trusted_hosts, ["http://127.0.0.1:8787"]);

        let unknown = toml::from_str::<ServeSettings>("[connect]\nredirect = []\n")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("redirect"), "{unknown}");
        let share: ServeSettings = toml::from_str("[connect]\napi_limit_share = 2.0\n").unwrap();
        assert!(share.connect_settings(address, &[]).is_err());
    }
}
