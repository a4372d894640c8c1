//! Why an installation operation was refused.

use crate::store::StoreError;
use crate::workflow::ValidationErrors;

/// A refused installation operation: what went wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallationError {
    /// No workflow with this id is loaded.
    #[error("no workflow `{0}` is loaded")]
    UnknownWorkflow(String),
    /// The workflow declares neither `config` nor `connections`.
    #[error(
        "workflow `{0}` is not installable: it declares no `config` or `connections`, so it runs as it is, for everyone"
    )]
    NotInstallable(String),
    /// No installation has this id.
    #[error("there is no installation `{0}`")]
    UnknownInstallation(String),
    /// A request field is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The config does not fit the workflow's schema.
    #[error("the config does not fit workflow `{workflow}`'s schema:\n{errors}")]
    InvalidConfig {
        /// The workflow.
        workflow: String,
        /// Every problem, with its JSON path.
        errors: ValidationErrors,
    },
    /// A connection binding is missing, unknown or of another tenant.
    #[error("{0}")]
    Binding(String),
    /// Another write changed the installation first.
    #[error("installation `{0}` changed while this was written; read it and try again")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InstallationError {
    /// A short machine-readable code for the API's answers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownWorkflow(_) => "unknown_workflow",
            Self::NotInstallable(_) => "not_installable",
            Self::UnknownInstallation(_) => "unknown_installation",
            Self::Invalid(_) => "invalid_request",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::Binding(_) => "invalid_binding",
            Self::Conflict(_) => "conflict",
            Self::Store(_) => "store_unavailable",
        }
    }
}
