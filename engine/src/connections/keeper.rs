//! One connection's token lifecycle: every token its client fetches is
//! written back (merged into what is stored, with a version check), and a
//! refusal is classified: `invalid_grant` or `invalid_client` make the
//! connection need its user again (calls then fail at once with
//! `GUST_NEEDS_REAUTH`); network failures and 5xx make it degraded, and
//! the next tries back off.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Shared;
use super::tokens::Tokens;
use crate::model::{ConnectionEventKind, ConnectionId, ConnectionRecord, ConnectionStatus, now};
use crate::salesforce::{SalesforceError, TokenGrant, TokenListener, backoff};

/// The token endpoint's errors that no retry will cure.
const REAUTH_ERRORS: [&str; 3] = ["invalid_grant", "invalid_client", "invalid_client_id"];

/// The code calls fail with while a connection needs its user again.
pub const NEEDS_REAUTH: &str = "GUST_NEEDS_REAUTH";

/// The code calls fail with while a degraded connection backs off.
pub const DEGRADED: &str = "GUST_CONNECTION_DEGRADED";

/// The code calls fail with while the operator has a connection disabled.
pub const DISABLED: &str = "GUST_CONNECTION_DISABLED";

/// What calls check before they go out.
#[derive(Debug)]
struct Live {
    status: ConnectionStatus,
    last_error: Option<String>,
    /// Transient refusals in a row.
    failures: u32,
    /// No token request before this, while degraded.
    backoff_until: Option<Instant>,
}

/// Keeps one connection's tokens and status.
#[derive(Debug)]
pub(crate) struct Keeper {
    shared: std::sync::Arc<Shared>,
    id: ConnectionId,
    /// When the user connected the record this client was made from: a
    /// reconnect since makes this client's tokens old news.
    connected_at: DateTime<Utc>,
    live: Mutex<Live>,
}

