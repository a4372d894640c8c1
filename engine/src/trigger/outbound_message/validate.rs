//! Checks an Outbound Message trigger's definition.

use super::OutboundMessageTrigger;
use crate::workflow::{SObjectName, ValidationError};

/// Checks an Outbound Message trigger, adding every problem to `errors`.
/// An `installable` workflow's messages are checked against the org of
/// each installation's connection, so it lists no org.
pub(crate) fn validate(
    om: &OutboundMessageTrigger,
    installable: bool,
    errors: &mut Vec<ValidationError>,
) {
    let path = "trigger.outbound_message";
    if installable && !om.organization_ids.is_empty() {
        errors.push(ValidationError::new(
            format!("{path}.organization_ids"),
            "an installed workflow takes each installation's messages from the org of its \
             connection; remove `organization_ids`",
        ));
    }
    if !installable && om.organization_ids.is_empty() {
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
