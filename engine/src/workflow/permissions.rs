//! What a step may call. Permissions are capabilities: a step may call only
//! the Salesforce objects and operations its workflow grants.
//!
//! ```json
//! "permissions": {
//!   "salesforce": { "read": ["Lead", "Account"], "write": ["Lead"], "delete": [], "request": false }
//! }
//! ```
//!
//! Object names compare case-insensitively, as Salesforce's API names do;
//! `"*"` grants every object.

use std::fmt;

use gust_salesforce::access::ReadGrants;
use serde::{Deserialize, Serialize};

/// Everything a step is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// `"salesforce": {...}`: Salesforce objects and operations.
    #[serde(default)]
    pub salesforce: SalesforcePermissions,
}

/// Salesforce objects by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesforcePermissions {
    /// `"read": ["Lead"]`: query, get and describe.
    #[serde(default)]
    pub read: Vec<SObjectName>,
    /// `"write": ["Lead"]`: create, update, upsert and bulk writes.
    #[serde(default)]
    pub write: Vec<SObjectName>,
    /// `"delete": ["Lead"]`: delete.
    #[serde(default)]
    pub delete: Vec<SObjectName>,
    /// `"request": true`: raw REST requests on the instance (the proxy action).
    #[serde(default)]
    pub request: bool,
}

/// An operation on Salesforce records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// query, get, describe.
    Read,
    /// create, update, upsert.
    Write,
    /// delete.
    Delete,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
        })
    }
}

impl SalesforcePermissions {
    /// Whether anything at all is granted: a step granted nothing cannot
    /// call Salesforce.
    pub fn grants_anything(&self) -> bool {
        !(self.read.is_empty() && self.write.is_empty() && self.delete.is_empty()) || self.request
    }

    /// Whether `access` to `sobject` is granted.
    pub fn allows(&self, access: Access, sobject: &str) -> bool {
        let granted = match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
            Access::Delete => &self.delete,
        };
        granted.iter().any(|name| name.matches(sobject))
    }
}

/// An sObject API name (`Lead`, `Invoice__c`, `ns__Thing__c`) or `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct SObjectName(String);

impl SObjectName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this grant covers `sobject`.
    pub fn matches(&self, sobject: &str) -> bool {
        self.0 == "*" || self.0.eq_ignore_ascii_case(sobject)
    }

    /// Whether `name` is a well-formed sObject API name.
    pub fn is_well_formed(name: &str) -> bool {
        name.len() <= 80
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.ends_with('_')
    }
}

impl TryFrom<String> for SObjectName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name == "*" || Self::is_well_formed(&name) {
            Ok(Self(name))
        } else {
            Err(format!(
                "`{name}` is not an sObject API name (such as `Lead` or `Invoice__c`) or `*`"
            ))
        }
    }
}

impl From<SObjectName> for String {
    fn from(name: SObjectName) -> String {
        name.0
    }
}

impl ReadGrants for SalesforcePermissions {
    fn may_read(&self, sobject: &str) -> bool {
        self.allows(Access::Read, sobject)
    }

    fn may_read_all(&self) -> bool {
        self.read.iter().any(|name| name.as_str() == "*")
    }
}
