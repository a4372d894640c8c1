//! The input of `builtin:soap-to-json`: an Outbound Message's SOAP to read
//! into the events the `outbound_message` trigger makes.
//!
//! ```json
//! { "xml": "${trigger.body}", "sobject": "Opportunity",
//!   "field_types": { "Amount": "currency", "NumberOfEmployees": "int" } }
//! ```

use std::collections::HashMap;

use serde::Deserialize;

/// The step's input.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SoapToJson {
    /// The SOAP message.
    pub xml: String,
    /// The sObject type of notifications that name none.
    #[serde(default)]
    pub sobject: Option<String>,
    /// Describe type names (`boolean`, `int`, `double`, `currency`,
    /// `percent`, `date`, `datetime`; anything else is text) by field name.
    #[serde(default)]
    pub field_types: HashMap<String, String>,
}
