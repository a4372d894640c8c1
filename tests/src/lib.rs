//! Support for Gust's end-to-end tests: the paths of the guest components
//! built by `build.rs`, and helpers for the sandbox. The `gust` command
//! line runs as this package's `gust-e2e` binary.

pub mod bench;

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use gust_engine::salesforce::{Connection, NoConnection, SalesforceActions};
use gust_engine::store::{MemoryStateStore, StateStore, StepState};
use gust_engine::wasm::{InvocationContext, Sandbox, SandboxConfig};
use gust_engine::workflow::Permissions;

/// Paths of the guest components, built from `tests/guests/*` and
/// `examples/steps/*`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The component cache the tests share across test binaries and runs
/// (under `target/`): the interpreters of script steps, tens of megabytes,
/// are compiled once for the whole suite rather than once per test.
pub fn component_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-component-cache")
}

/// The sandbox tests share (a small pool, fuel metering, the shared disk
/// cache), so each component is compiled once.
pub fn sandbox() -> Arc<Sandbox> {
    static SANDBOX: LazyLock<Arc<Sandbox>> = LazyLock::new(|| {
        Arc::new(
            Sandbox::new(SandboxConfig {
                cache_dir: Some(component_cache()),
                max_instances: 16,
                fuel_metering: true,
            })
            .expect("the sandbox starts"),
        )
    });
    SANDBOX.clone()
}

/// An invocation context for step `step` with these grants and connection.
pub fn context(
    step: &str,
    permissions: Permissions,
    salesforce: Arc<dyn SalesforceActions>,
    state: Arc<dyn StateStore>,
) -> InvocationContext {
    InvocationContext {
        step_id: step.to_owned(),
        permissions: Arc::new(permissions),
        schema: salesforce.clone(),
        salesforce,
        state: StepState::new(state, "test-workflow", step),
    }
}

/// A context with no grants, no connection and fresh state.
pub fn bare_context(step: &str) -> InvocationContext {
    context(
        step,
        Permissions::default(),
        Arc::new(NoConnection),
        Arc::new(MemoryStateStore::default()),
    )
}

/// The component bytes at `path`.
pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// A client-credentials connection to the sf-emulator at `url`, with its
/// default connected app, on API v60.0.
pub fn emulator_connection(url: &str) -> Connection {
    let mut connection = Connection::client_credentials(
        url,
        sf_emulator::DEFAULT_CLIENT_ID,
        sf_emulator::DEFAULT_CLIENT_SECRET,
    );
    connection.api_version = "60.0".to_owned();
    connection
}
