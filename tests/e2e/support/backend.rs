//! Which store the end-to-end tests run on: the embedded one, or with
//! `GUST_TEST_STORE=postgres` PostgreSQL, a database of the tests' own
//! server (`gust-test-postgres`) per data directory, so that a server
//! started again on a directory finds what the last one stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gust_engine::Config;
use gust_engine::store::{SledStore, Store, StoreError, StoreLocation};

/// The variable that picks the backend.
const BACKEND_VARIABLE: &str = "GUST_TEST_STORE";

/// Whether the tests run on PostgreSQL.
fn on_postgres() -> bool {
    match std::env::var(BACKEND_VARIABLE).as_deref() {
        Ok("postgres") => true,
        Ok("sled") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VARIABLE}={other}: say `sled` or `postgres`"),
    }
}

/// The PostgreSQL URL of data directory `data`'s store, when the tests run
/// on PostgreSQL: a new database the first time, the same one after.
pub(crate) fn postgres_url(data: &Path) -> Option<String> {
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    if !on_postgres() {
        return None;
    }
    let mut databases = DATABASES.lock().unwrap();
    let url = databases
        .get_or_insert_default()
        .entry(data.to_owned())
        .or_insert_with(gust_test_postgres::database);
    Some(url.clone())
}

/// The defaults of an engine keeping its data in `data`, on the tests'
/// backend.
pub(crate) fn config(data: impl Into<PathBuf>) -> Config {
    let mut config = Config::new(data);
    config.store = postgres_url(&config.data_dir).map(StoreLocation::Postgres);
    config
}

/// The environment variable that points `gust` at data directory
/// `data`'s store, when it is not the embedded one.
pub(crate) fn store_env(data: &Path) -> Option<(&'static str, String)> {
    postgres_url(data).map(|url| ("GUST_STORE", url))
}

/// Every byte of data directory `data`'s store: its files, or on
/// PostgreSQL its database's rows.
pub(crate) fn store_bytes(data: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    match postgres_url(data) {
        Some(url) => bytes.extend(gust_test_postgres::dump(&url)),
        None => files_bytes(&data.join("store"), &mut bytes),
    }
    bytes
}

/// Every byte kept for data directory `data`: its files and, on
/// PostgreSQL, its database's rows.
pub(crate) fn stored_bytes(data: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    files_bytes(data, &mut bytes);
    if let Some(url) = postgres_url(data) {
        bytes.extend(gust_test_postgres::dump(&url));
    }
    bytes
}

/// Every file's bytes under `dir`, added to `bytes`.
fn files_bytes(dir: &Path, bytes: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_bytes(&path, bytes);
        } else {
            bytes.extend(std::fs::read(&path).unwrap_or_default());
        }
    }
}

/// The store of data directory `data` (no server using it, if it is the
/// embedded one), on the tests' backend.
pub(crate) async fn open_store(data: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match postgres_url(data) {
        Some(url) => {
            StoreLocation::Postgres(url)
                .open(0, gust_engine::store::DEFAULT_LEASE)
                .await
        }
        None => Ok(Arc::new(SledStore::open(&data.join("store"))?)),
    }
}
