//! OAuth 2.0: the token endpoint and the sessions it hands out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::org::ORG_ID;

/// A connected app allowed to ask for tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    /// Its consumer key.
    pub client_id: String,
    /// Its consumer secret.
    pub client_secret: String,
}

/// A user who may log in with the password grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The username.
    pub username: String,
    /// The password (with the security token appended, as Salesforce
    /// expects, if the org wants one).
    pub password: String,
}

/// An OAuth error in Salesforce's shape (`{error, error_description}`,
/// HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_grant`, `invalid_client_id`, ...
    pub error: &'static str,
    /// The description Salesforce gives.
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: &str) -> Self {
        Self {
            error,
            description: description.to_owned(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

struct Session {
    expires_at: Instant,
}

/// The apps, the logins and the tokens handed out.
pub struct Sessions {
    apps: Vec<ConnectedApp>,
    logins: Vec<Login>,
    lifetime: Duration,
    access: HashMap<String, Session>,
    refresh: HashMap<String, String>,
}

impl Sessions {
    /// Sessions for `apps` and `logins`, each access token valid for
    /// `lifetime`.
    pub fn new(apps: Vec<ConnectedApp>, logins: Vec<Login>, lifetime: Duration) -> Self {
        Self {
            apps,
            logins,
            lifetime,
            access: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    /// Sets how long new access tokens live (tests force expiry with it).
    pub fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    /// Ends every access token now, as a session timeout would.
    pub fn expire_all(&mut self) {
        self.access.clear();
    }

    /// Whether `token` is a live access token.
    pub fn is_valid(&self, token: &str) -> bool {
        self.access
            .get(token)
            .is_some_and(|session| session.expires_at > Instant::now())
    }

    /// A new access token, as an Outbound Message's session id carries.
    pub fn issue_access_token(&mut self) -> String {
        let access_token = format!("{}!AQ0AQ{}", &ORG_ID[..15], random_token(90));
        self.access.insert(
            access_token.clone(),
            Session {
                expires_at: Instant::now() + self.lifetime,
            },
        );
        access_token
    }

    /// A refresh token for `client_id`, as the authorization-code flow
    /// hands one out.
    pub fn issue_refresh_token(&mut self, client_id: &str) -> String {
        let token = format!("5Aep861{}", random_token(80));
        self.refresh.insert(token.clone(), client_id.to_owned());
        token
    }

    /// Answers a token request (its form fields) for an org at
    /// `instance_url`.
    pub fn grant(
        &mut self,
        form: &HashMap<String, String>,
        instance_url: &str,
        user_id: &str,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let grant_type = field("grant_type");
        let app = self.app(field("client_id"))?;
        match grant_type {
            "password" => {
                self.check_secret(&app, field("client_secret"))?;
                let known = self.logins.iter().any(|login| {
                    login.username == field("username") && login.password == field("password")
                });
                if !known {
                    return Err(OAuthError::new("invalid_grant", "authentication failure"));
                }
                Ok(self.token(instance_url, user_id))
            }
            "client_credentials" => {
                self.check_secret(&app, field("client_secret"))?;
                Ok(self.token(instance_url, user_id))
            }
            "refresh_token" => {
                // A connected app may be set to not need its secret here.
                if form.contains_key("client_secret") {
                    self.check_secret(&app, field("client_secret"))?;
                }
                let owner = self.refresh.get(field("refresh_token"));
                if owner != Some(&app.client_id) {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "expired access/refresh token",
                    ));
                }
                Ok(self.token(instance_url, user_id))
            }
            _ => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
            )),
        }
    }

    fn app(&self, client_id: &str) -> Result<ConnectedApp, OAuthError> {
        self.apps
            .iter()
            .find(|app| app.client_id == client_id)
            .cloned()
            .ok_or_else(|| OAuthError::new("invalid_client_id", "client identifier invalid"))
    }

    fn check_secret(&self, app: &ConnectedApp, secret: &str) -> Result<(), OAuthError> {
        if app.client_secret == secret {
            Ok(())
        } else {
            Err(OAuthError::new(
                "invalid_client",
                "invalid client credentials",
            ))
        }
    }

    /// A new access token and the token response around it.
    fn token(&mut self, instance_url: &str, user_id: &str) -> Value {
        let access_token = self.issue_access_token();
        let issued_at = chrono::Utc::now().timestamp_millis().to_string();
        json!({
            "access_token": access_token,
            "signature": random_token(43) + "=",
            "scope": "api refresh_token",
            "instance_url": instance_url,
            "id": format!("{instance_url}/id/{ORG_ID}/{user_id}"),
            "token_type": "Bearer",
            "issued_at": issued_at,
        })
    }
}

fn random_token(length: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";
    (0..length)
        .map(|_| CHARS[fastrand::usize(..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(
            vec![ConnectedApp {
                client_id: "app".into(),
                client_secret: "secret".into(),
            }],
            vec![Login {
                username: "ada@example.com".into(),
                password: "pw".into(),
            }],
            Duration::from_secs(60),
        )
    }

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn grants_hand_out_tokens_that_work_until_they_expire() {
        let mut sessions = sessions();
        let response = sessions
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "app"),
                    ("client_secret", "secret"),
                ]),
                "http://127.0.0.1:1",
                "0055g00000000001AAA",
            )
            .unwrap();
        let token = response["access_token"].as_str().unwrap();
        assert!(token.starts_with("00D5g000004EmuL!"));
        assert!(sessions.is_valid(token));
        sessions.expire_all();
        assert!(!sessions.is_valid(token));

        let refresh = sessions.issue_refresh_token("app");
        let refreshed = sessions
            .grant(
                &form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "app"),
                    ("refresh_token", &refresh),
                ]),
                "http://127.0.0.1:1",
                "x",
            )
            .unwrap();
        assert!(refreshed.get("refresh_token").is_none(), "no rotation");
        assert!(sessions.is_valid(refreshed["access_token"].as_str().unwrap()));
    }

    #[test]
    fn bad_grants_get_salesforce_oauth_errors() {
        let mut sessions = sessions();
        let mut error =
            |pairs: &[(&str, &str)]| sessions.grant(&form(pairs), "u", "x").unwrap_err();
        assert_eq!(
            error(&[("grant_type", "password"), ("client_id", "nope")]).error,
            "invalid_client_id"
        );
        assert_eq!(
            error(&[
                ("grant_type", "client_credentials"),
                ("client_id", "app"),
                ("client_secret", "wrong")
            ])
            .error,
            "invalid_client"
        );
        let bad_password = error(&[
            ("grant_type", "password"),
            ("client_id", "app"),
            ("client_secret", "secret"),
            ("username", "ada@example.com"),
            ("password", "wrong"),
        ]);
        assert_eq!(
            (bad_password.error, bad_password.description.as_str()),
            ("invalid_grant", "authentication failure")
        );
        let stale = error(&[
            ("grant_type", "refresh_token"),
            ("client_id", "app"),
            ("refresh_token", "old"),
        ]);
        assert_eq!(stale.description, "expired access/refresh token");
        assert_eq!(
            error(&[("grant_type", "magic"), ("client_id", "app")]).error,
            "unsupported_grant_type"
        );
    }
}
