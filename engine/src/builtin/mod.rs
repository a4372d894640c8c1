//! The prebuilt steps compiled into Gust, referenced from a workflow as
//! `"uses": "builtin:<name>"`, one per crate in `steps/` (`builtin:filter`,
//! `builtin:field-mapper`, `builtin:salesforce`, `builtin:soap-to-json`).

pub mod output;
pub mod salesforce;

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
