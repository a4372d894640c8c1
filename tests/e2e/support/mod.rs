//! What the end-to-end tests share: a server in process, `gust serve` as a
//! process, sf-emulator, the store they run on (sled, or PostgreSQL with
//! `GUST_TEST_STORE=postgres`), a store whose disk fills up, a headless
//! browser, and
//! [`eventually`], the one way a test waits for something.

mod backend;
mod browser;
mod connect;
mod emulator;
mod process;
mod server;
mod store;

use std::time::{Duration, Instant};

pub(crate) use backend::{config, open_store, postgres_url, store_bytes, store_env, stored_bytes};
pub(crate) use browser::Browser;
pub(crate) use connect::{
    DONE, configure_connect, connect, connected, follow, location_query, no_redirects, orgs,
    serve_connect, session,
};
pub(crate) use emulator::{
    Sf, connection, delivered, quick_outbound_emulator, run_locally, with_erp_id,
};
pub(crate) use process::{
    Process, accepted_events, all_runs_ended, counting_workflow, emulator_env, metrics,
    runs_with_status, send_all, settled_runs, succeeded_run, write_workflow,
};
pub(crate) use server::Server;
pub(crate) use store::FullDisk;

/// Calls `check` until it answers `Some`, and returns that; fails the test
/// with `what` (and the last answer's reason) once `deadline` has passed.
/// The pause between calls starts at 5 ms and doubles up to 200 ms.
pub(crate) async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < deadline,
            "{what}: not within {deadline:?}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
