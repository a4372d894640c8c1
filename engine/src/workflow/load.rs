//! Reading workflow files: JSON parsing with the path of the first error,
//! then [`Workflow::validate`], then where each step's component comes from.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::{Language, Step, ValidationError, ValidationErrors, Workflow};
use crate::builtin;

/// Parses and validates a workflow definition.
///
/// A JSON or shape error stops parsing and is reported with its path; a
/// well-formed definition is then checked as a whole and every problem is
/// reported.
pub fn parse(text: &str) -> Result<Workflow, ValidationErrors> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    let workflow: Workflow = serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = error.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON: {inner}")
        } else {
            strip_position(&inner.to_string())
        };
        ValidationErrors(vec![ValidationError::new(path, message)])
    })?;
    workflow.validate()?;
    Ok(workflow)
}

/// serde_json appends " at line L column C"; the JSON path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The workflow files of `dir`: its `*.json` files, in name order, but
/// not the JSON Schemas beside them (`*.schema.json`, as `gust new
/// workflow` writes one).
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let is_workflow = |path: &Path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.ends_with(".json") && !name.ends_with(".schema.json"))
            && path.is_file()
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| is_workflow(path))
        .collect();
    files.sort();
    Ok(files)
}

/// Why a workflow file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The definition has problems.
    #[error("{} is not a valid workflow:\n{}", path.display(), list(errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        errors: ValidationErrors,
    },
}

fn list(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a step's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleRef {
    /// A prebuilt step compiled into Gust.
    Builtin(String),
    /// A component file.
    File(PathBuf),
    /// A script file (`.js`, `.py`), run by the language's interpreter.
    Script(Language, PathBuf),
    /// A script written in the step's `code`: its language and text.
    Inline(Language, String),
}

/// A workflow read from a file; relative `uses` paths resolve against the
/// file's directory.
#[derive(Debug, Clone)]
pub struct WorkflowFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// The definition.
    pub workflow: Workflow,
}

impl WorkflowFile {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let workflow = parse(&text).map_err(|errors| LoadError::Invalid {
            path: path.to_owned(),
            errors,
        })?;
        Ok(Self {
            path: path.to_owned(),
            workflow,
        })
    }

    /// The directory of the crate that builds `step`'s component, if the
    /// step names one.
    pub fn source(&self, step: &Step) -> Option<PathBuf> {
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        step.source.as_ref().map(|source| dir.join(source))
    }

    /// Where `step`'s component comes from.
    pub fn module(&self, step: &Step) -> ModuleRef {
        if let (Some(code), Some(language)) = (&step.code, step.language) {
            return ModuleRef::Inline(language, code.clone());
        }
        match step.uses.strip_prefix(builtin::PREFIX) {
            Some(name) => ModuleRef::Builtin(name.to_owned()),
            None => {
                let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
                let path = dir.join(&step.uses);
                match Language::of_file(&path) {
                    Some(language) => ModuleRef::Script(language, path),
                    None => ModuleRef::File(path),
                }
            }
        }
    }
}

/// The name a step's script goes by in its errors and stack traces: the
/// file as `uses` names it, or `<step id>.<extension>` for inline code.
pub fn script_name(step: &Step, language: Language) -> String {
    match step.uses.is_empty() {
        true => format!("{}.{}", step.id, language.extension()),
        false => step.uses.clone(),
    }
}

/// A step's component could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// No prebuilt step has this name.
    #[error("there is no prebuilt step `{0}`")]
    NoBuiltin(String),
    /// The component or script file could not be read.
    #[error("cannot read the module {}: {error}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

/// A step's code as read: a component's bytes, or a script's text.
#[derive(Debug)]
pub enum ModuleCode<'a> {
    /// A WebAssembly component.
    Component(Cow<'static, [u8]>),
    /// A script, in its language.
    Script(Language, Cow<'a, str>),
}

impl ModuleRef {
    /// Whether the component is there: a known prebuilt step or a file.
    pub fn exists(&self) -> bool {
        match self {
            Self::Builtin(name) => builtin::component(name).is_some(),
            Self::File(path) | Self::Script(_, path) => path.is_file(),
            Self::Inline(..) => true,
        }
    }

    /// The step's code: a component's bytes or a script's text.
    pub fn read(&self) -> Result<ModuleCode<'_>, ModuleError> {
        let unreadable = |path: &Path, error| ModuleError::Unreadable {
            path: path.to_owned(),
            error,
        };
        match self {
            Self::Builtin(name) => builtin::component(name)
                .map(|bytes| ModuleCode::Component(Cow::Borrowed(bytes)))
                .ok_or_else(|| ModuleError::NoBuiltin(name.clone())),
            Self::File(path) => std::fs::read(path)
                .map(|bytes| ModuleCode::Component(Cow::Owned(bytes)))
                .map_err(|error| unreadable(path, error)),
            Self::Script(language, path) => std::fs::read_to_string(path)
                .map(|text| ModuleCode::Script(*language, Cow::Owned(text)))
                .map_err(|error| unreadable(path, error)),
            Self::Inline(language, code) => Ok(ModuleCode::Script(*language, Cow::Borrowed(code))),
        }
    }
}
