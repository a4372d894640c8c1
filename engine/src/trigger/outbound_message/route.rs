//! `POST /salesforce/outbound/{workflow_id}[/{token}]`: the Outbound
//! Message trigger. Every notification is stored durably before the Ack;
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
use crate::runtime::{RunFor, SubmitError};
use crate::trigger::{Trigger, TriggerHost};

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

/// `POST /salesforce/outbound/{workflow_id}/{token}`.
pub(crate) async fn with_token(
    State(host): State<Arc<dyn TriggerHost>>,
    Path((workflow_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SoapFault> {
    receive(host.as_ref(), &workflow_id, Some(&token), &headers, body).await
}

async fn receive(
    host: &dyn TriggerHost,
    workflow_id: &str,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, SoapFault> {
    let Some(workflow) = host.workflow(workflow_id) else {
        return Err(SoapFault::new(
            StatusCode::NOT_FOUND,
            FaultCode::Client,
            format!("no workflow `{workflow_id}` is loaded"),
        ));
    };
    let Trigger::OutboundMessage(outbound) = &workflow.trigger else {
        return Err(SoapFault::new(
            StatusCode::NOT_FOUND,
            FaultCode::Client,
            format!("workflow `{workflow_id}` is not started by Outbound Messages"),
        ));
    };
    handler::check_token(outbound, token).map_err(|r| SoapFault::refused(workflow_id, &r))?;
    let body = body.map_err(|rejection| {
        SoapFault::new(rejection.status(), FaultCode::Client, rejection.body_text())
    })?;
    let salesforce = host.salesforce();
    let read = async {
        handler::check_content_type(headers)?;
        let types = handler::field_types(salesforce.as_ref(), &outbound.sobject).await;
        let message = handler::read(outbound, &body, &types)?;
        handler::verify_session(outbound, &message, salesforce.as_ref()).await?;
        Ok::<_, Refusal>(message)
    };
    let message = read
        .await
        .map_err(|refusal| SoapFault::refused(workflow_id, &refusal))?;
    let events = handler::events(outbound, &message);
    if events.is_empty() {
        return Ok(ack());
    }
    match host
        .submit(&RunFor::workflow(workflow_id), events, Vec::new())
        .await
    {
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
        Err(other) => Err(SoapFault::new(
            StatusCode::NOT_FOUND,
            FaultCode::Client,
            other.to_string(),
        )),
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
