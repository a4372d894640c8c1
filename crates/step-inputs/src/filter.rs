//! The input of `builtin:filter`.
//!
//! Like Pipedream's "end workflow" and n8n's Filter node. Input:
//!
//! ```json
//! {
//!   "match": "all",
//!   "conditions": [
//!     { "value": "${trigger.body.LeadSource}", "op": "equals", "to": "Web" },
//!     { "value": "${trigger.body.Email}", "op": "exists" }
//!   ],
//!   "pass": "${trigger.body}"
//! }
//! ```
//!
//! `match` is `all` (the default) or `any`; `pass` is what the step outputs
//! when the conditions hold.
//!
//! Operators: `equals`, `not_equals`, `greater_than`, `greater_or_equal`,
//! `less_than`, `less_or_equal` (numbers, or strings such as ISO dates),
//! `contains` and `not_contains` (substring or array element), `starts_with`,
//! `ends_with`, `in` and `not_in` (`to` is an array), `exists` and
//! `not_exists` (not null / null).

use serde::Deserialize;
use serde_json::Value;

/// The step's input.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Whether every condition or any one must hold.
    #[serde(default, rename = "match")]
    pub match_mode: MatchMode,
    /// The conditions, at least one.
    pub conditions: Vec<Condition>,
    /// The output when the conditions hold.
    #[serde(default)]
    pub pass: Option<Value>,
}

/// How conditions combine.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Every condition must hold.
    #[default]
    All,
    /// At least one condition must hold.
    Any,
}

/// One comparison.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The value under test, usually a `${...}` reference.
    #[serde(default)]
    pub value: Value,
    /// The comparison.
    pub op: Op,
    /// What `value` is compared with; unused by `exists` and `not_exists`.
    #[serde(default)]
    pub to: Value,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Op {
    Equals,
    NotEquals,
    GreaterThan,
    GreaterOrEqual,
    LessThan,
    LessOrEqual,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    In,
    NotIn,
    Exists,
    NotExists,
}

impl Op {
    /// Whether the operator compares `value` with `to` (all but `exists`
    /// and `not_exists`).
    pub fn uses_to(self) -> bool {
        !matches!(self, Self::Exists | Self::NotExists)
    }

    /// Whether `to` must be an array (`in`, `not_in`).
    pub fn needs_array(self) -> bool {
        matches!(self, Self::In | Self::NotIn)
    }
}