impl Keeper {
    pub(crate) fn new(shared: std::sync::Arc<Shared>, record: &ConnectionRecord) -> Self {
        Self {
            shared,
            id: record.id.clone(),
            connected_at: record.connected_at,
            live: Mutex::new(Live {
                status: record.status,
                last_error: record.last_error.clone(),
                failures: 0,
                backoff_until: None,
            }),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok` when a call may go out; the error to fail it with otherwise.
    pub(crate) fn admit(&self) -> Result<(), SalesforceError> {
        let live = self.live();
        match live.status {
            ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked => Err(needs_reauth(
                &self.id,
                live.status,
                live.last_error.as_deref(),
            )),
            ConnectionStatus::Disabled => Err(SalesforceError::new(
                403,
                DISABLED,
                format!(
                    "the connection {} is disabled: enable it with POST /api/connections/{}/enable",
                    self.id, self.id
                ),
            )),
            ConnectionStatus::Degraded
                if live
                    .backoff_until
                    .is_some_and(|until| Instant::now() < until) =>
            {
                Err(SalesforceError::new(
                    503,
                    DEGRADED,
                    format!(
                        "the connection {} cannot reach Salesforce ({}); trying again shortly",
                        self.id,
                        live.last_error.as_deref().unwrap_or("no answer")
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Sets the status calls are admitted by (the operator disabled or
    /// enabled the connection).
    pub(crate) fn set_status(&self, status: ConnectionStatus) {
        self.live().status = status;
    }

    /// Applies `change` to the stored record (see
    /// [`ConnectionStore::update_connection`](crate::store::ConnectionStore::update_connection)); the record before and after,
    /// or `None` when the connection is gone, was connected again since, or
    /// `change` declined.
    async fn update(
        &self,
        mut change: impl FnMut(&mut ConnectionRecord) -> bool + Send,
    ) -> Option<(ConnectionRecord, ConnectionRecord)> {
        let updated = self
            .shared
            .store
            .update_connection(&self.id, &mut |record| {
                record.connected_at == self.connected_at && change(record)
            })
            .await;
        updated.unwrap_or_else(|error| {
            tracing::error!(connection = %self.id, %error, "A connection could not be written.");
            None
        })
    }

    /// Notes a call: when, and the org's API usage.
    pub(crate) async fn used(&self, usage: Option<crate::salesforce::ApiUsageSnapshot>) {
        self.shared.note_use(&self.id, usage).await;
    }
}

#[async_trait]
impl TokenListener for Keeper {
    async fn fetched(&self, grant: &TokenGrant) -> Result<(), SalesforceError> {
        if let Err(refusal) = self.shared.hosts.check(&grant.instance_url) {
            tracing::error!(connection = %self.id, %refusal, "A refreshed token named an instance outside Salesforce's hosts; it is not used.");
            return Err(SalesforceError::new(
                0,
                "GUST_UNTRUSTED_INSTANCE",
                format!("the token endpoint named {refusal}"),
            ));
        }
        let keys = &self.shared.keys;
        let id = self.id.clone();
        let written = self.update(|record| {
            let mut tokens = match Tokens::of(keys, record) {
                Ok(tokens) => tokens,
                Err(error) => {
                    tracing::error!(%error, "A refreshed token is not stored.");
                    return false;
                }
            };
            tokens.access_token = grant.access_token.expose().to_owned();
            if let Some(rotated) = &grant.refresh_token {
                tokens.refresh_token = rotated.expose().to_owned();
            }
            tokens.expires_at = grant.expires_at.map(DateTime::<Utc>::from);
            record.tokens = tokens.seal(keys, &id);
            record.instance_url.clone_from(&grant.instance_url);
            // The operator's switch stays as it is.
            if record.status != ConnectionStatus::Disabled {
                record.status = ConnectionStatus::Active;
            }
            record.last_error = None;
            record.last_refresh = Some(now());
            true
        });
        {
            let mut live = self.live();
            live.status = ConnectionStatus::Active;
            live.last_error = None;
            live.failures = 0;
            live.backoff_until = None;
        }
        match written.await {
            Some((_, after)) => {
                self.shared
                    .tell(ConnectionEventKind::Refreshed, &after, None)
                    .await
            }
            None if grant.refresh_token.is_some() => tracing::error!(
                connection = %self.id,
                "A rotated refresh token could not be stored: this process keeps using it, but after a restart the connection will need its user again."
            ),
            None => {}
        }
        self.shared.metrics.refreshed();
        Ok(())
    }

    async fn refused(&self, error: &SalesforceError) {
        let reauth = REAUTH_ERRORS.contains(&error.error_code.as_str());
        let status = if reauth {
            ConnectionStatus::NeedsReauth
        } else {
            ConnectionStatus::Degraded
        };
        let message = format!("{}: {}", error.error_code, error.message);
        {
            let mut live = self.live();
            live.status = status;
            live.last_error = Some(message.clone());
            if !reauth {
                live.failures += 1;
                let delay = backoff(
                    Duration::from_secs(1),
                    Duration::from_secs(300),
                    live.failures,
                );
                live.backoff_until = Some(Instant::now() + delay);
            }
        }
        tracing::warn!(connection = %self.id, error = %message, status = status.as_str(), "Salesforce refused a connection's token request.");
        let written = self
            .update(|record| {
                record.status = status;
                record.last_error = Some(message.clone());
                true
            })
            .await;
        if reauth
            && let Some((before, after)) = written
            && before.status != ConnectionStatus::NeedsReauth
        {
            self.shared
                .tell(ConnectionEventKind::NeedsReauth, &after, Some(&message))
                .await;
        }
    }
}

/// The error of a call on a connection that needs its user again.
pub(crate) fn needs_reauth(
    id: &ConnectionId,
    status: ConnectionStatus,
    last_error: Option<&str>,
) -> SalesforceError {
    SalesforceError::new(
        401,
        NEEDS_REAUTH,
        format!(
            "the connection {id} is {} ({}): its user must connect again; create a reconnect session with POST /api/connect-sessions {{\"tenant\": ..., \"reconnect\": \"{id}\"}} and send them to its url",
            status.as_str(),
            last_error.unwrap_or("no error recorded")
        ),
    )
}
