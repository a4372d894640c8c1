//! Which store a server keeps its data in: the embedded one in a directory
//! or a shared PostgreSQL database, named by one setting (`--store`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{DEFAULT_POOL_SIZE, PostgresStore, SledStore, Store, StoreError};

/// Where the store is.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded sled store in this directory.
    Embedded(PathBuf),
    /// A PostgreSQL database, by its URL.
    Postgres(String),
}

impl StoreLocation {
    /// `text` as a location: a `postgres://` (or `postgresql://`) URL, else
    /// a directory for the embedded store.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Self::Postgres(text.to_owned())
        } else {
            Self::Embedded(PathBuf::from(text))
        }
    }

    /// Opens the store: the embedded one with a page cache of
    /// `cache_bytes`; PostgreSQL with its schema brought up to date, this
    /// process a node whose runs are its own `lease` past its last
    /// heartbeat.
    pub async fn open(
        &self,
        cache_bytes: u64,
        lease: Duration,
    ) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Embedded(dir) => Arc::new(SledStore::open_with_cache(dir, cache_bytes)?),
            Self::Postgres(url) => {
                Arc::new(PostgresStore::open_with(url, DEFAULT_POOL_SIZE, lease).await?)
            }
        })
    }
}

/// Shown without a URL's password.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded(dir) => write!(f, "{}", dir.display()),
            Self::Postgres(url) => f.write_str(&super::postgres::redact(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_names_the_shared_store_and_anything_else_a_directory() {
        assert_eq!(
            StoreLocation::parse("postgresql://gust:pw@db/gust"),
            StoreLocation::Postgres("postgresql://gust:pw@db/gust".into())
        );
        assert_eq!(
            StoreLocation::parse("gust-data/store"),
            StoreLocation::Embedded("gust-data/store".into())
        );
        assert_eq!(
            StoreLocation::parse("postgres://gust:pw@db/gust").to_string(),
            "postgres://gust:***@db/gust"
        );
    }
}
