//! What the emulator's tests share: a running emulator with a session, and
//! the Salesforce fixtures to compare its answers with.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::Value;
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};

/// The API version the tests call.
pub const VERSION: &str = "v60.0";

/// A running emulator and a client holding a live session.
pub struct Org {
    pub running: Running,
    pub client: reqwest::Client,
    pub token: String,
}

impl Org {
    /// Starts a default emulator and logs in with the client-credentials
    /// grant.
    pub async fn start() -> Self {
        Self::start_with(Emulator::new(Config::default())).await
    }

    /// Serves `emulator` and logs in with the client-credentials grant.
    pub async fn start_with(emulator: Emulator) -> Self {
        let running = emulator
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let token = login(&client, &running.url).await;
        Self {
            running,
            client,
            token,
        }
    }

    /// `path` under `/services/data/{VERSION}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/services/data/{VERSION}{path}", self.running.url)
    }

    /// A request with the session's bearer token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// Sends `request`; returns the body as text.
    pub async fn text(request: reqwest::RequestBuilder) -> String {
        request.send().await.unwrap().text().await.unwrap()
    }

    /// Sends `request`; returns the status and the JSON body (null when
    /// empty).
    pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, body)
    }
}

/// An access token from the client-credentials grant, for the default
/// connected app.
pub async fn login(client: &reqwest::Client, url: &str) -> String {
    login_as(client, url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET).await
}

/// An access token from the client-credentials grant.
pub async fn login_as(
    client: &reqwest::Client,
    url: &str,
    client_id: &str,
    secret: &str,
) -> String {
    let response: Value = client
        .post(format!("{url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["access_token"].as_str().unwrap().to_owned()
}

/// A fixture's path, under `fixtures/salesforce/`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/salesforce")
        .join(name)
}

/// A JSON fixture.
pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Whether `actual` has the shape of `expected`: the same JSON types, and
/// in objects the same keys (with `exact`) or at least them; the elements
/// of an array shaped like the fixture's at the same place when the lengths
/// agree, else each like its first. A null in the fixture
/// stands for any value (Salesforce sends null for unset values of every
/// type). Returns where they differ.
pub fn same_shape(expected: &Value, actual: &Value, exact: bool) -> Result<(), String> {
    shape_at("$", expected, actual, exact)
}

fn shape_at(path: &str, expected: &Value, actual: &Value, exact: bool) -> Result<(), String> {
    match (expected, actual) {
        (Value::Null, _) => Ok(()),
        (Value::Object(want), Value::Object(got)) => {
            for (key, value) in want {
                let Some(found) = got.get(key) else {
                    return Err(format!("{path}.{key} is missing"));
                };
                shape_at(&format!("{path}.{key}"), value, found, exact)?;
            }
            if exact && let Some(extra) = got.keys().find(|key| !want.contains_key(*key)) {
                return Err(format!("{path}.{extra} is not in the fixture"));
            }
            Ok(())
        }
        (Value::Array(want), Value::Array(got)) => {
            got.iter().enumerate().try_for_each(|(i, item)| {
                // Element by element when the lengths agree, else each like the first.
                let like = if want.len() == got.len() {
                    want.get(i)
                } else {
                    want.first()
                };
                like.map_or(Ok(()), |like| {
                    shape_at(&format!("{path}[{i}]"), like, item, exact)
                })
            })
        }
        (Value::Bool(_), Value::Bool(_))
        | (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_)) => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}
