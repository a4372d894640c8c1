//! The HTTP side: trigger routes, the admin API, health and metrics, as one
//! axum [`Router`] that the `gust` binary serves and embedders mount.

mod admin;
mod hooks;
mod outbound;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::Engine;
use crate::engine::SubmitError;
use crate::trigger::webhook::{bearer_token, same_secret};

impl Engine {
    /// The routes: `POST /hooks/{workflow_id}`, `POST
    /// /salesforce/outbound/{workflow_id}[/{token}]`, the admin API under
    /// `/api`, `GET /healthz` and `GET /metrics`.
    pub fn router(&self) -> Router {
        let admin = Router::new()
            .route("/api/workflows", get(admin::workflows))
            .route("/api/runs", get(admin::runs))
            .route("/api/runs/{run_id}", get(admin::run))
            .route("/api/runs/{run_id}/replay", post(admin::replay))
            .route("/metrics", get(admin::metrics))
            .route_layer(middleware::from_fn_with_state(
                self.clone(),
                require_admin_token,
            ));
        let outbound_limit = DefaultBodyLimit::max(self.config.max_outbound_message_bytes);
        Router::new()
            .route("/hooks/{workflow_id}", post(hooks::webhook))
            .route(
                "/salesforce/outbound/{workflow_id}",
                post(outbound::without_token).layer(outbound_limit),
            )
            .route(
                "/salesforce/outbound/{workflow_id}/{token}",
                post(outbound::with_token).layer(outbound_limit),
            )
            .route("/healthz", get(admin::health))
            .merge(admin)
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            .with_state(self.clone())
    }
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

/// The answer to an event that was not accepted: 503 when the store failed
/// (retry later), 404 when the workflow or run is unknown.
pub(crate) fn not_accepted(refusal: &SubmitError) -> Response {
    match refusal {
        SubmitError::Store(store_error) => {
            tracing::error!(error = %store_error, "An event could not be stored.");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the event was not stored, retry later: {store_error}"),
            )
        }
        other => error(StatusCode::NOT_FOUND, other),
    }
}

async fn require_admin_token(
    State(engine): State<Engine>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &engine.config.admin_token {
        let presented = bearer_token(request.headers()).unwrap_or("");
        if !same_secret(presented, token) {
            return error(
                StatusCode::UNAUTHORIZED,
                "the admin API needs `Authorization: Bearer <admin token>`",
            );
        }
    }
    next.run(request).await
}
