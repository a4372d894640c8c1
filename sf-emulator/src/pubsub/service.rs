//! `eventbus.v1.PubSub` as Salesforce answers it: the auth metadata
//! checked on every call, GetTopic and GetSchema, Subscribe with pull flow
//! control (at most 100 events owed at once, empty keepalive responses
//! carrying the latest replay id, the stream closed when nothing is owed
//! for too long), Publish and PublishStream of platform events, and
//! Salesforce's statuses, messages and `error-code` trailers.

use std::pin::Pin;
use std::sync::Arc;

use gust_pubsub::proto::pub_sub_server::PubSub;
use gust_pubsub::proto::{
    ConsumerEvent, Error as EventError, ErrorCode, FetchRequest, FetchResponse,
    ManagedFetchRequest, ManagedFetchResponse, ProducerEvent, PublishRequest, PublishResponse,
    PublishResult, ReplayPreset, SchemaInfo, SchemaRequest, TopicInfo, TopicRequest,
};
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status, Streaming};

use super::bus::{BusEvent, replay_bytes, replay_number};
use super::topic::Topic;
use super::{Stream as OpenStream, random_uuid};
use crate::ids::RecordId;
use crate::server::{Emulator, Shared};

/// The most events a subscription may be owed at once.
pub const MAX_REQUESTED: i32 = 100;

/// The largest event Salesforce publishes.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The error-code trailers' common prefix.
const CODE_PREFIX: &str = "sfdc.platform.eventbus.grpc.";

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The Pub/Sub service of some emulated orgs, told apart by the
/// `tenantid` header.
#[derive(Clone)]
pub struct Service {
    orgs: Arc<Vec<Emulator>>,
}

impl Service {
    /// The service of `orgs`.
    pub fn new(orgs: Vec<Emulator>) -> Self {
        Self {
            orgs: Arc::new(orgs),
        }
    }

    /// The org the call's headers authenticate, or UNAUTHENTICATED.
    fn authenticate(
        &self,
        metadata: &MetadataMap,
        rpc: &'static str,
    ) -> Result<Arc<Shared>, Status> {
        let header = |name: &str| metadata.get(name).and_then(|value| value.to_str().ok());
        let (Some(token), Some(instance), Some(tenant)) = (
            header("accesstoken"),
            header("instanceurl"),
            header("tenantid"),
        ) else {
            return Err(auth_error(rpc));
        };
        let org = self
            .orgs
            .iter()
            .map(Emulator::shared)
            .find(|org| same_org(&org.config.org_id, tenant))
            .ok_or_else(|| auth_error(rpc))?;
        let instance_matches =
            instance.trim_end_matches('/') == org.instance_url().trim_end_matches('/');
        if !instance_matches || !org.sessions().is_valid(token) {
            return Err(auth_error(rpc));
        }
        Ok(org.clone())
    }
}

/// Whether `given` names org `id` (15 or 18 characters).
fn same_org(id: &str, given: &str) -> bool {
    RecordId::parse(given).is_some_and(|given| RecordId::parse(id) == Some(given))
}

/// A Salesforce Pub/Sub error: the message ends with its rpcId, and the
/// trailers carry `error-code`, `rpc-id` and the RPC's name.
pub(crate) fn error(code: Code, message: &str, error_code: &str, rpc: &'static str) -> Status {
    let rpc_id = random_uuid();
    let mut metadata = MetadataMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = MetadataValue::try_from(value) {
            metadata.insert(name, value);
        }
    };
    put("error-code", &format!("{CODE_PREFIX}{error_code}"));
    put("rpc-id", &rpc_id);
    put("type", rpc);
    Status::with_metadata(code, format!("{message} rpcId: {rpc_id}"), metadata)
}

fn auth_error(rpc: &'static str) -> Status {
    error(
        Code::Unauthenticated,
        "An authentication exception occurred. Provide valid authentication via metadata headers.",
        "service.auth.error",
        rpc,
    )
}

fn topic_not_found(org: &Shared, name: &str, rpc: &'static str) -> Status {
    error(
        Code::NotFound,
        &format!(
            "The topic information for org CORE/prod/{} and topic {name} not found. Ensure the \
             topic name is correct and that the topic exists.",
            org.config.org_id
        ),
        "topic.not.found",
        rpc,
    )
}

/// The topic named `name` in `org`, and its schema's id when its events
/// share one.
fn find_topic(org: &Shared, name: &str, rpc: &'static str) -> Result<(Topic, String), Status> {
    if name.is_empty() {
        return Err(error(
            Code::InvalidArgument,
            "The topic name is empty. Provide a topic name.",
            "topic.validation.empty",
            rpc,
        ));
    }
    let guard = org.org();
    let topic = Topic::find(guard.schema(), name).ok_or_else(|| topic_not_found(org, name, rpc))?;
    let schema_id = match topic
        .object()
        .and_then(|object| guard.schema().object(object))
    {
        Some(object) => {
            let object = object.clone();
            org.bus()
                .layout(&guard, &object)
                .map(|layout| layout.id.clone())
                .map_err(|e| {
                    error(
                        Code::Internal,
                        &e.to_string(),
                        "schema.api.unavailable",
                        rpc,
                    )
                })?
        }
        None => String::new(),
    };
    Ok((topic, schema_id))
}

