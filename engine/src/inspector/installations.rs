//! Installations: each workflow a tenant installed, with its status, the
//! version it runs (and the one it could upgrade to), its connections and
//! a link to its runs. Filtered by tenant and workflow as GET parameters.
//! Its secrets are never shown (the views hold none).

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::filters::given;
use super::layout::{Context, Section, page, time};
use super::overview::urlencoded;
use super::{Inspector, problem};
use crate::installations::{InstallationFilter, InstallationView};

pub(super) async fn show(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Query(filter): Query<InstallationFilter>,
) -> Response {
    let kept = |text: &Option<String>| text.as_deref().and_then(given).map(str::to_owned);
    let filter = InstallationFilter {
        tenant: kept(&filter.tenant),
        workflow: kept(&filter.workflow),
    };
    let installations = match inspector.engine.installations().list(&filter).await {
        Ok(installations) => installations,
        Err(error) => {
            let error = error.to_string();
            return problem(&context, StatusCode::SERVICE_UNAVAILABLE, &error);
        }
    };
    let workflows = inspector.engine.workflows();
    let body = html! {
        h1 { "Installations" }
        form.filters method="get" action=(context.link("/installations")) {
            label { "Tenant" input name="tenant" value=(filter.tenant.as_deref().unwrap_or("")) size="20"; }
            label { "Workflow"
                select name="workflow" {
                    option value="" { "any" }
                    @for workflow in workflows.ready.keys() {
                        option value=(workflow) selected[filter.workflow.as_ref() == Some(workflow)] { (workflow) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if installations.is_empty() {
            p.muted { "No installation. Make one with " code { "POST /api/installations" } "." }
        } @else {
            div.table-wrap {
                table.installations {
                    thead { tr { th { "Installation" } th { "Tenant" } th { "Workflow" } th { "Status" } th { "Connections" } th.hide-narrow { "Made" } th { "Runs" } } }
                    tbody {
                        @for installation in &installations { (row(&context, installation)) }
                    }
                }
            }
        }
    };
    page(&context, Section::Installations, "Installations", body).into_response()
}

/// One installation's row.
fn row(context: &Context, installation: &InstallationView) -> Markup {
    let runs = |more: &str| {
        context.link(&format!(
            "/runs?installation={}{more}",
            urlencoded(&installation.id)
        ))
    };
    html! {
        tr data-installation=(installation.id) {
            td {
                code { (installation.id) }
                @if let Some(path) = &installation.path { br; span.muted { code { (path) } } }
            }
            td { a href=(context.link(&format!("/installations?tenant={}", urlencoded(&installation.tenant)))) { (installation.tenant) } }
            td {
                (installation.workflow)
                br; span.muted { "version " code { (short(&installation.workflow_version)) } }
                @if let Some(newer) = &installation.upgrade_available {
                    br; span.warn { "upgrade to " code { (short(newer)) } " available" }
                }
            }
            td {
                span class={ "chip " (installation.status.as_str()) } { (installation.status.as_str()) }
                @if let Some(error) = &installation.error { br; span.error { (error) } }
            }
            td {
                @for (slot, connection) in &installation.connections {
                    (slot) ": " a href=(context.link(&format!("/connections?tenant={}", urlencoded(&installation.tenant)))) { code { (connection) } } br;
                }
            }
            td.hide-narrow { (time(installation.created_at)) }
            td { a href=(runs("")) { "runs" } " · " a href=(runs("&status=failed")) { "failed" } }
        }
    }
}

/// The first twelve characters of a version (a digest).
fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}
