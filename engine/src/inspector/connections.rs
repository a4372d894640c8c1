//! Customers' Salesforce connections: each with its status, org and user,
//! API usage as a gauge, last error and refresh; a reconnect link made on
//! request. No token is ever shown (the views hold none).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{Context, Section, page, time};
use super::overview::urlencoded;
use super::session::Session;
use super::{Guarded, Inspector, csrf_refusal, problem};
use crate::connections::{ConnectError, ConnectSessionRequest, ConnectionView};
use crate::model::{ApiUsage, ConnectionStatus};

/// The page's filter.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TenantFilter {
    #[serde(default)]
    tenant: String,
}

/// The page that says what went wrong with a connection.
fn refusal(context: &Context, error: &ConnectError) -> Response {
    problem(context, error.status(), &error.to_string())
}

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Query(filter): Query<TenantFilter>,
) -> Response {
    let tenant = Some(filter.tenant.trim()).filter(|tenant| !tenant.is_empty());
    let connections = match inspector.engine.connections().list(tenant).await {
        Ok(connections) => connections,
        Err(error) => return refusal(&context, &error),
    };
    let body = html! {
        h1 { "Connections" }
        form.filters method="get" action=(context.link("/connections")) {
            label { "Tenant" input name="tenant" value=(filter.tenant) size="20"; }
            button type="submit" { "Filter" }
        }
        @if connections.is_empty() {
            p.muted { "No connection. Make one with " code { "POST /api/connect-sessions" } " or " code { "gust connect" } "." }
        } @else {
            div.table-wrap {
                table.connections {
                    thead { tr { th { "Connection" } th { "Status" } th { "Org and user" } th { "API use (24 h)" } th.hide-narrow { "Last refresh" } th.hide-narrow { "Last used" } th { "Last error" } th {} } }
                    tbody {
                        @for connection in &connections { (row(&context, connection)) }
                    }
                }
            }
        }
    };
    page(&context, Section::Connections, "Connections", body).into_response()
}

/// One connection's row.
fn row(context: &Context, connection: &ConnectionView) -> Markup {
    html! {
        tr data-connection=(connection.id) {
            td {
                code { (connection.id) }
                @if let Some(tenant) = &connection.tenant {
                    br; a href=(context.link(&format!("/connections?tenant={}", urlencoded(tenant)))) { (tenant) }
                }
                @if connection.source == "config" { br; span.muted { "from gust.toml" } }
            }
            td { (status_chip(connection.status)) }
            td {
                @if let Some(username) = &connection.username { (username) br; }
                @if let Some(org) = &connection.org_id { span.muted { "org " code { (org) } } br; }
                @if let Some(instance) = &connection.instance_url { span.muted { (instance) } }
            }
            td { (usage(connection.api_usage)) }
            td.hide-narrow { @match connection.last_refresh { Some(at) => (time(at)), None => span.muted { "–" } } }
            td.hide-narrow { @match connection.last_used { Some(at) => (time(at)), None => span.muted { "–" } } }
            td.error { (connection.last_error.as_deref().unwrap_or("")) }
            td {
                @if connection.source == "store" {
                    form method="post" action=(context.link(&format!("/connections/{}/reconnect", connection.id))) {
                        (context.csrf_field())
                        button type="submit" { "Reconnect link" }
                    }
                }
            }
        }
    }
}

/// A connection status as a coloured chip.
fn status_chip(status: ConnectionStatus) -> Markup {
    html! { span class={ "chip " (status.as_str()) } { (status.as_str()) } }
}

/// The org's API use of the last 24 hours as a gauge: amber from 80%, red
/// from 95% of its allowance.
fn usage(usage: Option<ApiUsage>) -> Markup {
    html! {
        @match usage {
            Some(ApiUsage { used, max }) if max > 0 => {
                meter value=(used) min="0" max=(max) low=(max * 8 / 10) high=(max * 95 / 100) optimum="0"
                    aria-label="API requests used in the last 24 hours" {}
                " " span.muted data-api-used=(used) { (used) " of " (max) }
            }
            _ => span.muted { "not reported yet" },
        }
    }
}

/// `POST /connections/{id}/reconnect`: a connect session that reconnects
/// the connection (its user must log in to the same org), and a page with
/// its single-use link to send to the customer or open here.
pub(super) async fn reconnect(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<Guarded>,
) -> Response {
    if let Some(refused) = csrf_refusal(&inspector, &session, &form) {
        return refused;
    }
    let connections = inspector.engine.connections();
    let connection = match connections.get(&id).await {
        Ok(connection) => connection,
        Err(error) => return refusal(&context, &error),
    };
    let Some(tenant) = connection.tenant.clone() else {
        let message = "The connection from gust.toml is changed there, not reconnected.";
        return problem(&context, StatusCode::BAD_REQUEST, message);
    };
    let request = ConnectSessionRequest {
        tenant,
        app: None,
        login_host: None,
        redirect_after: connections.settings().done_url(),
        reconnect: Some(id.clone()),
    };
    let created = match connections.create_session(request).await {
        Ok(created) => created,
        Err(error) => return refusal(&context, &error),
    };
    let body = html! {
        h1 { "Reconnect " code { (id) } }
        p { "Send this link to the customer whose connection it is: they log in to the same org again. It works once, until " (time(created.expires_at)) "." }
        p { input #reconnect-url readonly value=(created.url) size="60"; " " button type="button" data-copy="#reconnect-url" { "Copy" } }
        p { a href=(created.url) { "Open it here" } " · " a href=(context.link("/connections")) { "← Connections" } }
    };
    page(&context, Section::Connections, "Reconnect", body).into_response()
}
