//! The admin API over installations: `/api/installations`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::api::{ApiError, FieldError};
use crate::installations::{
    DeletedInstallation, InstallationChange, InstallationError, InstallationFilter,
    InstallationSecrets, InstallationView, Installations, NewInstallation, Upgrade,
};

/// The routes.
pub(super) fn admin_routes(installations: Installations) -> Router {
    Router::new()
        .route("/api/installations", get(list).post(create))
        .route(
            "/api/installations/{id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/installations/{id}/pause", post(pause))
        .route("/api/installations/{id}/resume", post(resume))
        .route("/api/installations/{id}/upgrade", post(upgrade))
        .route("/api/installations/{id}/rotate-secret", post(rotate_secret))
        .with_state(installations)
}

/// 404 for what does not exist, 422 for a config or binding that does not
/// fit (each config problem at its JSON path), 409 for a write that lost a
/// race, 503 when the store failed.
impl From<InstallationError> for ApiError {
    fn from(error: InstallationError) -> Self {
        let status = match &error {
            InstallationError::UnknownWorkflow(_) | InstallationError::UnknownInstallation(_) => {
                StatusCode::NOT_FOUND
            }
            InstallationError::Invalid(_) => StatusCode::BAD_REQUEST,
            InstallationError::NotInstallable(_)
            | InstallationError::InvalidConfig { .. }
            | InstallationError::Binding(_) => StatusCode::UNPROCESSABLE_ENTITY,
            InstallationError::Conflict(_) => StatusCode::CONFLICT,
            InstallationError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let errors = match &error {
            InstallationError::InvalidConfig { errors, .. } => errors
                .iter()
                .map(|error| FieldError {
                    path: error.path.clone(),
                    message: error.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        ApiError {
            errors,
            ..ApiError::new(status, error)
        }
    }
}

/// A request body as `T`, or a 400 saying what is wrong with it.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes, what: &str) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|error| ApiError::bad_request(format!("{what}: {error}")))
}

/// `POST /api/installations`: 201 with the installation and its webhook
/// secret, shown this once.
async fn create(
    State(installations): State<Installations>,
    bytes: Bytes,
) -> Result<(StatusCode, axum::Json<InstallationSecrets>), ApiError> {
    let request: NewInstallation = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::bad_request(format!("the installation: {error}")))?;
    let created = installations.create(request).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// `GET /api/installations[?tenant=&workflow=]`.
async fn list(
    State(installations): State<Installations>,
    Query(filter): Query<InstallationFilter>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let listed = installations.list(&filter).await?;
    Ok(axum::Json(serde_json::json!({ "installations": listed })))
}

/// `GET /api/installations/{id}`.
async fn show(
    State(installations): State<Installations>,
    Path(id): Path<String>,
) -> Result<axum::Json<InstallationView>, ApiError> {
    Ok(axum::Json(installations.get(&id).await?))
}

/// `PATCH /api/installations/{id}`.
async fn update(
    State(installations): State<Installations>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<axum::Json<InstallationView>, ApiError> {
    let change: InstallationChange = body(&bytes, "the change")?;
    Ok(axum::Json(installations.update(&id, change).await?))
}

/// The query of `DELETE /api/installations/{id}`.
#[derive(Debug, Deserialize)]
struct DeleteParams {
    #[serde(default)]
    purge: bool,
}

/// `DELETE /api/installations/{id}[?purge=true]`.
async fn delete(
    State(installations): State<Installations>,
    Path(id): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<axum::Json<DeletedInstallation>, ApiError> {
    Ok(axum::Json(installations.delete(&id, params.purge).await?))
}

/// `POST /api/installations/{id}/pause`.
async fn pause(
    State(installations): State<Installations>,
    Path(id): Path<String>,
) -> Result<axum::Json<InstallationView>, ApiError> {
    Ok(axum::Json(installations.pause(&id).await?))
}

/// `POST /api/installations/{id}/resume`.
async fn resume(
    State(installations): State<Installations>,
    Path(id): Path<String>,
) -> Result<axum::Json<InstallationView>, ApiError> {
    Ok(axum::Json(installations.resume(&id).await?))
}

/// `POST /api/installations/{id}/upgrade`.
async fn upgrade(
    State(installations): State<Installations>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<axum::Json<InstallationView>, ApiError> {
    let upgrade: Upgrade = body(&bytes, "the upgrade")?;
    Ok(axum::Json(installations.upgrade(&id, upgrade).await?))
}

/// `POST /api/installations/{id}/rotate-secret`: the new secret, shown
/// this once.
async fn rotate_secret(
    State(installations): State<Installations>,
    Path(id): Path<String>,
) -> Result<axum::Json<InstallationSecrets>, ApiError> {
    Ok(axum::Json(installations.rotate_secret(&id).await?))
}
