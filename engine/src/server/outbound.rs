//! `POST /salesforce/outbound/{workflow_id}[/{token}]`: the Outbound
//! Message trigger. Every notification is stored durably before the Ack;
//! anything else is a SOAP fault, which makes Salesforce send the message
//! again later.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gust_outbound::{ACK, FaultCode, fault};

use crate::Engine;
use crate::engine::SubmitError;
use crate::trigger::outbound_message::{self as trigger, Refusal};
use crate::workflow::Trigger;

pub(super) async fn without_token(
    State(engine): State<Engine>,
    Path(workflow_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    receive(&engine, &workflow_id, None, &headers, body).await
}

pub(super) async fn with_token(
    State(engine): State<Engine>,
    Path((workflow_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    receive(&engine, &workflow_id, Some(&token), &headers, body).await
}

async fn receive(
    engine: &Engine,
    workflow_id: &str,
    token: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let workflows = engine.workflows();
    let Some(prepared) = workflows.ready.get(workflow_id) else {
        return soap_fault(
            StatusCode::NOT_FOUND,
            FaultCode::Client,
            &format!("no workflow `{workflow_id}` is loaded"),
        );
    };
    let Trigger::OutboundMessage(outbound) = &prepared.workflow.trigger else {
        return soap_fault(
            StatusCode::NOT_FOUND,
            FaultCode::Client,
            &format!("workflow `{workflow_id}` is not started by Outbound Messages"),
        );
    };
    if let Err(refusal) = trigger::check_token(outbound, token) {
        return refused(workflow_id, &refusal);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return soap_fault(
                rejection.status(),
                FaultCode::Client,
                &rejection.body_text(),
            );
        }
    };
    let salesforce = engine.config.salesforce.as_ref();
    let read = async {
        trigger::check_content_type(headers)?;
        let types = trigger::field_types(salesforce, &outbound.sobject).await;
        let message = trigger::read(outbound, &body, &types)?;
        trigger::verify_session(outbound, &message, salesforce).await?;
        Ok::<_, Refusal>(message)
    };
    let message = match read.await {
        Ok(message) => message,
        Err(refusal) => return refused(workflow_id, &refusal),
    };
    let events = trigger::events(outbound, &message);
    if events.is_empty() {
        return ack();
    }
    match engine.submit_all(workflow_id, events, Vec::new()).await {
        Ok(_) => ack(),
        Err(SubmitError::Store(error)) => {
            tracing::error!(workflow = workflow_id, %error, "An Outbound Message could not be stored.");
            soap_fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                FaultCode::Server,
                &format!("the notifications were not stored, send them again: {error}"),
            )
        }
        Err(other) => soap_fault(StatusCode::NOT_FOUND, FaultCode::Client, &other.to_string()),
    }
}

fn refused(workflow: &str, refusal: &Refusal) -> Response {
    tracing::warn!(workflow, %refusal, "An Outbound Message was refused.");
    soap_fault(refusal.status(), refusal.fault_code(), &refusal.to_string())
}

fn ack() -> Response {
    soap(StatusCode::OK, ACK.to_owned())
}

fn soap_fault(status: StatusCode, code: FaultCode, message: &str) -> Response {
    soap(status, fault(code, message))
}

fn soap(status: StatusCode, envelope: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        envelope,
    )
        .into_response()
}
