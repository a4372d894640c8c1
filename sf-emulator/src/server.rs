//! The emulator as an HTTP server: its settings, its shared state, and the
//! routes that put the OAuth endpoint and the REST API together.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::auth::{ConnectedApp, Login, Sessions};
use crate::bulk::Jobs;
use crate::error::ApiError;
use crate::faults::{Fault, Faults, Injected, LoggedRequest};
use crate::org::Org;
use crate::outbound::{self, Delivery, OutboundRule, Outbox, Retries};
use crate::pubsub::EventBus;
use crate::rest;
use crate::schema::Schema;
use crate::seed::{Seed, SeedError};

/// The connected app every emulator accepts unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "gust-local";
/// Its secret.
pub const DEFAULT_CLIENT_SECRET: &str = "gust-local-secret";
/// The user every emulator lets log in with the password grant.
pub const DEFAULT_USERNAME: &str = "integration@gust.example";
/// Their password.
pub const DEFAULT_PASSWORD: &str = "gust-local-password";

/// How an emulator behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The org's id (`00D...`, 18 characters).
    pub org_id: String,
    /// The connected apps that may ask for tokens.
    pub apps: Vec<ConnectedApp>,
    /// The users who may log in with a password.
    pub logins: Vec<Login>,
    /// How long an access token lives.
    pub token_lifetime: Duration,
    /// API requests allowed per day (`Sforce-Limit-Info`, then 403
    /// REQUEST_LIMIT_EXCEEDED).
    pub daily_api_requests: u64,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// The longest request URI taken; longer ones get 414, as past
    /// Salesforce's 16,384 bytes.
    pub max_uri_bytes: usize,
    /// When Outbound Messages are resent and dropped.
    pub outbound_retries: Retries,
    /// Where the records are kept across restarts (in memory only when
    /// `None`).
    pub data_dir: Option<PathBuf>,
    /// How long the event bus keeps events (Salesforce keeps them 72
    /// hours); older replay ids are refused.
    pub event_retention: Duration,
    /// The most events the event bus keeps, however young: the oldest go
    /// first, as if expired.
    pub event_capacity: usize,
    /// How long a Pub/Sub subscription that is owed events waits for one
    /// before it sends an empty keepalive response.
    pub pubsub_keepalive: Duration,
    /// How long a Pub/Sub subscription owed nothing waits for the client
    /// to ask for more before it closes the stream.
    pub pubsub_idle_close: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            org_id: crate::org::ORG_ID.to_owned(),
            apps: vec![ConnectedApp {
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            }],
            logins: vec![Login {
                username: DEFAULT_USERNAME.to_owned(),
                password: DEFAULT_PASSWORD.to_owned(),
            }],
            token_lifetime: Duration::from_secs(2 * 3600),
            daily_api_requests: 15_000,
            max_body_bytes: 50 * 1024 * 1024,
            max_uri_bytes: 16_384,
            outbound_retries: Retries::default(),
            data_dir: None,
            event_retention: crate::pubsub::DEFAULT_RETENTION,
            event_capacity: crate::pubsub::DEFAULT_CAPACITY,
            pubsub_keepalive: Duration::from_secs(60),
            pubsub_idle_close: Duration::from_secs(60),
        }
    }
}

/// What every route shares.
pub(crate) struct Shared {
    pub(crate) org: Mutex<Org>,
    pub(crate) sessions: Mutex<Sessions>,
    pub(crate) api_requests: AtomicU64,
    pub(crate) cursors: Mutex<rest::Cursors>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) log: Mutex<VecDeque<LoggedRequest>>,
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) jobs: Mutex<Jobs>,
    pub(crate) bus: Mutex<EventBus>,
    pub(crate) pubsub: Arc<crate::pubsub::Streams>,
    pub(crate) config: Config,
    pub(crate) instance_url: OnceLock<String>,
    /// Where the records came from.
    pub(crate) origin: Origin,
    /// The digest of the seed's records, saved with the records.
    pub(crate) seed_digest: Option<String>,
}

