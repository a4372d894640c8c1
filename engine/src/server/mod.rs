//! The HTTP side: trigger routes, the admin API, health and metrics, as one
//! axum [`Router`] that the `gust` binary serves and embedders mount.

mod admin;
mod hooks;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::Engine;

impl Engine {
    /// The routes: `POST /hooks/{workflow_id}`, the admin API under `/api`,
    /// `GET /healthz` and `GET /metrics`.
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
        Router::new()
            .route("/hooks/{workflow_id}", post(hooks::webhook))
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

async fn require_admin_token(
    State(engine): State<Engine>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &engine.config.admin_token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
            return error(
                StatusCode::UNAUTHORIZED,
                "the admin API needs `Authorization: Bearer <admin token>`",
            );
        }
    }
    next.run(request).await
}
