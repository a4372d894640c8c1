//! Connection events for the embedding service: queued in the store when
//! they happen, posted to its webhook signed with HMAC-SHA256, and retried
//! with backoff until it answers 2xx.
//!
//! Each post carries `Gust-Event-Id` and `Gust-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the configured
//! secret; the receiver recomputes it and refuses old timestamps.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hmac::Mac;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::model::ConnectionEvent;
use crate::salesforce::backoff;

/// The most delivery attempts of one event; then it is dropped, logged.
pub const MAX_ATTEMPTS: u32 = 20;

/// How long a delivery waits for the receiver.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the queue is looked at when nothing wakes it.
const TICK: Duration = Duration::from_secs(5);

/// The signature header of `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Delivers queued events until `stop`, woken by `wake` when one is queued.
pub(crate) async fn deliver(shared: Arc<Shared>, wake: Arc<Notify>, stop: CancellationToken) {
    let Some(url) = shared.settings.events_url.clone() else {
        return;
    };
    loop {
        let next = deliver_due(&shared, &url).await;
        let pause = next.unwrap_or(TICK).min(TICK);
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Posts every event due; how long until the next one is due.
async fn deliver_due(shared: &Shared, url: &str) -> Option<Duration> {
    let events = match shared.store.connection_events().await {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "Connection events could not be read.");
            return None;
        }
    };
    let mut next: Option<Duration> = None;
    for mut event in events {
        let now = Utc::now();
        if event.due_at > now {
            let wait = (event.due_at - now).to_std().unwrap_or_default();
            next = Some(next.map_or(wait, |next| next.min(wait)));
            continue;
        }
        match post(shared, url, &event).await {
            Ok(()) => {
                if let Err(error) = shared.store.delete_connection_event(&event.id).await {
                    tracing::error!(%error, "A delivered connection event could not be dropped.");
                }
            }
            Err(error) => {
                event.attempts += 1;
                if event.attempts >= MAX_ATTEMPTS {
                    tracing::error!(event = %event.id, %error, "A connection event was dropped after {MAX_ATTEMPTS} attempts.");
                    shared.store.delete_connection_event(&event.id).await.ok();
                    continue;
                }
                let delay = backoff(
                    Duration::from_secs(1),
                    Duration::from_secs(3600),
                    event.attempts,
                );
                tracing::warn!(event = %event.id, %error, ?delay, "A connection event was not delivered; trying again later.");
                event.due_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                if let Err(error) = shared.store.put_connection_event(&event).await {
                    tracing::error!(%error, "A connection event could not be rescheduled.");
                }
                next = Some(next.map_or(delay, |next| next.min(delay)));
            }
        }
    }
    next
}

/// Posts `event` once.
async fn post(shared: &Shared, url: &str, event: &ConnectionEvent) -> Result<(), String> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: crate::model::ConnectionEventKind,
        created_at: chrono::DateTime<Utc>,
        data: Data<'a>,
    }
    #[derive(serde::Serialize)]
    struct Data<'a> {
        connection_id: &'a str,
        tenant: &'a str,
        org_id: &'a str,
        status: &'a str,
        error: Option<&'a str>,
    }
    let body = serde_json::to_vec(&Body {
        id: &event.id,
        kind: event.kind,
        created_at: event.at,
        data: Data {
            connection_id: event.connection_id.as_str(),
            tenant: &event.tenant,
            org_id: &event.org_id,
            status: event.status.as_str(),
            error: event.error.as_deref(),
        },
    })
    .map_err(|error| error.to_string())?;
    let mut request = shared
        .http
        .post(url)
        .timeout(DELIVERY_TIMEOUT)
        .header("content-type", "application/json")
        .header("gust-event-id", &event.id);
    if let Some(secret) = &shared.settings.events_secret {
        let header = signature(secret.expose().as_bytes(), Utc::now().timestamp(), &body);
        request = request.header("gust-signature", header);
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_body() {
        // Computed apart: HMAC-SHA256("whsec", "1700000000.{}") in hex.
        assert_eq!(
            signature(b"whsec", 1_700_000_000, b"{}"),
            "t=1700000000,v1=7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
    }
}
