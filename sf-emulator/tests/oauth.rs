//! The web-server flow as a connecting app drives it over HTTP: several
//! orgs in one process, PKCE, the identity URL, introspection, revocation,
//! refresh-token policies, and a user who denies access.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use base64::Engine;
use common::Org;
use serde_json::Value;
use sf_emulator::auth::RefreshPolicy;
use sf_emulator::org::nth_org_id;
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator, Running};
use sha2::Digest;

const CALLBACK: &str = "http://127.0.0.1:9/connect/callback";
const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

async fn serve(n: u64) -> Running {
    let config = Config {
        org_id: nth_org_id(n),
        ..Config::default()
    };
    Emulator::new(config)
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The query of the URL a 302 sends the browser to.
async fn redirect_query(response: reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(CALLBACK), "{location}");
    let query = location.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Authorizes at `org` with an S256 challenge and returns the redirect's
/// query.
async fn authorize(client: &reqwest::Client, org: &str) -> HashMap<String, String> {
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let response = client
        .get(format!("{org}/services/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", CALLBACK),
            ("state", "s-1"),
            ("scope", "api refresh_token"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    redirect_query(response).await
}

async fn exchange(client: &reqwest::Client, org: &str, code: &str, verifier: &str) -> (u16, Value) {
    Org::send(client.post(format!("{org}/services/oauth2/token")).form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("redirect_uri", CALLBACK),
        ("code_verifier", verifier),
    ]))
    .await
}

async fn refresh(client: &reqwest::Client, org: &str, token: &str) -> (u16, Value) {
    Org::send(client.post(format!("{org}/services/oauth2/token")).form(&[
        ("grant_type", "refresh_token"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("refresh_token", token),
    ]))
    .await
}

/// Connects at `org` and returns the token answer.
async fn connect(client: &reqwest::Client, org: &str) -> Value {
    let query = authorize(client, org).await;
    let (status, granted) = exchange(client, org, &query["code"], VERIFIER).await;
    assert_eq!(status, 200, "{granted}");
    granted
}

#[tokio::test]
async fn two_orgs_in_one_process_hand_out_tokens_that_name_and_reach_their_own_org() {
    let (first, second) = (serve(0).await, serve(1).await);
    assert_ne!(first.emulator.org_id(), second.emulator.org_id());
    assert_eq!(second.emulator.org_id().len(), 18);
    let client = no_redirects();
    let query = authorize(&client, &second.url).await;
    assert_eq!(query["state"], "s-1");

    // A wrong verifier is refused and spends the code.
    let (status, refused) = exchange(&client, &second.url, &query["code"], "wrong").await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let granted = connect(&client, &second.url).await;
    let id = granted["id"].as_str().unwrap();
    assert!(
        id.starts_with(&format!(
            "{}/id/{}/005",
            second.url,
            second.emulator.org_id()
        )),
        "{id}"
    );
    assert_eq!(
        granted["signature"].as_str().unwrap(),
        sf_emulator::auth::signature(
            DEFAULT_CLIENT_SECRET,
            id,
            granted["issued_at"].as_str().unwrap()
        )
    );
    assert_eq!(granted["scope"], "api refresh_token");
    let access = granted["access_token"].as_str().unwrap();
    assert!(access.starts_with(&second.emulator.org_id()[..15]));

    // The identity URL, with the token.
    let (status, identity) = Org::send(client.get(id).bearer_auth(access)).await;
    assert_eq!(status, 200);
    assert_eq!(identity["organization_id"], second.emulator.org_id());
    assert_eq!(identity["username"], sf_emulator::DEFAULT_USERNAME);
    let (status, _) = Org::send(client.get(id).bearer_auth("forged")).await;
    assert_eq!(status, 403);

    // The token is the second org's: the first does not take it.
    let limits = |url: &str| format!("{url}/services/data/v60.0/limits");
    let (status, _) = Org::send(client.get(limits(&second.url)).bearer_auth(access)).await;
    assert_eq!(status, 200);
    let (status, _) = Org::send(client.get(limits(&first.url)).bearer_auth(access)).await;
    assert_eq!(status, 401);
    assert!(
        first
            .emulator
            .requests()
            .iter()
            .all(|request| !request.uri.contains("/id/"))
    );
}

#[tokio::test]
async fn introspection_and_revocation_answer_as_salesforce_does() {
    let org = serve(0).await;
    let client = no_redirects();
    let granted = connect(&client, &org.url).await;
    let access = granted["access_token"].as_str().unwrap();
    let refresh_token = granted["refresh_token"].as_str().unwrap();
    let introspect = |token: &str, secret: &str| {
        client
            .post(format!("{}/services/oauth2/introspect", org.url))
            .form(&[
                ("token", token),
                ("token_type_hint", "access_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", secret),
            ])
    };
    let (status, live) = Org::send(introspect(access, DEFAULT_CLIENT_SECRET)).await;
    assert_eq!((status, &live["active"]), (200, &Value::Bool(true)));
    let lifetime = live["exp"].as_i64().unwrap() - live["iat"].as_i64().unwrap();
    assert!((7_190..=7_200).contains(&lifetime), "{live}");
    let (status, refused) = Org::send(introspect(access, "wrong")).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_client"))
    );

    // Revoking the refresh token ends its access token too.
    let revoke = |token: &str| {
        client
            .post(format!("{}/services/oauth2/revoke", org.url))
            .form(&[("token", token)])
    };
    let (status, _) = Org::send(revoke(refresh_token)).await;
    assert_eq!(status, 200);
    let (_, dead) = Org::send(introspect(access, DEFAULT_CLIENT_SECRET)).await;
    assert_eq!(dead, serde_json::json!({ "active": false }));
    let (status, again) = Org::send(revoke(refresh_token)).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_token"))
    );
    let (status, expired) = refresh(&client, &org.url, refresh_token).await;
    assert_eq!(
        (status, expired["error_description"].as_str()),
        (400, Some("expired access/refresh token"))
    );
}