/// Where an emulator's records came from when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The seed (no saved org, or no data directory).
    Seed,
    /// The org saved in the data directory `dir`, from the same seed.
    Saved {
        /// The data directory.
        dir: PathBuf,
    },
    /// The seed, because its records changed since the org saved in `dir`
    /// was made from it; the saved org was moved to `backup`.
    SeedChanged {
        /// The data directory.
        dir: PathBuf,
        /// Where the saved org was moved.
        backup: PathBuf,
    },
}

impl Shared {
    pub(crate) fn org(&self) -> OrgGuard<'_> {
        OrgGuard {
            org: lock(&self.org),
            bus: &self.bus,
        }
    }

    pub(crate) fn bus(&self) -> MutexGuard<'_, EventBus> {
        lock(&self.bus)
    }

    pub(crate) fn cursors(&self) -> MutexGuard<'_, rest::Cursors> {
        lock(&self.cursors)
    }

    pub(crate) fn jobs(&self) -> MutexGuard<'_, Jobs> {
        lock(&self.jobs)
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.sessions)
    }

    /// The URL the emulator is reached at (as Salesforce's instance URL).
    pub(crate) fn instance_url(&self) -> &str {
        self.instance_url
            .get()
            .map_or("http://localhost", String::as_str)
    }
}

/// The org, locked. When it is let go, the writes made through it go to
/// the event bus as one transaction.
pub struct OrgGuard<'a> {
    org: MutexGuard<'a, Org>,
    bus: &'a Mutex<EventBus>,
}

impl std::ops::Deref for OrgGuard<'_> {
    type Target = Org;

    fn deref(&self) -> &Org {
        &self.org
    }
}

impl std::ops::DerefMut for OrgGuard<'_> {
    fn deref_mut(&mut self) -> &mut Org {
        &mut self.org
    }
}

impl Drop for OrgGuard<'_> {
    fn drop(&mut self) {
        let captured = self.org.take_captured();
        if !captured.is_empty() {
            lock(self.bus).append(&self.org, captured);
        }
    }
}

