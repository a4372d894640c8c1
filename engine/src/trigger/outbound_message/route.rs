//! `POST /salesforce/outbound/{workflow_id}[/{token}]`, and `POST
//! /salesforce/outbound/{workflow_id}/{installation_id}` for an installed
//! workflow (only the org of the installation's connection may post): the
//! Outbound Message trigger. Every notification is stored durably before the Ack;
//! anything else is a SOAP fault, which makes Salesforce send the message
//! again later.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gust_outbound::{ACK, FaultCode, fault};

use super::handler::{self, Refusal};
use crate::model::InstallationId;
use crate::runtime::{RunFor, SubmitError};
use crate::salesforce::SalesforceService;
use crate::trigger::{Trigger, TriggerHost};
use crate::workflow::SALESFORCE_SLOT;

/// A SOAP fault: Salesforce sends the message again later.
#[derive(Debug)]
pub(crate) struct SoapFault {
    status: StatusCode,
    code: FaultCode,
    message: String,
}

impl SoapFault {
    fn new(status: StatusCode, code: FaultCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn refused(workflow: &str, refusal: &Refusal) -> Self {
        tracing::warn!(workflow, %refusal, "An Outbound Message was refused.");
        Self::new(refusal.status(), refusal.fault_code(), refusal.to_string())
    }
}

impl IntoResponse for SoapFault {
    fn into_response(self) -> Response {
        soap(self.status, fault(self.code, &self.message))
    }
}

/// `POST /salesforce/outbound/{workflow_id}`.
pub(crate) async fn without_token(
    State(host): State<Arc<dyn TriggerHost>>,
    Path(workflow_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SoapFault> {
    receive(host.as_ref(), &workflow_id, None, &headers, body).await
}

/// `POST /salesforce/outbound/{workflow_id}/{token}`, or for an installed
/// workflow `POST /salesforce/outbound/{workflow_id}/{installation_id}`.
pub(crate) async fn with_token(
    State(host): State<Arc<dyn TriggerHost>>,
    Path((workflow_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SoapFault> {
    receive(host.as_ref(), &workflow_id, Some(&token), &headers, body).await
}

/// Whence a message may come and where its runs go.
struct Sender {
    /// Whom the runs are for.
    target: RunFor,
    /// The orgs allowed to post.
    organizations: Vec<String>,
    /// The connection the message's fields are typed (and its session
    /// checked) through.
    salesforce: Arc<dyn SalesforceService>,
}

fn client_fault(status: StatusCode, message: String) -> SoapFault {
    SoapFault::new(status, FaultCode::Client, message)
}

/// The sender of a message to an installed workflow: installation
/// `installation_id`, whose bound connection's org alone may post.
async fn installation_sender(
    host: &dyn TriggerHost,
    workflow_id: &str,
    installation_id: &str,
) -> Result<Sender, SoapFault> {
    let unknown = || {
        client_fault(
            StatusCode::NOT_FOUND,
            format!("workflow `{workflow_id}` has no installation `{installation_id}`"),
        )
    };
    let installation = InstallationId::parse(installation_id)
        .and_then(|id| host.installation(&id))
        .filter(|installation| installation.record.workflow == workflow_id)
        .ok_or_else(unknown)?;
    let record = &installation.record;
    let connection = record.connection(SALESFORCE_SLOT).ok_or_else(unknown)?;
    let (salesforce, organization) =
        host.connection(connection.as_str())
            .await
            .map_err(|error| {
                SoapFault::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    FaultCode::Server,
                    format!("the installation's connection cannot be reached: {error}"),
                )
            })?;
    Ok(Sender {
        target: RunFor::installation(record),
        organizations: organization.into_iter().collect(),
        salesforce,
    })
}

async fn receive(
    host: &dyn TriggerHost,
    workflow_id: &str,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SoapFault> {
    let Some(workflow) = host.workflow(workflow_id) else {
        return Err(client_fault(
            StatusCode::NOT_FOUND,
            format!("no workflow `{workflow_id}` is loaded"),
        ));
    };
    let Trigger::OutboundMessage(outbound) = &workflow.trigger else {
        return Err(client_fault(
            StatusCode::NOT_FOUND,
            format!("workflow `{workflow_id}` is not started by Outbound Messages"),
        ));
    };
    let sender = if workflow.is_installable() {
        let installation = token.ok_or_else(|| {
            client_fault(
                StatusCode::NOT_FOUND,
                format!(
                    "workflow `{workflow_id}` is installed per customer: Salesforce posts to \
                     /salesforce/outbound/{workflow_id}/{{installation_id}}"
                ),
            )
        })?;
        installation_sender(host, workflow_id, installation).await?
    } else {
        handler::check_token(outbound, token).map_err(|r| SoapFault::refused(workflow_id, &r))?;
        Sender {
            target: RunFor::workflow(workflow_id),
            organizations: outbound.organization_ids.clone(),
            salesforce: host.salesforce(),
        }
    };
    let body = body.map_err(|rejection| {
        SoapFault::new(rejection.status(), FaultCode::Client, rejection.body_text())
    })?;
    let salesforce = sender.salesforce.as_ref();
    let read = async {
        handler::check_content_type(headers)?;
        let types = handler::field_types(salesforce, &outbound.sobject).await;
        let message = handler::read(outbound, &sender.organizations, &body, &types)?;
        handler::verify_session(outbound, &message, salesforce).await?;
        Ok::<_, Refusal>(message)
    };
    let message = read
        .await
        .map_err(|refusal| SoapFault::refused(workflow_id, &refusal))?;
    let events = handler::events(outbound, &message);
    if events.is_empty() {
        return Ok(ack());
    }
    match host.submit(&sender.target, events, Vec::new()).await {
        Ok(_) => Ok(ack()),
        Err(SubmitError::Store(error)) => {
            tracing::error!(workflow = workflow_id, %error, "An Outbound Message could not be stored.");
            Err(SoapFault::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Server,
                format!("the notifications were not stored, send them again: {error}"),
            ))
        }
        Err(SubmitError::Overloaded(overloaded)) => {
            tracing::warn!(workflow = workflow_id, %overloaded, "An Outbound Message was refused: the backlog is full.");
            // Salesforce sends a message again, later, when it is not acknowledged.
            Err(SoapFault::new(
                StatusCode::SERVICE_UNAVAILABLE,
                FaultCode::Server,
                format!("the notifications were not stored: {overloaded}"),
            ))
        }
        // A paused installation: Salesforce sends the message again later,
        // and a resumed installation takes it.
        Err(stopped @ SubmitError::InstallationStopped { .. }) => Err(SoapFault::new(
            StatusCode::CONFLICT,
            FaultCode::Server,
            stopped.to_string(),
        )),
        Err(other) => Err(client_fault(StatusCode::NOT_FOUND, other.to_string())),
    }
}

fn ack() -> Response {
    soap(StatusCode::OK, ACK.to_owned())
}

fn soap(status: StatusCode, envelope: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        envelope,
    )
        .into_response()
}
