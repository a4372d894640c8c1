//! `sf-emulator`: serves a local Salesforce org.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sf_emulator::org::nth_org_id;
use sf_emulator::pubsub;
use sf_emulator::seed::Seed;
use sf_emulator::{
    Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME, Emulator,
};

/// A local Salesforce org for development and tests.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// A seed file: custom objects and fields, records, apps and users.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Keep the records in this directory across restarts (in memory
    /// only without it).
    #[arg(long)]
    data: Option<PathBuf>,
    /// How long an access token lives, in seconds (then 401
    /// INVALID_SESSION_ID).
    #[arg(long, default_value_t = 7_200)]
    token_lifetime: u64,
    /// Requests allowed per day before 403 REQUEST_LIMIT_EXCEEDED.
    #[arg(long, default_value_t = 15_000)]
    daily_api_requests: u64,
    /// How many orgs to serve, each on its own port (the next ones after
    /// `--listen`'s) with its own id, records, sessions and limits, all
    /// from the same seed. Each org's URL is its instance and its My
    /// Domain login host.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    orgs: u64,
    /// Where to serve the Pub/Sub API (gRPC) in plaintext, for every org
    /// (calls name theirs in `tenantid`); `off` to serve none [default:
    /// port 7011 of --listen's address, any free port when --listen's is 0]
    #[arg(long)]
    pubsub_listen: Option<Listen>,
    /// Where to serve the Pub/Sub API over TLS, with a certificate made at
    /// start for localhost and 127.0.0.1; `off` to serve none [default:
    /// port 7443 of --listen's address, any free port when --listen's is 0]
    #[arg(long)]
    pubsub_tls_listen: Option<Listen>,
    /// Where to write that certificate (PEM), for clients to trust
    /// [default: pubsub-certificate.pem in --data, or a file named after
    /// the process in the temporary directory]
    #[arg(long)]
    pubsub_certificate: Option<PathBuf>,
    /// How long the event bus keeps change and platform events, in
    /// seconds (Salesforce keeps them 72 hours).
    #[arg(long, default_value_t = 72 * 3600)]
    event_retention: u64,
}

/// An address to listen on, or `off`.
#[derive(Clone, Copy)]
struct Listen(Option<SocketAddr>);

impl std::str::FromStr for Listen {
    type Err = std::net::AddrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "off" {
            Ok(Self(None))
        } else {
            text.parse().map(|address| Self(Some(address)))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let seed = match &args.seed {
        None => Seed::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| Seed::parse(&text).map_err(|e| e.to_string()))
        {
            Ok(seed) => seed,
            Err(error) => {
                eprintln!(
                    "sf-emulator: cannot read the seed {}: {error}",
                    path.display()
                );
                return ExitCode::FAILURE;
            }
        },
    };
    let mut orgs = Vec::new();
    for n in 0..args.orgs {
        let org_id = nth_org_id(n);
        // The first org keeps the data directory itself, as with one org.
        let data_dir = match (&args.data, n) {
            (Some(dir), 0) => Some(dir.clone()),
            (Some(dir), _) => Some(dir.join("orgs").join(&org_id)),
            (None, _) => None,
        };
        let config = Config {
            org_id: org_id.clone(),
            daily_api_requests: args.daily_api_requests,
            data_dir,
            token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
            event_retention: std::time::Duration::from_secs(args.event_retention),
            ..Config::default()
        };
        let emulator = match Emulator::with_seed(config, &seed) {
            Ok(emulator) => emulator,
            Err(error) => {
                eprintln!("sf-emulator: cannot apply the seed: {error} (org {org_id})");
                return ExitCode::FAILURE;
            }
        };
        if let Some(notice) = emulator.origin().notice() {
            eprintln!("sf-emulator: {notice}");
        }
        let mut address = args.listen;
        if address.port() != 0 {
            address.set_port(address.port().saturating_add(n as u16));
        }
        let running = match emulator.serve(address).await {
            Ok(running) => running,
            Err(error) => {
                eprintln!("sf-emulator: cannot listen on {address}: {error}");
                return ExitCode::FAILURE;
            }
        };
        // One line an org, its URL first: scripts read the URL from it.
        println!("Salesforce emulator listening on {}", running.url);
        println!("  org {org_id}");
        orgs.push(running);
    }
    let certificate = args
        .pubsub_certificate
        .clone()
        .unwrap_or_else(|| match &args.data {
            Some(dir) => dir.join("pubsub-certificate.pem"),
            None => std::env::temp_dir().join(format!(
                "sf-emulator-{}-pubsub-certificate.pem",
                std::process::id()
            )),
        });
    let beside = |port: u16| {
        let mut address = args.listen;
        if address.port() != 0 {
            address.set_port(port);
        }
        Some(address)
    };
    let listen = pubsub::Listen {
        plaintext: args
            .pubsub_listen
            .map_or_else(|| beside(7011), |listen| listen.0),
        tls: args
            .pubsub_tls_listen
            .map_or_else(|| beside(7443), |listen| listen.0)
            .map(|address| (address, certificate.clone())),
    };
    let emulators = orgs
        .iter()
        .map(|running| running.emulator.clone())
        .collect();
    let _pubsub = match pubsub::serve(emulators, &listen).await {
        Ok(serving) => {
            if let Some(url) = &serving.plaintext_url {
                println!("Pub/Sub API (gRPC, plaintext) on {url}");
            }
            if let Some(url) = &serving.tls_url {
                println!(
                    "Pub/Sub API (gRPC, TLS) on {url}, its certificate in {}",
                    certificate.display()
                );
            }
            serving
        }
        Err(error) => {
            eprintln!("sf-emulator: cannot serve the Pub/Sub API: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "Log in at <url>/services/oauth2/token with client_id={DEFAULT_CLIENT_ID} client_secret={DEFAULT_CLIENT_SECRET} (client_credentials), or username={DEFAULT_USERNAME} password={DEFAULT_PASSWORD} (password); connect a user at <url>/services/oauth2/authorize."
    );
    match tokio::signal::ctrl_c().await {
        Ok(()) => {
            let mut code = ExitCode::SUCCESS;
            for running in &orgs {
                if let Err(error) = running.emulator.save() {
                    eprintln!(
                        "sf-emulator: cannot save the org {}: {error}",
                        running.emulator.org_id()
                    );
                    code = ExitCode::FAILURE;
                }
            }
            code
        }
        Err(error) => {
            eprintln!("sf-emulator: cannot wait for Ctrl-C: {error}");
            ExitCode::FAILURE
        }
    }
}
