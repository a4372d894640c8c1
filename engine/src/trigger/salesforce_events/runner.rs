//! A Salesforce events trigger's task: subscribes, stores each response's
//! events with the latest replay id in one durable write, asks for as
//! many more, and subscribes again after the stored replay id whenever the
//! stream ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gust_pubsub::EventSchema;
use gust_pubsub::client::{self, Credentials, Endpoint, error_code};
use gust_pubsub::proto::pub_sub_client::PubSubClient;
use gust_pubsub::proto::{FetchRequest, FetchResponse, ReplayPreset, SchemaRequest};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::config::{EventStart, OnLostPosition, SalesforceEventsTrigger};
use super::decode::run_event;
use crate::model::now;
use crate::runtime::SubmitError;
use crate::salesforce::SalesforceError;
use crate::store::StoreError;
use crate::trigger::background::{BackgroundTrigger, pause};
use crate::trigger::context::TriggerContext;

/// Salesforce's error code for a replay id it does not keep.
const LOST_POSITION: &str = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";

/// How long a subscription waits for any response (Salesforce sends a
/// keepalive within 270 seconds) before it takes the stream for dead.
const SILENCE: Duration = Duration::from_secs(300);

/// The longest wait between tries after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The largest response taken: a full batch of the largest events.
const MAX_RESPONSE_BYTES: usize = 110 * 1024 * 1024;

/// What the trigger keeps: where it is in its topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// The topic it is a position in.
    of: String,
    /// The replay id to resume after, in hexadecimal.
    replay_id: String,
}

/// Why a subscription ended.
#[derive(Debug, thiserror::Error)]
enum Ended {
    /// The trigger was stopped.
    #[error("stopped")]
    Stopped,
    /// Another server runs it.
    #[error("standby: another server runs this subscription; this one takes over if it stops")]
    Standby,
    /// The Pub/Sub API refused the token.
    #[error("the Pub/Sub API refused the session: {0}")]
    Unauthenticated(String),
    /// The Pub/Sub API refused the stored replay id.
    #[error("the Pub/Sub API refused the stored replay id {replay_id}: {message}")]
    LostPosition {
        /// The replay id refused.
        replay_id: String,
        /// What it said.
        message: String,
    },
    /// The stream ended or failed; subscribe again.
    #[error("{0}")]
    Stream(String),
    /// The connection's session could not be had.
    #[error("Salesforce: {0}")]
    Salesforce(#[from] SalesforceError),
    /// Events could not be stored.
    #[error("{0}")]
    Store(#[from] SubmitError),
}

impl From<StoreError> for Ended {
    fn from(error: StoreError) -> Self {
        Self::Store(SubmitError::Store(error))
    }
}

impl From<Status> for Ended {
    fn from(status: Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::Unauthenticated => Self::Unauthenticated(message),
            code => Self::Stream(format!("{code:?}: {message}")),
        }
    }
}

impl BackgroundTrigger for SalesforceEventsTrigger {
    const KIND: &'static str = super::KIND;

