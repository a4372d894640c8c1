//! The `gust` command line: a thin layer of argument parsing and printing
//! over the library.

mod connect;
mod print;
mod remote;
mod serve;

pub use remote::{RunsCommand, ServerArgs, WorkflowsCommand};
pub use serve::ServeSettings;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::Value;

use crate::model::RunStatus;
use crate::runtime::LocalRunner;
use crate::salesforce::{NoConnection, SalesforceService};
use crate::store::MemoryStateStore;
use crate::wasm::{Sandbox, SandboxConfig};
use crate::workflow::{LoadError, Workflow, WorkflowFile};

/// Gust: workflow automation for Salesforce, with sandboxed WebAssembly steps.
#[derive(Debug, Parser)]
#[command(name = "gust", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check workflow files: their shape, references, permissions, and that
    /// every step's module is a component exporting the step world.
    Validate {
        /// The workflow files.
        #[arg(required = true)]
        workflows: Vec<PathBuf>,
        /// Where compiled components are cached.
        #[arg(long, env = "GUST_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
    },
    /// Serve the workflows of a directory: webhooks, the durable queue and
    /// executor, and the admin API.
    Serve {
        /// A settings file [default: ./gust.toml when it exists].
        #[arg(long, env = "GUST_CONFIG")]
        config: Option<PathBuf>,
        /// The settings.
        #[command(flatten)]
        settings: Box<ServeSettings>,
    },
    /// List, show and replay the runs of a server.
    Runs {
        /// Where the server is.
        #[command(flatten)]
        server: ServerArgs,
        /// What to do.
        #[command(subcommand)]
        command: RunsCommand,
    },
    /// List the workflows a server has loaded, with their next fire times.
    Workflows {
        /// Where the server is.
        #[command(flatten)]
        server: ServerArgs,
        /// What to do.
        #[command(subcommand)]
        command: WorkflowsCommand,
    },
    /// Run a workflow once, in process, on an event read from a file.
    Run {
        /// The workflow file.
        workflow: PathBuf,
        /// The trigger event, a JSON file (`-` reads standard input).
        #[arg(long)]
        event: PathBuf,
        /// Print one JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// Where compiled components are cached.
        #[arg(long, env = "GUST_CACHE_DIR")]
        cache_dir: Option<PathBuf>,
        /// A settings file whose `[salesforce]` table is the connection
        /// [default: ./gust.toml when it exists].
        #[arg(long, env = "GUST_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate {
            workflows,
            cache_dir,
        } => validate(&workflows, cache_dir).await,
        Command::Serve { config, settings } => serve::serve(*settings, config).await,
        Command::Runs { server, command } => remote::runs(server, command).await,
        Command::Workflows { server, command } => remote::workflows(server, command).await,
        Command::Run {
            workflow,
            event,
            json,
            cache_dir,
            config,
        } => run(&workflow, &event, json, cache_dir, config).await,
    }
}

/// `$XDG_CACHE_HOME/gust/components`, or `~/.cache/gust/components`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("gust").join("components"))
}

/// A runner for `workflow`. Fuel is metered only when a step needs it: the
/// compiled code differs, so `gust validate` and `gust run` of the same file
/// then share the cached components.
fn runner(
    workflow: &Workflow,
    cache_dir: Option<PathBuf>,
    salesforce: Arc<dyn SalesforceService>,
) -> anyhow::Result<LocalRunner> {
    let runtime = Sandbox::new(SandboxConfig {
        cache_dir: cache_dir.or_else(default_cache_dir),
        fuel_metering: workflow.uses_fuel(),
        ..SandboxConfig::default()
    })?;
    Ok(LocalRunner::new(
        Arc::new(runtime),
        salesforce,
        Arc::new(MemoryStateStore::default()),
    ))
}

async fn validate(files: &[PathBuf], cache_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in files {
        let file = WorkflowFile::load(path);
        let result = match file {
            Ok(file) => runner(&file.workflow, cache_dir.clone(), Arc::new(NoConnection))?
                .prepare(&file)
                .map(|prepared| prepared.workflow.steps.len())
                .map_err(|errors| LoadError::Invalid {
                    path: path.clone(),
                    errors,
                }),
            Err(error) => Err(error),
        };
        match result {
            Ok(steps) => println!("ok     {} ({steps} steps)", path.display()),
            Err(LoadError::Invalid { errors, .. }) => {
                failed = true;
                println!("error  {}", path.display());
                for error in errors {
                    println!("       {error}");
                }
            }
            Err(error) => {
                failed = true;
                println!("error  {error}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn run(
    path: &Path,
    event_path: &Path,
    json: bool,
    cache_dir: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let file = WorkflowFile::load(path)?;
    let event = read_event(event_path)?;
    // No step may call Salesforce: no connection, and no emulator to start.
    let calls_salesforce = file
        .workflow
        .steps
        .iter()
        .any(|step| step.permissions.salesforce.grants_anything());
    let salesforce = if calls_salesforce {
        let settings = ServeSettings::from_file(config.as_deref())?;
        connect::connect(
            settings.connection()?,
            connect::EmulatorSettings {
                seed: settings.emulator_seed.clone(),
                ..connect::EmulatorSettings::default()
            },
        )
        .await?
    } else {
        connect::Salesforce::none()
    };
    let runner = runner(&file.workflow, cache_dir, salesforce.api.clone())?;
    let prepared = runner.prepare(&file).map_err(|errors| LoadError::Invalid {
        path: path.to_owned(),
        errors,
    })?;
    let mut printer = print::Printer::new(json);
    printer.start(&file.workflow, event_path);
    let report = runner
        .run(&prepared, event, |step| printer.step(step))
        .await;
    printer.finish(&report);
    Ok(if report.status == RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_event(path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read the event from stdin")?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the event {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("the event {} is not JSON", path.display()))
}
