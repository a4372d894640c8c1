//! The interpreters that run script steps, one component per language,
//! built from `runners/` by the engine's build script and embedded in Gust.
//! A script arrives as data with each call, so changing one needs no build.

use std::sync::LazyLock;

use super::cache::digest;
use super::error::{Error, Result};
use crate::workflow::Language;

include!(concat!(env!("OUT_DIR"), "/runners.rs"));

/// An embedded interpreter component and its digest, computed once rather
/// than on every load of a script (tens of megabytes hashed).
pub(crate) struct Embedded {
    pub(crate) wasm: &'static [u8],
    pub(crate) digest: String,
}

static JAVASCRIPT: LazyLock<Option<Embedded>> = LazyLock::new(|| embedded(JAVASCRIPT_RUNNER));
static PYTHON: LazyLock<Option<Embedded>> = LazyLock::new(|| embedded(PYTHON_RUNNER));

fn embedded(wasm: Option<&'static [u8]>) -> Option<Embedded> {
    wasm.map(|wasm| Embedded {
        wasm,
        digest: digest(wasm),
    })
}

/// The interpreter component of `language`.
pub(crate) fn component(language: Language) -> Result<&'static Embedded> {
    match language {
        Language::JavaScript => &*JAVASCRIPT,
        Language::Python => &*PYTHON,
    }
    .as_ref()
    .ok_or(Error::NoRunner(language))
}
