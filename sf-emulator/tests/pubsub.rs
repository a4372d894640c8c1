//! The emulator's Pub/Sub API through a gRPC client: flow control (at
//! most 100 events owed, more only when asked), keepalives carrying the
//! latest replay id, the stream closed when nothing is asked for, streams
//! dropped as a Salesforce server going away does, and the auth headers.

use std::net::SocketAddr;
use std::time::Duration;

use gust_pubsub::proto::pub_sub_client::PubSubClient;
use gust_pubsub::proto::{FetchRequest, FetchResponse, ReplayPreset, TopicRequest};
use serde_json::json;
use sf_emulator::pubsub::{self, Listen, Serving};
use sf_emulator::{Config, Emulator, Running};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

struct Org {
    emulator: Emulator,
    running: Running,
    _serving: Serving,
    client: PubSubClient<Channel>,
    token: String,
}

async fn org() -> Org {
    let config = Config {
        pubsub_keepalive: Duration::from_millis(200),
        pubsub_idle_close: Duration::from_millis(400),
        ..Config::default()
    };
    let emulator = Emulator::new(config);
    let running = emulator
        .clone()
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let listen = Listen {
        plaintext: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: None,
    };
    let serving = pubsub::serve(vec![emulator.clone()], &listen)
        .await
        .unwrap();
    let client = PubSubClient::connect(serving.plaintext_url.clone().unwrap())
        .await
        .unwrap();
    let token = emulator.sessions().issue_access_token();
    Org {
        emulator,
        running,
        _serving: serving,
        client,
        token,
    }
}

impl Org {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert("accesstoken", self.token.parse().unwrap());
        metadata.insert("instanceurl", self.running.url.parse().unwrap());
        metadata.insert("tenantid", self.emulator.org_id().parse().unwrap());
        request
    }

    /// Opens a subscription; the sender asks for more.
    async fn subscribe(
        &mut self,
        first: FetchRequest,
    ) -> (mpsc::Sender<FetchRequest>, Streaming<FetchResponse>) {
        let (sender, receiver) = mpsc::channel(8);
        sender.send(first).await.unwrap();
        let request = self.request(ReceiverStream::new(receiver));
        let stream = self.client.subscribe(request).await.unwrap().into_inner();
        (sender, stream)
    }

    fn create_accounts(&self, count: usize) {
        let mut org = self.emulator.org();
        for n in 0..count {
            let fields = json!({ "Name": format!("Account {n}") });
            org.create("Account", fields.as_object().unwrap()).unwrap();
        }
    }
}

fn fetch(topic: &str, preset: ReplayPreset, requested: i32) -> FetchRequest {
    FetchRequest {
        topic_name: topic.to_owned(),
        replay_preset: preset.into(),
        num_requested: requested,
        ..FetchRequest::default()
    }
}

async fn next(
    stream: &mut Streaming<FetchResponse>,
) -> Option<Result<FetchResponse, tonic::Status>> {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the server answered nothing in 5 s")
}

#[tokio::test]
async fn no_more_than_100_events_are_owed_and_more_come_only_when_asked() {
    let mut org = org().await;
    org.create_accounts(250);
    let topic = "/data/AccountChangeEvent";
    let (more, mut stream) = org
        .subscribe(fetch(topic, ReplayPreset::Earliest, 500))
        .await;
    let mut received = 0;
    while received < 100 {
        let response = next(&mut stream).await.unwrap().unwrap();
        received += response.events.len();
        assert_eq!(response.pending_num_requested as usize, 100 - received);
    }
    // Owed nothing: keepalives do not come, and the stream waits to be asked.
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(quiet.is_err(), "the server sent beyond what it owed");
    more.send(FetchRequest {
        num_requested: 30,
        ..FetchRequest::default()
    })
    .await
    .unwrap();
    let mut again = 0;
    while again < 30 {
        again += next(&mut stream).await.unwrap().unwrap().events.len();
    }
    assert_eq!(again, 30);
    let stats = org.emulator.pubsub_stats();
    assert_eq!(stats.events_sent, 130);
    assert_eq!(
        stats.most_requested, 500,
        "what the client asked for is counted"
    );
}

#[tokio::test]
async fn an_idle_subscription_gets_keepalives_with_the_latest_replay_id() {
    let mut org = org().await;
    let (_more, mut stream) = org
        .subscribe(fetch("/data/ChangeEvents", ReplayPreset::Latest, 10))
        .await;
    let keepalive = next(&mut stream).await.unwrap().unwrap();
    assert!(keepalive.events.is_empty());
    assert_eq!(keepalive.pending_num_requested, 10);
    assert_eq!(keepalive.latest_replay_id.len(), 10);
    // A change made now comes next, after the keepalive's position.
    org.create_accounts(1);
    let response = next(&mut stream).await.unwrap().unwrap();
    let event = &response.events[0];
    assert!(event.replay_id > keepalive.latest_replay_id);
    assert_eq!(response.latest_replay_id, event.replay_id);
}

#[tokio::test]
async fn a_stream_owed_nothing_closes_and_dropped_streams_fail_as_salesforces_do() {
    let mut org = org().await;
    org.create_accounts(1);
    let (_more, mut stream) = org
        .subscribe(fetch("/data/AccountChangeEvent", ReplayPreset::Earliest, 1))
        .await;
    assert_eq!(next(&mut stream).await.unwrap().unwrap().events.len(), 1);
    assert!(
        next(&mut stream).await.is_none(),
        "the idle stream stays open"
    );

    let (_more, mut stream) = org
        .subscribe(fetch("/data/AccountChangeEvent", ReplayPreset::Latest, 5))
        .await;
    org.emulator.drop_pubsub_streams();
    let status = loop {
        match next(&mut stream).await.unwrap() {
            Ok(response) => assert!(response.events.is_empty()),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Internal);
    assert!(status.message().starts_with("The service is unavailable."));
    assert_eq!(
        status.metadata().get("error-code").unwrap(),
        "sfdc.platform.eventbus.grpc.service.unavailable"
    );
}

#[tokio::test]
async fn calls_without_valid_auth_headers_are_refused() {
    let mut org = org().await;
    let mut request = org.request(TopicRequest {
        topic_name: "/data/AccountChangeEvent".into(),
    });
    request
        .metadata_mut()
        .insert("tenantid", "00D000000000001".parse().unwrap());
    let status = org.client.get_topic(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut request = org.request(TopicRequest {
        topic_name: "/data/AccountChangeEvent".into(),
    });
    request.metadata_mut().remove("accesstoken");
    assert_eq!(
        org.client.get_topic(request).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let topic = org
        .client
        .get_topic(org.request(TopicRequest {
            topic_name: "/data/AccountChangeEvent".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(topic.tenant_guid, org.emulator.org_id());
    // A later request naming another topic ends the stream.
    let (more, mut stream) = org
        .subscribe(fetch("/data/AccountChangeEvent", ReplayPreset::Latest, 1))
        .await;
    more.send(fetch("/data/ContactChangeEvent", ReplayPreset::Latest, 1))
        .await
        .unwrap();
    let status = loop {
        if let Err(status) = next(&mut stream).await.unwrap() {
            break status;
        }
    };
    assert_eq!(status.code(), Code::InvalidArgument);
}
