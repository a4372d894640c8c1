//! `sf-emulator`: serves a local Salesforce org.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = Config {
        daily_api_requests: args.daily_api_requests,
        data_dir: args.data.clone(),
        token_lifetime: std::time::Duration::from_secs(args.token_lifetime),
        ..Config::default()
    };
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
    let emulator = match Emulator::with_seed(config, &seed) {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("sf-emulator: cannot apply the seed: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(notice) = emulator.origin().notice() {
        eprintln!("sf-emulator: {notice}");
    }
    let running = match emulator.serve(args.listen).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!("sf-emulator: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("Salesforce emulator listening on {}", running.url);
    println!(
        "Log in at {}/services/oauth2/token with client_id={DEFAULT_CLIENT_ID} client_secret={DEFAULT_CLIENT_SECRET} (client_credentials), or username={DEFAULT_USERNAME} password={DEFAULT_PASSWORD} (password).",
        running.url
    );
    match tokio::signal::ctrl_c().await {
        Ok(()) => match running.emulator.save() {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("sf-emulator: cannot save the org: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("sf-emulator: cannot wait for Ctrl-C: {error}");
            ExitCode::FAILURE
        }
    }
}
