//! Checks a schedule trigger's definition.

use super::cadence::parse_cron;
use super::config::MAX_JITTER;
use super::{MissedFires, ScheduleTrigger};
use crate::workflow::ValidationError;

/// The largest `max_catch_up` of a schedule.
const MAX_CATCH_UP: u32 = 1000;

/// Checks a cron expression at `path`, as schedules and polls write them.
pub(crate) fn validate_cron(path: String, cron: &str, errors: &mut Vec<ValidationError>) {
    if let Err(error) = parse_cron(cron) {
        errors.push(ValidationError::new(path, error.to_string()));
    }
}

/// Checks a jitter window at `path`, as schedules and polls write them.
pub(crate) fn validate_jitter(
    path: String,
    jitter: Option<std::time::Duration>,
    errors: &mut Vec<ValidationError>,
) {
    if jitter.is_some_and(|jitter| jitter > MAX_JITTER) {
        errors.push(ValidationError::new(
            path,
            format!(
                "the jitter window is at most {}",
                humantime::format_duration(MAX_JITTER)
            ),
        ));
    }
}

/// Checks a schedule trigger, adding every problem to `errors`.
pub(crate) fn validate(schedule: &ScheduleTrigger, errors: &mut Vec<ValidationError>) {
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
    validate_jitter(format!("{path}.jitter"), schedule.jitter, errors);
    if let Some(zone) = &schedule.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        errors.push(ValidationError::new(
            format!("{path}.timezone"),
            format!("`{zone}` is not an IANA time zone such as `Europe/Paris`"),
        ));
    }
}
