//! # soap-to-json: an Outbound Message's SOAP as JSON events
//!
//! For Salesforce Outbound Messages that reach a plain webhook (relayed by
//! another system, or replayed from a log). Salesforce itself should post
//! to an `outbound_message` trigger, which answers the Ack Salesforce
//! waits for; a webhook answers JSON, so Salesforce would send the message
//! again until it gives up. The input is [`Input`] (its example is in
//! `gust-step-inputs`); fields without a type in `field_types` are typed by
//! their form. The output is
//! `{"events": [...]}`, one event per notification, each exactly as the
//! `outbound_message` trigger makes it: `{"notification_id",
//! "organization_id", "action_id", "sobject_type", "record", "session_id",
//! "enterprise_url", "partner_url", "notification_xml"}`. A body that is not an Outbound
//! Message fails the step, without retries, saying why.

use std::collections::HashMap;

use gust_outbound::FieldType;
use gust_sdk::{Error, Output, Value, json};

pub use gust_step_inputs::soap_to_json::SoapToJson as Input;

/// The events of the message in `input`.
pub fn convert(input: &Input) -> Result<Value, Error> {
    let types: HashMap<String, FieldType> = input
        .field_types
        .iter()
        .map(|(name, type_name)| {
            (
                name.to_ascii_lowercase(),
                FieldType::from_describe(type_name),
            )
        })
        .collect();
    let message = gust_outbound::parse(input.xml.as_bytes(), &|name| {
        types.get(&name.to_ascii_lowercase()).copied()
    })
    .map_err(|error| Error::non_retryable(format!("not an Outbound Message: {error}")))?;
    Ok(json!({ "events": message.events(input.sobject.as_deref()) }))
}

fn run(input: Value) -> Result<Output, Error> {
    let input: Input = serde_json::from_value(input)
        .map_err(|e| Error::non_retryable(format!("invalid soap-to-json input: {e}")))?;
    Ok(Output::next(convert(&input)?))
}

gust_sdk::step!(run);
