//! The HTTP side: the trigger routes, the admin API, health and metrics, as
//! one axum [`Router`] that the `gust` binary serves and embedders mount.

mod admin;
pub(crate) mod connections;
mod installations;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::Engine;
use crate::api::ApiError;
use crate::trigger::webhook::{bearer_token, same_secret};
use crate::trigger::{TriggerHost, outbound_message, webhook};

impl Engine {
    /// The routes: `POST /hooks/{workflow_id}` (and
    /// `/hooks/{workflow_id}/{installation_id}[/{token}]` for an
    /// installation), `POST /salesforce/outbound/{workflow_id}[/{token}]`,
    /// the admin API under `/api` (with `POST /api/workflows/{id}/runs`, a
    /// run started by hand, `GET /api/backlog`, connections, connect
    /// sessions, OAuth apps and installations), the connect flow under
    /// `/connect/salesforce/`, `GET /healthz`, `GET /metrics`, and the run
    /// inspector's pages at `/` ([`Engine::inspector`]).
    pub fn router(&self) -> Router {
        let admin = Router::new()
            .route("/api/workflows", get(admin::workflows))
            .route("/api/workflows/{workflow_id}/runs", post(admin::start))
            .route("/api/runs", get(admin::runs))
            .route("/api/runs/{run_id}", get(admin::run))
            .route("/api/runs/{run_id}/replay", post(admin::replay))
            .route("/api/backlog", get(admin::backlog))
            .route("/metrics", get(admin::metrics))
            .with_state(self.clone())
            .merge(connections::admin_routes(self.connections().clone()))
            .merge(installations::admin_routes(self.installations().clone()))
            .route_layer(middleware::from_fn_with_state(
                self.clone(),
                require_admin_token,
            ))
            .route("/healthz", get(admin::health))
            .merge(connections::browser_routes(self.connections().clone()));
        let outbound_limit = DefaultBodyLimit::max(self.config.max_outbound_message_bytes);
        let host: Arc<dyn TriggerHost> = Arc::new(self.clone());
        let triggers = Router::new()
            .route("/hooks/{workflow_id}", post(webhook::route))
            .route(
                "/hooks/{workflow_id}/{installation_id}",
                post(webhook::installation_webhook),
            )
            .route(
                "/hooks/{workflow_id}/{installation_id}/{token}",
                post(webhook::installation_webhook_with_token),
            )
            .route(
                "/salesforce/outbound/{workflow_id}",
                post(outbound_message::route).layer(outbound_limit),
            )
            .route(
                "/salesforce/outbound/{workflow_id}/{token}",
                post(outbound_message::route_with_token).layer(outbound_limit),
            )
            .with_state(host);
        Router::new()
            .merge(triggers)
            .merge(admin)
            .merge(self.inspector())
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
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
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the admin API needs `Authorization: Bearer <admin token>`",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests;
