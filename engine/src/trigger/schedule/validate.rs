//! Checks a schedule trigger's definition.

use std::str::FromStr;

use super::cadence::five_fields;
use super::{MissedFires, ScheduleTrigger};
use crate::workflow::ValidationError;

/// The largest `max_catch_up` of a schedule.
const MAX_CATCH_UP: u32 = 1000;

/// Checks a cron expression at `path`, as schedules and polls write them.
pub(crate) fn validate_cron(path: String, cron: &str, errors: &mut Vec<ValidationError>) {
    if let Err(error) = cron::Schedule::from_str(cron) {
        // The cron crate draws a caret under the input; its last line says why.
        let error = error.to_string();
        let why = error.lines().last().unwrap_or_default();
        let message = five_fields(cron).unwrap_or_else(|| {
            format!(
                "`{cron}` is not a cron expression (sec min hour day-of-month month day-of-week [year]): {why}"
            )
        });
        errors.push(ValidationError::new(path, message));
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
    if let Some(zone) = &schedule.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        errors.push(ValidationError::new(
            format!("{path}.timezone"),
            format!("`{zone}` is not an IANA time zone such as `Europe/Paris`"),
        ));
    }
}
