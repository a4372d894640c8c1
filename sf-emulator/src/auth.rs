//! OAuth 2.0: the token, revoke and introspect endpoints, the authorize
//! page, and the sessions they hand out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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

/// How refresh tokens behave, as a connected app's Refresh Token Policy
/// and its rotation setting make them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Each refresh hands out a new refresh token and the one used stops
    /// working ("Enable Refresh Token Rotation").
    pub rotate: bool,
    /// Refresh tokens stop working as soon as they are handed out
    /// ("Immediately expire refresh token").
    pub expire_immediately: bool,
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

/// A live access token.
struct Session {
    expires_at: Instant,
    /// When it was issued, in seconds since the epoch (for introspection).
    issued_at: i64,
    /// The app it was issued to, if one asked for it.
    client_id: Option<String>,
    /// The refresh token it was issued from or with: revoking that one
    /// revokes it too.
    refresh_token: Option<String>,
}

/// How long an authorization code can be exchanged.
const CODE_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The scopes granted when an authorization request names none.
const DEFAULT_SCOPE: &str = "api refresh_token";

/// An authorization code handed out by `/authorize`, for one exchange.
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    scope: String,
    expires_at: Instant,
}

/// The apps, the logins and the tokens handed out by one org.
pub struct Sessions {
    org_id: String,
    apps: Vec<ConnectedApp>,
    logins: Vec<Login>,
    lifetime: Duration,
    access: HashMap<String, Session>,
    /// Refresh tokens and the app each belongs to.
    refresh: HashMap<String, String>,
    codes: HashMap<String, Code>,
    policy: RefreshPolicy,
    /// The error every authorization request is answered with, instead of
    /// an approval.
    denial: Option<(String, String)>,
    /// Token answers are signed under another key, as an answer altered on
    /// its way would be.
    forged_signatures: bool,
    /// The instance token answers name instead of the org's own, as an
    /// answer altered on its way would.
    named_instance: Option<String>,
}

/// Who an access token belongs to, as the identity URL tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    /// The app it was issued to, if one asked for it.
    pub client_id: Option<String>,
    /// When it expires, in seconds since the epoch.
    pub expires_at: i64,
    /// When it was issued, in seconds since the epoch.
    pub issued_at: i64,
}

impl Sessions {
    /// Sessions of the org `org_id` for `apps` and `logins`, each access
    /// token valid for `lifetime`.
    pub fn new(
        org_id: &str,
        apps: Vec<ConnectedApp>,
        logins: Vec<Login>,
        lifetime: Duration,
    ) -> Self {
        Self {
            org_id: org_id.to_owned(),
            apps,
            logins,
            lifetime,
            access: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            policy: RefreshPolicy::default(),
            denial: None,
            forged_signatures: false,
            named_instance: None,
        }
    }

