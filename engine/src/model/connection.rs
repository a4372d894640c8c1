//! What a connection is: a customer's Salesforce org and user, reached
//! through one OAuth app, with its tokens sealed; the connect sessions that
//! make one; the OAuth apps created through the API; and the events told
//! to the embedding service.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of a connection: `con_` and 26 base32 characters, or `default`
/// for the connection `gust.toml` configures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// The connection `gust.toml`'s `[salesforce]` table configures.
    pub const DEFAULT: &'static str = "default";

    /// A new random id.
    pub fn random() -> Self {
        Self(format!("con_{}", random_text(16)))
    }

    /// The id `text` names, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = text == Self::DEFAULT
            || text.strip_prefix("con_").is_some_and(|rest| {
                !rest.is_empty()
                    && rest.len() <= 64
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        valid.then(|| Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `bytes` random bytes as lower-case base32 without padding.
pub(crate) fn random_text(bytes: usize) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random).expect("the system has a random source");
    let mut text = String::with_capacity(bytes * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in random {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            text.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        text.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    text
}

/// How a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Its tokens work.
    Active,
    /// Salesforce could not be reached or failed (network, 5xx); calls
    /// still try.
    Degraded,
    /// Salesforce refused its refresh token or its app (`invalid_grant`,
    /// `invalid_client`): its user must connect again.
    NeedsReauth,
    /// Its tokens were revoked.
    Revoked,
    /// Turned off by the operator.
    Disabled,
}

impl ConnectionStatus {
    /// Every status, in the order `/metrics` lists them.
    pub const ALL: [Self; 5] = [
        Self::Active,
        Self::Degraded,
        Self::NeedsReauth,
        Self::Revoked,
        Self::Disabled,
    ];

    /// The status as the API names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Degraded => "degraded",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
            Self::Disabled => "disabled",
        }
    }
}

/// Bytes sealed by the key ring (see `secrets`), kept as base64 in the
/// stored JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// The org's API usage, from the last `Sforce-Limit-Info` seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiUsage {
    /// Requests used in the last 24 hours.
    pub used: u64,
    /// Requests allowed in 24 hours.
    pub max: u64,
}

/// A connection as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Its id.
    pub id: ConnectionId,
    /// The embedding service's reference to its customer (opaque to Gust).
    pub tenant: String,
    /// The OAuth app it was made with.
    pub app: String,
    /// Where its user logged in, and where its tokens are refreshed
    /// (`https://login.salesforce.com`, `https://test.salesforce.com`, a My
    /// Domain).
    pub login_host: String,
    /// The org's instance, where API calls go.
    pub instance_url: String,
    /// The org's id (`00D...`), from the identity URL.
    pub org_id: String,
    /// The user's id (`005...`), from the identity URL.
    pub user_id: String,
    /// The user's username.
    pub username: String,
    /// The scopes Salesforce granted.
    pub scopes: Vec<String>,
    /// How it is doing.
    pub status: ConnectionStatus,
    /// What went wrong last, if anything has.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its user last connected it (made or reconnected).
    pub connected_at: DateTime<Utc>,
    /// When its access token was last refreshed.
    pub last_refresh: Option<DateTime<Utc>>,
    /// When a call last used it.
    pub last_used: Option<DateTime<Utc>>,
    /// The org's API usage, when Salesforce has reported it.
    pub api_usage: Option<ApiUsage>,
    /// Its access and refresh tokens, sealed and bound to its id.
    pub tokens: Sealed,
    /// Counts its writes: a write names the version it read, and is refused
    /// when another landed in between.
    pub version: u64,
}

impl ConnectionRecord {
    /// What makes it unique: one connection per tenant, org, user and app.
    pub fn identity(&self) -> ConnectionIdentity {
        ConnectionIdentity {
            tenant: self.tenant.clone(),
            org_id: self.org_id.clone(),
            user_id: self.user_id.clone(),
            app: self.app.clone(),
        }
    }
}

/// The (tenant, org, user, app) a connection is unique by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionIdentity {
    /// The tenant.
    pub tenant: String,
    /// The org's id.
    pub org_id: String,
    /// The user's id.
    pub user_id: String,
    /// The OAuth app.
    pub app: String,
}

/// A connect session: made by the embedding service for one customer,
/// opened once by that customer's browser, and spent by the callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectSession {
    /// Its id, the secret part of its URL.
    pub id: String,
    /// The tenant the connection will belong to.
    pub tenant: String,
    /// The OAuth app to connect with.
    pub app: String,
    /// Where the user logs in.
    pub login_host: String,
    /// Where the browser is sent at the end.
    pub redirect_after: String,
    /// The connection a reconnect is bound to.
    pub reconnect: Option<ConnectionId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Set when the browser opened it: the `state` sent to Salesforce and
    /// the PKCE verifier, sealed.
    pub opened: Option<OpenedSession>,
}

/// What opening a connect session sent to Salesforce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedSession {
    /// The `state`'s random part.
    pub nonce: String,
    /// The PKCE `code_verifier`, sealed and bound to the session.
    pub verifier: Sealed,
}

/// An OAuth app created through the API (those of `gust.toml` are not
/// stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOAuthApp {
    /// Its name, which connect sessions and connections use.
    pub name: String,
    /// The consumer key.
    pub client_id: String,
    /// The consumer secret, sealed and bound to the app's name.
    pub client_secret: Sealed,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The login host used when a connect session names none.
    pub login_host: String,
    /// The tenant it belongs to, for a tenant's own app.
    pub tenant: Option<String>,
}

/// Something that happened to a connection, told to the embedding service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionEventKind {
    /// A connection was made (or made again by a reconnect).
    #[serde(rename = "connection.created")]
    Created,
    /// Its access token was refreshed.
    #[serde(rename = "connection.refreshed")]
    Refreshed,
    /// Salesforce refused it: its user must connect again.
    #[serde(rename = "connection.needs_reauth")]
    NeedsReauth,
    /// It was deleted (and its tokens revoked).
    #[serde(rename = "connection.deleted")]
    Deleted,
}

/// A connection event waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEvent {
    /// Its id, unique, so that the receiver can drop a repeat.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: ConnectionEventKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its tenant.
    pub tenant: String,
    /// Its org.
    pub org_id: String,
    /// Its status after the event.
    pub status: ConnectionStatus,
    /// The error that caused it, for `needs_reauth`.
    pub error: Option<String>,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the next attempt is due.
    #[serde(default = "Utc::now")]
    pub due_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_parse_back_and_strangers_are_refused() {
        let (a, b) = (ConnectionId::random(), ConnectionId::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 4 + 26);
        assert_eq!(ConnectionId::parse(a.as_str()), Some(a));
        assert!(ConnectionId::parse("default").is_some());
        for bad in ["", "con_", "con_a/b", "x_abc", "con_../../etc"] {
            assert_eq!(ConnectionId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn sealed_bytes_are_base64_in_json() {
        let sealed = Sealed(vec![0, 1, 2, 255]);
        let json = serde_json::to_string(&sealed).unwrap();
        assert_eq!(json, "\"AAEC/w==\"");
        assert_eq!(serde_json::from_str::<Sealed>(&json).unwrap(), sealed);
    }
}
