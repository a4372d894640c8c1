//! Checks a Salesforce poll trigger's definition.

use std::time::Duration;

use super::{MAX_POLL_BATCH, SalesforcePollTrigger};
use crate::trigger::schedule::{validate_cron, validate_jitter};
use crate::workflow::{SObjectName, ValidationError};

/// The longest `overlap` of a poll.
const MAX_POLL_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Checks a Salesforce poll trigger, adding every problem to `errors`.
pub(crate) fn validate(poll: &SalesforcePollTrigger, errors: &mut Vec<ValidationError>) {
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
    validate_jitter(format!("{path}.jitter"), poll.jitter, errors);
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