    /// Sets how long new access tokens live (tests force expiry with it).
    pub fn set_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
    }

    /// Sets how refresh tokens behave from now on.
    pub fn set_refresh_policy(&mut self, policy: RefreshPolicy) {
        self.policy = policy;
    }

    /// Makes every authorization request from now on redirect back with
    /// `error` and `description` (such as `access_denied`, "end-user
    /// denied authorization") instead of a code; `None` approves again.
    pub fn deny_authorizations(&mut self, denial: Option<(&str, &str)>) {
        self.denial = denial.map(|(error, description)| (error.to_owned(), description.to_owned()));
    }

    /// Signs token answers from now on under a key that is not the app's
    /// secret (`true`), as an answer altered on its way would be signed, to
    /// test that clients check the signature.
    pub fn forge_signatures(&mut self, forged: bool) {
        self.forged_signatures = forged;
    }

    /// Makes token answers from now on name `instance` as the
    /// `instance_url` (`None`: the org's own), to test that clients hold it
    /// to Salesforce's hosts.
    pub fn name_instance(&mut self, instance: Option<&str>) {
        self.named_instance = instance.map(str::to_owned);
    }

    /// Every live access and refresh token, to test that a client keeps
    /// none of them in the clear.
    pub fn live_tokens(&self) -> Vec<String> {
        self.access
            .keys()
            .chain(self.refresh.keys())
            .cloned()
            .collect()
    }

    /// Ends every access token now, as a session timeout would.
    pub fn expire_all(&mut self) {
        self.access.clear();
    }

    /// Revokes every refresh token and the access tokens issued from
    /// them, as an admin revoking the app's access would.
    pub fn revoke_refresh_tokens(&mut self) {
        self.refresh.clear();
        self.access
            .retain(|_, session| session.refresh_token.is_none());
    }

    /// Revokes `token`, a refresh token (with its access tokens) or an
    /// access token; whether it was one.
    pub fn revoke(&mut self, token: &str) -> bool {
        if self.refresh.remove(token).is_some() {
            self.access
                .retain(|_, session| session.refresh_token.as_deref() != Some(token));
            return true;
        }
        self.access.remove(token).is_some()
    }

    /// Whether `token` is a live access token.
    pub fn is_valid(&self, token: &str) -> bool {
        self.owner(token).is_some()
    }

    /// Who the live access token `token` was issued to.
    pub fn owner(&self, token: &str) -> Option<TokenOwner> {
        let session = self
            .access
            .get(token)
            .filter(|session| session.expires_at > Instant::now())?;
        let left = session.expires_at.saturating_duration_since(Instant::now());
        Some(TokenOwner {
            client_id: session.client_id.clone(),
            expires_at: chrono::Utc::now().timestamp() + left.as_secs() as i64,
            issued_at: session.issued_at,
        })
    }

    /// Whether `token` is a live refresh token.
    pub fn is_refresh_token(&self, token: &str) -> bool {
        self.refresh.contains_key(token)
    }

    /// A new access token, as an Outbound Message's session id carries.
    pub fn issue_access_token(&mut self) -> String {
        self.issue(None, None)
    }

    fn issue(&mut self, client_id: Option<&str>, refresh_token: Option<&str>) -> String {
        // Expired tokens go, so that the table does not grow without end.
        let now = Instant::now();
        self.access.retain(|_, session| session.expires_at > now);
        let access_token = format!("{}!AQ0AQ{}", &self.org_id[..15], random_token(90));
        self.access.insert(
            access_token.clone(),
            Session {
                expires_at: now + self.lifetime,
                issued_at: chrono::Utc::now().timestamp(),
                client_id: client_id.map(str::to_owned),
                refresh_token: refresh_token.map(str::to_owned),
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

    /// Answers an authorization request at once (the emulator has no one
    /// to ask): the URL to redirect to, with a code, or with the error
    /// [`Sessions::deny_authorizations`] set.
    pub fn authorize(&mut self, query: &HashMap<String, String>) -> Result<String, OAuthError> {
        let field = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
        let app = self.app(field("client_id"))?;
        let redirect_uri = field("redirect_uri");
        if redirect_uri.is_empty() {
            return Err(OAuthError::new(
                "redirect_uri_mismatch",
                "redirect_uri must match configuration",
            ));
        }
        let state = query.get("state").map(|state| ("state", state.as_str()));
        let refusal = if field("response_type") != "code" {
            Some(("unsupported_response_type", "response type not supported"))
        } else {
            self.denial
                .as_ref()
                .map(|(error, description)| (error.as_str(), description.as_str()))
        };
        if let Some((error, description)) = refusal {
            let error = [("error", error), ("error_description", description)];
            return Ok(url_with(
                redirect_uri,
                &error.into_iter().chain(state).collect::<Vec<_>>(),
            ));
        }
        let challenge = query.get("code_challenge").map(|challenge| {
            let method = query
                .get("code_challenge_method")
                .map_or("plain", String::as_str);
            (challenge.clone(), method.to_owned())
        });
        let scope = match field("scope") {
            "" => DEFAULT_SCOPE.to_owned(),
            scope => scope.to_owned(),
        };
        let code = format!("aPrx{}", random_token(60));
        self.codes.insert(
            code.clone(),
            Code {
                client_id: app.client_id,
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                scope,
                expires_at: Instant::now() + CODE_LIFETIME,
            },
        );
        Ok(url_with(
            redirect_uri,
            &[("code", code.as_str())]
                .into_iter()
                .chain(state)
                .collect::<Vec<_>>(),
        ))
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
        if grant_type == JWT_BEARER {
            return self.jwt_bearer(field("assertion"), instance_url, user_id);
        }
        let app = self.app(field("client_id"))?;
        let answer = Answer {
            instance_url,
            user_id,
            scope: DEFAULT_SCOPE,
        };
        match grant_type {
            "password" => {
                self.check_secret(&app, field("client_secret"))?;
                let known = self.logins.iter().any(|login| {
                    login.username == field("username") && login.password == field("password")
                });
                if !known {
                    return Err(OAuthError::new("invalid_grant", "authentication failure"));
                }
                Ok(self.token(&app, &answer, None))
            }
            "client_credentials" => {
                self.check_secret(&app, field("client_secret"))?;
                Ok(self.token(&app, &answer, None))
            }
            "authorization_code" => self.exchange_code(&app, form, &answer),
            "refresh_token" => {
                // A connected app may be set to not need its secret here.
                if form.contains_key("client_secret") {
                    self.check_secret(&app, field("client_secret"))?;
                }
                let used = field("refresh_token");
                if self.refresh.get(used) != Some(&app.client_id) {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "expired access/refresh token",
                    ));
                }
                if self.policy.expire_immediately {
                    self.revoke(used);
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "expired access/refresh token",
                    ));
                }
                if !self.policy.rotate {
                    return Ok(self.token(&app, &answer, Some(used)));
                }
                self.revoke(used);
                let rotated = self.issue_refresh_token(&app.client_id);
                let mut response = self.token(&app, &answer, Some(&rotated));
                response["refresh_token"] = json!(rotated);
                Ok(response)
            }
            _ => Err(OAuthError::new(
                "unsupported_grant_type",
                "grant type not supported",
            )),
        }
    }

    /// The authorization-code grant: the code once, for the app and
    /// redirect URI it was issued for; its PKCE verifier when it was
    /// issued with a challenge, and the consumer secret when one is sent
    /// (a confidential client sends both) or when there was no challenge.
    fn exchange_code(
        &mut self,
        app: &ConnectedApp,
        form: &HashMap<String, String>,
        answer: &Answer<'_>,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let code = self
            .codes
            .remove(field("code"))
            .filter(|code| code.expires_at > Instant::now() && code.client_id == app.client_id)
            .ok_or_else(|| OAuthError::new("invalid_grant", "invalid authorization code"))?;
        if code.redirect_uri != field("redirect_uri") {
            return Err(OAuthError::new(
                "invalid_grant",
                "redirect_uri must match configuration",
            ));
        }
        match &code.challenge {
            Some((challenge, method)) => {
                if !verifies(challenge, method, field("code_verifier")) {
                    return Err(OAuthError::new("invalid_grant", "invalid code verifier"));
                }
                if form.contains_key("client_secret") {
                    self.check_secret(app, field("client_secret"))?;
                }
            }
            None => self.check_secret(app, field("client_secret"))?,
        }
        let answer = Answer {
            scope: &code.scope,
            ..*answer
        };
        let offline = code
            .scope
            .split(' ')
            .any(|scope| matches!(scope, "refresh_token" | "offline_access" | "full"));
        if !offline {
            return Ok(self.token(app, &answer, None));
        }
        let refresh_token = self.issue_refresh_token(&app.client_id);
        let mut response = self.token(app, &answer, Some(&refresh_token));
        response["refresh_token"] = json!(refresh_token);
        Ok(response)
    }

    /// `POST /services/oauth2/introspect`: what a token is, for an app that
    /// names itself with its secret; `{"active": false}` for a token that
    /// is not live.
    pub fn introspect(&self, form: &HashMap<String, String>) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let app = self.app(field("client_id"))?;
        self.check_secret(&app, field("client_secret"))?;
        let token = field("token");
        if let Some(owner) = self.owner(token) {
            return Ok(json!({
                "active": true,
                "scope": DEFAULT_SCOPE,
                "client_id": owner.client_id.unwrap_or_default(),
                "username": self.username(),
                "token_type": "access_token",
                "exp": owner.expires_at,
                "iat": owner.issued_at,
                "nbf": owner.issued_at,
            }));
        }
        if self.refresh.get(token) == Some(&app.client_id) {
            return Ok(json!({
                "active": true,
                "scope": DEFAULT_SCOPE,
                "client_id": app.client_id,
                "username": self.username(),
                "token_type": "refresh_token",
            }));
        }
        Ok(json!({ "active": false }))
    }

    /// The org these sessions belong to.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The username of the org's integration user.
    pub fn username(&self) -> &str {
        self.logins
            .first()
            .map_or(crate::server::DEFAULT_USERNAME, |login| &login.username)
    }

    /// The JWT bearer grant: the assertion's issuer is a connected app, its
    /// subject a user, its audience the login server, and it has not
    /// expired.
    fn jwt_bearer(
        &mut self,
        assertion: &str,
        instance_url: &str,
        user_id: &str,
    ) -> Result<Value, OAuthError> {
        let claims = jwt_claims(assertion)
            .ok_or_else(|| OAuthError::new("invalid_grant", "invalid assertion"))?;
        let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
        let app = self.app(claim("iss"))?;
        if !self
            .logins
            .iter()
            .any(|login| login.username == claim("sub"))
        {
            return Err(OAuthError::new(
                "invalid_grant",
                "user hasn't approved this consumer",
            ));
        }
        let audience = claim("aud");
        let audience_ok = audience == instance_url
            || audience == "https://login.salesforce.com"
            || audience == "https://test.salesforce.com";
        if !audience_ok {
            return Err(OAuthError::new("invalid_grant", "audience is invalid"));
        }
        let expires = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if expires <= chrono::Utc::now().timestamp() {
            return Err(OAuthError::new(
                "invalid_grant",
                "expired authorization code",
            ));
        }
        let answer = Answer {
            instance_url,
            user_id,
            scope: DEFAULT_SCOPE,
        };
        Ok(self.token(&app, &answer, None))
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

    /// A new access token (issued from or with `refresh_token`) and the
    /// token response around it.
    fn token(
        &mut self,
        app: &ConnectedApp,
        answer: &Answer<'_>,
        refresh_token: Option<&str>,
    ) -> Value {
        let access_token = self.issue(Some(&app.client_id), refresh_token);
        let issued_at = chrono::Utc::now().timestamp_millis().to_string();
        let id = format!(
            "{}/id/{}/{}",
            answer.instance_url, self.org_id, answer.user_id
        );
        json!({
            "access_token": access_token,
            "signature": signature(
                if self.forged_signatures { "forged" } else { &app.client_secret },
                &id,
                &issued_at,
            ),
            "scope": answer.scope,
            "instance_url": self.named_instance.as_deref().unwrap_or(answer.instance_url),
            "id": id,
            "token_type": "Bearer",
            "issued_at": issued_at,
        })
    }
}

