//! A secret kept out of files that are shared or committed: a workflow's
//! webhook secret, a connection's client secret.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret kept out of the file that names it: `"env:NAME"` reads the
/// environment variable `NAME`, `"file:PATH"` reads a file (trailing
/// newline dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file.
    File(String),
}

/// A secret reference that is not `env:NAME` or `file:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSecretRef {
    /// The text has neither prefix: the secret was written inline.
    #[error("a secret is written `env:NAME` or `file:PATH`, never inline in the workflow")]
    Inline,
    /// The prefix names nothing.
    #[error("`{0}` names no variable or file")]
    Empty(String),
}

/// A secret that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable `{0}` is not set")]
    Unset(String),
    /// The file could not be read.
    #[error("cannot read `{path}`: {error}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The value is empty.
    #[error("the secret `{0}` is empty")]
    Empty(SecretRef),
}

impl TryFrom<String> for SecretRef {
    type Error = InvalidSecretRef;

    fn try_from(text: String) -> Result<Self, InvalidSecretRef> {
        let secret = if let Some(name) = text.strip_prefix("env:") {
            Self::Env(name.to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            Self::File(path.to_owned())
        } else {
            return Err(InvalidSecretRef::Inline);
        };
        match &secret {
            Self::Env(name) | Self::File(name) if name.is_empty() => {
                Err(InvalidSecretRef::Empty(text))
            }
            _ => Ok(secret),
        }
    }
}

impl SecretRef {
    /// The secret's value: the variable's, or the file's without its
    /// trailing newline. An unset variable, an unreadable file and an empty
    /// value are errors that say which.
    pub fn read(&self) -> Result<String, SecretError> {
        let value = match self {
            Self::Env(name) => std::env::var(name).map_err(|_| SecretError::Unset(name.clone()))?,
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|error| SecretError::Unreadable {
                    path: path.clone(),
                    error,
                })?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.clone()));
        }
        Ok(value)
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{path}"),
        }
    }
}

impl From<SecretRef> for String {
    fn from(secret: SecretRef) -> String {
        secret.to_string()
    }
}