/// An emulated org: its state and its routes.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    /// An org with the standard objects, set up by `config`.
    pub fn new(config: Config) -> Self {
        let emulator = Self::with_origin(config, Origin::Seed, None);
        emulator.org().capture_writes();
        emulator
    }

    /// [`Emulator::new`], its records from `origin`.
    fn with_origin(config: Config, origin: Origin, seed_digest: Option<String>) -> Self {
        let sessions = Sessions::new(
            &config.org_id,
            config.apps.clone(),
            config.logins.clone(),
            config.token_lifetime,
        );
        Self {
            shared: Arc::new(Shared {
                org: Mutex::new(Org::new(Schema::standard())),
                sessions: Mutex::new(sessions),
                api_requests: AtomicU64::new(0),
                cursors: Mutex::default(),
                faults: Mutex::default(),
                log: Mutex::default(),
                outbox: Mutex::new(Outbox::new(Vec::new(), config.outbound_retries)),
                jobs: Mutex::default(),
                bus: Mutex::new(EventBus::new(config.event_retention, config.event_capacity)),
                pubsub: Arc::default(),
                config,
                instance_url: OnceLock::new(),
                origin,
                seed_digest,
            }),
        }
    }

    /// An org set up by `config`, then by `seed` (its objects, fields,
    /// records, apps and users). With a data directory that holds an org
    /// saved from the same seed, its records are restored instead of the
    /// seed's; when the seed's records changed since, the saved org is
    /// moved aside and the seed's records are used ([`Emulator::origin`]
    /// says which).
    pub fn with_seed(mut config: Config, seed: &Seed) -> Result<Self, SeedError> {
        let (apps, logins) = seed.logins();
        config.apps.extend(apps);
        config.logins.extend(logins);
        let digest = seed.records_digest();
        let (saved, origin) = match &config.data_dir {
            Some(dir) => match read_saved(dir).map_err(SeedError::Invalid)? {
                // An org saved before seeds were recorded is kept.
                Some(saved) if saved["seed"].as_str().is_none_or(|made| made == digest) => {
                    (Some(saved), Origin::Saved { dir: dir.clone() })
                }
                Some(_) => {
                    let backup = set_aside(dir).map_err(SeedError::Invalid)?;
                    let dir = dir.clone();
                    (None, Origin::SeedChanged { dir, backup })
                }
                None => (None, Origin::Seed),
            },
            None => (None, Origin::Seed),
        };
        let emulator = Self::with_origin(config, origin, Some(digest));
        {
            let mut org = emulator.org();
            seed.apply_schema(&mut org)?;
            match &saved {
                Some(saved) => org.restore(saved).map_err(SeedError::Invalid)?,
                None => seed.apply_records(&mut org)?,
            }
            // After the records: they are where the org starts, not changes.
            org.capture_writes();
        }
        for fault in &seed.faults {
            emulator.inject(fault.clone());
        }
        // After the records: they are where the org starts, not writes to send.
        for rule in &seed.outbound_messages {
            emulator.add_outbound_rule(rule.clone());
        }
        Ok(emulator)
    }

    /// The org's id.
    pub fn org_id(&self) -> &str {
        &self.shared.config.org_id
    }

    /// Where the records came from when the emulator started.
    pub fn origin(&self) -> &Origin {
        &self.shared.origin
    }

    /// The org's records and data model. The writes made through it are
    /// published as change events when it is let go.
    pub fn org(&self) -> OrgGuard<'_> {
        self.shared.org()
    }

    /// The org's event bus: its change and platform events.
    pub fn event_bus(&self) -> MutexGuard<'_, EventBus> {
        self.shared.bus()
    }

    /// What Pub/Sub subscribers have done: streams, events sent, the most
    /// events a client asked for beyond those it had received.
    pub fn pubsub_stats(&self) -> crate::pubsub::StreamStats {
        self.shared.pubsub.stats()
    }

    /// Ends every open Pub/Sub stream of this org with Salesforce's
    /// `INTERNAL` "service is unavailable" error, as when a server of
    /// Salesforce's goes away.
    pub fn drop_pubsub_streams(&self) {
        self.shared.pubsub.drop_all();
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The tokens handed out, to expire them or issue a refresh token.
    pub fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.shared.sessions()
    }

    /// Injects `fault` into the API requests it matches.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).add(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Adds an Outbound Message rule: its object's writes from now on are
    /// sent to its endpoint (while the emulator is served).
    pub fn add_outbound_rule(&self, rule: OutboundRule) {
        self.org().watch_changes();
        lock(&self.shared.outbox).add_rule(rule);
    }

    /// Every Outbound Message delivery attempt so far, oldest first.
    pub fn outbound_deliveries(&self) -> Vec<Delivery> {
        lock(&self.shared.outbox).deliveries()
    }

    /// Outbound notifications dropped past their maximum age.
    pub fn outbound_dropped(&self) -> usize {
        lock(&self.shared.outbox).dropped()
    }

    /// The requests answered so far (the last 10,000), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    /// The API requests counted today.
    pub fn api_requests(&self) -> u64 {
        self.shared.api_requests.load(Ordering::Relaxed)
    }

    /// The routes: `/services/oauth2/...` and `/services/data/...`. Served
    /// by [`Emulator::serve`], paths ending in `/` are taken too.
    pub fn router(&self) -> Router {
        let api = rest::routes().layer(middleware::from_fn_with_state(
            self.shared.clone(),
            authorize_and_count,
        ));
        Router::new()
            .route("/services/oauth2/token", post(token))
            .route("/services/oauth2/authorize", get(authorize))
            .route("/services/oauth2/userinfo", get(userinfo))
            .route("/services/oauth2/revoke", post(revoke))
            .route("/services/oauth2/introspect", post(introspect))
            .route("/id/{org}/{user}", get(identity))
            .route("/services/data", get(rest::versions))
            .merge(api)
            .layer(axum::extract::DefaultBodyLimit::max(
                self.shared.config.max_body_bytes,
            ))
            .layer(middleware::from_fn(salesforce_shaped))
            .layer(middleware::from_fn_with_state(
                self.shared.clone(),
                uri_length,
            ))
            .layer(middleware::from_fn_with_state(self.shared.clone(), log))
            .with_state(self.shared.clone())
    }

    /// Serves the emulator on `address` (port 0 for any free port) until
    /// the returned handle is dropped or stopped.
    pub async fn serve(self, address: SocketAddr) -> std::io::Result<Running> {
        let listener = TcpListener::bind(address).await?;
        let local = listener.local_addr()?;
        let url = format!("http://{local}");
        self.shared.instance_url.set(url.clone()).ok();
        let app = MapRequestLayer::new(without_trailing_slash).layer(self.router());
        let app = axum::ServiceExt::<Request>::into_make_service(app);
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "The Salesforce emulator stopped.");
            }
        });
        let outbound = tokio::spawn(deliver_outbound(self.shared.clone()));
        let saver = tokio::spawn(save_changes(self.clone()));
        Ok(Running {
            url,
            emulator: self,
            tasks: [task, outbound, saver],
        })
    }

    /// Writes the records to the data directory, if there is one (a file
    /// written whole, then renamed over the last).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.shared.config.data_dir else {
            return Ok(());
        };
        let mut snapshot = self.org().snapshot();
        if let Some(digest) = &self.shared.seed_digest {
            snapshot["seed"] = digest.as_str().into();
        }
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SAVED_ORG);
        let partial = dir.join(format!("{SAVED_ORG}.partial"));
        std::fs::write(&partial, serde_json::to_vec(&snapshot)?)?;
        std::fs::rename(partial, path)
    }

    /// Serves a default emulator on a free loopback port.
    pub async fn start() -> std::io::Result<Running> {
        Self::new(Config::default())
            .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
    }
}

