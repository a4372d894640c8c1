//! Who may post an Outbound Message, and the events a message becomes.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use gust_outbound::{FaultCode, FieldType, Message, ParseError};

use super::OutboundMessageTrigger;
use crate::runtime::NewEvent;
use crate::salesforce::SalesforceService;
use crate::trigger::webhook::same_secret;

/// The default largest message accepted, in bytes: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// How long reading the sObject's describe (to type its fields) may hold a
/// message up before it is typed by form instead.
const DESCRIBE_WAIT: Duration = Duration::from_secs(2);

/// Why a message is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// The URL lacks the trigger's token, or has another.
    #[error("the URL's token is missing or wrong")]
    WrongToken,
    /// A secret the trigger names is not set on the server.
    #[error("the trigger's token is not available on the server: {0}")]
    MissingSecret(String),
    /// Not XML.
    #[error("an Outbound Message is sent as text/xml, not `{0}`")]
    ContentType(String),
    /// The body is not an Outbound Message.
    #[error(transparent)]
    Unreadable(#[from] ParseError),
    /// The message comes from an org the trigger does not allow.
    #[error("organization `{0}` may not post to this workflow")]
    Organization(String),
    /// A notification of another sObject type.
    #[error("this workflow takes {expected} notifications, not {found}")]
    SObject {
        /// The trigger's sObject.
        expected: String,
        /// The notification's.
        found: String,
    },
    /// The trigger requires a session and the message has none.
    #[error(
        "this workflow requires a SessionId: turn on \"Send Session ID\" in the outbound message"
    )]
    NoSession,
    /// Salesforce does not take the session, or it belongs to another org.
    #[error("the SessionId is not a live session of organization `{organization}`: {why}")]
    SessionRefused {
        /// The message's organization.
        organization: String,
        /// What Salesforce said.
        why: String,
    },
    /// The session could not be checked now (Salesforce unreachable).
    #[error("the SessionId could not be checked, retry later: {0}")]
    SessionUnchecked(String),
}

impl Refusal {
    /// The HTTP status of the fault answering it.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::WrongToken
            | Self::Organization(_)
            | Self::NoSession
            | Self::SessionRefused { .. } => StatusCode::FORBIDDEN,
            Self::MissingSecret(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unreadable(_) | Self::SObject { .. } => StatusCode::BAD_REQUEST,
            Self::SessionUnchecked(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whom the fault blames.
    pub(crate) fn fault_code(&self) -> FaultCode {
        match self {
            Self::MissingSecret(_) | Self::SessionUnchecked(_) => FaultCode::Server,
            _ => FaultCode::Client,
        }
    }
}

/// Checks the token in the URL against the trigger's, if it has one.
pub(crate) fn check_token(
    trigger: &OutboundMessageTrigger,
    presented: Option<&str>,
) -> Result<(), Refusal> {
    match (&trigger.token, presented) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(Refusal::WrongToken),
        (Some(secret), presented) => {
            let expected = secret
                .read()
                .map_err(|error| Refusal::MissingSecret(error.to_string()))?;
            match presented {
                Some(presented) if same_secret(presented, &expected) => Ok(()),
                _ => Err(Refusal::WrongToken),
            }
        }
    }
}

/// Checks that the body is declared XML (`text/xml`, as Salesforce sends
/// it, or `application/xml`).
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let media_type = declared.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("text/xml")
        || media_type.eq_ignore_ascii_case("application/xml")
    {
        Ok(())
    } else {
        Err(Refusal::ContentType(declared))
    }
}

/// The JSON types of `sobject`'s fields from the connection's describe, by
/// lower-cased name; empty (every field typed by its form) when the
/// describe cannot be read soon.
pub(crate) async fn field_types(
    salesforce: &dyn SalesforceService,
    sobject: &str,
) -> HashMap<String, FieldType> {
    let describe = match tokio::time::timeout(DESCRIBE_WAIT, salesforce.describe(sobject)).await {
        Ok(Ok(describe)) => describe,
        Ok(Err(error)) => {
            if error.error_code != "GUST_NO_CONNECTION" {
                tracing::warn!(sobject, %error, "Cannot describe the sObject; typing its fields by form.");
            }
            return HashMap::new();
        }
        Err(_) => {
            tracing::warn!(
                sobject,
                "Describing the sObject is slow; typing its fields by form."
            );
            return HashMap::new();
        }
    };
    FieldType::by_field(&describe)
}

/// Reads a message and checks its organization (one of `organizations`)
/// and sObject type.
pub(crate) fn read(
    trigger: &OutboundMessageTrigger,
    organizations: &[String],
    body: &[u8],
    types: &HashMap<String, FieldType>,
) -> Result<Message, Refusal> {
    let message =
        gust_outbound::parse(body, &|name| types.get(&name.to_ascii_lowercase()).copied())?;
    let allowed = organizations
        .iter()
        .any(|allowed| same_organization(allowed, &message.organization_id));
    if !allowed {
        return Err(Refusal::Organization(message.organization_id));
    }
    let other_type = message.notifications.iter().find_map(|notification| {
        notification
            .sobject_type
            .as_deref()
            .filter(|found| !found.eq_ignore_ascii_case(&trigger.sobject))
    });
    if let Some(found) = other_type {
        return Err(Refusal::SObject {
            expected: trigger.sobject.clone(),
            found: found.to_owned(),
        });
    }
    Ok(message)
}

