//! `gust runs list|show|replay` and `gust workflows list`: the admin API
//! from the command line.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::Value;

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
        /// Only runs with this status: queued, running, retrying, succeeded, failed.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Start after this run (a previous page's `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shows a run: its event and every step's input, output, logs and attempts.
    Show {
        /// The run's id.
        run_id: String,
    },
    /// Runs a run's event again as a new run.
    Replay {
        /// The run's id.
        run_id: String,
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
    let body = call(&server, |client, base| match &command {
        RunsCommand::List {
            workflow,
            status,
            limit,
            cursor,
            ..
        } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(workflow.clone().map(|w| ("workflow", w)));
            query.extend(status.clone().map(|s| ("status", s)));
            query.extend(cursor.clone().map(|c| ("cursor", c)));
            client.get(format!("{base}/api/runs")).query(&query)
        }
        RunsCommand::Show { run_id } => client.get(format!("{base}/api/runs/{run_id}")),
        RunsCommand::Replay { run_id } => client.post(format!("{base}/api/runs/{run_id}/replay")),
    })
    .await?;
    match command {
        RunsCommand::List { json: false, .. } => print_list(&body),
        RunsCommand::Replay { .. } => println!("{}", body["run_id"].as_str().unwrap_or_default()),
        _ => println!("{}", serde_json::to_string_pretty(&body)?),
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
    match command {
        WorkflowsCommand::List { json: true } => {
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        WorkflowsCommand::List { json: false } => print_workflows(&body),
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the request `build` makes to the server's admin API, with its
/// token, and returns the JSON answer; an error says what went wrong.
async fn call(
    server: &ServerArgs,
    build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let base = server.server.trim_end_matches('/');
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
        let message = body["error"].as_str().unwrap_or("no message");
        bail!("the server answered {status}: {message}");
    }
    Ok(body)
}

fn print_workflows(body: &Value) {
    let workflows = body["workflows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    println!(
        "{:<24}  {:<16}  {:<25}  where",
        "workflow", "trigger", "next fire"
    );
    for workflow in workflows {
        if workflow["state"] == "invalid" {
            println!(
                "{:<24}  {:<16}  {:<25}  {}",
                "(invalid)",
                "",
                "",
                workflow["source"].as_str().unwrap_or_default()
            );
            for error in workflow["errors"].as_array().into_iter().flatten() {
                println!("    {}", error.as_str().unwrap_or_default());
            }
            continue;
        }
        let timer = &workflow["timer"];
        let next = timer["next_fire_at"].as_str().unwrap_or("-");
        let place = match workflow["urls"].as_array().and_then(|urls| urls.first()) {
            Some(url) => format!("POST {}", url.as_str().unwrap_or_default()),
            None => workflow["trigger"]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        println!(
            "{:<24}  {:<16}  {:<25}  {place}",
            workflow["id"].as_str().unwrap_or_default(),
            workflow["trigger"]["type"].as_str().unwrap_or_default(),
            next,
        );
        if let Some(error) = timer["last_error"].as_str() {
            println!("    last error: {error}");
        }
    }
}

fn print_list(page: &Value) {
    let runs = page["runs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    println!(
        "{:<36}  {:<24}  {:<9}  created",
        "run", "workflow", "status"
    );
    for run in runs {
        println!(
            "{:<36}  {:<24}  {:<9}  {}",
            run["id"].as_str().unwrap_or_default(),
            run["workflow"].as_str().unwrap_or_default(),
            run["status"].as_str().unwrap_or_default(),
            run["created_at"].as_str().unwrap_or_default(),
        );
    }
    if let Some(cursor) = page["next_cursor"].as_str() {
        println!("more: --cursor {cursor}");
    }
}