/// What a token answer names besides its tokens.
#[derive(Clone, Copy)]
struct Answer<'a> {
    instance_url: &'a str,
    user_id: &'a str,
    scope: &'a str,
}

/// The JWT bearer grant's type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The claims of a JWT. The emulator reads them but does not check the
/// RS256 signature: it holds no certificates.
fn jwt_claims(assertion: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine;
    let mut parts = assertion.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&payload).ok()
}

/// A token answer's `signature`, as Salesforce makes it: the HMAC-SHA256
/// of its `id` and `issued_at` under the app's consumer secret, in base64.
pub fn signature(client_secret: &str, id: &str, issued_at: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `verifier` matches a PKCE `challenge` made with `method`.
fn verifies(challenge: &str, method: &str, verifier: &str) -> bool {
    use base64::Engine;
    use sha2::Digest;
    match method {
        "S256" => {
            let digest = sha2::Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
        }
        _ => !verifier.is_empty() && verifier == challenge,
    }
}

/// `base` with `pairs` added to its query.
fn url_with(base: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return base.to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
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
            crate::org::ORG_ID,
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

    /// A token answer for the client credentials grant of the test app.
    fn client_credentials(sessions: &mut Sessions) -> Value {
        sessions
            .grant(
                &form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "app"),
                    ("client_secret", "secret"),
                ]),
                "http://127.0.0.1:1",
                "0055g00000000001AAA",
            )
            .unwrap()
    }

    #[test]
    fn a_token_answer_is_signed_with_the_apps_secret_as_salesforce_signs_it() {
        // Computed apart from this code: base64(HMAC-SHA256("secret", id + issued_at)).
        assert_eq!(
            signature(
                "secret",
                "https://login.salesforce.com/id/00D5g000004EmuLEAS/0055g00000000001AAA",
                "1733500000000"
            ),
            "ZCDwI4F+8ckpsytLxko5gLiLksPBTgPs7dxBs+Oznek="
        );
        let response = client_credentials(&mut sessions());
        let field = |name: &str| response[name].as_str().unwrap().to_owned();
        assert_eq!(
            field("signature"),
            signature("secret", &field("id"), &field("issued_at"))
        );
        assert_ne!(
            field("signature"),
            signature("other", &field("id"), &field("issued_at"))
        );
    }

    #[test]
    fn grants_hand_out_tokens_that_work_until_they_expire() {
        let mut sessions = sessions();
        let response = client_credentials(&mut sessions);
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

    /// The query of a redirect URL.
    fn query_of(url: &str) -> HashMap<String, String> {
        let query = url
            .split_once('?')
            .map(|(_, query)| query)
            .unwrap_or_default();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn the_code_flow_with_pkce_hands_out_a_refresh_token_once() {
        use base64::Engine;
        use sha2::Digest;
        let mut sessions = sessions();
        let verifier = "a-long-random-verifier-of-at-least-43-characters-xyz";
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier));
        let redirect = sessions
            .authorize(&form(&[
                ("response_type", "code"),
                ("client_id", "app"),
                ("redirect_uri", "http://localhost:1717/callback"),
                ("state", "xyz"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .unwrap();
        assert!(redirect.starts_with("http://localhost:1717/callback?code="));
        let query = query_of(&redirect);
        assert_eq!(query["state"], "xyz");
        let exchange = |sessions: &mut Sessions, verifier: &str| {
            sessions.grant(
                &form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "app"),
                    ("code", &query["code"]),
                    ("redirect_uri", "http://localhost:1717/callback"),
                    ("code_verifier", verifier),
                ]),
                "u",
                "x",
            )
        };
        assert_eq!(
            exchange(&mut sessions, "wrong").unwrap_err().description,
            "invalid code verifier"
        );
        // A refused exchange spends the code, as a used one is.
        assert_eq!(
            exchange(&mut sessions, verifier).unwrap_err().description,
            "invalid authorization code"
        );

        let redirect = sessions
            .authorize(&form(&[
                ("response_type", "code"),
                ("client_id", "app"),
                ("redirect_uri", "http://localhost:1717/callback"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ]))
            .unwrap();
        let code = query_of(&redirect)["code"].clone();
        let granted = sessions
            .grant(
                &form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "app"),
                    ("code", &code),
                    ("redirect_uri", "http://localhost:1717/callback"),
                    ("code_verifier", verifier),
                ]),
                "u",
                "x",
            )
            .unwrap();
        assert!(sessions.is_valid(granted["access_token"].as_str().unwrap()));
        let refresh = granted["refresh_token"].as_str().unwrap();
        let refreshed = sessions.grant(
            &form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "app"),
                ("refresh_token", refresh),
            ]),
            "u",
            "x",
        );
        assert!(refreshed.is_ok());
        let unsupported = sessions
            .authorize(&form(&[
                ("response_type", "token"),
                ("client_id", "app"),
                ("redirect_uri", "http://cb"),
            ]))
            .unwrap();
        assert_eq!(query_of(&unsupported)["error"], "unsupported_response_type");
    }

    #[test]
    fn the_jwt_bearer_grant_checks_issuer_subject_audience_and_expiry() {
        use base64::Engine;
        let mut sessions = sessions();
        let jwt = |claims: Value| {
            let encode = |value: &Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
            };
            format!(
                "{}.{}.c2lnbmF0dXJl",
                encode(&json!({ "alg": "RS256" })),
                encode(&claims)
            )
        };
        let later = chrono::Utc::now().timestamp() + 120;
        let mut grant = |claims: Value| {
            sessions.grant(
                &form(&[("grant_type", JWT_BEARER), ("assertion", &jwt(claims))]),
                "http://127.0.0.1:1",
                "x",
            )
        };
        let good = json!({ "iss": "app", "sub": "ada@example.com", "aud": "https://login.salesforce.com", "exp": later });
        assert!(grant(good.clone()).unwrap().get("refresh_token").is_none());
        let mut expired = good.clone();
        expired["exp"] = json!(later - 1_000);
        assert_eq!(
            grant(expired).unwrap_err().description,
            "expired authorization code"
        );
        let mut audience = good.clone();
        audience["aud"] = json!("https://evil.example");
        assert_eq!(
            grant(audience).unwrap_err().description,
            "audience is invalid"
        );
        let mut stranger = good.clone();
        stranger["sub"] = json!("mallory@example.com");
        assert_eq!(grant(stranger).unwrap_err().error, "invalid_grant");
        let mut issuer = good;
        issuer["iss"] = json!("other-app");
        assert_eq!(grant(issuer).unwrap_err().error, "invalid_client_id");
        assert_eq!(
            sessions
                .grant(
                    &form(&[("grant_type", JWT_BEARER), ("assertion", "not.a-jwt")]),
                    "u",
                    "x"
                )
                .unwrap_err()
                .description,
            "invalid assertion"
        );
    }
}
