//! Checks a parsed workflow as a whole and reports every problem, each with
//! the JSON path it is about.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::reference::{self, Root};
use super::{
    MAX_MEMORY_MB, MAX_POLL_BATCH, MAX_TIMEOUT_MS, MissedFires, OutboundMessageTrigger,
    SObjectName, SalesforcePollTrigger, ScheduleTrigger, Step, Trigger, Workflow,
};
use crate::builtin;

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

/// The most attempts a retry policy may ask for.
const MAX_ATTEMPTS: u32 = 100;

impl Workflow {
    /// Checks the workflow and returns every problem found, in document order.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errors = Vec::new();
        if self.connection.trim().is_empty() {
            errors.push(ValidationError::new("connection", "must not be empty"));
        }
        validate_trigger(&self.trigger, &mut errors);
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
            Err(errors)
        }
    }
}

fn validate_trigger(trigger: &Trigger, errors: &mut Vec<ValidationError>) {
    match trigger {
        Trigger::Webhook(_) | Trigger::Manual(_) => {}
        Trigger::OutboundMessage(om) => validate_outbound_message(om, errors),
        Trigger::Schedule(schedule) => validate_schedule(schedule, errors),
        Trigger::SalesforcePoll(poll) => validate_poll(poll, errors),
    }
}

fn validate_outbound_message(om: &OutboundMessageTrigger, errors: &mut Vec<ValidationError>) {
    let path = "trigger.outbound_message";
    if om.organization_ids.is_empty() {
        errors.push(ValidationError::new(
            format!("{path}.organization_ids"),
            "list the ids of the Salesforce orgs allowed to send (`00D...`)",
        ));
    }
    for (index, id) in om.organization_ids.iter().enumerate() {
        let well_formed = (id.len() == 15 || id.len() == 18)
            && id.starts_with("00D")
            && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !well_formed {
            errors.push(ValidationError::new(
                format!("{path}.organization_ids[{index}]"),
                format!(
                    "`{id}` is not an organization id (15 or 18 characters starting with `00D`)"
                ),
            ));
        }
    }
    if !SObjectName::is_well_formed(&om.sobject) {
        errors.push(ValidationError::new(
            format!("{path}.sobject"),
            format!("`{}` is not an sObject API name", om.sobject),
        ));
    }
}

/// The longest `overlap` of a poll.
const MAX_POLL_OVERLAP: Duration = Duration::from_secs(24 * 3600);
/// The largest `max_catch_up` of a schedule.
const MAX_CATCH_UP: u32 = 1000;

fn validate_cron(path: String, cron: &str, errors: &mut Vec<ValidationError>) {
    if let Err(error) = cron::Schedule::from_str(cron) {
        // The cron crate draws a caret under the input; its last line says why.
        let error = error.to_string();
        let why = error.lines().last().unwrap_or_default();
        errors.push(ValidationError::new(
            path,
            format!(
                "`{cron}` is not a cron expression (sec min hour day-of-month month day-of-week [year]): {why}"
            ),
        ));
    }
}

fn validate_schedule(schedule: &ScheduleTrigger, errors: &mut Vec<ValidationError>) {
    let path = "trigger.schedule";
    validate_cron(format!("{path}.cron"), &schedule.cron, errors);
    match (schedule.missed, schedule.max_catch_up) {
        (MissedFires::Skip, Some(_)) => errors.push(ValidationError::new(
            format!("{path}.max_catch_up"),
            "`max_catch_up` bounds `\"missed\": \"catch_up\"`; this schedule skips missed fires",
        )),
        (MissedFires::CatchUp, Some(max)) if !(1..=MAX_CATCH_UP).contains(&max) => {
            errors.push(ValidationError::new(
                format!("{path}.max_catch_up"),
                format!("`{max}` is not between 1 and {MAX_CATCH_UP}"),
            ));
        }
        _ => {}
    }
    if let Some(zone) = &schedule.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        errors.push(ValidationError::new(
            format!("{path}.timezone"),
            format!("`{zone}` is not an IANA time zone such as `Europe/Paris`"),
        ));
    }
}

fn validate_poll(poll: &SalesforcePollTrigger, errors: &mut Vec<ValidationError>) {
    let path = "trigger.salesforce_poll";
    let mut problem = |field: &str, message: String| {
        errors.push(ValidationError::new(format!("{path}.{field}"), message));
    };
    if !SObjectName::is_well_formed(&poll.sobject) {
        problem(
            "sobject",
            format!("`{}` is not an sObject API name", poll.sobject),
        );
    }
    for (index, field) in poll.fields.iter().enumerate() {
        if !field.split('.').all(SObjectName::is_well_formed) {
            problem(
                &format!("fields[{index}]"),
                format!("`{field}` is not a field API name (such as `Email` or `Account.Name`)"),
            );
        }
    }
    if let Some(condition) = &poll.condition
        && let Err(why) = check_condition(condition)
    {
        problem("where", why);
    }
    if let Some(size) = poll.batch_size
        && !(1..=MAX_POLL_BATCH).contains(&size)
    {
        problem(
            "batch_size",
            format!("`{size}` is not between 1 and {MAX_POLL_BATCH}"),
        );
    }
    if poll.overlap > MAX_POLL_OVERLAP {
        problem(
            "overlap",
            format!(
                "`{}` is longer than 24h",
                humantime::format_duration(poll.overlap)
            ),
        );
    }
    validate_cron(format!("{path}.every"), &poll.every, errors);
}

/// Whether a SOQL condition can be put in parentheses inside a `WHERE`:
/// something, with balanced quotes and parentheses.
fn check_condition(condition: &str) -> Result<(), String> {
    if condition.trim().is_empty() {
        return Err("the condition is empty; leave `where` out to take every record".to_owned());
    }
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in condition.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, _, '\'') => quoted = !quoted,
            (false, _, '(') => depth += 1,
            (false, _, ')') => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("`{condition}` closes a parenthesis it never opened"))?;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("`{condition}` leaves a quote open"));
    }
    if depth > 0 {
        return Err(format!("`{condition}` leaves a parenthesis open"));
    }
    Ok(())
}

fn validate_step(
    workflow: &Workflow,
    index: usize,
    step: &Step,
    path: &str,
    errors: &mut Vec<ValidationError>,
) {
    let mut problem = |field: &str, message: String| {
        errors.push(ValidationError::new(format!("{path}.{field}"), message));
    };
    if step.uses.trim().is_empty() {
        problem(
            "uses",
            "name a prebuilt step (`builtin:filter`) or a .wasm file".into(),
        );
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
        let mut found = Vec::new();
        reference::references_in(with, &format!("{path}.with"), &mut found);
        for (at, reference) in found {
            let message = match reference {
                Err(error) => Some(error.to_string()),
                Ok(reference) => match &reference.root {
                    Root::Trigger => None,
                    Root::Step(id) => step_reference_problem(workflow, index, id)
                        .map(|why| format!("`{reference}` refers to step `{id}`, {why}")),
                },
            };
            if let Some(message) = message {
                errors.push(ValidationError::new(at, message));
            }
        }
    }
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
