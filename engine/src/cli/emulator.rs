//! `gust emulator`: a look at the records of the sf-emulator that a running
//! `gust serve` started for want of a Salesforce connection.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::connect::{ADDRESS_FILE, emulator_client};
use super::serve::ServeSettings;
use crate::salesforce::without_attributes;

/// What to do with the emulator.
#[derive(Debug, clap::Subcommand)]
pub enum EmulatorCommand {
    /// Run a SOQL query against it and print the records.
    Query {
        /// The query, such as "SELECT Id, Name FROM Account".
        soql: String,
        /// Deleted records too (queryAll).
        #[arg(long)]
        all: bool,
        /// One JSON record per line instead of a table.
        #[arg(long)]
        json: bool,
        /// The data directory of the `gust serve` whose emulator to ask
        /// [default: its setting in gust.toml, else gust-data].
        #[arg(long, env = "GUST_DATA")]
        data: Option<PathBuf>,
    },
}

/// Runs `command`.
pub(super) async fn emulator(command: EmulatorCommand) -> anyhow::Result<ExitCode> {
    let EmulatorCommand::Query {
        soql,
        all,
        json,
        data,
    } = command;
    let data = match data {
        Some(data) => data,
        None => ServeSettings::from_file(None)?
            .data
            .unwrap_or_else(|| "gust-data".into()),
    };
    let url = running_url(&data)?;
    let client = emulator_client(&url)?;
    let mut pages = client.query_pages(&soql, all);
    let mut records = Vec::new();
    while let Some(page) = pages.next_page().await {
        let page = page.with_context(|| format!("the emulator at {url} refused the query"))?;
        records.extend(page.into_iter().map(without_attributes));
    }
    if json {
        for record in &records {
            out!("{record}");
        }
    } else {
        print_table(&records);
    }
    Ok(ExitCode::SUCCESS)
}

/// The URL of the emulator a `gust serve` on `data` runs.
fn running_url(data: &Path) -> anyhow::Result<String> {
    let file = data.join("sf-emulator").join(ADDRESS_FILE);
    match std::fs::read_to_string(&file) {
        Ok(url) => Ok(url.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "no sf-emulator runs on {}: start `gust serve` (without a Salesforce connection) \
             on that data directory, or name another with --data",
            data.display()
        ),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// `records` as a table: a column per field of the first record, values
/// that are not text as JSON.
fn print_table(records: &[Value]) {
    let Some(Value::Object(first)) = records.first() else {
        out!("(no records)");
        return;
    };
    let columns: Vec<&str> = first.keys().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            columns
                .iter()
                .map(|column| match &record[*column] {
                    Value::String(text) => text.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            rows.iter()
                .map(|row| row[index].chars().count())
                .chain([column.len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    out!("{}", line(columns.clone()));
    for row in &rows {
        out!("{}", line(row.iter().map(String::as_str).collect()));
    }
    out!(
        "({} record{})",
        records.len(),
        if records.len() == 1 { "" } else { "s" }
    );
}
