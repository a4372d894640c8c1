//! Checks a Salesforce events trigger's definition.

use super::{MAX_EVENTS_BATCH, SalesforceEventsTrigger};
use crate::workflow::ValidationError;

/// Checks a Salesforce events trigger, adding every problem to `errors`.
pub(crate) fn validate(trigger: &SalesforceEventsTrigger, errors: &mut Vec<ValidationError>) {
    let path = "trigger.salesforce_events";
    if let Err(why) = check_topic(&trigger.topic) {
        errors.push(ValidationError::new(format!("{path}.topic"), why));
    }
    if !(1..=MAX_EVENTS_BATCH).contains(&trigger.batch) {
        errors.push(ValidationError::new(
            format!("{path}.batch"),
            format!(
                "`{}` is not between 1 and {MAX_EVENTS_BATCH} (Salesforce sends at most {MAX_EVENTS_BATCH} events a client has not yet asked again for)",
                trigger.batch
            ),
        ));
    }
}

/// Whether `topic` is a Pub/Sub topic name: `/data/ChangeEvents`,
/// `/data/<Name>ChangeEvent`, `/data/<Name>__chn`, `/event/<Name>__e` or
/// `/event/<Name>__chn`.
fn check_topic(topic: &str) -> Result<(), String> {
    let name_ok = |name: &str| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let well_formed = match topic.split_once('/').map(|(_, rest)| rest.split_once('/')) {
        Some(Some(("data", name))) => {
            name == "ChangeEvents"
                || ((name.ends_with("ChangeEvent") && name.len() > "ChangeEvent".len())
                    || name.ends_with("__chn"))
                    && name_ok(name)
        }
        Some(Some(("event", name))) => {
            (name.ends_with("__e") || name.ends_with("__chn")) && name_ok(name)
        }
        _ => false,
    };
    if well_formed && topic.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{topic}` is not a Pub/Sub topic: `/data/<Object>ChangeEvent` (such as \
             `/data/LeadChangeEvent`, `/data/Invoice__ChangeEvent` for Invoice__c), \
             `/data/ChangeEvents`, `/event/<Name>__e`, or a custom channel `/data/<Name>__chn`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_checked_for_their_form() {
        for good in [
            "/data/ChangeEvents",
            "/data/LeadChangeEvent",
            "/data/Invoice__ChangeEvent",
            "/data/Sales__chn",
            "/event/Order_Placed__e",
            "/event/Orders__chn",
        ] {
            assert_eq!(check_topic(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "LeadChangeEvent",
            "/data/Lead",
            "/data/ChangeEvent",
            "/event/Order_Placed",
            "/topic/Leads",
            "data/LeadChangeEvent",
            "/data/Lead ChangeEvent",
            "/data/Lead/ChangeEvent",
        ] {
            assert!(check_topic(bad).is_err(), "{bad} was taken");
        }
    }
}
