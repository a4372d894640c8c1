//! The workflow parser and validator, on any text: it answers a workflow
//! or errors, each with a JSON path, and never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match gust_engine::workflow::parse(text) {
        Ok(workflow) => {
            // A workflow that parsed serializes and parses again.
            let again = serde_json::to_string(&workflow).expect("a workflow serializes");
            assert!(gust_engine::workflow::parse(&again).is_ok(), "{again}");
        }
        Err(errors) => assert!(!errors.0.is_empty()),
    }
});
