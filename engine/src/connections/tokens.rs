//! A connection's tokens as they are sealed: JSON, encrypted under the key
//! ring and bound to the connection's id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::ConnectError;
use crate::model::{ConnectionId, ConnectionRecord, Sealed};
use crate::secrets::{KeyRing, SecretsError};

/// A connection's tokens in the clear, only ever in memory.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Tokens {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    /// When the access token stops working, when known.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Drop for Tokens {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.access_token);
        zeroize::Zeroize::zeroize(&mut self.refresh_token);
    }
}

impl Tokens {
    /// Sealed under the active key, bound to `owner`.
    pub(crate) fn seal(&self, keys: &KeyRing, owner: &ConnectionId) -> Sealed {
        let json = Zeroizing::new(serde_json::to_vec(self).expect("tokens serialize"));
        Sealed(keys.seal(owner.as_str(), &json))
    }

    /// The tokens of `record`.
    pub(crate) fn of(keys: &KeyRing, record: &ConnectionRecord) -> Result<Self, ConnectError> {
        Self::open(keys, &record.id, &record.tokens).map_err(|error| ConnectError::Secrets {
            what: format!("the tokens of connection {}", record.id),
            error,
        })
    }

    /// The tokens `sealed` holds for `owner`.
    pub(crate) fn open(
        keys: &KeyRing,
        owner: &ConnectionId,
        sealed: &Sealed,
    ) -> Result<Self, SecretsError> {
        let json = keys.open(owner.as_str(), &sealed.0)?;
        serde_json::from_slice(&json).map_err(|_| SecretsError::Malformed("not a token pair"))
    }
}
