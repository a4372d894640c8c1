//! Connecting customers' orgs as a browser does: several sf-emulator
//! orgs, a server whose connect flow reaches them, and the browser that
//! follows a connect link to the embedding service's page.

use std::collections::HashMap;
use std::net::SocketAddr;

use gust_engine::Config;
use gust_engine::connections::OAuthApp;
use gust_engine::salesforce::Secret;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sf_emulator::org::nth_org_id;
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

use super::Server;

/// Where the embedding service wants the browser back.
pub(crate) const DONE: &str = "http://app.test/done";

/// `n` emulated orgs, each on its own port.
pub(crate) async fn orgs(n: u64) -> Vec<Running> {
    let mut orgs = Vec::new();
    for i in 0..n {
        let config = sf_emulator::Config {
            org_id: nth_org_id(i),
            ..sf_emulator::Config::default()
        };
        let running = Emulator::new(config)
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        orgs.push(running);
    }
    orgs
}

/// Connect settings for `orgs`: the emulator's app, logging in at the
/// first org unless a session names another, the orgs trusted.
pub(crate) fn configure_connect(config: &mut Config, orgs: &[Running]) {
    let mut app = OAuthApp::new(
        "default",
        DEFAULT_CLIENT_ID,
        Secret::new(DEFAULT_CLIENT_SECRET),
    );
    app.login_host.clone_from(&orgs[0].url);
    config.connect.apps = vec![app];
    config.connect.trusted_hosts = orgs.iter().map(|org| org.url.clone()).collect();
    config.connect.redirect_allow = vec![DONE.to_owned()];
}

/// A server whose connections go to `orgs` (see [`configure_connect`]),
/// then set up by `tweak`.
pub(crate) async fn serve_connect(orgs: &[Running], tweak: impl FnOnce(&mut Config)) -> Server {
    Server::start_with(
        &[],
        |config| {
            configure_connect(config, orgs);
            tweak(config);
        },
        None,
    )
    .await
}

/// A browser: follows redirects until the embedding service's page.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::custom(|attempt| {
            if attempt.url().host_str() == Some("app.test") {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap()
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The query of the URL a 302 sends the browser to.
pub(crate) fn location_query(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND, "{response:?}");
    let location = response.headers()["location"].to_str().unwrap();
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

/// Asks for a connect session; its status and answer.
pub(crate) async fn session(server: &Server, body: Value) -> (StatusCode, Value) {
    let response = server
        .post("/api/connect-sessions")
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Connects `tenant` at `login_host` as a browser does: the query the
/// browser lands on at the embedding service.
pub(crate) async fn connect(
    server: &Server,
    tenant: &str,
    login_host: &str,
) -> HashMap<String, String> {
    let (status, created) = session(
        server,
        json!({ "tenant": tenant, "login_host": login_host, "redirect_after": DONE }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    follow(created["url"].as_str().unwrap()).await
}

/// Follows a connect URL to the embedding service's page.
pub(crate) async fn follow(url: &str) -> HashMap<String, String> {
    let response = browser().get(url).send().await.unwrap();
    location_query(&response)
}

/// The connection id of a successful connect.
pub(crate) fn connected(query: &HashMap<String, String>) -> String {
    query
        .get("connection_id")
        .unwrap_or_else(|| panic!("the connect failed: {query:?}"))
        .clone()
}
