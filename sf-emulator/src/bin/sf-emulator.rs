//! `sf-emulator`: serves a local Salesforce org.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
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
        ..Config::default()
    };
    let running = match Emulator::new(config).serve(args.listen).await {
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
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sf-emulator: cannot wait for Ctrl-C: {error}");
            ExitCode::FAILURE
        }
    }
}
