//! `gust new step <name>` and `gust new workflow <name>`: a step crate that
//! builds as it is, wherever it is created, and a workflow that runs it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::workflow::WorkflowId;

/// What to create.
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// A step crate in `<name>/`: Cargo.toml, a step with unit tests, a
    /// release profile for small components.
    Step {
        /// The crate's name, which is also its directory.
        name: String,
        /// Where `gust-sdk` is, when not the one this gust was built with:
        /// a path to the SDK crate.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// A workflow in `<name>.json`, running a step crate (`--step`) or a
    /// prebuilt step.
    Workflow {
        /// The workflow's id, which is also its file name.
        name: String,
        /// A step crate (made by `gust new step`) for the workflow to run.
        #[arg(long)]
        step: Option<PathBuf>,
    },
}

/// The Rust toolchain Gust is built and tested with, which steps use too.
const TOOLCHAIN: &str = "1.95.0";

pub(super) fn new(command: NewCommand) -> anyhow::Result<ExitCode> {
    match command {
        NewCommand::Step { name, sdk } => new_step(&name, sdk),
        NewCommand::Workflow { name, step } => new_workflow(&name, step.as_deref()),
    }?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses a name that is not a crate name.
fn check_crate_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!(
            "`{name}` cannot name a step crate: use lowercase letters, digits, `-` and `_`, \
             starting with a letter"
        );
    }
    Ok(())
}

fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} already exists; nothing was written", path.display());
    }
    Ok(())
}

/// The `gust-sdk` dependency line: the SDK at `sdk`, else the one beside
/// the sources this gust was built from.
fn sdk_dependency(sdk: Option<PathBuf>) -> anyhow::Result<String> {
    let path = match sdk {
        Some(path) => path
            .canonicalize()
            .with_context(|| format!("--sdk {}", path.display()))?,
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../sdk-guest")
            .canonicalize()
            .context(
                "the gust-sdk this gust was built from is gone; name the SDK crate with --sdk PATH \
                 (the `sdk-guest` directory of Gust's repository)",
            )?,
    };
    Ok(format!(
        "gust-sdk = {{ path = {} }}",
        Value::String(path.display().to_string())
    ))
}

fn new_step(name: &str, sdk: Option<PathBuf>) -> anyhow::Result<()> {
    check_crate_name(name)?;
    let dir = PathBuf::from(name);
    refuse_existing(&dir)?;
    let sdk = sdk_dependency(sdk)?;
    let files = [
        ("Cargo.toml", step_manifest(name, &sdk)),
        ("rust-toolchain.toml", step_toolchain()),
        (".gitignore", "/target\n*.wasm\n".to_owned()),
        ("src/lib.rs", step_source(name)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    out!("Created the step crate `{name}` in {name}/. Next:");
    let next = [
        (
            format!("cargo test --manifest-path {name}/Cargo.toml"),
            "its unit tests, on this machine".to_owned(),
        ),
        (
            format!("gust new workflow {name} --step {name}"),
            "a workflow that runs it".to_owned(),
        ),
        (
            format!("gust build {name}.json"),
            format!("compiles it to {name}/{}.wasm", lib_name(name)),
        ),
        (
            format!("gust run {name}.json --body body.json"),
            "runs it on a request body".to_owned(),
        ),
    ];
    let width = next
        .iter()
        .map(|(command, _)| command.len())
        .max()
        .unwrap_or(0);
    for (command, why) in next {
        out!("  {command:<width$}  # {why}");
    }
    Ok(())
}

/// The file name cargo gives the crate's component.
fn lib_name(package: &str) -> String {
    package.replace('-', "_")
}

fn step_manifest(name: &str, sdk: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A Gust step: `cdylib` is the WebAssembly component, `rlib` lets
# `cargo test` run the unit tests on this machine.
[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
{sdk}

# The crate is a workspace of its own, wherever it lives.
[workspace]

# Small components: `gust build` compiles with
# `cargo build --release --target wasm32-wasip2`.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#
    )
}

fn step_toolchain() -> String {
    format!(
        "# The Rust that Gust is built with, and the target steps are compiled for.\n\
         [toolchain]\nchannel = \"{TOOLCHAIN}\"\ntargets = [\"wasm32-wasip2\"]\n"
    )
}

fn step_source(name: &str) -> String {
    format!(
        r#"//! {name}: a Gust step.
//!
//! Its input is the step's `with` in the workflow, references resolved; what
//! it returns is the step's output, which later steps read as
//! `${{steps.<id>...}}`. It reaches Salesforce, logs and state only through
//! `gust_sdk`.

use gust_sdk::{{Error, Value, info, json}};

fn run(input: Value) -> Result<Value, Error> {{
    let name = input["name"]
        .as_str()
        .ok_or_else(|| Error::non_retryable("the input has no `name`"))?;
    let greeting = greet(name);
    info!("{{greeting}}");
    Ok(json!({{ "greeting": greeting }}))
}}

/// The work itself, without host calls, so that `cargo test` runs it here.
fn greet(name: &str) -> String {{
    format!("Hello, {{name}}!")
}}

gust_sdk::step!(run);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn greets_by_name() {{
        assert_eq!(greet("Ada"), "Hello, Ada!");
    }}

    #[test]
    fn refuses_an_input_without_a_name() {{
        assert!(run(json!({{ "name": 7 }})).is_err());
    }}
}}
"#
    )
}

fn new_workflow(name: &str, step: Option<&Path>) -> anyhow::Result<()> {
    name.parse::<WorkflowId>()
        .map_err(|error| anyhow::anyhow!("`{name}` cannot be a workflow id: {error}"))?;
    let path = PathBuf::from(format!("{name}.json"));
    refuse_existing(&path)?;
    let step = match step {
        Some(dir) => {
            let manifest = dir.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).with_context(|| {
                format!(
                    "--step {}: cannot read {}",
                    dir.display(),
                    manifest.display()
                )
            })?;
            let package: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not TOML", manifest.display()))?;
            let package = package
                .get("package")
                .and_then(|package| package.get("name"))
                .and_then(toml::Value::as_str)
                .with_context(|| format!("{} has no package name", manifest.display()))?;
            let source = dir.display().to_string().replace('\\', "/");
            let source = source.trim_end_matches('/');
            json!({
                "id": package,
                "uses": format!("{source}/{}.wasm", lib_name(package)),
                "source": source,
                "with": { "name": "${trigger.body.name}" },
                "timeout_ms": 2000,
                "memory_mb": 32,
            })
        }
        None => json!({
            "id": "pass",
            "uses": "builtin:filter",
            "with": {
                "conditions": [{ "value": "${trigger.body ?? null}", "op": "exists" }],
                "pass": "${trigger.body ?? null}",
            },
        }),
    };
    let schema = Path::new("workflow.schema.json");
    if !schema.exists() {
        std::fs::write(schema, super::schema_text()? + "\n")
            .with_context(|| format!("cannot write {}", schema.display()))?;
    }
    let workflow = json!({
        "$schema": "workflow.schema.json",
        "id": name,
        "description": "Started by POST /hooks/".to_owned() + name,
        "trigger": { "webhook": {} },
        "steps": [step],
    });
    let text = serde_json::to_string_pretty(&workflow)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    out!(
        "Created the workflow `{name}` in {0}. Check it with `gust validate {0}`.",
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_steps_use_the_toolchain_gust_is_built_with() {
        let pinned = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-toolchain.toml"),
        )
        .unwrap();
        assert!(
            pinned.contains(&format!("channel = \"{TOOLCHAIN}\"")),
            "{pinned}"
        );
    }
}
