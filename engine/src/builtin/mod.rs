//! The prebuilt steps compiled into Gust, referenced from a workflow as
//! `"uses": "builtin:<name>"`, one per crate in `steps/` (`builtin:filter`,
//! `builtin:field-mapper`, `builtin:salesforce`, `builtin:soap-to-json`).

mod check;
mod field_mapper;
mod filter;
pub mod output;
mod salesforce;
pub(crate) mod schema;

use gust_step_inputs::soap_to_json::SoapToJson;

use crate::workflow::{Step, ValidationError};

include!(concat!(env!("OUT_DIR"), "/builtin_steps.rs"));

/// The prefix of a `uses` value naming a prebuilt step.
pub const PREFIX: &str = "builtin:";

/// The component of the prebuilt step `name`, if there is one.
pub fn component(name: &str) -> Option<&'static [u8]> {
    BUILTIN_STEPS
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, bytes)| *bytes)
}

/// The names of every prebuilt step.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN_STEPS.iter().map(|(name, _)| *name)
}

/// Adds the problems of a prebuilt step's `with` (at `path`) to `errors`:
/// its input read as the step reads it, with references standing for any
/// value, and the grants its Salesforce action needs.
pub(crate) fn check_input(step: &Step, path: &str, errors: &mut Vec<ValidationError>) {
    let Some(name) = step.uses.strip_prefix(PREFIX) else {
        return;
    };
    let Some(with) = &step.with else {
        return;
    };
    let with_path = format!("{path}.with");
    match name {
        "filter" => filter::check(with, &with_path, errors),
        "field-mapper" => field_mapper::check(with, &with_path, errors),
        "salesforce" => salesforce::check(step, path, errors),
        "soap-to-json" => {
            check::read_as::<SoapToJson>(with, &with_path, errors);
        }
        _ => {}
    }
}
