//! Customers' connections over real HTTP: the connect flow as a browser
//! follows it into several sf-emulator orgs, every refusal, the token
//! lifecycle under concurrent calls, events, and secrets at rest.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gust_engine::Engine;
use gust_engine::connections::{CALLBACK_PATH, Connections};
use gust_engine::model::ConnectionId;
use gust_engine::salesforce::Secret;
use gust_engine::secrets::KeyRing;
use gust_engine::store::Store;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Running};

use crate::support::{
    DONE, Server, configure_connect, connect, connected, eventually, follow, location_query,
    no_redirects, orgs, serve_connect, session,
};

fn data_requests(org: &Running) -> usize {
    org.emulator
        .requests()
        .iter()
        .filter(|request| request.uri.starts_with("/services/data"))
        .count()
}

fn token_requests(org: &Running) -> Vec<u16> {
    org.emulator
        .requests()
        .iter()
        .filter(|request| request.uri == "/services/oauth2/token")
        .map(|request| request.status.as_u16())
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn three_tenants_connect_three_orgs_and_each_connection_reaches_only_its_org() {
    let orgs = orgs(3).await;
    let server = serve_connect(&orgs, |_| {}).await;
    let mut ids = Vec::new();
    for (i, org) in orgs.iter().enumerate() {
        ids.push(connected(
            &connect(&server, &format!("tenant-{i}"), &org.url).await,
        ));
    }
    for (i, (org, id)) in orgs.iter().zip(&ids).enumerate() {
        let (status, view) = server.get(&format!("/api/connections/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["org_id"], org.emulator.org_id());
        assert_eq!(view["tenant"], format!("tenant-{i}"));
        assert_eq!(view["status"], "active");
        assert_eq!(view["instance_url"], org.url);
        assert_eq!(view["username"], sf_emulator::DEFAULT_USERNAME);
        assert!(view["user_id"].as_str().unwrap().starts_with("005"));
        assert_eq!(view["scopes"], json!(["api", "refresh_token"]));
    }
    let (_, listed) = server.get("/api/connections?tenant=tenant-1").await;
    let listed = listed["connections"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], ids[1]);

    // Each connection's calls reach its own org and no other.
    for (i, id) in ids.iter().enumerate() {
        let before: Vec<usize> = orgs.iter().map(data_requests).collect();
        let client = server.engine.connections().client(id).await.unwrap();
        client
            .query("SELECT Id FROM Account", false, 1 << 20)
            .await
            .unwrap();
        let after: Vec<usize> = orgs.iter().map(data_requests).collect();
        for (j, (before, after)) in before.iter().zip(&after).enumerate() {
            assert_eq!(after > before, i == j, "connection {i}'s call in org {j}");
        }
    }

    // A check makes one live call and reports the org's API usage.
    let response = server
        .post(&format!("/api/connections/{}/check", ids[2]))
        .send()
        .await
        .unwrap();
    let checked: Value = response.json().await.unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    assert!(checked["connection"]["api_usage"]["used"].as_u64().unwrap() > 0);
    assert!(checked["connection"]["last_used"].is_string());

    // No token in the clear: not in the data directory, not in the API.
    let (_, all) = server.get("/api/connections").await;
    let stored = crate::support::stored_bytes(&server.dir.path().join("data"));
    let mut tokens = 0;
    for org in &orgs {
        for token in org.emulator.sessions().live_tokens() {
            tokens += 1;
            assert!(
                !contains(&stored, &token),
                "a token is in the data directory"
            );
            assert!(!all.to_string().contains(&token), "a token is in the API");
        }
    }
    assert!(
        tokens >= 6,
        "each org handed out an access and a refresh token"
    );
    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains(r#"gust_connections{status="active"} 3"#),
        "{metrics}"
    );

    // Disabled by the operator: calls stop at once, until it is enabled.
    let switch = |action: &'static str| {
        let url = format!("{}/api/connections/{}/{action}", server.base, ids[0]);
        let client = server.client.clone();
        async move {
            let view: Value = client.post(url).send().await.unwrap().json().await.unwrap();
            view["status"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(switch("disable").await, "disabled");
    let before = data_requests(&orgs[0]);
    let client = server.engine.connections().client(&ids[0]).await.unwrap();
    let error = client
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap_err();
    assert_eq!(error.error_code, "GUST_CONNECTION_DISABLED");
    assert_eq!(data_requests(&orgs[0]), before, "nothing sent");
    assert_eq!(switch("enable").await, "active");
    client
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_configured_connection_is_listed_and_checked_as_default() {
    let orgs = orgs(1).await;
    let client =
        gust_engine::salesforce::Client::new(gust_tests::emulator_connection(&orgs[0].url))
            .unwrap();
    let server = Server::start_with(&[], |config| config.salesforce = Arc::new(client), None).await;
    let (_, all) = server.get("/api/connections").await;
    assert_eq!(all["connections"][0]["id"], "default");
    assert_eq!(all["connections"][0]["source"], "config");
    let response = server
        .post("/api/connections/default/check")
        .send()
        .await
        .unwrap();
    let checked: Value = response.json().await.unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    let (_, view) = server.get("/api/connections/default").await;
    assert!(view["api_usage"]["used"].as_u64().unwrap() > 0, "{view}");
    let response = server
        .client
        .delete(format!("{}/api/connections/default", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, _) = server.get("/api/connections/con_unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get("/api/connections/..%2Fetc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_connection_event_the_receiver_refuses_is_sent_again_until_it_takes_it() {
    let orgs = orgs(1).await;
    let receiver = Receiver::default();
    receiver
        .refuse
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let events_url = receiver.start().await;
    let server = serve_connect(&orgs, |config| {
        config.connect.events_url = Some(events_url);
        config.connect.events_secret = Some(Secret::new("whsec-test"));
    })
    .await;
    let id = connected(&connect(&server, "patient", &orgs[0].url).await);
    eventually("the event is taken", Duration::from_secs(20), || async {
        (receiver.of("connection.created", &id) == 1).then_some(())
    })
    .await;
    assert_eq!(
        receiver.refuse.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "refused twice first"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.of("connection.created", &id), 1, "taken once");
}

#[tokio::test]
async fn refused_connects_say_why_and_store_nothing() {
    let orgs = orgs(2).await;
    let server = serve_connect(&orgs, |_| {}).await;
    let stored = async || server.engine.connections().list(None).await.unwrap().len();

    // Refused before anything starts.
    let (status, refused) = session(
        &server,
        json!({ "tenant": "t", "redirect_after": "https://evil.example/done" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("redirect_allow"),
        "{refused}"
    );
    let (status, refused) = session(
        &server,
        json!({ "tenant": "t", "login_host": "https://acme.lightning.force.com", "redirect_after": DONE }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"].as_str().unwrap().contains("Lightning"),
        "{refused}"
    );
    let (status, _) = session(&server, json!({ "tenant": "", "redirect_after": DONE })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = session(
        &server,
        json!({ "tenant": "t", "redirect_after": DONE, "app": "nope" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A forged or malformed callback: a page, nothing stored.
    let callback = format!("{}{CALLBACK_PATH}", server.base);
    for query in [
        "?state=forged.nonce&code=abc",
        "",
        "?code=abc",
        "?state=nodot",
    ] {
        let response = no_redirects()
            .get(format!("{callback}{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("state") || text.contains("malformed"),
            "{query}: {text}"
        );
    }

    // A reused state: the second callback is refused.
    let (_, created) = session(
        &server,
        json!({ "tenant": "reuse", "redirect_after": DONE }),
    )
    .await;
    let to_salesforce = no_redirects()
        .get(created["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let authorize = to_salesforce.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let back = no_redirects().get(&authorize).send().await.unwrap();
    let callback_url = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback_url.contains(CALLBACK_PATH));
    let first = no_redirects().get(&callback_url).send().await.unwrap();
    connected(&location_query(&first));
    let again = no_redirects().get(&callback_url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stored().await, 1);
    // ... and the connect link cannot be opened twice.
    let reopened = no_redirects()
        .get(created["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        reopened.status(),
        StatusCode::NOT_FOUND,
        "the spent session is gone"
    );

    // A wrong code_verifier: Salesforce refuses the exchange.
    let (_, created) = session(&server, json!({ "tenant": "pkce", "redirect_after": DONE })).await;
    let to_salesforce = no_redirects()
        .get(created["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let mut authorize =
        reqwest::Url::parse(to_salesforce.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(key, value)| {
            let value = if key == "code_challenge" {
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(pairs);
    let query = follow(authorize.as_str()).await;
    assert_eq!(query["error"], "invalid_grant", "{query:?}");
    assert_eq!(query["error_description"], "invalid code verifier");

    // A tampered signature.
    orgs[0].emulator.sessions().forge_signatures(true);
    let query = connect(&server, "forged", &orgs[0].url).await;
    orgs[0].emulator.sessions().forge_signatures(false);
    assert_eq!(query["error"], "gust_invalid_signature", "{query:?}");

    // The user denies access.
    orgs[0]
        .emulator
        .sessions()
        .deny_authorizations(Some(("access_denied", "end-user denied authorization")));
    let query = connect(&server, "denied", &orgs[0].url).await;
    orgs[0].emulator.sessions().deny_authorizations(None);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_description"], "end-user denied authorization");

    // A reconnect that lands in another org.
    let id = connected(&connect(&server, "moving", &orgs[0].url).await);
    let (status, created) = session(
        &server,
        json!({ "tenant": "moving", "reconnect": id, "login_host": orgs[1].url, "redirect_after": DONE }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let query = follow(created["url"].as_str().unwrap()).await;
    assert_eq!(query["error"], "gust_wrong_org", "{query:?}");
    assert!(query["error_description"].contains(orgs[0].emulator.org_id()));
    let (_, view) = server.get(&format!("/api/connections/{id}")).await;
    assert_eq!(view["org_id"], orgs[0].emulator.org_id());
    // A reconnect of another tenant's connection is refused outright.
    let (status, _) = session(
        &server,
        json!({ "tenant": "someone-else", "reconnect": id, "redirect_after": DONE }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A reconnect into the same org keeps the connection's id.
    let (_, created) = session(
        &server,
        json!({ "tenant": "moving", "reconnect": id, "redirect_after": DONE }),
    )
    .await;
    assert_eq!(
        connected(&follow(created["url"].as_str().unwrap()).await),
        id
    );

    assert_eq!(
        stored().await,
        2,
        "only the reused-state and the moving connections"
    );
}

#[tokio::test]
async fn an_expired_connect_session_is_refused() {
    let orgs = orgs(1).await;
    let server = serve_connect(&orgs, |config| {
        config.connect.session_ttl = Duration::from_millis(200);
    })
    .await;
    let (_, created) = session(&server, json!({ "tenant": "late", "redirect_after": DONE })).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = no_redirects()
        .get(created["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(response.text().await.unwrap().contains("expired"));
    assert!(
        server
            .engine
            .connections()
            .list(None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Connection events posted to a receiver, with their signature headers.
#[derive(Clone, Default)]
struct Receiver {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    /// How many posts to answer 503 before taking them.
    refuse: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    async fn start(&self) -> String {
        let events = self.events.clone();
        let refuse = self.refuse.clone();
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let events = events.clone();
                    let refuse = refuse.clone();
                    async move {
                        let refused = refuse
                            .fetch_update(
                                std::sync::atomic::Ordering::SeqCst,
                                std::sync::atomic::Ordering::SeqCst,
                                |left| left.checked_sub(1),
                            )
                            .is_ok();
                        if refused {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let signature = headers["gust-signature"].to_str().unwrap().to_owned();
                        let (t, v1) = signature.split_once(",v1=").unwrap();
                        let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
                        assert_eq!(
                            gust_engine::connections::events::signature(b"whsec-test", t, &body),
                            signature
                        );
                        assert_eq!(v1.len(), 64);
                        let event: Value = serde_json::from_slice(&body).unwrap();
                        let kind = event["type"].as_str().unwrap().to_owned();
                        events.lock().unwrap().push((kind, event));
                        StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        tokio::spawn(axum::serve(listener, app).into_future());
        url
    }

    fn of(&self, kind: &str, connection: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, event)| k == kind && event["data"]["connection_id"] == connection)
            .count()
    }
}

#[tokio::test]
async fn expired_tokens_are_refreshed_once_rotations_kept_and_a_revoked_grant_needs_reauth() {
    let orgs = orgs(2).await;
    orgs[0]
        .emulator
        .sessions()
        .set_refresh_policy(sf_emulator::auth::RefreshPolicy {
            rotate: true,
            ..Default::default()
        });
    let receiver = Receiver::default();
    let events_url = receiver.start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::support::open_store(dir.path()).await.unwrap();
    let server = Server::start_with(
        &[],
        |config| {
            configure_connect(config, &orgs);
            config.connect.events_url = Some(events_url);
            config.connect.events_secret = Some(Secret::new("whsec-test"));
        },
        Some(store.clone() as Arc<dyn Store>),
    )
    .await;
    let rotating = connected(&connect(&server, "a", &orgs[0].url).await);
    let revoked = connected(&connect(&server, "b", &orgs[1].url).await);
    let connections = server.engine.connections();

    // 20 concurrent calls on an expired token: one refresh.
    let calls = async |id: &str| {
        let client = connections.client(id).await.unwrap();
        {
            let mut calls = Vec::new();
            for _ in 0..20 {
                let client = client.clone();
                calls.push(tokio::spawn(async move {
                    client.query("SELECT Id FROM Account", false, 1 << 16).await
                }));
            }
            let mut answers = Vec::new();
            for call in calls {
                answers.push(call.await.unwrap());
            }
            answers
        }
    };
    let first_refresh_token = refresh_token(store.as_ref(), &server, &rotating).await;
    for round in 0..2 {
        orgs[0].emulator.sessions().expire_all();
        let before = token_requests(&orgs[0]).len();
        for answer in calls(&rotating).await {
            answer.unwrap();
        }
        assert_eq!(token_requests(&orgs[0]).len(), before + 1, "round {round}");
    }
    // The rotated refresh token was kept: the old one never sent again
    // (Salesforce would have refused it), the stored one is the live one.
    assert!(token_requests(&orgs[0]).iter().all(|status| *status == 200));
    let kept = refresh_token(store.as_ref(), &server, &rotating).await;
    assert_ne!(kept, first_refresh_token);
    let live = orgs[0].emulator.sessions().live_tokens();
    assert!(live.contains(&kept) && !live.contains(&first_refresh_token));
    eventually(
        "the refreshes are told",
        Duration::from_secs(10),
        || async { (receiver.of("connection.refreshed", &rotating) == 2).then_some(()) },
    )
    .await;

    // A revoked refresh token: the connection needs its user again, once.
    orgs[1].emulator.sessions().revoke_refresh_tokens();
    orgs[1].emulator.sessions().expire_all();
    let before = token_requests(&orgs[1]).len();
    for answer in calls(&revoked).await {
        let error = answer.unwrap_err();
        assert!(
            ["invalid_grant", "GUST_NEEDS_REAUTH"].contains(&error.error_code.as_str()),
            "{error}"
        );
    }
    assert_eq!(
        token_requests(&orgs[1]).len(),
        before + 1,
        "one refusal shared"
    );
    let data_before = data_requests(&orgs[1]);
    let error = connections
        .client(&revoked)
        .await
        .unwrap()
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap_err();
    assert_eq!(error.error_code, "GUST_NEEDS_REAUTH");
    assert!(error.message.contains("reconnect"), "{error}");
    assert_eq!(data_requests(&orgs[1]), data_before, "nothing sent");
    let (_, view) = server.get(&format!("/api/connections/{revoked}")).await;
    assert_eq!(view["status"], "needs_reauth");
    assert!(
        view["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid_grant")
    );
    let (_, checked) = {
        let response = server
            .post(&format!("/api/connections/{revoked}/check"))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(checked["ok"], false);
    assert_eq!(checked["error_code"], "GUST_NEEDS_REAUTH");
    eventually(
        "the needs_reauth event",
        Duration::from_secs(10),
        || async { (receiver.of("connection.needs_reauth", &revoked) == 1).then_some(()) },
    )
    .await;
    // The other connection is untouched.
    let (_, view) = server.get(&format!("/api/connections/{rotating}")).await;
    assert_eq!(view["status"], "active");
    connections
        .client(&rotating)
        .await
        .unwrap()
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap();

    // A deletion revokes the refresh token.
    let response = server
        .client
        .delete(format!("{}/api/connections/{rotating}", server.base))
        .send()
        .await
        .unwrap();
    let deleted: Value = response.json().await.unwrap();
    assert_eq!(deleted["revoked"], true, "{deleted}");
    assert!(!orgs[0].emulator.sessions().live_tokens().contains(&kept));
    let (status, _) = server.get(&format!("/api/connections/{rotating}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    eventually("the deletion is told", Duration::from_secs(10), || async {
        (receiver.of("connection.deleted", &rotating) == 1).then_some(())
    })
    .await;
    assert_eq!(receiver.of("connection.needs_reauth", &revoked), 1);
    assert_eq!(receiver.of("connection.created", &revoked), 1);
}

/// The refresh token stored for `id`, opened with the server's key.
async fn refresh_token(store: &dyn Store, server: &Server, id: &str) -> String {
    let record = store
        .connection(&ConnectionId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let key = std::fs::read_to_string(server.dir.path().join("data/secret.key")).unwrap();
    let keys = KeyRing::parse(&key).unwrap();
    let json = keys.open(id, &record.tokens.0).unwrap();
    let tokens: Value = serde_json::from_slice(&json).unwrap();
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotating_keys_seals_every_secret_again_and_a_missing_key_stops_the_start() {
    let orgs = orgs(1).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let old_key = dir.path().join("old.key");
    std::fs::write(
        &old_key,
        "k1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let config = |key: &Path| {
        let mut config = crate::support::config(&data);
        configure_connect(&mut config, &orgs);
        config.secret_key_file = Some(key.to_owned());
        config
    };
    let id = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = config(&old_key);
        config.connect.public_url = format!("http://{}", listener.local_addr().unwrap());
        let engine = Engine::start(config).await.unwrap();
        let app = engine.router();
        let serving = tokio::spawn(axum::serve(listener, app).into_future());
        let public_url = engine.config().connect.public_url.clone();
        let created = engine
            .connections()
            .create_session(gust_engine::connections::ConnectSessionRequest {
                tenant: "acme".into(),
                redirect_after: DONE.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(created.url.starts_with(&public_url));
        let id = connected(&follow(&created.url).await);
        engine
            .connections()
            .create_app(
                serde_json::from_value(json!({
                    "name": "byo", "client_id": "their-app", "client_secret": "their-secret",
                    "login_host": orgs[0].url, "tenant": "acme"
                }))
                .unwrap(),
            )
            .await
            .unwrap();
        engine.shutdown().await;
        serving.abort();
        drop(engine);
        id
    };
    let stored = crate::support::stored_bytes(&data);
    assert!(!contains(&stored, "their-secret"));

    // k2 becomes the active key; k1 stays to open what it sealed.
    let both = dir.path().join("both.key");
    std::fs::write(
        &both,
        "k2=ERERERERERERERERERERERERERERERERERERERERERE=\nk1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    let report = {
        let store = eventually("the store is let go", Duration::from_secs(10), || async {
            crate::support::open_store(&data).await.ok()
        })
        .await;
        let keys = KeyRing::parse(&std::fs::read_to_string(&both).unwrap()).unwrap();
        Connections::rotate_keys(store.as_ref(), &keys)
            .await
            .unwrap()
    };
    assert_eq!((report.connections, report.apps), (1, 1));

    // Only k2 is needed now; k1 alone stops the start, naming k2.
    let only_new = dir.path().join("new.key");
    std::fs::write(
        &only_new,
        "k2=ERERERERERERERERERERERERERERERERERERERERERE=\n",
    )
    .unwrap();
    let engine = eventually("the store is let go", Duration::from_secs(10), || async {
        Engine::start(config(&only_new)).await.ok()
    })
    .await;
    assert_eq!(
        engine.connections().get(&id).await.unwrap().status.as_str(),
        "active"
    );
    assert_eq!(engine.connections().apps().await.unwrap().len(), 2);
    engine.shutdown().await;
    drop(engine);
    let error = eventually("the start is refused", Duration::from_secs(10), || async {
        match Engine::start(config(&old_key)).await {
            Err(error) if !error.to_string().contains("lock") => Some(error.to_string()),
            _ => None,
        }
    })
    .await;
    assert!(error.contains("`k2`"), "{error}");
    assert!(error.contains(&id), "{error}");
}

#[tokio::test]
async fn gust_connect_connects_an_org_from_the_command_line_and_keys_rotate() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use crate::support::Process;

    let orgs = orgs(1).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let settings = dir.path().join("gust.toml");
    std::fs::write(
        &settings,
        format!(
            "[oauth_apps.default]\nclient_id = \"{DEFAULT_CLIENT_ID}\"\nclient_secret = \"env:GUST_TEST_APP_SECRET\"\nlogin_host = \"{url}\"\n\n[connect]\ntrusted_hosts = [\"{url}\"]\n",
            url = orgs[0].url
        ),
    )
    .unwrap();
    let gust = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gust-e2e"));
        command
            .env("GUST_TEST_APP_SECRET", DEFAULT_CLIENT_SECRET)
            .envs(crate::support::store_env(&data))
            .env_remove("GUST_SECRET_KEYS");
        command
    };
    let mut child = gust()
        .args([
            "connect",
            "--listen",
            "127.0.0.1:0",
            "--no-browser",
            "--tenant",
            "laptop",
        ])
        .arg("--config")
        .arg(&settings)
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, mut printed) = tokio::sync::mpsc::unbounded_channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            lines.send(line).ok();
        }
    });
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), printed.recv())
            .await
            .expect("gust connect prints its URL")
            .expect("gust connect is running");
        if line.starts_with("http://localhost:") {
            break line;
        }
    };
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.starts_with("Connected: con_"), "{page}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let mut rest = Vec::new();
    while let Some(line) = printed.recv().await {
        rest.push(line);
    }
    let said = rest.join("\n");
    assert!(said.contains(orgs[0].emulator.org_id()), "{said}");
    let id = page
        .trim_start_matches("Connected: ")
        .split('.')
        .next()
        .unwrap()
        .to_owned();

    // A new key first, the made one kept: the rotation seals the tokens
    // under the new one.
    let made = std::fs::read_to_string(data.join("secret.key")).unwrap();
    let new_key = "k2=ERERERERERERERERERERERERERERERERERERERERERE=";
    let mut rotate = gust();
    rotate
        .args(["keys", "rotate", "--data"])
        .arg(&data)
        .env("GUST_SECRET_KEYS", format!("{new_key}\n{made}"));
    let rotated = output(rotate).await;
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(rotated.status.success(), "{said}");
    assert!(said.contains("1 connections"), "{said}");

    // The server, with the new key alone, serves the connection.
    let workflows = dir.path().join("workflows");
    std::fs::create_dir(&workflows).unwrap();
    let settings_text = settings.to_str().unwrap();
    let server = Process::start_with_env(
        &workflows,
        &data,
        &[
            ("GUST_SECRET_KEYS", new_key),
            ("GUST_CONFIG", settings_text),
            ("GUST_TEST_APP_SECRET", DEFAULT_CLIENT_SECRET),
        ],
    );
    let mut list = gust();
    list.args(["connections", "--server", &server.base, "list", "--json"]);
    let listed = output(list).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let stored: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|view| view["source"] == "store")
        .collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], id);
    assert_eq!(stored[0]["tenant"], "laptop");
    let mut check = gust();
    check.args(["connections", "--server", &server.base, "check", &id]);
    let checked = output(check).await;
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// Runs `command` off the test's runtime thread, which serves the
/// emulated orgs the command may call.
async fn output(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn idle_connections_are_kept_alive_and_an_unreachable_org_degrades_with_backoff() {
    let mut orgs = orgs(1).await;
    let server = serve_connect(&orgs, |config| {
        config.connect.keep_alive = Duration::from_millis(300);
    })
    .await;
    let id = connected(&connect(&server, "idle", &orgs[0].url).await);
    let refreshed = eventually(
        "the keep-alive refresh",
        Duration::from_secs(10),
        || async {
            let (_, view) = server.get(&format!("/api/connections/{id}")).await;
            view["last_refresh"].as_str().map(str::to_owned)
        },
    )
    .await;
    assert!(!refreshed.is_empty());

    // The org goes away: the next refresh fails, the connection is
    // degraded, and calls back off instead of hammering it.
    drop(orgs.remove(0));
    let connections = server.engine.connections();
    let view = eventually(
        "the connection degrades",
        Duration::from_secs(10),
        || async {
            connections.refresh_idle(Duration::ZERO).await.unwrap();
            let view = connections.get(&id).await.unwrap();
            (view.status.as_str() == "degraded").then_some(view)
        },
    )
    .await;
    assert!(view.last_error.unwrap().contains("GUST_TRANSPORT"));
    let error = connections
        .client(&id)
        .await
        .unwrap()
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap_err();
    assert_eq!(error.error_code, "GUST_CONNECTION_DEGRADED");
    assert!(error.is_retryable(), "a step tries again later");
}

#[tokio::test]
async fn a_token_is_refreshed_ahead_of_the_expiry_introspection_gives() {
    let orgs = orgs(1).await;
    orgs[0]
        .emulator
        .sessions()
        .set_lifetime(Duration::from_secs(3));
    let server = serve_connect(&orgs, |_| {}).await;
    let id = connected(&connect(&server, "timely", &orgs[0].url).await);
    let client = server.engine.connections().client(&id).await.unwrap();
    // The first call fetches no token: the one the connect got is used,
    // and introspection tells when it ends.
    client
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap();
    let fetched = token_requests(&orgs[0]).len();
    let introspected = || {
        orgs[0]
            .emulator
            .requests()
            .iter()
            .filter(|request| request.uri == "/services/oauth2/introspect")
            .count()
    };
    tokio::time::sleep(Duration::from_millis(2_800)).await;
    client
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap();
    assert_eq!(
        token_requests(&orgs[0]).len(),
        fetched + 1,
        "refreshed ahead"
    );
    assert!(introspected() >= 1);
    let refused = orgs[0]
        .emulator
        .requests()
        .iter()
        .filter(|request| request.status == 401)
        .count();
    assert_eq!(refused, 0, "no call met an expired token");
}

#[tokio::test]
async fn a_session_may_end_on_gusts_own_page_without_an_allow_list() {
    let orgs = orgs(1).await;
    let server = serve_connect(&orgs, |config| {
        config.connect.redirect_allow.clear();
    })
    .await;
    let done = format!("{}/connect/done", server.base);
    let (status, _) = session(&server, json!({ "tenant": "t", "redirect_after": DONE })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nothing else is allowed");
    let (status, created) =
        session(&server, json!({ "tenant": "t", "redirect_after": done })).await;
    assert_eq!(status, StatusCode::CREATED);
    let page = reqwest::get(created["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.starts_with("Salesforce is connected: con_"), "{page}");
}

#[tokio::test]
async fn a_refresh_naming_an_instance_outside_salesforce_is_refused() {
    let orgs = orgs(1).await;
    let server = serve_connect(&orgs, |_| {}).await;
    let id = connected(&connect(&server, "wary", &orgs[0].url).await);
    orgs[0]
        .emulator
        .sessions()
        .name_instance(Some("https://attacker.example"));
    orgs[0].emulator.sessions().expire_all();
    let error = server
        .engine
        .connections()
        .client(&id)
        .await
        .unwrap()
        .query("SELECT Id FROM Account", false, 1 << 16)
        .await
        .unwrap_err();
    assert_eq!(error.error_code, "GUST_UNTRUSTED_INSTANCE", "{error}");
    assert!(error.message.contains("attacker.example"));
    let view = server.engine.connections().get(&id).await.unwrap();
    assert_eq!(view.instance_url.as_deref(), Some(orgs[0].url.as_str()));
}
