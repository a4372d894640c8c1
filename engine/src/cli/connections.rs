//! `gust connections list|show|check|delete` (the admin API of a running
//! server), `gust connect` (the connect flow for a person on a laptop, in
//! this process), and `gust keys rotate` (sealing every stored secret under
//! a new key, the server stopped).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use clap::Subcommand;
use tokio::sync::mpsc;

use super::connect::{EmulatorSettings, connect as configured_connection};
use super::remote::{ServerArgs, call, decode, print_json};
use super::serve::ServeSettings;
use crate::connections::{
    CheckResult, ConnectSessionRequest, ConnectionView, Connections, Deleted,
};
use crate::secrets::KeyRing;
use crate::store::{ConnectionStore, Store, StoreLocation};

/// What to do with a server's connections.
#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// Lists the connections, the configured `default` first.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a connection: its org, user, status, last error and API usage.
    Show {
        /// The connection's id.
        id: String,
    },
    /// Makes one live call on a connection and says how it went.
    Check {
        /// The connection's id.
        id: String,
    },
    /// Disables a connection: its calls fail at once until it is enabled.
    Disable {
        /// The connection's id.
        id: String,
    },
    /// Enables a disabled connection.
    Enable {
        /// The connection's id.
        id: String,
    },
    /// Deletes a connection, revoking its token at Salesforce.
    Delete {
        /// The connection's id.
        id: String,
    },
}

/// What to do with the secret keys.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Seals every stored secret again under the active key (the first of
    /// GUST_SECRET_KEYS or the key file). Put the new key first and keep
    /// the old ones until this has run; stop the server first.
    Rotate {
        /// A settings file [default: ./gust.toml when it exists].
        #[arg(long, env = "GUST_CONFIG")]
        config: Option<PathBuf>,
        /// The data directory [default: gust-data].
        #[arg(long, env = "GUST_DATA")]
        data: Option<PathBuf>,
        /// The store, when not the data directory's [default: the data directory's `store`].
        #[arg(long, env = "GUST_STORE", hide_env_values = true)]
        store: Option<String>,
        /// The key file, when GUST_SECRET_KEYS is not set [default: secret.key in the data directory].
        #[arg(long, env = "GUST_SECRET_KEY_FILE")]
        secret_key_file: Option<PathBuf>,
    },
}

/// `gust connect`'s options.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// A settings file with the OAuth apps [default: ./gust.toml when it
    /// exists]; with none, the in-process sf-emulator's app is used.
    #[arg(long, env = "GUST_CONFIG")]
    config: Option<PathBuf>,
    /// The data directory the connection is stored in [default: gust-data].
    #[arg(long, env = "GUST_DATA")]
    data: Option<PathBuf>,
    /// The store, when not the data directory's [default: the data directory's `store`].
    #[arg(long, env = "GUST_STORE", hide_env_values = true)]
    store: Option<String>,
    /// The tenant the connection belongs to.
    #[arg(long, default_value = "local")]
    tenant: String,
    /// The OAuth app [default: the only one, or `default`].
    #[arg(long)]
    app: Option<String>,
    /// Where to log in: `https://login.salesforce.com`,
    /// `https://test.salesforce.com` or a My Domain [default: the app's].
    #[arg(long)]
    login_host: Option<String>,
    /// Where the callback is taken; the app's callback URL must be
    /// `http://localhost:<port>/connect/salesforce/callback`.
    #[arg(long, default_value = "127.0.0.1:1717")]
    listen: SocketAddr,
    /// Print the URL without opening a browser.
    #[arg(long)]
    no_browser: bool,
}

/// Where `gust connect` sends the browser at the end (its own page, which
/// tells it the outcome).
const DONE_PATH: &str = "/connect/finished";

