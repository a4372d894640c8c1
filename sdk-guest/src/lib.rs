//! # gust-sdk: write Gust workflow steps in Rust
//!
//! A step is a function from JSON to JSON, compiled to a WebAssembly component
//! for `wasm32-wasip2` and run by Gust in a sandbox. It reaches Salesforce,
//! logs and state only through this crate; it has no files, no environment
//! and no sockets.
//!
//! ```no_run
//! use gust_sdk::{info, json, salesforce, state, Error, Value};
//!
//! /// Scores a web lead and writes the score back to Salesforce.
//! fn run(input: Value) -> Result<Value, Error> {
//!     let lead_id = input["lead_id"]
//!         .as_str()
//!         .ok_or_else(|| Error::non_retryable("input has no `lead_id`"))?;
//!     let lead = salesforce::get("Lead", lead_id, &["Company", "Email"])?;
//!     let score = if lead["Email"].as_str().is_some_and(|e| !e.ends_with("@gmail.com")) {
//!         80
//!     } else {
//!         20
//!     };
//!     info!("Lead {lead_id} scored {score}.");
//!     salesforce::update("Lead", lead_id, &json!({ "Rating": score.to_string() }))?;
//!     let scored = state::get("scored")?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
//!     state::set("scored", &json!(scored))?;
//!     Ok(json!({ "lead_id": lead_id, "score": score }))
//! }
//!
//! gust_sdk::step!(run);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (with
//! `crate-type = ["cdylib"]` in `Cargo.toml`) and reference the `.wasm` file
//! from a workflow's `"uses"`.
//!
//! A step that decides the run should go no further (a filter) returns
//! [`Output::stop`] instead of a plain value; the run then ends successfully.
//! A failure is an [`Error`]: retryable by default, or
//! [`Error::non_retryable`] when running again cannot help.

mod error;
pub mod log;
mod output;
pub mod salesforce;
pub mod state;

#[doc(hidden)]
pub mod __private;

/// SOQL without injection: [`soql::bind`] writes named parameters as
/// literals, [`soql::quote`] one string (see `salesforce::query_with`).
pub use gust_soql as soql;

pub use error::Error;
pub use output::Output;
pub use salesforce::{ErrorKind, SalesforceError};
pub use serde_json::{Value, json};

/// The bindings generated from `wit/step.wit`. Step authors never need them.
#[doc(hidden)]
#[allow(missing_docs, unreachable_pub, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "step",
        pub_export_macro: true,
        export_macro_name: "__export_step_world",
        default_bindings_module: "gust_sdk::bindings",
    });
}

/// Exports a function as the step's entry point.
///
/// The function takes the step's input as a [`Value`] and returns
/// `Result<T, E>` where `T` is a [`Value`] or an [`Output`] and `E` converts
/// into an [`Error`].
///
/// ```no_run
/// fn run(input: gust_sdk::Value) -> Result<gust_sdk::Value, gust_sdk::Error> {
///     Ok(input)
/// }
/// gust_sdk::step!(run);
/// ```
#[macro_export]
macro_rules! step {
    ($run:path) => {
        #[doc(hidden)]
        struct __GustStep;

        impl $crate::bindings::Guest for __GustStep {
            fn run(
                input: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::bindings::gust::step::types::StepOutput,
                $crate::bindings::gust::step::types::StepError,
            > {
                $crate::__private::run(input, $run)
            }
        }

        $crate::bindings::__export_step_world!(__GustStep);
    };
}
