//! `gust runs list|show|replay` and `gust workflows list`: the admin API
//! from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::SecondsFormat;
use clap::Subcommand;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    ErrorBody, EventAccepted, ReplayParams, Replayed, RunList, RunListParams, StartRun,
    WorkflowList, WorkflowView,
};
use crate::store::{RunDetail, RunQuery};

/// Where the server is and how to reach its admin API.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, env = "GUST_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The admin API's bearer token.
    #[arg(long, env = "GUST_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// What to do with runs.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Lists runs, newest first.
    List {
        /// Only this workflow's runs.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this tenant's runs.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this installation's runs.
        #[arg(long)]
        installation: Option<String>,
        /// Only runs with this status: queued, running, retrying, succeeded, failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = RunQuery::DEFAULT_LIMIT)]
        limit: usize,
        /// Start after this run (a previous page's `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a run: its event and every step's output, logs and attempts.
    Show {
        /// The run's id.
        run_id: String,
        /// Print the API's JSON, with every step's input.
        #[arg(long)]
        json: bool,
    },
    /// Starts a run of a workflow by hand, whatever its trigger.
    Start {
        /// The workflow's id.
        workflow: String,
        /// The whole event, a JSON file (`-` reads standard input).
        #[arg(long, conflicts_with = "body")]
        event: Option<PathBuf>,
        /// The body alone, made into the event the trigger makes (as `gust
        /// run --body`). With neither option: the trigger's event without a
        /// body, `{}` for a manual workflow.
        #[arg(long)]
        body: Option<PathBuf>,
    },
    /// Runs a run's event again as a new run, or resumes a failed run.
    Replay {
        /// The run's id.
        run_id: String,
        /// Resume the failed run at its failed step instead: the calls to
        /// Salesforce that succeeded are answered from its journal, so
        /// nothing already written is written again.
        #[arg(long)]
        resume: bool,
    },
}

