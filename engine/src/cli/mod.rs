//! The `gust` command line: a thin layer of argument parsing and printing
//! over the library.

#[macro_use]
mod output;
mod build;
mod connect;
mod connect_settings;
mod connections;
mod emulator;
mod installations;
mod new;
mod print;
mod remote;
mod serve;
mod store;
mod watch;

pub use new::NewCommand;
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
use crate::trigger::Trigger;
use crate::wasm::{Sandbox, SandboxConfig};
use crate::workflow::reference::Installed;
use crate::workflow::{LoadError, ValidationError, Workflow, WorkflowFile};

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
    /// Check workflow files: their shape, references, permissions, that
    /// every step's module is a component exporting the step world, and that
    /// the trigger's secrets can be read.
    Validate {
        /// The workflow files, or directories of them (`*.json`).
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
        /// Reload a workflow when its file or a component it uses changes,
        /// rebuilding first a step crate it names as `source`.
        #[arg(long)]
        watch: bool,
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
    /// List, show, check and delete the Salesforce connections of a server.
    Connections {
        /// Where the server is.
        #[command(flatten)]
        server: ServerArgs,
        /// What to do.
        #[command(subcommand)]
        command: connections::ConnectionsCommand,
    },
    /// Install workflows for tenants on a server: list, create, show,
    /// update, pause, resume, upgrade, rotate-secret and delete.
    Installations {
        /// Where the server is.
        #[command(flatten)]
        server: ServerArgs,
        /// What to do.
        #[command(subcommand)]
        command: installations::InstallationsCommand,
    },
    /// Connect a Salesforce org from this machine: prints (and opens) the
    /// login URL, takes the callback on loopback, stores the connection in
    /// the data directory (the server stopped).
    Connect(connections::ConnectArgs),
    /// Manage a PostgreSQL store's schema.
    Store {
        /// What to do.
        #[command(subcommand)]
        command: store::StoreCommand,
    },
    /// Manage the keys that seal stored secrets.
    Keys {
        /// What to do.
        #[command(subcommand)]
        command: connections::KeysCommand,
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
    /// Print the JSON Schema of workflow files, for editors
    /// (`"$schema": "workflow.schema.json"` in a workflow).
    Schema,
    /// Print the editor types of script steps, generated from Gust's WIT
    /// world: `gust types --js > gust.d.ts`, `gust types --python > gust.pyi`.
    Types {
        /// The TypeScript declaration of the `gust` module and `ctx`.
        #[arg(long, conflicts_with = "python", required_unless_present = "python")]
        js: bool,
        /// The Python stub of the `gust` module and `ctx`.
        #[arg(long)]
        python: bool,
    },
    /// Look at the records of the sf-emulator a running `gust serve` uses.
    Emulator {
        /// What to do.
        #[command(subcommand)]
        command: emulator::EmulatorCommand,
    },
    /// Create a step crate or a workflow to start from.
    New {
        /// What to create.
        #[command(subcommand)]
        command: NewCommand,
    },
    /// Compile step crates to components: for a workflow file, every step
    /// that names its `source`, copied to its `uses`; for a crate directory,
    /// that crate.
    Build {
        /// Workflow files or step crate directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run a workflow once, in process, on an event read from a file.
    Run {
        /// The workflow file.
        workflow: PathBuf,
        /// The whole trigger event, a JSON file (`-` reads standard input):
        /// for a webhook `{"method", "path", "query", "headers", "body"}`.
        #[arg(long, conflicts_with = "body")]
        event: Option<PathBuf>,
        /// The body alone, a JSON file (`-` reads standard input), made into
        /// the event the trigger would make: a webhook request posting it, an
        /// Outbound Message or poll notifying it as the record. With neither
        /// option: a schedule's fire now, `{}` for a manual workflow.
        #[arg(long)]
        body: Option<PathBuf>,
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
        /// A seed file (objects, fields, records) for the throwaway
        /// sf-emulator steps call when no connection is configured.
        #[arg(long, env = "GUST_EMULATOR_SEED")]
        emulator_seed: Option<PathBuf>,
        /// For a workflow installed per customer: the installation's
        /// settings, a JSON file checked against the workflow's `config`
        /// schema [default: its defaults]. Salesforce is the connection
        /// of `--config`, as for any run.
        #[arg(long, value_name = "FILE")]
        installation_config: Option<PathBuf>,
        /// For a workflow installed per customer: the tenant the run is for.
        #[arg(long, default_value = "local")]
        tenant: String,
    },
}

/// Turns transparent huge pages off for this process. Where the kernel has
/// them always on, each 2 MiB region the allocator touches becomes resident
/// whole, and an idle server held over twice the memory it uses. Called
/// before the runtime starts its threads; a kernel without the setting
/// refuses it, and nothing changes there.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: transparent huge pages stay on: {error}");
    }
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    without_huge_pages();
    let cli = Cli::parse();
    output::init_logging();
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
        Command::Serve {
            config,
            watch,
            settings,
        } => serve::serve(*settings, config, watch).await,
        Command::Runs { server, command } => remote::runs(server, command).await,
        Command::Connections { server, command } => connections::connections(server, command).await,
        Command::Installations { server, command } => {
            installations::installations(server, command).await
        }
        Command::Connect(args) => connections::connect(args).await,
        Command::Keys { command } => connections::keys(command).await,
        Command::Store { command } => store::store(command).await,
        Command::New { command } => new::new(command),
        Command::Emulator { command } => emulator::emulator(command).await,
        Command::Schema => {
            out!("{}", schema_text()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Types { js, python: _ } => {
            out!(
                "{}",
                if js {
                    EDITOR_TYPES_JS
                } else {
                    EDITOR_TYPES_PYTHON
                }
                .trim_end()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { paths } => build::build(&paths),
        Command::Workflows { server, command } => remote::workflows(server, command).await,
        Command::Run {
            workflow,
            event,
            body,
            json,
            cache_dir,
            config,
            emulator_seed,
            installation_config,
            tenant,
        } => {
            let input = match (event, body) {
                (Some(event), _) => EventInput::Event(event),
                (None, Some(body)) => EventInput::Body(body),
                (None, None) => EventInput::Nothing,
            };
            let options = RunOptions {
                json,
                cache_dir,
                config,
                emulator_seed,
                installation: (installation_config, tenant),
            };
            run(&workflow, &input, options).await
        }
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

/// The TypeScript declaration of script steps' API (`gust types --js`),
/// generated from the WIT world by the build script.
const EDITOR_TYPES_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/gust.d.ts"));
/// The Python stub of script steps' API (`gust types --python`).
const EDITOR_TYPES_PYTHON: &str = include_str!(concat!(env!("OUT_DIR"), "/gust.pyi"));

/// The JSON Schema of workflow files, as `gust schema` prints it.
fn schema_text() -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(
        &crate::workflow::json_schema(),
    )?)
}

/// The workflow files named: each file as it is, each directory's
/// `*.json` files in name order.
fn workflow_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let found = crate::workflow::files_in(path)
            .with_context(|| format!("cannot read the directory {}", path.display()))?;
        if found.is_empty() {
            anyhow::bail!("the directory {} has no *.json workflow", path.display());
        }
        files.extend(found);
    }
    Ok(files)
}

async fn validate(paths: &[PathBuf], cache_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for path in workflow_files(paths)? {
        let file = WorkflowFile::load(&path);
        let result = match file {
            Ok(file) => runner(&file.workflow, cache_dir.clone(), Arc::new(NoConnection))?
                .prepare(&file)
                .map_err(|errors| errors.0)
                .and_then(|prepared| {
                    let unreadable = unreadable_secrets(&file.workflow);
                    if unreadable.is_empty() {
                        Ok(prepared.workflow.steps.len())
                    } else {
                        Err(unreadable)
                    }
                })
                .map_err(|errors| LoadError::Invalid {
                    path: path.clone(),
                    errors: errors.into(),
                }),
            Err(error) => Err(error),
        };
        match result {
            Ok(steps) => out!("ok     {} ({steps} steps)", path.display()),
            Err(LoadError::Invalid { errors, .. }) => {
                failed = true;
                out!("error  {}", path.display());
                for error in errors {
                    out!("       {error}");
                }
            }
            Err(error) => {
                failed = true;
                out!("error  {error}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The trigger's secrets this process cannot read: each would fail every
/// request the trigger gets.
fn unreadable_secrets(workflow: &Workflow) -> Vec<ValidationError> {
    workflow
        .trigger
        .secrets()
        .into_iter()
        .filter_map(|(path, secret)| {
            let error = secret.read().err()?;
            Some(ValidationError::new(
                path,
                format!("{error}; every request would be refused until it is set"),
            ))
        })
        .collect()
}

/// What `gust run` was given to make its event from.
enum EventInput {
    /// `--event FILE`: the whole event.
    Event(PathBuf),
    /// `--body FILE`: the body the trigger makes an event around.
    Body(PathBuf),
    /// Neither: the event the trigger makes without a body.
    Nothing,
}

impl EventInput {
    /// What the run's first line says it runs on.
    fn describe(&self) -> String {
        match self {
            Self::Event(path) => path.display().to_string(),
            Self::Body(path) => format!("the body {}", path.display()),
            Self::Nothing => "an event without a body".to_owned(),
        }
    }

    /// The event for `workflow`.
    fn read(&self, workflow: &Workflow) -> anyhow::Result<Value> {
        let body = match self {
            Self::Event(path) => return read_json("the event", path),
            Self::Body(path) => Some(read_json("the body", path)?),
            Self::Nothing => None,
        };
        workflow
            .trigger
            .event_for_body(workflow.id.as_str(), body)
            .context("--body does not fit this workflow")
    }
}

/// Warns on stderr of every required `${trigger...}` the event lacks.
fn warn_of_absent_reads(workflow: &Workflow, input: &EventInput, event: &Value) {
    let absent = workflow.reads_absent_from(event);
    for warning in &absent {
        eprintln!("warning: {warning}");
    }
    let looks_like_a_body = event.get("body").is_none() && event.get("headers").is_none();
    if let EventInput::Event(path) = input
        && !absent.is_empty()
        && matches!(workflow.trigger, Trigger::Webhook(_))
        && looks_like_a_body
    {
        eprintln!(
            "hint: --event takes the whole request, {{\"method\", \"path\", \"query\", \
             \"headers\", \"body\"}}; to give the body alone, use --body {}",
            path.display()
        );
    }
}

/// How `gust run` runs, besides the workflow and its event.
struct RunOptions {
    /// One JSON object per line instead of text.
    json: bool,
    /// Where compiled components are cached.
    cache_dir: Option<PathBuf>,
    /// The settings file naming the connection.
    config: Option<PathBuf>,
    /// The seed of the throwaway emulator, over the settings file's.
    emulator_seed: Option<PathBuf>,
    /// An installed workflow's settings file, and its tenant.
    installation: (Option<PathBuf>, String),
}

async fn run(path: &Path, input: &EventInput, options: RunOptions) -> anyhow::Result<ExitCode> {
    let RunOptions {
        json,
        cache_dir,
        config,
        emulator_seed,
        installation,
    } = options;
    let file = WorkflowFile::load(path)?;
    let installed = installed(&file, installation)?;
    let event = input.read(&file.workflow)?;
    warn_of_absent_reads(&file.workflow, input, &event);
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
                seed: emulator_seed.or_else(|| settings.emulator_seed.clone()),
                ..connect::EmulatorSettings::default()
            },
        )
        .await?
    } else {
        connect::Salesforce::none()
    };
    let mut runner = runner(&file.workflow, cache_dir, salesforce.api.clone())?;
    if let Some(installed) = installed {
        runner = runner.as_installation(installed);
    }
    let prepared = runner.prepare(&file).map_err(|errors| LoadError::Invalid {
        path: path.to_owned(),
        errors,
    })?;
    let mut printer = print::Printer::new(json);
    printer.start(&file.workflow, &input.describe());
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

/// What an installed workflow's local run resolves `${config...}`,
/// `${installation...}` and `${tenant}` against: its settings (checked
/// against its schema) for `tenant`, as installation `local`.
fn installed(
    file: &WorkflowFile,
    (config, tenant): (Option<PathBuf>, String),
) -> anyhow::Result<Option<Installed>> {
    if !file.workflow.is_installable() {
        if config.is_some() {
            anyhow::bail!(
                "workflow `{}` is not installed per customer, so it takes no --installation-config",
                file.workflow.id
            );
        }
        return Ok(None);
    }
    let given = config
        .map(|path| read_json("the installation config", &path))
        .transpose()?;
    let settled = file.workflow.settle_config(given).map_err(|errors| {
        anyhow::anyhow!("the installation config does not fit the workflow's schema:\n{errors}")
    })?;
    Ok(Some(Installed::new("local", &tenant, settled)))
}

/// The JSON file at `path` (standard input for `-`), `what` naming it in
/// errors.
pub(super) fn read_json(what: &str, path: &Path) -> anyhow::Result<Value> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .with_context(|| format!("cannot read {what} from standard input"))?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {what} {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{what} {} is not JSON", path.display()))
}
