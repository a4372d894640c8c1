//! `gust serve --watch`: reloads the workflows when a workflow file, one of
//! their components or a step crate they name as `source` changes, and
//! rebuilds that crate first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::build::build_steps;
use super::serve::load;
use crate::Engine;
use crate::workflow::{ModuleRef, WorkflowFile, files_in};

/// How long a burst of changes (an editor's save, cargo's copy) is let
/// settle before acting on it.
const SETTLE: Duration = Duration::from_millis(300);

/// What the workflow directory points at: the files whose change reloads
/// it, and the crates whose change rebuilds a step first.
#[derive(Debug, Default)]
struct Watched {
    /// The workflow files and their step components and scripts.
    files: Vec<PathBuf>,
    /// The `source` crates of steps.
    crates: Vec<PathBuf>,
}

impl Watched {
    /// What the workflow files of `dir` point at now.
    fn of(dir: &Path) -> Self {
        let mut watched = Self::default();
        for path in files_in(dir).unwrap_or_default() {
            if let Ok(file) = WorkflowFile::load(&path) {
                for step in &file.workflow.steps {
                    if let ModuleRef::File(module) | ModuleRef::Script(_, module) =
                        file.module(step)
                    {
                        watched.files.push(module);
                    }
                    watched.crates.extend(file.source(step));
                }
            }
            watched.files.push(path);
        }
        watched.crates.sort();
        watched.crates.dedup();
        watched
    }

    /// Starts watching, sending each changed path to `changes`.
    fn watch(
        &self,
        dir: &Path,
        changes: mpsc::UnboundedSender<PathBuf>,
    ) -> anyhow::Result<RecommendedWatcher> {
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            // Reading a file (cargo reading the sources) changes nothing.
            let Ok(event) = event.inspect_err(|error| tracing::warn!(%error, "Watching files."))
            else {
                return;
            };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                if changes.send(path).is_err() {
                    tracing::debug!("The server is stopping: a change is not acted on.");
                }
            }
        })
        .context("cannot watch files")?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        // A component is watched through its directory, since a build
        // replaces the file.
        for file in &self.files {
            if let Some(parent) = file.parent() {
                watch_if_present(&mut watcher, parent, RecursiveMode::NonRecursive);
            }
        }
        // A crate's sources, not its `target`.
        for krate in &self.crates {
            watch_if_present(&mut watcher, &krate.join("src"), RecursiveMode::Recursive);
            watch_if_present(
                &mut watcher,
                &krate.join("Cargo.toml"),
                RecursiveMode::NonRecursive,
            );
        }
        Ok(watcher)
    }

    /// The crates among `changed` paths' owners.
    fn crates_changed(&self, changed: &[PathBuf]) -> Vec<PathBuf> {
        self.crates
            .iter()
            .filter(|krate| {
                let (src, manifest) = (
                    absolute(&krate.join("src")),
                    absolute(&krate.join("Cargo.toml")),
                );
                changed
                    .iter()
                    .any(|path| path.starts_with(&src) || *path == manifest)
            })
            .cloned()
            .collect()
    }

    /// Whether any of `changed` is a workflow file or a component.
    fn reloads(&self, dir: &Path, changed: &[PathBuf]) -> bool {
        let dir = absolute(dir);
        changed.iter().any(|path| {
            (path.parent() == Some(dir.as_path())
                && path.extension().is_some_and(|ext| ext == "json"))
                || self.files.iter().any(|file| absolute(file) == *path)
        })
    }
}

/// Watches `path` when it exists (a workflow may name a component not
/// built yet); says so when it cannot.
fn watch_if_present(watcher: &mut dyn Watcher, path: &Path, mode: RecursiveMode) {
    if path.exists()
        && let Err(error) = watcher.watch(path, mode)
    {
        eprintln!("warning: cannot watch {}: {error}", path.display());
    }
}

/// `path` made absolute as the watcher reports paths, so that the two
/// compare.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Watches `dir` and what its workflows point at until the server stops:
/// a changed step crate is rebuilt (as `gust build` does), then the
/// directory is reloaded as on SIGHUP.
pub(super) async fn reload_on_change(
    engine: Engine,
    dir: PathBuf,
    address: SocketAddr,
) -> anyhow::Result<()> {
    let (sender, mut changes) = mpsc::unbounded_channel();
    let mut watched = Watched::of(&dir);
    let mut watcher = watched.watch(&dir, sender.clone())?;
    eprintln!(
        "Watching {} and {} step crate(s) for changes.",
        dir.display(),
        watched.crates.len()
    );
    while let Some(first) = changes.recv().await {
        // A save or a copy is several events: let them settle.
        tokio::time::sleep(SETTLE).await;
        let mut changed = vec![absolute(&first)];
        while let Ok(path) = changes.try_recv() {
            changed.push(absolute(&path));
        }
        let crates = watched.crates_changed(&changed);
        if crates.is_empty() && !watched.reloads(&dir, &changed) {
            continue;
        }
        // Stop watching while building and reloading: the copies a build
        // makes are reloaded below, not once more.
        drop(watcher);
        if !crates.is_empty() {
            rebuild(&dir, crates).await;
        }
        while changes.try_recv().is_ok() {}
        eprintln!("Reloading {}: files changed.", dir.display());
        if let Err(error) = load(&engine, &dir, address).await {
            eprintln!("error: {error:#}");
        }
        watched = Watched::of(&dir);
        watcher = watched.watch(&dir, sender.clone())?;
    }
    Ok(())
}

/// Builds the steps of `dir`'s workflows whose source is one of `crates`.
async fn rebuild(dir: &Path, crates: Vec<PathBuf>) {
    let files = files_in(dir).unwrap_or_default();
    let built = tokio::task::spawn_blocking(move || {
        for path in files {
            let Ok(file) = WorkflowFile::load(&path) else {
                continue;
            };
            // Standard output may be gone: a server logs on stderr.
            for line in build_steps(&file, |source| crates.contains(&source.to_owned()))? {
                eprintln!("{line}");
            }
        }
        anyhow::Ok(())
    })
    .await;
    match built {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("error: {error:#}; the previous build keeps running"),
        Err(error) => eprintln!("error: the build stopped: {error}"),
    }
}
