//! The connection routes: the connect flow the customer's browser goes
//! through (`/connect/salesforce/...`, no admin token: the session's URL
//! and `state` are its secrets) and the admin API over connections, connect
//! sessions and OAuth apps.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::ApiError;
use axum::Router;
use axum::routing::{delete as delete_route, get as get_route, post};

use crate::connections::{
    AppView, CALLBACK_PATH, CallbackOutcome, CheckResult, ConnectError, ConnectSessionRequest,
    ConnectionView, Connections, CreatedSession, DONE_PATH, Deleted, NewOAuthApp, START_PATH,
};

/// The routes the customer's browser goes through: the connect link and
/// Salesforce's callback.
pub(crate) fn browser_routes(connections: Connections) -> Router {
    Router::new()
        .route(&format!("{START_PATH}/{{session}}"), get_route(start))
        .route(CALLBACK_PATH, get_route(callback))
        .route(DONE_PATH, get_route(done))
        .with_state(connections)
}

/// The admin API over connections, connect sessions and OAuth apps.
pub(super) fn admin_routes(connections: Connections) -> Router {
    Router::new()
        .route("/api/connect-sessions", post(create_session))
        .route("/api/connections", get_route(list))
        .route("/api/connections/{id}", get_route(get).delete(delete))
        .route("/api/connections/{id}/check", post(check))
        .route("/api/connections/{id}/disable", post(disable))
        .route("/api/connections/{id}/enable", post(enable))
        .route("/api/oauth-apps", get_route(apps).post(create_app))
        .route("/api/oauth-apps/{name}", delete_route(delete_app))
        .with_state(connections)
}

impl From<ConnectError> for ApiError {
    fn from(error: ConnectError) -> Self {
        ApiError::new(error.status(), error)
    }
}

/// A page for the customer's browser: the refusal, in plain text.
fn page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("Gust could not connect Salesforce: {message}\n"),
    )
        .into_response()
}

/// A redirect the browser follows, never cached (it carries one-time
/// values).
fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}

/// `GET /connect/salesforce/start/{session}`: to Salesforce's authorize
/// page, once.
pub(super) async fn start(
    State(connections): State<Connections>,
    Path(session): Path<String>,
) -> Response {
    match connections.open_session(&session).await {
        Ok(url) => found(&url),
        Err(error) => {
            let message = error.to_string();
            page(ApiError::from(error).status, &message)
        }
    }
}

/// `GET /connect/salesforce/callback`: Salesforce sends the browser back
/// here.
pub(super) async fn callback(
    State(connections): State<Connections>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match connections.callback(&query).await {
        CallbackOutcome::Redirect(url) => found(&url),
        CallbackOutcome::Refused(message) => page(StatusCode::BAD_REQUEST, &message),
    }
}

/// `GET /connect/done`: Gust's own end page, for a connect session with
/// nowhere else to go (a person connecting by hand).
pub(super) async fn done(Query(query): Query<HashMap<String, String>>) -> Response {
    let text = match (query.get("connection_id"), query.get("error")) {
        (Some(id), _) => format!("Salesforce is connected: {id}. You can close this window.\n"),
        (None, Some(error)) => format!(
            "Salesforce was not connected: {error}: {}\n",
            query.get("error_description").map_or("", String::as_str)
        ),
        (None, None) => "Nothing was connected.\n".to_owned(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

/// `POST /api/connect-sessions`.
pub(super) async fn create_session(
    State(connections): State<Connections>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<CreatedSession>), ApiError> {
    let request: ConnectSessionRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the connect session request: {error}")))?;
    let created = connections.create_session(request).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// The query of `GET /api/connections`.
#[derive(Debug, Deserialize)]
pub(super) struct ListParams {
    tenant: Option<String>,
}

/// `GET /api/connections[?tenant=]`.
pub(super) async fn list(
    State(connections): State<Connections>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let connections = connections.list(params.tenant.as_deref()).await?;
    Ok(axum::Json(
        serde_json::json!({ "connections": connections }),
    ))
}

/// `GET /api/connections/{id}`.
pub(super) async fn get(
    State(connections): State<Connections>,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    Ok(axum::Json(connections.get(&id).await?))
}

/// `POST /api/connections/{id}/check`.
pub(super) async fn check(
    State(connections): State<Connections>,
    Path(id): Path<String>,
) -> Result<axum::Json<CheckResult>, ApiError> {
    Ok(axum::Json(connections.check(&id).await?))
}

/// `POST /api/connections/{id}/disable`.
pub(super) async fn disable(
    State(connections): State<Connections>,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    Ok(axum::Json(connections.set_disabled(&id, true).await?))
}

/// `POST /api/connections/{id}/enable`.
pub(super) async fn enable(
    State(connections): State<Connections>,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    Ok(axum::Json(connections.set_disabled(&id, false).await?))
}

/// `DELETE /api/connections/{id}`.
pub(super) async fn delete(
    State(connections): State<Connections>,
    Path(id): Path<String>,
) -> Result<axum::Json<Deleted>, ApiError> {
    if id == crate::model::ConnectionId::DEFAULT {
        return Err(ApiError::bad_request(
            "the default connection is configured in gust.toml ([salesforce]); change it there",
        ));
    }
    Ok(axum::Json(connections.delete(&id).await?))
}

/// `GET /api/oauth-apps`.
pub(super) async fn apps(
    State(connections): State<Connections>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let apps = connections.apps().await?;
    Ok(axum::Json(serde_json::json!({ "apps": apps })))
}

/// `POST /api/oauth-apps`.
pub(super) async fn create_app(
    State(connections): State<Connections>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, axum::Json<AppView>), ApiError> {
    let app: NewOAuthApp = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("the OAuth app: {error}")))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(connections.create_app(app).await?),
    ))
}

/// `DELETE /api/oauth-apps/{name}`.
pub(super) async fn delete_app(
    State(connections): State<Connections>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if connections.delete_app(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "there is no OAuth app `{name}` created through the API"
        )))
    }
}
