//! `gust installations ...`: the installations API of a running server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use super::remote::{ServerArgs, call, decode, print_json};
use crate::installations::{
    DeletedInstallation, InstallationChange, InstallationSecrets, InstallationView,
    NewInstallation, Upgrade,
};

/// What to do with a server's installations.
#[derive(Debug, Subcommand)]
pub enum InstallationsCommand {
    /// Lists the installations, by id.
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this workflow's.
        #[arg(long)]
        workflow: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Installs a workflow for a tenant; prints its webhook secret, once.
    Create {
        /// The tenant: your service's reference to its customer.
        #[arg(long)]
        tenant: String,
        /// The workflow to install.
        #[arg(long)]
        workflow: String,
        /// The tenant's settings, a JSON file (`-` reads standard input).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A connection for a slot: `salesforce=con_...` (repeatable).
        #[arg(long = "connection", value_name = "SLOT=ID")]
        connections: Vec<String>,
        /// Also give its webhook an unguessable URL that needs no secret.
        #[arg(long)]
        unguessable_url: bool,
    },
    /// Shows an installation.
    Show {
        /// The installation's id.
        id: String,
    },
    /// Changes an installation's settings or connections, checked against
    /// the workflow version it runs.
    Update {
        /// The installation's id.
        id: String,
        /// New settings, a JSON file (`-` reads standard input).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A connection for a slot: `salesforce=con_...` (repeatable).
        #[arg(long = "connection", value_name = "SLOT=ID")]
        connections: Vec<String>,
    },
    /// Pauses an installation: its schedules and polls stop, its webhooks
    /// answer 409.
    Pause {
        /// The installation's id.
        id: String,
    },
    /// Resumes a paused installation.
    Resume {
        /// The installation's id.
        id: String,
    },
    /// Moves an installation to the workflow's loaded version, its settings
    /// checked against the new schema first.
    Upgrade {
        /// The installation's id.
        id: String,
        /// Settings for the new version, a JSON file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Makes a new webhook secret (and unguessable URL); prints it, once.
    RotateSecret {
        /// The installation's id.
        id: String,
    },
    /// Deletes an installation with its state; its runs stay until
    /// retention unless `--purge`.
    Delete {
        /// The installation's id.
        id: String,
        /// Remove its finished runs too.
        #[arg(long)]
        purge: bool,
    },
}

/// Runs `command` against `server`.
pub(super) async fn installations(
    server: ServerArgs,
    command: InstallationsCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        InstallationsCommand::List {
            tenant,
            workflow,
            json,
        } => {
            let body = call(&server, |client, base| {
                let mut query = Vec::new();
                query.extend(tenant.as_ref().map(|tenant| ("tenant", tenant)));
                query.extend(workflow.as_ref().map(|workflow| ("workflow", workflow)));
                client
                    .get(format!("{base}/api/installations"))
                    .query(&query)
            })
            .await?;
            let list: Vec<InstallationView> = decode(body["installations"].clone())?;
            if json {
                print_json(&list)?;
            } else {
                print_list(&list);
            }
        }
        InstallationsCommand::Create {
            tenant,
            workflow,
            config,
            connections,
            unguessable_url,
        } => {
            let request = NewInstallation {
                tenant,
                workflow,
                config: read_config(config)?,
                connections: bindings(&connections)?,
                unguessable_url,
            };
            let body = call(&server, |client, base| {
                client
                    .post(format!("{base}/api/installations"))
                    .json(&request)
            })
            .await?;
            print_secrets(&decode(body)?, "installed");
        }
        InstallationsCommand::Show { id } => {
            let body = call(&server, |client, base| {
                client.get(format!("{base}/api/installations/{id}"))
            })
            .await?;
            print_json(&decode::<InstallationView>(body)?)?;
        }
        InstallationsCommand::Update {
            id,
            config,
            connections,
        } => {
            let change = InstallationChange {
                config: read_config(config)?,
                connections: bindings(&connections)?,
            };
            let body = call(&server, |client, base| {
                client
                    .patch(format!("{base}/api/installations/{id}"))
                    .json(&change)
            })
            .await?;
            print_json(&decode::<InstallationView>(body)?)?;
        }
        InstallationsCommand::Pause { id } => act(&server, &id, "pause").await?,
        InstallationsCommand::Resume { id } => act(&server, &id, "resume").await?,
        InstallationsCommand::Upgrade { id, config } => {
            let upgrade = Upgrade {
                config: read_config(config)?,
            };
            let body = call(&server, |client, base| {
                client
                    .post(format!("{base}/api/installations/{id}/upgrade"))
                    .json(&upgrade)
            })
            .await?;
            let view: InstallationView = decode(body)?;
            out!("{id}: runs version {} now", view.workflow_version);
        }
        InstallationsCommand::RotateSecret { id } => {
            let body = call(&server, |client, base| {
                client.post(format!("{base}/api/installations/{id}/rotate-secret"))
            })
            .await?;
            print_secrets(&decode(body)?, "rotated");
        }
        InstallationsCommand::Delete { id, purge } => {
            let body = call(&server, |client, base| {
                client
                    .delete(format!("{base}/api/installations/{id}"))
                    .query(&[("purge", purge)])
            })
            .await?;
            let deleted: DeletedInstallation = decode(body)?;
            out!(
                "deleted {id}: {} state entries, {} runs removed, {} runs still running",
                deleted.state_entries,
                deleted.runs_removed,
                deleted.runs_unfinished
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pauses or resumes installation `id` (`action`) and says its status.
async fn act(server: &ServerArgs, id: &str, action: &str) -> anyhow::Result<()> {
    let body = call(server, |client, base| {
        client.post(format!("{base}/api/installations/{id}/{action}"))
    })
    .await?;
    let view: InstallationView = decode(body)?;
    out!("{id}: {}", view.status.as_str());
    Ok(())
}

fn read_config(path: Option<PathBuf>) -> anyhow::Result<Option<serde_json::Value>> {
    path.map(|path| super::read_json("the config", &path))
        .transpose()
}

/// `slot=id` pairs as bindings.
fn bindings(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((slot, id)) if !slot.is_empty() && !id.is_empty() => {
                Ok((slot.to_owned(), id.to_owned()))
            }
            _ => bail!("`--connection {pair}`: write SLOT=ID, such as salesforce=con_..."),
        })
        .collect()
}

fn print_secrets(secrets: &InstallationSecrets, done: &str) {
    let view = &secrets.installation;
    out!("{done} {} ({} for {})", view.id, view.workflow, view.tenant);
    if let Some(path) = &view.path {
        out!("webhook:         POST {path}");
    }
    out!(
        "webhook secret:  {}   (shown once: keep it)",
        secrets.webhook_secret
    );
    if let Some(path) = &secrets.unguessable_path {
        out!("unguessable URL: POST {path}   (shown once; needs no secret)");
    }
}

fn print_list(list: &[InstallationView]) {
    out!(
        "{:<30}  {:<16}  {:<20}  {:<8}  {:<16}  connections",
        "id",
        "tenant",
        "workflow",
        "status",
        "version"
    );
    for view in list {
        let connections: Vec<String> = view
            .connections
            .iter()
            .map(|(slot, id)| format!("{slot}={id}"))
            .collect();
        let version = match &view.upgrade_available {
            Some(_) => format!("{} (old)", view.workflow_version),
            None => view.workflow_version.clone(),
        };
        out!(
            "{:<30}  {:<16}  {:<20}  {:<8}  {:<16}  {}",
            view.id,
            view.tenant,
            view.workflow,
            view.status.as_str(),
            version,
            connections.join(" ")
        );
    }
}
