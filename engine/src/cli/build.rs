//! `gust build`: compiles step crates to components with cargo, and puts
//! each where its workflow step's `uses` points.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::workflow::{ModuleRef, WorkflowFile};

/// The target steps are compiled for.
const TARGET: &str = "wasm32-wasip2";

/// `gust build <workflow.json | crate dir>...`.
pub(super) fn build(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    for path in paths {
        if path.is_dir() {
            let artifact = build_crate(path)?;
            out!("built  {}", artifact.display());
        } else {
            build_workflow(path)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds every step of the workflow at `path` that names its `source`,
/// and copies each component to the step's `uses`.
pub(super) fn build_workflow(path: &Path) -> anyhow::Result<()> {
    let file = WorkflowFile::load(path)?;
    let built = build_steps(&file, |_| true)?;
    for line in &built {
        out!("{line}");
    }
    if built.is_empty() {
        bail!(
            "no step of {} names the crate that builds it; add `\"source\": \"<crate dir>\"` \
             beside its `uses`",
            path.display()
        );
    }
    Ok(())
}

/// Builds the steps of `file` whose `source` crate `wanted` picks, copies
/// each component to the step's `uses`, and returns a line saying what it
/// built for each.
pub(super) fn build_steps(
    file: &WorkflowFile,
    wanted: impl Fn(&Path) -> bool,
) -> anyhow::Result<Vec<String>> {
    let mut built = Vec::new();
    for step in &file.workflow.steps {
        let (Some(source), ModuleRef::File(module)) = (file.source(step), file.module(step)) else {
            continue;
        };
        if !wanted(&source) {
            continue;
        }
        let artifact = build_crate(&source)
            .with_context(|| format!("step `{}` of {}", step.id, file.path.display()))?;
        if let Some(parent) = module.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(&artifact, &module).with_context(|| {
            format!("cannot copy {} to {}", artifact.display(), module.display())
        })?;
        let size = std::fs::metadata(&module).map_or(0, |meta| meta.len());
        built.push(format!(
            "built  {} from {} ({} KiB)",
            module.display(),
            source.display(),
            size.div_ceil(1024)
        ));
    }
    Ok(built)
}

/// One line of cargo's `--message-format json` output, as far as it matters.
#[derive(Debug, Deserialize)]
struct CargoMessage {
    reason: String,
    #[serde(default)]
    manifest_path: Option<PathBuf>,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

/// Compiles the crate in `dir` for `wasm32-wasip2` in its release profile
/// and returns its component. Cargo's diagnostics go to stderr.
pub(super) fn build_crate(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: a step's source is a Rust crate",
            dir.display()
        );
    }
    let manifest = manifest
        .canonicalize()
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", TARGET])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo; install Rust from https://rustup.rs")?;
    if !output.status.success() {
        bail!(
            "cargo could not build {} (a missing target is added with `rustup target add {TARGET}`)",
            dir.display()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
        .filter(|message| {
            message.reason == "compiler-artifact"
                && message.manifest_path.as_deref() == Some(manifest.as_path())
        })
        .flat_map(|message| message.filenames)
        .find(|file| file.extension().is_some_and(|ext| ext == "wasm"))
        .with_context(|| {
            format!(
                "building {} made no .wasm file; a step crate has `crate-type = [\"cdylib\"]` \
                 under `[lib]`",
                dir.display()
            )
        })
}
