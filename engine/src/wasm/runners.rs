//! The interpreters that run script steps, one component per language,
//! built from `runners/` by the engine's build script and embedded in Gust.
//! A script arrives as data with each call, so changing one needs no build.

use super::error::{Error, Result};
use crate::workflow::Language;

include!(concat!(env!("OUT_DIR"), "/runners.rs"));

/// The interpreter component of `language`.
pub(crate) fn component(language: Language) -> Result<&'static [u8]> {
    match language {
        Language::JavaScript => JAVASCRIPT_RUNNER,
        Language::Python => PYTHON_RUNNER,
    }
    .ok_or(Error::NoRunner(language))
}
