//! The installations the runtime runs for, kept in memory (the store holds
//! them; the engine writes every change through here too), and what the
//! run of one runs with: its config, its connection and its state scope.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::model::{InstallationId, InstallationRecord, installation_scope};
use crate::salesforce::SalesforceService;
use crate::workflow::SALESFORCE_SLOT;
use crate::workflow::reference::Installed;

/// Where the runs of installations reach Salesforce: the engine's
/// connections, seen by the runtime only through this trait.
#[async_trait::async_trait]
pub(crate) trait ConnectionSource: Send + Sync {
    /// The client of connection `id`, or why there is none.
    async fn salesforce(&self, id: &str) -> Result<Arc<dyn SalesforceService>, String>;
}

/// An installation as the runtime holds it.
#[derive(Debug)]
pub(crate) struct Installation {
    /// Its record.
    pub(crate) record: InstallationRecord,
    /// What its runs resolve `${config...}`, `${installation...}` and
    /// `${tenant}` against.
    pub(crate) installed: Installed,
}

impl Installation {
    fn new(record: InstallationRecord) -> Self {
        let installed = Installed::new(record.id.as_str(), &record.tenant, record.config.clone());
        Self { record, installed }
    }
}

/// What the run of an installation runs with.
#[derive(Clone)]
pub(crate) struct Tenancy {
    /// The installation.
    pub(crate) installation: Arc<Installation>,
    /// The connection bound to its `salesforce` slot, if it has one.
    pub(crate) salesforce: Option<Arc<dyn SalesforceService>>,
    /// The scope its steps' state is kept under.
    pub(crate) state_scope: String,
}

impl Tenancy {
    /// What a run of `installation` runs with: its `salesforce` slot's
    /// connection from `connections`.
    pub(crate) async fn of(
        installation: Arc<Installation>,
        connections: &dyn ConnectionSource,
    ) -> Result<Self, String> {
        let record = &installation.record;
        let salesforce = match record.connection(SALESFORCE_SLOT) {
            Some(id) => Some(connections.salesforce(id.as_str()).await.map_err(|error| {
                format!(
                    "installation {} cannot reach its connection {id}: {error}",
                    record.id
                )
            })?),
            None => None,
        };
        let state_scope = installation_scope(&record.workflow, &record.id);
        Ok(Self {
            installation,
            salesforce,
            state_scope,
        })
    }
}

/// Every installation, by id.
#[derive(Default)]
pub(crate) struct Installations {
    by_id: RwLock<HashMap<InstallationId, Arc<Installation>>>,
}

impl Installations {
    /// Holds `records` in place of what it held.
    pub(crate) fn load(&self, records: Vec<InstallationRecord>) {
        let map = records
            .into_iter()
            .map(|record| (record.id.clone(), Arc::new(Installation::new(record))))
            .collect();
        *self.by_id.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Holds `record`, new or changed.
    pub(crate) fn put(&self, record: InstallationRecord) -> Arc<Installation> {
        let installation = Arc::new(Installation::new(record));
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(installation.record.id.clone(), installation.clone());
        installation
    }

    /// Forgets installation `id`.
    pub(crate) fn remove(&self, id: &InstallationId) {
        self.by_id
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Every installation.
    pub(crate) fn all(&self) -> Vec<Arc<Installation>> {
        self.by_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Installation `id`.
    pub(crate) fn get(&self, id: &InstallationId) -> Option<Arc<Installation>> {
        self.by_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}