/// What to do with the server's workflows.
#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Lists the loaded workflows, their triggers and next fire times, and
    /// the files that failed to load.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) async fn runs(server: ServerArgs, command: RunsCommand) -> anyhow::Result<ExitCode> {
    let start = match &command {
        RunsCommand::Start { event, body, .. } => Some(StartRun {
            event: event
                .as_deref()
                .map(|path| super::read_json("the event", path))
                .transpose()?,
            body: body
                .as_deref()
                .map(|path| super::read_json("the body", path))
                .transpose()?,
        }),
        _ => None,
    };
    let body = call(&server, |client, base| match &command {
        RunsCommand::List {
            workflow,
            tenant,
            installation,
            status,
            limit,
            cursor,
            ..
        } => {
            let params = RunListParams {
                workflow: workflow.clone(),
                tenant: tenant.clone(),
                installation: installation.clone(),
                status: status.clone(),
                limit: Some(*limit),
                cursor: cursor.clone(),
            };
            client.get(format!("{base}/api/runs")).query(&params)
        }
        RunsCommand::Show { run_id, .. } => client.get(format!("{base}/api/runs/{run_id}")),
        RunsCommand::Replay { run_id, resume } => {
            let params = ReplayParams {
                resume: resume.then_some(true),
            };
            client
                .post(format!("{base}/api/runs/{run_id}/replay"))
                .query(&params)
        }
        RunsCommand::Start { workflow, .. } => client
            .post(format!("{base}/api/workflows/{workflow}/runs"))
            .json(&start.clone().unwrap_or_default()),
    })
    .await?;
    match command {
        RunsCommand::List { json: false, .. } => print_list(&decode::<RunList>(body)?),
        RunsCommand::List { json: true, .. } => print_json(&decode::<RunList>(body)?)?,
        RunsCommand::Replay { .. } => out!("{}", decode::<Replayed>(body)?.run_id),
        RunsCommand::Start { .. } => out!("{}", decode::<EventAccepted>(body)?.run_id),
        // The server's JSON as it is, once it is known to be a run.
        RunsCommand::Show { json: true, .. } => {
            decode::<RunDetail>(body.clone())?;
            print_json(&body)?;
        }
        RunsCommand::Show { json: false, .. } => print_run(&decode::<RunDetail>(body)?),
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn workflows(
    server: ServerArgs,
    command: WorkflowsCommand,
) -> anyhow::Result<ExitCode> {
    let body = call(&server, |client, base| {
        client.get(format!("{base}/api/workflows"))
    })
    .await?;
    let list = decode::<WorkflowList>(body)?;
    match command {
        WorkflowsCommand::List { json: true } => print_json(&list)?,
        WorkflowsCommand::List { json: false } => print_workflows(&list),
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the request `build` makes to the server's admin API, with its
/// token, and returns the JSON answer; an error says what went wrong.
pub(super) async fn call(
    server: &ServerArgs,
    build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let base = base_url(&server.server);
    let base = base.as_str();
    let request = build(&client, base);
    let request = match &server.admin_token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the Gust server at {base}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("the server at {base} did not answer JSON"))?;
    if !status.is_success() {
        let message = serde_json::from_value::<ErrorBody>(body)
            .map_or_else(|_| "no message".to_owned(), |body| body.error);
        bail!("the server answered {status}: {message}");
    }
    Ok(body)
}

/// The server's base URL: `127.0.0.1:8080` is taken as `http://127.0.0.1:8080`.
fn base_url(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    }
}

/// The answer read as the API's type `T`.
pub(super) fn decode<T: DeserializeOwned>(body: Value) -> anyhow::Result<T> {
    serde_json::from_value(body).context("the server's answer is not what this gust expects")
}

pub(super) fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_workflows(list: &WorkflowList) {
    out!(
        "{:<24}  {:<16}  {:<25}  where",
        "workflow",
        "trigger",
        "next fire"
    );
    for workflow in &list.workflows {
        let workflow = match workflow {
            WorkflowView::Ready(workflow) => workflow,
            WorkflowView::Invalid(invalid) => {
                out!(
                    "{:<24}  {:<16}  {:<25}  {}",
                    "(invalid)",
                    "",
                    "",
                    invalid.source.display()
                );
                for error in &invalid.errors {
                    out!("    {error}");
                }
                continue;
            }
        };
        let timer = workflow.timer.clone().unwrap_or_default();
        let next = timer.next_fire_at.map_or_else(
            || "-".to_owned(),
            |at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        let place = match workflow.urls.first() {
            Some(url) => format!("POST {url}"),
            None => workflow.trigger.summary.clone().unwrap_or_default(),
        };
        out!(
            "{:<24}  {:<16}  {next:<25}  {place}",
            workflow.id,
            workflow.trigger.kind,
        );
        if let Some(error) = timer.last_error {
            out!("    last error: {error}");
        }
    }
}

fn print_list(page: &RunList) {
    out!(
        "{:<36}  {:<24}  {:<9}  created",
        "run",
        "workflow",
        "status"
    );
    for run in &page.runs {
        out!(
            "{:<36}  {:<24}  {:<9}  {}",
            run.id.to_string(),
            run.workflow,
            run.status.as_str(),
            run.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        );
        if let Some(error) = &run.error {
            out!("    {error}");
        }
        if let Some(replay) = run.replayed_by {
            out!("    replayed by {replay}, which succeeded");
        }
    }
    if let Some(cursor) = page.next_cursor {
        out!("more: --cursor {cursor}");
    }
}

/// A run for people: what it is, its event, then each step as `gust run`
/// shows it.
fn print_run(detail: &RunDetail) {
    let run = &detail.run;
    let time = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    out!("run       {}", run.id);
    out!("workflow  {}", run.workflow);
    out!("status    {}", run.status.as_str());
    out!("created   {}", time(run.created_at));
    if let Some(finished) = run.finished_at {
        let took = (finished - run.created_at).to_std().unwrap_or_default();
        out!(
            "finished  {} ({:.2} ms)",
            time(finished),
            took.as_secs_f64() * 1e3
        );
    }
    if let Some(original) = run.replay_of {
        out!("replays   {original}");
    }
    if let Some(replay) = run.replayed_by {
        out!("replayed  by {replay}, which succeeded");
    }
    if let Some(step) = &run.stopped_by {
        out!("stopped   by step `{step}`");
    }
    if let Some(error) = &run.error {
        out!("error     {error}");
    }
    out!("event     {}", detail.event);
    out!("");
    for step in &detail.steps {
        super::print::step_text(step);
    }
    if let Some(output) = run.output.as_ref().filter(|_| run.error.is_none()) {
        out!("output    {output}");
    }
}