    async fn run(self, context: TriggerContext, stop: CancellationToken) {
        let mut subscriber = Subscriber {
            endpoint: context.pubsub_endpoint(),
            trigger: self,
            context,
            stop,
            schemas: HashMap::new(),
            preset: None,
        };
        let mut failures: u32 = 0;
        let mut renew = false;
        loop {
            let workflow = subscriber.context.workflow().to_owned();
            let ended = match subscriber.context.hold().await {
                Ok(true) => subscriber.subscribe(renew).await,
                Ok(false) => Err(Ended::Standby),
                Err(error) => Err(error.into()),
            };
            renew = false;
            let error = match ended {
                Ok(()) => {
                    failures = 0;
                    continue;
                }
                Err(Ended::Stopped) => return,
                Err(Ended::LostPosition { replay_id, message }) => {
                    let policy = subscriber.trigger.on_lost_position;
                    let warning = format!(
                        "Salesforce refused the stored position (replay id {replay_id}: {message}); \
                         it keeps events 72 hours, so events since may be lost. on_lost_position \
                         is {}: {}",
                        policy.as_str(),
                        match policy {
                            OnLostPosition::Earliest => "started again at the oldest event kept",
                            OnLostPosition::Latest => "started again after the newest event",
                            OnLostPosition::Stop => {
                                "stopped; change the workflow or restart the server to subscribe again"
                            }
                        }
                    );
                    tracing::warn!(workflow, "{warning}");
                    subscriber.context.report(|status| {
                        status.warning = Some(warning.clone());
                    });
                    subscriber.preset = match policy {
                        OnLostPosition::Earliest => Some(ReplayPreset::Earliest),
                        OnLostPosition::Latest => Some(ReplayPreset::Latest),
                        OnLostPosition::Stop => {
                            subscriber.context.report(|status| {
                                status.last_error = Some(warning);
                            });
                            subscriber.stop.cancelled().await;
                            return;
                        }
                    };
                    continue;
                }
                Err(Ended::Unauthenticated(message)) if failures == 0 => {
                    // A token that expired: renew it and subscribe again at once.
                    tracing::info!(
                        workflow,
                        message,
                        "Renewing the session for the Pub/Sub API."
                    );
                    renew = true;
                    failures += 1;
                    continue;
                }
                Err(error) => error,
            };
            failures = failures.saturating_add(1);
            renew = matches!(error, Ended::Unauthenticated(_));
            let wait = Duration::from_secs(1 << failures.min(6)).min(MAX_BACKOFF);
            if !matches!(error, Ended::Standby) {
                tracing::warn!(workflow, %error, ?wait, "The subscription ended; subscribing again after the stored position.");
            }
            subscriber
                .context
                .report(|status| status.last_error = Some(error.to_string()));
            if !pause(&subscriber.stop, wait).await {
                return;
            }
        }
    }
}

struct Subscriber {
    endpoint: Endpoint,
    trigger: SalesforceEventsTrigger,
    context: TriggerContext,
    stop: CancellationToken,
    /// The schemas read, by id.
    schemas: HashMap<String, Arc<EventSchema>>,
    /// Where to start instead of the stored position, after it was lost.
    preset: Option<ReplayPreset>,
}

impl Subscriber {
    /// One subscription, from the stored position, until its stream ends.
    async fn subscribe(&mut self, renew: bool) -> Result<(), Ended> {
        let topic = self.trigger.topic.clone();
        let stored = self
            .context
            .state::<Position>(super::KIND)
            .await?
            .filter(|position| position.of == topic);
        let session = self
            .salesforce(self.context.salesforce().session(renew))
            .await??;
        let credentials = Credentials {
            access_token: session.access_token.expose().to_owned(),
            instance_url: session.instance_url,
            tenant_id: session.organization_id,
        };
        let channel = tokio::select! {
            () = self.stop.cancelled() => return Err(Ended::Stopped),
            channel = client::connect(&self.endpoint) => {
                channel.map_err(|error| Ended::Stream(error.to_string()))?
            }
        };
        let mut client = PubSubClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES);
        let first = match (self.preset.take(), &stored) {
            (Some(preset), _) => fetch(&topic, preset, Vec::new(), self.trigger.batch),
            (None, Some(position)) => {
                let replay_id = hex::decode(&position.replay_id).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "the stored replay id `{}` is not hexadecimal",
                        position.replay_id
                    ))
                })?;
                fetch(&topic, ReplayPreset::Custom, replay_id, self.trigger.batch)
            }
            (None, None) => {
                let preset = match self.trigger.start {
                    EventStart::Latest => ReplayPreset::Latest,
                    EventStart::Earliest => ReplayPreset::Earliest,
                };
                fetch(&topic, preset, Vec::new(), self.trigger.batch)
            }
        };
        // The stored replay id the subscription starts after, if it does.
        let started_after = (first.replay_preset == i32::from(ReplayPreset::Custom))
            .then(|| stored.as_ref().map(|position| position.replay_id.clone()))
            .flatten();
        let (more, requests) = mpsc::channel(16);
        more.send(first).await.ok();
        let request = credentials.request(ReceiverStream::new(requests))?;
        let mut stream = tokio::select! {
            () = self.stop.cancelled() => return Err(Ended::Stopped),
            answer = client.subscribe(request) => answer.map_err(|status| ended(status, started_after.as_deref()))?,
        }
        .into_inner();
        self.context.report(|status| status.last_error = None);
        let mut position = stored.map(|position| position.replay_id);
        loop {
            let response = tokio::select! {
                () = self.stop.cancelled() => return Err(Ended::Stopped),
                response = tokio::time::timeout(SILENCE, stream.message()) => response,
            };
            let response = match response {
                Err(_) => {
                    return Err(Ended::Stream(format!(
                        "no response from the Pub/Sub API in {}s",
                        SILENCE.as_secs()
                    )));
                }
                Ok(Ok(Some(response))) => response,
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(status)) => return Err(ended(status, started_after.as_deref())),
            };
            let received = response.events.len();
            position = self
                .store(&mut client, &credentials, response, position)
                .await?;
            if received > 0 {
                let again = FetchRequest {
                    num_requested: i32::try_from(received).unwrap_or(i32::MAX),
                    ..FetchRequest::default()
                };
                if more.send(again).await.is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// Stores the events of `response` with its latest replay id in one
    /// durable write (a keepalive only when the replay id moved); the new
    /// position.
    async fn store(
        &mut self,
        client: &mut PubSubClient<Channel>,
        credentials: &Credentials,
        response: FetchResponse,
        position: Option<String>,
    ) -> Result<Option<String>, Ended> {
        let latest = match (&response.latest_replay_id, response.events.last()) {
            (latest, _) if !latest.is_empty() => Some(hex::encode(latest)),
            (_, Some(last)) => Some(hex::encode(&last.replay_id)),
            _ => None,
        };
        if response.events.is_empty() && (latest.is_none() || latest == position) {
            return Ok(position);
        }
        let mut events = Vec::with_capacity(response.events.len());
        for consumed in response.events {
            let schema_id = consumed
                .event
                .as_ref()
                .map(|event| event.schema_id.clone())
                .unwrap_or_default();
            let schema = self.schema(client, credentials, &schema_id).await?;
            let event = run_event(
                &self.trigger.topic,
                consumed,
                schema.as_deref().map_err(Clone::clone),
            );
            if event.0["kind"] == "gap" || event.0["kind"] == "overflow" {
                tracing::warn!(workflow = self.context.workflow(), event = %event.0["payload"]["ChangeEventHeader"], "Salesforce sent a gap event: the record's values must be read again.");
            }
            events.push(event);
        }
        let stored = !events.is_empty();
        let state = latest.clone().map(|replay_id| Position {
            of: self.trigger.topic.clone(),
            replay_id,
        });
        let write = self.context.state_write(super::KIND, state.as_ref())?;
        self.context.submit(events, vec![write]).await?;
        let cursor = latest.clone();
        self.context.report(|status| {
            // A wait for room in the backlog is over.
            status.last_error = None;
            if stored {
                status.last_fired_at = Some(now());
            }
            status.cursor = cursor.map(|replay_id| serde_json::json!({ "replay_id": replay_id }));
        });
        Ok(latest)
    }

    /// The schema of id `id`, read once; why it cannot be had when the
    /// Pub/Sub API does not know it (the event is then kept undecoded).
    async fn schema(
        &mut self,
        client: &mut PubSubClient<Channel>,
        credentials: &Credentials,
        id: &str,
    ) -> Result<Result<Arc<EventSchema>, String>, Ended> {
        if let Some(schema) = self.schemas.get(id) {
            return Ok(Ok(schema.clone()));
        }
        let request = credentials.request(SchemaRequest {
            schema_id: id.to_owned(),
        })?;
        let info = match client.get_schema(request).await {
            Ok(info) => info.into_inner(),
            Err(status) if status.code() == Code::NotFound => {
                return Ok(Err(format!(
                    "the schema {id} is unknown: {}",
                    status.message()
                )));
            }
            Err(status) => return Err(status.into()),
        };
        match EventSchema::parse(&info.schema_json) {
            Ok(schema) => {
                let schema = Arc::new(schema);
                self.schemas.insert(id.to_owned(), schema.clone());
                Ok(Ok(schema))
            }
            Err(error) => Ok(Err(error.to_string())),
        }
    }

    /// The answer of `call`, unless the trigger stops first.
    async fn salesforce<T>(&self, call: impl Future<Output = T>) -> Result<T, Ended> {
        tokio::select! {
            () = self.stop.cancelled() => Err(Ended::Stopped),
            answer = call => Ok(answer),
        }
    }
}

/// The first request of a subscription.
fn fetch(topic: &str, preset: ReplayPreset, replay_id: Vec<u8>, batch: u16) -> FetchRequest {
    FetchRequest {
        topic_name: topic.to_owned(),
        replay_preset: preset.into(),
        replay_id,
        num_requested: i32::from(batch),
        ..FetchRequest::default()
    }
}

/// `status` as why a subscription that started after the stored replay id
/// `started_after` (if it did) ended: that id lost when Salesforce refused
/// it.
fn ended(status: Status, started_after: Option<&str>) -> Ended {
    match started_after {
        Some(replay_id) if error_code(&status) == Some(LOST_POSITION) => Ended::LostPosition {
            replay_id: replay_id.to_owned(),
            message: status.message().to_owned(),
        },
        _ => status.into(),
    }
}
