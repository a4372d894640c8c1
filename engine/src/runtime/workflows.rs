//! The workflows a server runs: loaded from files or added in code, each
//! ready (compiled) or invalid (with its problems), replaced as a whole on
//! reload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::steps::{PreparedWorkflow, StepRunner};
use crate::workflow::{LoadError, ValidationError, Workflow, WorkflowFile, files_in};

/// A workflow file that could not be loaded, and why.
#[derive(Debug, Clone)]
pub struct InvalidWorkflow {
    /// The file.
    pub source: PathBuf,
    /// Every problem found, each with its JSON path (empty for a file
    /// that could not be read).
    pub errors: Vec<ValidationError>,
}

/// The workflows loaded and the files that failed.
#[derive(Clone, Default)]
pub struct WorkflowSet {
    /// Ready workflows by id.
    pub ready: BTreeMap<String, PreparedWorkflow>,
    /// Files that failed to load.
    pub invalid: Vec<InvalidWorkflow>,
}

impl WorkflowSet {
    /// Loads every `*.json` file in `dir`, in name order. A file that fails
    /// is recorded and the others still load; a second file with an id
    /// already loaded fails.
    pub fn load_dir(dir: &Path, runner: &StepRunner) -> std::io::Result<Self> {
        let mut set = Self::default();
        for path in files_in(dir)? {
            if let Err(errors) = set.add(&path, runner) {
                let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
                tracing::error!(file = %path.display(), "Workflow not loaded:\n  {}", problems.join("\n  "));
                set.invalid.push(InvalidWorkflow {
                    source: path,
                    errors,
                });
            }
        }
        Ok(set)
    }

    fn add(&mut self, path: &Path, runner: &StepRunner) -> Result<(), Vec<ValidationError>> {
        let file = WorkflowFile::load(path).map_err(|error| match error {
            LoadError::Invalid { errors, .. } => errors.0,
            error => vec![ValidationError::new("", error.to_string())],
        })?;
        let id = file.workflow.id.to_string();
        if self.ready.contains_key(&id) {
            return Err(vec![ValidationError::new(
                "id",
                format!("`{id}` is already used by another workflow file"),
            )]);
        }
        let prepared = runner.prepare(&file).map_err(|errors| errors.0)?;
        self.ready.insert(id, prepared);
        Ok(())
    }
}

/// The current set, swapped whole on reload; runs in flight keep the
/// version they started with. Every version loaded is also kept by its
/// hash, for the installations pinned to it.
#[derive(Default)]
pub(crate) struct Workflows {
    current: RwLock<Arc<WorkflowSet>>,
    versions: RwLock<std::collections::HashMap<Arc<str>, PreparedWorkflow>>,
}

impl Workflows {
    /// The current set.
    pub(crate) fn get(&self) -> Arc<WorkflowSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the set.
    pub(crate) fn replace(&self, set: WorkflowSet) {
        for prepared in set.ready.values() {
            self.keep_version(prepared.clone());
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }

    /// Keeps `prepared` by its version.
    pub(crate) fn keep_version(&self, prepared: PreparedWorkflow) {
        self.versions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(prepared.version.clone(), prepared);
    }

    /// The version `hash` of a workflow, if it was loaded or kept.
    pub(crate) fn version(&self, hash: &str) -> Option<PreparedWorkflow> {
        self.versions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(hash)
            .cloned()
    }

    /// Adds or replaces one workflow.
    pub(crate) fn insert(&self, prepared: PreparedWorkflow) {
        self.keep_version(prepared.clone());
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut set = WorkflowSet::clone(&current);
        set.ready.insert(prepared.workflow.id.to_string(), prepared);
        *current = Arc::new(set);
    }

    /// A ready workflow.
    pub(crate) fn ready(&self, id: &str) -> Option<PreparedWorkflow> {
        self.get().ready.get(id).cloned()
    }
}

/// A workflow version as the store keeps it for the installations pinned
/// to it: its definition and the file it was read from.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredVersion {
    path: PathBuf,
    workflow: Workflow,
}

impl StoredVersion {
    /// The stored text of `prepared`.
    pub(crate) fn write(prepared: &PreparedWorkflow) -> String {
        let stored = StoredVersion {
            path: prepared.source.to_path_buf(),
            workflow: Workflow::clone(&prepared.workflow),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The workflow file `text` keeps.
    pub(crate) fn read(text: &str) -> Result<WorkflowFile, serde_json::Error> {
        let stored: StoredVersion = serde_json::from_str(text)?;
        Ok(WorkflowFile {
            path: stored.path,
            workflow: stored.workflow,
        })
    }
}