fn consumer_event(event: BusEvent) -> ConsumerEvent {
    ConsumerEvent {
        event: Some(ProducerEvent {
            id: event.id,
            schema_id: event.schema_id,
            payload: event.payload.as_ref().clone(),
            headers: Vec::new(),
        }),
        replay_id: replay_bytes(event.replay),
    }
}

#[tonic::async_trait]
impl PubSub for Service {
    type SubscribeStream = BoxStream<FetchResponse>;
    type PublishStreamStream = BoxStream<PublishResponse>;
    type ManagedSubscribeStream = BoxStream<ManagedFetchResponse>;

    async fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        let org = self.authenticate(request.metadata(), "GetTopic")?;
        let name = request.into_inner().topic_name;
        let (topic, schema_id) = find_topic(&org, &name, "GetTopic")?;
        Ok(Response::new(TopicInfo {
            topic_name: name,
            tenant_guid: org.config.org_id.clone(),
            can_publish: matches!(topic, Topic::Event(_)),
            can_subscribe: true,
            schema_id,
            rpc_id: random_uuid(),
        }))
    }

    async fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        let org = self.authenticate(request.metadata(), "GetSchema")?;
        let id = request.into_inner().schema_id;
        let layout = org.bus().schema(&id).ok_or_else(|| {
            error(
                Code::NotFound,
                &format!("The schema with ID {id} was not found. Ensure the schema ID is correct."),
                "schema.validation.failed",
                "GetSchema",
            )
        })?;
        Ok(Response::new(SchemaInfo {
            schema_json: layout.json.clone(),
            schema_id: id,
            rpc_id: random_uuid(),
        }))
    }

    async fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let org = self.authenticate(request.metadata(), "Subscribe")?;
        let (sender, receiver) = mpsc::channel(4);
        let requests = request.into_inner();
        tokio::spawn(async move {
            let stream = org.pubsub.open();
            let ended = tokio::select! {
                ended = subscription(&org, requests, &sender, &stream) => ended,
                () = stream.dropped() => Err(error(
                    Code::Internal,
                    "The service is unavailable. Try again later.",
                    "service.unavailable",
                    "Subscribe",
                )),
            };
            if let Err(status) = ended {
                sender.send(Err(status)).await.ok();
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let org = self.authenticate(request.metadata(), "Publish")?;
        Ok(Response::new(publish(&org, request.into_inner(), None)?))
    }

    async fn publish_stream(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let org = self.authenticate(request.metadata(), "PublishStream")?;
        let mut requests = request.into_inner();
        let (sender, receiver) = mpsc::channel(4);
        let idle = org.config.pubsub_idle_close;
        tokio::spawn(async move {
            let mut first_topic: Option<String> = None;
            loop {
                let next = match tokio::time::timeout(idle, requests.message()).await {
                    Ok(Ok(Some(request))) => request,
                    Ok(_) => return,
                    Err(_) => {
                        let closed = error(
                            Code::Cancelled,
                            "The publish stream was closed because no publish request was sent \
                             in time.",
                            "publish.stream.sweeper.timeout",
                            "PublishStream",
                        );
                        sender.send(Err(closed)).await.ok();
                        return;
                    }
                };
                let topic = first_topic
                    .get_or_insert_with(|| next.topic_name.clone())
                    .clone();
                let answer = publish(&org, next, Some(&topic));
                let failed = answer.is_err();
                if sender.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn managed_subscribe(
        &self,
        request: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        self.authenticate(request.metadata(), "ManagedSubscribe")?;
        Err(Status::unimplemented(
            "ManagedSubscribe (a beta of Salesforce's) is not emulated; use Subscribe",
        ))
    }
}

/// Publishes `request`'s events on their platform event topic, each with
/// its own result.
fn publish(
    org: &Shared,
    request: PublishRequest,
    stream_topic: Option<&str>,
) -> Result<PublishResponse, Status> {
    const RPC: &str = "Publish";
    if let Some(topic) = stream_topic
        && !topic.is_empty()
        && !request.topic_name.is_empty()
        && topic != request.topic_name
    {
        return Err(error(
            Code::InvalidArgument,
            "The topic name in the publish request doesn't match the topic of the stream.",
            "publish.topic.mismatch",
            RPC,
        ));
    }
    let (topic, schema_id) = find_topic(org, &request.topic_name, RPC)?;
    let Topic::Event(object) = topic else {
        return Err(error(
            Code::PermissionDenied,
            &format!("Publishing to {} is not allowed.", request.topic_name),
            "topic.meta.permission",
            RPC,
        ));
    };
    let layout = org
        .bus()
        .schema(&schema_id)
        .ok_or_else(|| topic_not_found(org, &request.topic_name, RPC))?;
    let mut results = Vec::new();
    for event in request.events {
        let failure = if event.schema_id != schema_id {
            Some(format!(
                "The schema ID {} doesn't match the topic's schema {schema_id}.",
                event.schema_id
            ))
        } else if event.payload.len() > MAX_EVENT_BYTES {
            Some("The event is larger than 1 MB.".to_owned())
        } else {
            super::encode::check_platform_event(&layout, &event.payload).err()
        };
        let id = if event.id.is_empty() {
            random_uuid()
        } else {
            event.id.clone()
        };
        results.push(match failure {
            Some(msg) => PublishResult {
                replay_id: Vec::new(),
                error: Some(EventError {
                    code: ErrorCode::Publish.into(),
                    msg,
                }),
                correlation_key: id,
            },
            None => {
                let replay = org
                    .bus()
                    .append_published(&object, &id, &schema_id, event.payload);
                PublishResult {
                    replay_id: replay_bytes(replay),
                    error: None,
                    correlation_key: id,
                }
            }
        });
    }
    Ok(PublishResponse {
        results,
        schema_id,
        rpc_id: random_uuid(),
    })
}

/// Serves one Subscribe stream until the client leaves or it fails.
async fn subscription(
    org: &Shared,
    mut requests: Streaming<FetchRequest>,
    sender: &mpsc::Sender<Result<FetchResponse, Status>>,
    stream: &OpenStream,
) -> Result<(), Status> {
    const RPC: &str = "Subscribe";
    let Some(first) = requests.message().await? else {
        return Ok(());
    };
    let topic_name = first.topic_name.clone();
    let (topic, _) = find_topic(org, &topic_name, RPC)?;
    let requested = checked_requested(first.num_requested)?;
    let custom = match ReplayPreset::try_from(first.replay_preset) {
        Ok(ReplayPreset::Custom) => Some(replay_number(&first.replay_id).ok_or_else(|| {
            if first.replay_id.is_empty() {
                error(
                    Code::InvalidArgument,
                    "A replay ID is required with the CUSTOM replay preset.",
                    "subscription.fetch.replayid.validation.failed",
                    RPC,
                )
            } else {
                corrupted()
            }
        })?),
        _ => None,
    };
    let earliest = first.replay_preset == i32::from(ReplayPreset::Earliest);
    let mut position = org.bus().start(earliest, custom).map_err(|_| corrupted())?;
    let mut latest = org.bus().watch();
    let mut owed = requested.min(MAX_REQUESTED);
    stream.asked(requested);
    let rpc_id = random_uuid();
    // Events, or none (a keepalive), with where the stream is and what is owed.
    let respond = |events: Vec<BusEvent>, position: u64, owed: i32| FetchResponse {
        events: events.into_iter().map(consumer_event).collect(),
        latest_replay_id: replay_bytes(position),
        rpc_id: rpc_id.clone(),
        pending_num_requested: owed,
    };
    let keepalive = org.config.pubsub_keepalive;
    let idle = org.config.pubsub_idle_close;
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        if owed > 0 {
            let (events, read_to) = org.bus().read(&topic, position, owed as usize);
            position = read_to;
            if !events.is_empty() {
                let count = events.len() as i32;
                owed -= count;
                stream.sent(count);
                let response = respond(events, position, owed);
                if sender.send(Ok(response)).await.is_err() {
                    return Ok(());
                }
                quiet_since = tokio::time::Instant::now();
                continue;
            }
        }
        let wait = if owed > 0 { keepalive } else { idle };
        let deadline = quiet_since + wait;
        tokio::select! {
            request = requests.message() => {
                let Some(request) = request? else { return Ok(()) };
                if !request.topic_name.is_empty() && request.topic_name != topic_name {
                    return Err(error(
                        Code::InvalidArgument,
                        "The topic name in the fetch request doesn't match the topic of the \
                         subscription.",
                        "subscription.fetch.topic.mismatch",
                        RPC,
                    ));
                }
                let more = checked_requested(request.num_requested)?;
                stream.asked(more);
                owed = (owed + more).min(MAX_REQUESTED);
            }
            changed = latest.changed(), if owed > 0 => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if owed == 0 {
                    // Nothing owed and nothing asked for: the stream ends.
                    return Ok(());
                }
                if sender.send(Ok(respond(Vec::new(), position, owed))).await.is_err() {
                    return Ok(());
                }
                quiet_since = tokio::time::Instant::now();
            }
        }
    }
}

fn checked_requested(requested: i32) -> Result<i32, Status> {
    if requested > 0 {
        Ok(requested)
    } else {
        Err(error(
            Code::InvalidArgument,
            "The number of requested events must be greater than zero.",
            "subscription.fetch.requested.events.invalid",
            "Subscribe",
        ))
    }
}

fn corrupted() -> Status {
    error(
        Code::InvalidArgument,
        "The Replay ID validation failed. Ensure that the Replay ID is valid and refers to an \
         event that is within the retention window.",
        "subscription.fetch.replayid.corrupted",
        "Subscribe",
    )
}