/// An emulator being served.
pub struct Running {
    /// Its base URL (the instance URL and the login URL).
    pub url: String,
    /// The emulator, to reach its org and sessions.
    pub emulator: Emulator,
    tasks: [JoinHandle<()>; 3],
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The file the records are saved in, under the data directory.
const SAVED_ORG: &str = "org.json";

/// How often changed records are saved.
const SAVE_EVERY: Duration = Duration::from_millis(200);

/// The org saved in `dir`, if there is one.
fn read_saved(dir: &std::path::Path) -> Result<Option<serde_json::Value>, String> {
    let path = dir.join(SAVED_ORG);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| format!("the saved org {} is damaged: {error}", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// Moves the org saved in `dir` aside, to a file named by the time, and
/// returns where.
fn set_aside(dir: &std::path::Path) -> Result<PathBuf, String> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let backup = dir.join(format!("org-before-seed-change-{seconds}.json"));
    std::fs::rename(dir.join(SAVED_ORG), &backup).map_err(|error| {
        format!(
            "cannot move the saved org aside to {}: {error}",
            backup.display()
        )
    })?;
    Ok(backup)
}

impl Origin {
    /// What a user should be told of it; nothing when the records are the
    /// seed's.
    pub fn notice(&self) -> Option<String> {
        match self {
            Self::Seed => None,
            Self::Saved { dir } => Some(format!(
                "records restored from {} (saved from the same seed); delete that directory to \
                 start from the seed again",
                dir.display()
            )),
            Self::SeedChanged { dir, backup } => Some(format!(
                "the seed's records changed since {} was saved: the records are the seed's; the \
                 saved ones were moved to {}",
                dir.display(),
                backup.display()
            )),
        }
    }
}

/// Saves the records whenever they changed, if there is a data directory.
async fn save_changes(emulator: Emulator) {
    if emulator.shared.config.data_dir.is_none() {
        return;
    }
    let mut saved = None;
    loop {
        tokio::time::sleep(SAVE_EVERY).await;
        let version = emulator.org().version();
        if saved == Some(version) {
            continue;
        }
        match emulator.save() {
            Ok(()) => saved = Some(version),
            Err(error) => tracing::error!(%error, "Saving the org failed."),
        }
    }
}

/// How often the Outbound Message queue is looked at.
const OUTBOUND_TICK: Duration = Duration::from_millis(20);

/// Queues notifications for the org's writes and posts the messages due,
/// for as long as the emulator is served.
async fn deliver_outbound(shared: Arc<Shared>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    loop {
        tokio::time::sleep(OUTBOUND_TICK).await;
        let messages = {
            let mut org = shared.org();
            let mut outbox = lock(&shared.outbox);
            outbox.queue(org.take_changes());
            let sender = outbound::Sender {
                org_id: &shared.config.org_id,
                instance_url: shared.instance_url(),
            };
            outbox.due(&org, sender, || shared.sessions().issue_access_token())
        };
        for message in messages {
            let outcome = outbound::post(&client, &message).await;
            lock(&shared.outbox).delivered(&message, outcome);
        }
    }
}

/// `POST /services/oauth2/token` (form-encoded).
async fn token(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let user_id = shared.org().user().to_string();
    let granted = shared
        .sessions()
        .grant(&form, shared.instance_url(), &user_id);
    match granted {
        Ok(response) => axum::Json(response).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `GET /services/oauth2/userinfo`: who a live access token belongs to, in
/// OpenID Connect's claims (a part of Salesforce's); 403 `Bad_OAuth_Token`
/// for any other token.
async fn userinfo(State(shared): State<Arc<Shared>>, headers: axum::http::HeaderMap) -> Response {
    if !bearer(&headers).is_some_and(|token| shared.sessions().is_valid(token)) {
        return bad_oauth_token();
    }
    let user_id = shared.org().user().to_string();
    let org_id = &shared.config.org_id;
    let url = shared.instance_url();
    axum::Json(serde_json::json!({
        "sub": format!("{url}/id/{org_id}/{user_id}"),
        "user_id": user_id,
        "organization_id": org_id,
        "preferred_username": shared.sessions().username(),
        "user_type": "STANDARD",
        "active": true,
    }))
    .into_response()
}

/// `GET /id/{org}/{user}`: the identity URL a token answer names, read
/// with a live access token of that org; 403 `Bad_OAuth_Token` otherwise,
/// 404 for a user or org this is not.
async fn identity(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path((org_id, user_id)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !bearer(&headers).is_some_and(|token| shared.sessions().is_valid(token)) {
        return bad_oauth_token();
    }
    let user = shared.org().user().to_string();
    if org_id != shared.config.org_id || user_id != user {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "Bad_Id",
        )
            .into_response();
    }
    let url = shared.instance_url();
    let username = shared.sessions().username().to_owned();
    let version = "60.0";
    axum::Json(serde_json::json!({
        "id": format!("{url}/id/{org_id}/{user_id}"),
        "asserted_user": true,
        "user_id": user_id,
        "organization_id": org_id,
        "username": username,
        "nick_name": username.split('@').next().unwrap_or_default(),
        "display_name": "Integration User",
        "email": username,
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": format!("{url}/services/data/v{version}/"),
            "sobjects": format!("{url}/services/data/v{version}/sobjects/"),
            "query": format!("{url}/services/data/v{version}/query/"),
            "profile": format!("{url}/{user_id}"),
        },
        "api_version": version,
    }))
    .into_response()
}

/// `POST /services/oauth2/revoke` (form `token=...`): 200 when the token
/// was live (a refresh token takes its access tokens with it), 400
/// `invalid_token` otherwise.
async fn revoke(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    if shared.sessions().revoke(token) {
        StatusCode::OK.into_response()
    } else {
        crate::auth::OAuthError {
            error: "invalid_token",
            description: "invalid token".to_owned(),
        }
        .into_response()
    }
}

/// `POST /services/oauth2/introspect`: whether a token is live, and until
/// when, for an app that names itself with its secret.
async fn introspect(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let answer = shared.sessions().introspect(&form);
    match answer {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Salesforce's answer to a token it does not take on the OAuth routes.
fn bad_oauth_token() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain")],
        "Bad_OAuth_Token",
    )
        .into_response()
}

/// Records every request and its answer's status.
async fn log(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let response = next.run(request).await;
    let mut log = lock(&shared.log);
    if log.len() == LOGGED_REQUESTS {
        log.pop_front();
    }
    log.push_back(LoggedRequest {
        method,
        uri,
        status: response.status(),
    });
    drop(log);
    response
}

/// Refuses a URI over [`Config::max_uri_bytes`] with 414, in the HTML
/// Salesforce's front servers answer with rather than its JSON.
async fn uri_length(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if request.uri().to_string().len() <= shared.config.max_uri_bytes {
        return next.run(request).await;
    }
    (
        StatusCode::URI_TOO_LONG,
        [(header::CONTENT_TYPE, "text/html;charset=iso-8859-1")],
        "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>",
    )
        .into_response()
}

/// How many requests the log keeps, so that a long-running emulator does
/// not grow without end.
const LOGGED_REQUESTS: usize = 10_000;

/// `/services/data/v60.0/sobjects/Account/` as `.../Account`: Salesforce
/// takes paths with or without the trailing slash (clients send both).
pub(crate) fn without_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let uri = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = uri.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Answers the web framework's own refusals (no such route, a method not
/// allowed, a body over the limit, an unreadable query) in Salesforce's
/// error shape, as every other error is.
async fn salesforce_shaped(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "NOT_FOUND",
            "The requested resource does not exist".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "HTTP Method not allowed on this resource".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "REQUEST_ENTITY_TOO_LARGE",
            "The request body is larger than the limit".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "UNSUPPORTED_MEDIA_TYPE",
            "The Content-Type is not supported".to_owned(),
        ),
        _ => {
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            ("INVALID_INPUT", String::from_utf8_lossy(&body).into_owned())
        }
    };
    ApiError::new(status, code, message).into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET /services/oauth2/authorize`: approved at once, redirected back
/// with a code.
async fn authorize(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let query: HashMap<String, String> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let authorized = shared.sessions().authorize(&query);
    match authorized {
        // Salesforce sends the browser back with 302 Found.
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Every REST call: a live bearer token (401 INVALID_SESSION_ID), the
/// injected faults, counted against the daily allowance (403
/// REQUEST_LIMIT_EXCEEDED past it), and answered with `Sforce-Limit-Info`.
async fn authorize_and_count(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("OAuth "))
        })
        .map(str::trim);
    if !token.is_some_and(|token| shared.sessions().is_valid(token)) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
        .into_response();
    }
    let injected = lock(&shared.faults).apply(request.method(), request.uri().path());
    let hold = match injected {
        Some(Injected::Fail(error)) => return error.into_response(),
        Some(Injected::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(Injected::HoldAnswer(delay)) => Some(delay),
        None => None,
    };
    let limit = shared.config.daily_api_requests;
    let used = shared.api_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let mut response = if used > limit {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
        .into_response()
    } else {
        next.run(request).await
    };
    if let Ok(value) = HeaderValue::from_str(&format!("api-usage={}/{limit}", used.min(limit))) {
        response.headers_mut().insert("sforce-limit-info", value);
    }
    if let Some(delay) = hold {
        tokio::time::sleep(delay).await;
    }
    response
}
