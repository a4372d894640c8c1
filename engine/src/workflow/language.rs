//! The languages a step's script may be written in.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A script language: `"language": "javascript"` or `"python"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// JavaScript (ES2023), run by QuickJS.
    JavaScript,
    /// Python 3, run by CPython.
    Python,
}

impl Language {
    /// The language of a script file, by its extension (`.js`, `.mjs`, `.py`).
    pub fn of_file(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "js" | "mjs" => Some(Self::JavaScript),
            "py" => Some(Self::Python),
            _ => None,
        }
    }

    /// The extension of its files, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::JavaScript => "js",
            Self::Python => "py",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::JavaScript => "JavaScript",
            Self::Python => "Python",
        })
    }
}