/// Asks the connection's instance whose session the message carries, when
/// the trigger requires one.
pub(crate) async fn verify_session(
    trigger: &OutboundMessageTrigger,
    message: &Message,
    salesforce: &dyn SalesforceService,
) -> Result<(), Refusal> {
    if !trigger.require_session {
        return Ok(());
    }
    let session = message.session_id.as_deref().ok_or(Refusal::NoSession)?;
    let refused = |why: String| Refusal::SessionRefused {
        organization: message.organization_id.clone(),
        why,
    };
    match salesforce.session_organization(session).await {
        Ok(organization) if same_organization(&organization, &message.organization_id) => Ok(()),
        Ok(organization) => Err(refused(format!("it is a session of `{organization}`"))),
        Err(error) if error.is_retryable() || error.error_code == "GUST_NO_CONNECTION" => {
            Err(Refusal::SessionUnchecked(error.to_string()))
        }
        Err(error) => Err(refused(error.to_string())),
    }
}

/// Each notification's event, with its dedupe key: the organization (15
/// characters) and the notification id.
pub(crate) fn events(trigger: &OutboundMessageTrigger, message: &Message) -> Vec<NewEvent> {
    let organization = short_id(&message.organization_id);
    message
        .notifications
        .iter()
        .map(|notification| {
            let event = message.event(notification, Some(&trigger.sobject));
            (event, Some(format!("{organization}/{}", notification.id)))
        })
        .collect()
}

/// Whether two organization ids name the same org: an 18-character id is
/// the 15-character one with a case-folding suffix.
fn same_organization(a: &str, b: &str) -> bool {
    (a.len() == 15 || a.len() == 18)
        && (b.len() == 15 || b.len() == 18)
        && short_id(a) == short_id(b)
}

/// The 15-character form of an id (the id itself when shorter or not
/// ASCII).
fn short_id(id: &str) -> &str {
    id.get(..15).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::workflow::SecretRef;

    fn trigger() -> OutboundMessageTrigger {
        OutboundMessageTrigger {
            organization_ids: vec!["00D7F00000107XsUAI".to_owned()],
            sobject: "Opportunity".to_owned(),
            token: None,
            require_session: false,
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../fixtures/salesforce/outbound-messages/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).unwrap()
    }

    #[test]
    fn organizations_match_on_their_first_fifteen_characters_only() {
        assert!(same_organization("00D7F00000107XsUAI", "00D7F00000107Xs"));
        assert!(same_organization("00D7F00000107Xs", "00D7F00000107XsUAI"));
        assert!(!same_organization("00D7F00000107XS", "00D7F00000107Xs"));
        assert!(!same_organization("00D7F00000107X", "00D7F00000107X"));
        assert!(!same_organization("00D7F00000107XsUAIx", "00D7F00000107Xs"));
    }

    #[test]
    fn a_message_from_another_org_or_of_another_type_is_refused() {
        let body = fixture("om-single-opportunity-compact-ap5.xml");
        let types = HashMap::new();
        let message = read(&trigger(), &trigger().organization_ids, &body, &types).unwrap();
        let events = events(&trigger(), &message);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].1.as_deref(),
            Some("00D7F00000107Xs/04l7F000008aeAyQAI")
        );
        let other_org = OutboundMessageTrigger {
            organization_ids: vec!["00D7F00000107XtUAI".to_owned()],
            ..trigger()
        };
        assert!(matches!(
            read(&other_org, &other_org.organization_ids, &body, &types),
            Err(Refusal::Organization(org)) if org == "00D7F00000107XsUAI"
        ));
        let contacts = OutboundMessageTrigger {
            sobject: "Contact".to_owned(),
            ..trigger()
        };
        let refusal = read(&contacts, &contacts.organization_ids, &body, &types).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "this workflow takes Contact notifications, not Opportunity"
        );
        assert_eq!(refusal.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn describe_types_apply_by_field_name() {
        let body = fixture("om-single-opportunity-compact-ap5.xml");
        let types = HashMap::from([("closedate".to_owned(), FieldType::Date)]);
        let message = read(&trigger(), &trigger().organization_ids, &body, &types).unwrap();
        assert_eq!(message.notifications[0].record["CloseDate"], "2017-04-03");
    }

    #[test]
    fn only_xml_is_taken() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            check_content_type(&headers),
            Err(Refusal::ContentType(_))
        ));
        for taken in ["text/xml; charset=utf-8", "TEXT/XML", "application/xml"] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(taken));
            assert!(check_content_type(&headers).is_ok(), "{taken}");
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let refusal = check_content_type(&headers).unwrap_err();
        assert_eq!(refusal.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn a_token_is_needed_exactly_when_the_trigger_has_one() {
        assert!(check_token(&trigger(), None).is_ok());
        assert!(matches!(
            check_token(&trigger(), Some("x")),
            Err(Refusal::WrongToken)
        ));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), "t0ken\n").unwrap();
        let guarded = OutboundMessageTrigger {
            token: Some(SecretRef::File(file.path().to_string_lossy().into_owned())),
            ..trigger()
        };
        assert!(check_token(&guarded, Some("t0ken")).is_ok());
        assert!(matches!(
            check_token(&guarded, Some("t0ke")),
            Err(Refusal::WrongToken)
        ));
        assert!(matches!(
            check_token(&guarded, None),
            Err(Refusal::WrongToken)
        ));
    }
}