#[tokio::test]
async fn refresh_token_policies_rotate_expire_and_revoke() {
    let org = serve(0).await;
    let client = no_redirects();
    org.emulator.sessions().set_refresh_policy(RefreshPolicy {
        rotate: true,
        ..RefreshPolicy::default()
    });
    let first = connect(&client, &org.url).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, rotated) = refresh(&client, &org.url, &first).await;
    assert_eq!(status, 200);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(
        refresh(&client, &org.url, &first).await.0,
        400,
        "the old one is spent"
    );
    assert_eq!(refresh(&client, &org.url, &second).await.0, 200);

    org.emulator
        .sessions()
        .set_refresh_policy(RefreshPolicy::default());
    let kept = connect(&client, &org.url).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, answer) = refresh(&client, &org.url, &kept).await;
    assert!(
        answer.get("refresh_token").is_none(),
        "no rotation: {answer}"
    );
    org.emulator.sessions().revoke_refresh_tokens();
    let (status, revoked) = refresh(&client, &org.url, &kept).await;
    assert_eq!(
        (status, revoked["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    org.emulator.sessions().set_refresh_policy(RefreshPolicy {
        expire_immediately: true,
        ..RefreshPolicy::default()
    });
    let once = connect(&client, &org.url).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, expired) = refresh(&client, &org.url, &once).await;
    assert_eq!(
        (status, expired["error_description"].as_str()),
        (400, Some("expired access/refresh token"))
    );
}

#[tokio::test]
async fn a_denied_authorization_redirects_back_with_the_error_and_the_state() {
    let org = serve(0).await;
    org.emulator
        .sessions()
        .deny_authorizations(Some(("access_denied", "end-user denied authorization")));
    let query = authorize(&no_redirects(), &org.url).await;
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_description"], "end-user denied authorization");
    assert_eq!(query["state"], "s-1");
    assert!(!query.contains_key("code"));
}
