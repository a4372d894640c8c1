//! # gust-step-inputs: the inputs of Gust's prebuilt steps
//!
//! Each prebuilt step (`builtin:filter`, `builtin:field-mapper`,
//! `builtin:salesforce`, `builtin:soap-to-json`) reads its `with` as one of these types. The step
//! deserializes it in the sandbox; the engine deserializes the same types to
//! check a workflow before it runs (`gust validate`), and with the `schema`
//! feature describes them in the JSON Schema of workflow files. One
//! definition, so the check and the step cannot disagree.

pub mod field_mapper;
pub mod filter;
pub mod salesforce;
pub mod soap_to_json;
