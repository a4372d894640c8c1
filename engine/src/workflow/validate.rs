//! Checks a parsed workflow as a whole and reports every problem, each with
//! the JSON path it is about.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use super::reference::{self, Absent, Occurrence, Reference, Root, Segment};
use super::{MAX_MEMORY_MB, MAX_TIMEOUT_MS, Step, Workflow};
use crate::builtin::{self, output};

/// One problem with a workflow definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where the problem is, as a JSON path: `steps[1].with.lead`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ValidationError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}

/// Every problem found with a workflow definition, in document order.
/// Displayed one problem a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl std::ops::Deref for ValidationErrors {
    type Target = [ValidationError];

    fn deref(&self) -> &[ValidationError] {
        &self.0
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Vec<ValidationError>> for ValidationErrors {
    fn from(errors: Vec<ValidationError>) -> Self {
        Self(errors)
    }
}

/// The most attempts a retry policy may ask for.
const MAX_ATTEMPTS: u32 = 100;

impl Workflow {
    /// Checks the workflow and returns every problem found, in document order.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        crate::trigger::validate(&self.trigger, self.is_installable(), &mut errors);
        super::installable::validate(self, &mut errors);
        if self.concurrency == Some(0) {
            errors.push(ValidationError::new("concurrency", "must be at least 1"));
        }
        if self.steps.is_empty() {
            errors.push(ValidationError::new(
                "steps",
                "a workflow needs at least one step",
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, step) in self.steps.iter().enumerate() {
            let path = format!("steps[{index}]");
            if let Some(first) = seen.get(step.id.as_str()) {
                errors.push(ValidationError::new(
                    format!("{path}.id"),
                    format!(
                        "duplicate step id `{}` (first used at steps[{first}].id)",
                        step.id
                    ),
                ));
            } else {
                seen.insert(step.id.as_str(), index);
            }
            validate_step(self, index, step, &path, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// The required `${trigger...}` references that `event` cannot resolve,
    /// each at the JSON path of the string holding it: what `gust run`
    /// warns about before running.
    pub fn reads_absent_from(&self, event: &Value) -> Vec<ValidationError> {
        let outputs = HashMap::new();
        let scope = reference::Scope {
            trigger: event,
            steps: &outputs,
            installation: None,
        };
        let mut found = Vec::new();
        for (index, step) in self.steps.iter().enumerate() {
            if let Some(with) = &step.with {
                reference::references_in(with, &format!("steps[{index}].with"), &mut found);
            }
        }
        found
            .into_iter()
            .filter_map(|occurrence| {
                let reference = occurrence.reference.ok()?;
                if reference.root != Root::Trigger || !reference.is_required() {
                    return None;
                }
                let found = scope.lookup(&reference).err()?;
                Some(ValidationError::new(
                    occurrence.path,
                    format!("`{reference}` is absent from the event: {found}"),
                ))
            })
            .collect()
    }
}

fn validate_step(
    workflow: &Workflow,
    index: usize,
    step: &Step,
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    builtin::check_input(step, path, errors);
    let mut problem = |field: &str, message: String| {
        errors.push(ValidationError::new(format!("{path}.{field}"), message));
    };
    match (&step.code, step.language) {
        (Some(_), _) if !step.uses.trim().is_empty() => problem(
            "code",
            format!(
                "a step has `uses` or inline `code`, not both; remove `code` to run `{}`",
                step.uses
            ),
        ),
        (Some(_), None) => problem(
            "language",
            "inline `code` needs its `language`: \"javascript\" or \"python\"".into(),
        ),
        (None, Some(language)) => problem(
            "language",
            format!(
                "`language` goes with inline `code`; a script file's language is its extension \
                 (`.{}`)",
                language.extension()
            ),
        ),
        (Some(code), Some(_)) if code.trim().is_empty() => {
            problem("code", "the inline `code` is empty".into());
        }
        _ => {}
    }
    if step.uses.trim().is_empty() {
        if step.code.is_none() {
            problem(
                "uses",
                "name a prebuilt step (`builtin:filter`), a .wasm file, a .js or .py script, \
                 or write the step's `code` inline with its `language`"
                    .into(),
            );
        }
    } else if let Some(name) = step.uses.strip_prefix(builtin::PREFIX)
        && builtin::component(name).is_none()
    {
        let known: Vec<&str> = builtin::names().collect();
        problem(
            "uses",
            format!(
                "unknown prebuilt step `{}`; the prebuilt steps are: {}",
                step.uses,
                known.join(", ")
            ),
        );
    }
    if step.source.is_some() && step.uses.is_empty() {
        problem(
            "source",
            "an inline script has no source crate; `source` names the crate that builds a `.wasm` file"
                .into(),
        );
    }
    if step.source.is_some() && step.uses.starts_with(builtin::PREFIX) {
        problem(
            "source",
            format!(
                "`{}` is prebuilt, so it has no source; `source` names the crate that builds \
                 a `.wasm` file",
                step.uses
            ),
        );
    }
    if step.timeout_ms == 0 || step.timeout_ms > MAX_TIMEOUT_MS {
        problem(
            "timeout_ms",
            format!(
                "must be between 1 and {MAX_TIMEOUT_MS}, not {}",
                step.timeout_ms
            ),
        );
    }
    if step.memory_mb == 0 || step.memory_mb > MAX_MEMORY_MB {
        problem(
            "memory_mb",
            format!(
                "must be between 1 and {MAX_MEMORY_MB}, not {}",
                step.memory_mb
            ),
        );
    }
    if step.fuel == Some(0) {
        problem(
            "fuel",
            "must be positive; leave it out for no fuel limit".into(),
        );
    }
    let retry = &step.retry;
    if retry.max_attempts == 0 || retry.max_attempts > MAX_ATTEMPTS {
        problem(
            "retry.max_attempts",
            format!(
                "must be between 1 and {MAX_ATTEMPTS}, not {}",
                retry.max_attempts
            ),
        );
    }
    if retry.backoff_ms > retry.max_backoff_ms {
        problem(
            "retry.backoff_ms",
            format!(
                "{} is more than retry.max_backoff_ms ({})",
                retry.backoff_ms, retry.max_backoff_ms
            ),
        );
    }
    if let Some(with) = &step.with {
        let with_path = format!("{path}.with");
        let mut found = Vec::new();
        reference::references_in(with, &with_path, &mut found);
        for occurrence in found {
            let message = match &occurrence.reference {
                Err(error) => Some(error.to_string()),
                Ok(reference) => reference_problem(workflow, index, reference, &occurrence)
                    .or_else(|| {
                        (occurrence.path == with_path && reference.absent == Absent::LeftOut).then(
                            || {
                                format!(
                                    "`{reference}` leaves a key out when absent, but `with` \
                                     itself is not a key; write `${{{} ?? null}}`",
                                    reference.path_text()
                                )
                            },
                        )
                    }),
            };
            if let Some(message) = message {
                errors.push(ValidationError::new(occurrence.path, message));
            }
        }
    }
}

/// What is wrong with `reference`, found in step `index`'s `with`.
fn reference_problem(
    workflow: &Workflow,
    index: usize,
    reference: &Reference,
    occurrence: &Occurrence,
) -> Option<String> {
    if reference.absent == Absent::LeftOut && !occurrence.whole {
        return Some(format!(
            "`{reference}` leaves a key out when absent, so it must be the whole string; \
             inside text write `${{{} ?? \"\"}}`",
            reference.path_text()
        ));
    }
    if reference.root.needs_installation() {
        if !workflow.is_installable() {
            return Some(format!(
                "`{reference}` is known only in the run of an installation; declare the \
                 workflow's `config` (and `connections`) to install it per customer"
            ));
        }
        if reference.root == Root::Config && workflow.config.is_none() {
            return Some(format!(
                "`{reference}` reads the installation's config, but the workflow declares no \
                 `config` schema"
            ));
        }
        let known = match reference.path.first() {
            Some(Segment::Key(key)) => key == "id" || key == "tenant",
            Some(Segment::Index(_)) => false,
            None => true,
        };
        if reference.root == Root::Installation && !known {
            return Some(format!(
                "`{reference}`: an installation has only `id` and `tenant`"
            ));
        }
        return None;
    }
    let Root::Step(id) = &reference.root else {
        return None;
    };
    if let Some(why) = step_reference_problem(workflow, index, id) {
        return Some(format!("`{reference}` refers to step `{id}`, {why}"));
    }
    let step = workflow.steps.iter().find(|step| step.id.as_str() == id)?;
    let never = output::of(step).never_output(&reference.path)?;
    let reached = reference.path_text_to(never.depth);
    let missing = match &reference.path[never.depth] {
        Segment::Key(key) => format!("`{key}`"),
        Segment::Index(index) => format!("[{index}]"),
    };
    let keys: Vec<String> = never.keys.iter().map(|key| format!("`{key}`")).collect();
    Some(format!(
        "`{reference}`: step `{id}` (`{}`) never outputs {missing} in `{reached}`, which has {}",
        step.uses,
        if keys.is_empty() {
            "no keys".to_owned()
        } else {
            format!("only {}", keys.join(", "))
        }
    ))
}

/// Why step `index` cannot refer to step `id`, if it cannot.
fn step_reference_problem(workflow: &Workflow, index: usize, id: &str) -> Option<&'static str> {
    match workflow
        .steps
        .iter()
        .position(|step| step.id.as_str() == id)
    {
        None => Some("which does not exist"),
        Some(position) if position == index => Some("which is this step"),
        Some(position) if position > index => Some("which runs after this step"),
        Some(_) => None,
    }
}