pub(super) async fn connections(
    server: ServerArgs,
    command: ConnectionsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        ConnectionsCommand::List { tenant, json } => {
            let body = call(&server, |client, base| {
                let request = client.get(format!("{base}/api/connections"));
                match &tenant {
                    Some(tenant) => request.query(&[("tenant", tenant)]),
                    None => request,
                }
            })
            .await?;
            let list: Vec<ConnectionView> = decode(body["connections"].clone())?;
            if json {
                print_json(&list)?;
            } else {
                print_list(&list);
            }
        }
        ConnectionsCommand::Show { id } => {
            let body = call(&server, |client, base| {
                client.get(format!("{base}/api/connections/{id}"))
            })
            .await?;
            print_json(&decode::<ConnectionView>(body)?)?;
        }
        ConnectionsCommand::Check { id } => {
            let body = call(&server, |client, base| {
                client.post(format!("{base}/api/connections/{id}/check"))
            })
            .await?;
            let checked: CheckResult = decode(body)?;
            if checked.ok {
                out!("ok     {id}: Salesforce answered");
            } else {
                out!(
                    "failed {id}: {}",
                    checked.error.as_deref().unwrap_or("no error")
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        ConnectionsCommand::Disable { id } => switch(&server, &id, "disable").await?,
        ConnectionsCommand::Enable { id } => switch(&server, &id, "enable").await?,
        ConnectionsCommand::Delete { id } => {
            let body = call(&server, |client, base| {
                client.delete(format!("{base}/api/connections/{id}"))
            })
            .await?;
            let deleted: Deleted = decode(body)?;
            match deleted.revoke_error {
                None => out!("deleted {id} (its token revoked at Salesforce)"),
                Some(error) => out!("deleted {id}; its token was not revoked: {error}"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Disables or enables connection `id` (`action`) and says its status.
async fn switch(server: &ServerArgs, id: &str, action: &str) -> anyhow::Result<()> {
    let body = call(server, |client, base| {
        client.post(format!("{base}/api/connections/{id}/{action}"))
    })
    .await?;
    let view: ConnectionView = decode(body)?;
    out!("{id}: {}", view.status.as_str());
    Ok(())
}

fn print_list(list: &[ConnectionView]) {
    out!(
        "{:<32}  {:<16}  {:<12}  {:<18}  {:<30}  last refresh",
        "id",
        "tenant",
        "status",
        "org",
        "username"
    );
    for view in list {
        let refreshed = view.last_refresh.map_or_else(
            || "-".to_owned(),
            |at| at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
        out!(
            "{:<32}  {:<16}  {:<12}  {:<18}  {:<30}  {refreshed}",
            view.id,
            view.tenant.as_deref().unwrap_or("-"),
            view.status.as_str(),
            view.org_id.as_deref().unwrap_or("-"),
            view.username.as_deref().unwrap_or("-"),
        );
    }
}

/// The store named (`--store`, `GUST_STORE` or `gust.toml`), else the
/// embedded one in `data`.
async fn open_store(named: Option<String>, data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let location = named.filter(|named| !named.is_empty()).map_or_else(
        || StoreLocation::Embedded(data.join("store")),
        |named| StoreLocation::parse(&named),
    );
    let store = location
        .open(
            crate::store::DEFAULT_CACHE_BYTES,
            crate::store::DEFAULT_LEASE,
        )
        .await?;
    Ok(store)
}

pub(super) async fn keys(command: KeysCommand) -> anyhow::Result<ExitCode> {
    let KeysCommand::Rotate {
        config,
        data,
        store,
        secret_key_file,
    } = command;
    let file = ServeSettings::from_file(config.as_deref())?;
    let data = data
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from("gust-data"));
    let key_file = secret_key_file.or(file.secret_key_file);
    let (keys, source) = KeyRing::load_or_create(key_file.as_deref(), &data)?;
    let store = open_store(store.or(file.store), &data)
        .await
        .context("stop the servers before rotating keys")?;
    let report = Connections::rotate_keys(store.as_ref() as &dyn ConnectionStore, &keys).await?;
    out!(
        "Sealed under `{}` ({source:?}): {} connections, {} OAuth apps, {} connect sessions. Old keys can be removed now.",
        keys.active_id(),
        report.connections,
        report.apps,
        report.sessions
    );
    Ok(ExitCode::SUCCESS)
}

/// `gust connect`: makes a connect session in this process, prints (and
/// opens) its URL, takes the callback on loopback, stores the connection.
pub(super) async fn connect(args: ConnectArgs) -> anyhow::Result<ExitCode> {
    let file = ServeSettings::from_file(args.config.as_deref())?;
    let data = args
        .data
        .clone()
        .or(file.data.clone())
        .unwrap_or_else(|| PathBuf::from("gust-data"));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Salesforce takes http callbacks on localhost only.
    let public_url = format!("http://localhost:{}", address.port());
    let emulator = if file.oauth_apps.is_empty() {
        Some(
            configured_connection(
                Default::default(),
                EmulatorSettings {
                    data_dir: Some(data.join("sf-emulator")),
                    ..EmulatorSettings::default()
                },
            )
            .await?,
        )
    } else {
        None
    };
    let settings = ServeSettings {
        public_url: Some(public_url.clone()),
        ..file
    };
    let mut connect = settings.connect_settings(
        address,
        &emulator
            .as_ref()
            .map(|salesforce| salesforce.emulator_urls())
            .unwrap_or_default(),
    )?;
    connect.redirect_allow = vec![format!("{public_url}{DONE_PATH}")];
    let (keys, _) = KeyRing::load_or_create(settings.secret_key_file.as_deref(), &data)?;
    let store = open_store(args.store.clone().or(settings.store.clone()), &data)
        .await
        .context("stop `gust serve` on this data directory first, or connect through its API")?;
    let connections = Connections::open(store, keys, connect, None).await?;
    let created = connections
        .create_session(ConnectSessionRequest {
            tenant: args.tenant.clone(),
            app: args.app.clone(),
            login_host: args.login_host.clone(),
            redirect_after: format!("{public_url}{DONE_PATH}"),
            reconnect: None,
        })
        .await?;
    let (done, mut finished) = mpsc::channel::<Result<String, String>>(1);
    let app = crate::server::connections::browser_routes(connections.clone()).route(
        DONE_PATH,
        axum::routing::get(
            move |axum::extract::Query(query): axum::extract::Query<
                std::collections::HashMap<String, String>,
            >| async move {
                let outcome = match (query.get("connection_id"), query.get("error")) {
                    (Some(id), _) => Ok(id.clone()),
                    (None, error) => Err(format!(
                        "{}: {}",
                        error.map_or("unknown", String::as_str),
                        query.get("error_description").map_or("", String::as_str)
                    )),
                };
                let page = match &outcome {
                    Ok(id) => format!("Connected: {id}. You can close this window."),
                    Err(error) => format!("Not connected: {error}"),
                };
                done.send(outcome).await.ok();
                page
            },
        ),
    );
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    out!("Open this URL to connect Salesforce (it works once, for 30 minutes):");
    out!("{}", created.url);
    if !args.no_browser {
        open_browser(&created.url);
    }
    let outcome = finished
        .recv()
        .await
        .unwrap_or_else(|| Err("the callback server stopped".to_owned()));
    server.abort();
    drop(emulator);
    match outcome {
        Ok(id) => {
            let view = connections.get(&id).await?;
            out!(
                "Connected {id}: org {}, user {} at {}",
                view.org_id.unwrap_or_default(),
                view.username.unwrap_or_default(),
                view.instance_url.unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => bail!("Salesforce was not connected: {error}"),
    }
}

/// Opens `url` in the desktop's browser when there is one; a failure is
/// fine (the URL was printed).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("(no browser could be opened: open the URL yourself)");
    }
}
