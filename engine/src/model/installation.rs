//! What an installation is: one workflow enabled for one tenant, pinned to
//! a version of the workflow, with that tenant's config, the connections
//! its slots are bound to, the digests of its webhook secrets and its
//! status.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::connection::{ConnectionId, random_text};

/// The id of an installation: `ins_` and 26 base32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstallationId(String);

impl InstallationId {
    /// A new random id.
    pub fn random() -> Self {
        Self(format!("ins_{}", random_text(16)))
    }

    /// The id `text` names, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text.strip_prefix("ins_").is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        valid.then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The installation's fixed place in a `window`: the same for the same
    /// id, spread evenly over ids, so that the installations of one
    /// schedule do not all fire at once.
    pub fn place_in(&self, window: Duration) -> Duration {
        let digest = Sha256::digest(self.0.as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        let fraction = u64::from_be_bytes(bytes) as f64 / u64::MAX as f64;
        window.mul_f64(fraction)
    }
}

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text is not an installation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an installation id (`ins_` and letters or digits)")]
pub struct InvalidInstallationId(pub String);

impl TryFrom<String> for InstallationId {
    type Error = InvalidInstallationId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or(InvalidInstallationId(text))
    }
}

impl From<InstallationId> for String {
    fn from(id: InstallationId) -> Self {
        id.0
    }
}

/// Whether an installation's triggers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    /// Its triggers run.
    Enabled,
    /// Paused by the operator: its schedules and polls stop and its
    /// webhooks answer 409 until it is resumed.
    Paused,
    /// It cannot run (its workflow is not loaded, or a bound connection
    /// is gone): shown, never stored, with the reason.
    Error,
}

impl InstallationStatus {
    /// The status as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Paused => "paused",
            Self::Error => "error",
        }
    }
}

/// A secret made for an installation (its webhook's bearer secret or the
/// token of its unguessable URL): shown once, stored as its SHA-256 digest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretDigest(String);

impl SecretDigest {
    /// A new random secret (256 bits, base32) and its digest.
    pub fn generate(prefix: &str) -> (String, Self) {
        let secret = format!("{prefix}{}", random_text(32));
        let digest = Self::of(&secret);
        (secret, digest)
    }

    /// The digest of `secret`.
    pub fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    /// Whether `presented` is the secret, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        Self::of(presented)
            .0
            .as_bytes()
            .ct_eq(self.0.as_bytes())
            .into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// An installation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallationRecord {
    /// Its id.
    pub id: InstallationId,
    /// The tenant it belongs to: the embedding service's reference to its
    /// customer.
    pub tenant: String,
    /// The workflow it installs.
    pub workflow: String,
    /// The version of the workflow it runs: the content hash of the
    /// workflow when it was installed or last upgraded.
    pub workflow_version: String,
    /// The tenant's settings, valid against the pinned version's `config`
    /// schema.
    pub config: Value,
    /// The connection bound to each of the workflow's connection slots.
    pub connections: BTreeMap<String, ConnectionId>,
    /// Whether its triggers run.
    pub status: InstallationStatus,
    /// The digest of its webhook's bearer secret.
    pub secret: SecretDigest,
    /// The digest of the token of its unguessable webhook URL, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_token: Option<SecretDigest>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Counts its writes, for the store's version check.
    #[serde(default)]
    pub version: u64,
}

impl InstallationRecord {
    /// The connection bound to `slot`, if one is.
    pub fn connection(&self, slot: &str) -> Option<&ConnectionId> {
        self.connections.get(slot)
    }
}

/// The scope an installation's step and trigger state is kept under:
/// `workflow#installation` (a `#` is in no workflow or step id, so no
/// scope of a workflow's own runs is one).
pub fn installation_scope(workflow: &str, installation: &InstallationId) -> String {
    format!("{workflow}#{installation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_made_and_read_back_and_other_text_is_refused() {
        let id = InstallationId::random();
        assert!(id.as_str().starts_with("ins_"));
        assert_eq!(InstallationId::parse(id.as_str()), Some(id));
        for bad in ["", "ins_", "con_abc", "ins_a/b", "ins_a b", "INS_abc"] {
            assert_eq!(InstallationId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn installations_take_fixed_places_spread_over_a_window() {
        let window = Duration::from_secs(60);
        let id = InstallationId::random();
        assert_eq!(id.place_in(window), id.place_in(window));
        let places: Vec<Duration> = (0..1000)
            .map(|_| InstallationId::random().place_in(window))
            .collect();
        assert!(places.iter().all(|place| *place <= window));
        // Each tenth of the window holds about a tenth of them.
        for tenth in 0..10 {
            let from = window / 10 * tenth;
            let count = places
                .iter()
                .filter(|place| **place >= from && **place < from + window / 10)
                .count();
            assert!((50..=150).contains(&count), "{count} in tenth {tenth}");
        }
        assert_eq!(id.place_in(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_secret_matches_its_digest_only() {
        let (secret, digest) = SecretDigest::generate("whsec_");
        assert!(secret.starts_with("whsec_"));
        assert!(digest.matches(&secret));
        assert!(!digest.matches("whsec_other"));
        assert!(!format!("{digest:?}").contains(&secret));
    }
}
