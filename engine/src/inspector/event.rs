//! A run's trigger event as the run page shows it: its secrets left out,
//! an Outbound Message's notification as Salesforce sent it beside the
//! JSON, and a webhook's request as a curl command.

use maud::{Markup, html};
use serde_json::Value;

use super::layout::json_block;
use super::overview::urlencoded;
use gust_outbound::NOTIFICATION_XML;

/// `event` without its secrets: the token of an unguessable URL it came to
/// (see [`without_url_token`]) and an Outbound Message's Salesforce session
/// id.
pub(super) fn without_secrets(event: &Value) -> Value {
    let mut event = without_url_token(event);
    if let Some(session) = event.get_mut("session_id")
        && session.is_string()
    {
        *session = Value::String("(a Salesforce session id, not shown)".to_owned());
    }
    event
}

/// The event, as JSON; an Outbound Message's notification as Salesforce
/// sent it beside; a webhook's request as a curl command to copy.
pub(super) fn event_section(event: &Value) -> Markup {
    let xml = event.get(NOTIFICATION_XML).and_then(Value::as_str);
    // The JSON beside the XML leaves the XML out.
    let parsed = xml.map(|_| {
        let mut parsed = event.clone();
        if let Some(fields) = parsed.as_object_mut() {
            fields.remove(NOTIFICATION_XML);
        }
        parsed
    });
    html! {
        @if let (Some(xml), Some(parsed)) = (xml, &parsed) {
            div.beside {
                section { h3 { "As JSON" } (json_block(parsed)) }
                section data-soap {
                    h3 { "As Salesforce sent it (SOAP)" }
                    pre.code { code { (xml) } }
                }
            }
        } @else {
            (json_block(event))
        }
        @if let Some(command) = curl(event) {
            details.curl {
                summary { "Copy as curl" }
                pre #curl { (command) }
                button type="button" data-copy="#curl" { "Copy" }
            }
        }
    }
}

/// `event` with the token of an unguessable URL it came to (an
/// installation's `/hooks/{workflow}/{installation}/{token}`, an Outbound
/// Message's `/salesforce/outbound/{workflow}/{token}`) left out: it is a
/// secret.
fn without_url_token(event: &Value) -> Value {
    let mut event = event.clone();
    if let Some(Value::String(path)) = event.get_mut("path") {
        let segments: Vec<&str> = path.split('/').collect();
        let secret = matches!(segments.as_slice(), ["", "hooks", _, _, _])
            || matches!(segments.as_slice(), ["", "salesforce", "outbound", _, _]);
        if secret {
            let kept = &segments[..segments.len() - 1];
            *path = format!("{}/{{token}}", kept.join("/"));
        }
    }
    event
}

/// A webhook's event as a curl command that sends it again (its secret,
/// never stored, left for the reader to add).
fn curl(event: &Value) -> Option<String> {
    let method = event.get("method")?.as_str()?;
    let path = event.get("path")?.as_str()?;
    let host = event
        .pointer("/headers/host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1:8080");
    let query: Vec<String> = event
        .get("query")
        .and_then(Value::as_object)
        .map(|fields| {
            fields
                .iter()
                .filter_map(|(name, value)| {
                    Some(format!(
                        "{}={}",
                        urlencoded(name),
                        urlencoded(value.as_str()?)
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let url = match query.is_empty() {
        true => format!("http://{host}{path}"),
        false => format!("http://{host}{path}?{}", query.join("&")),
    };
    let mut command = format!("curl -X {method} {}", shell_quoted(&url));
    if let Some(content_type) = event
        .pointer("/headers/content-type")
        .and_then(Value::as_str)
    {
        command.push_str(&format!(
            " \\\n  -H {}",
            shell_quoted(&format!("content-type: {content_type}"))
        ));
    }
    match event.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => {
            command.push_str(&format!(" \\\n  --data-raw {}", shell_quoted(text)))
        }
        Some(body) => command.push_str(&format!(
            " \\\n  --data-raw {}",
            shell_quoted(&body.to_string())
        )),
    }
    Some(command)
}

/// `text` in single quotes for a POSIX shell.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_outbound_messages_session_is_hidden_and_its_soap_shown_beside() {
        let event = json!({
            "notification_id": "04l7F000008aeAyQAI",
            "session_id": "00D7F00000107Xs!AQ0AQ.secret",
            "record": { "Id": "0067F000003pmdWQAQ" },
            "notification_xml": "<Notification><Id>04l7F000008aeAyQAI</Id></Notification>",
        });
        let shown = without_secrets(&event);
        assert!(!shown.to_string().contains("secret"), "{shown}");
        let page = event_section(&shown).into_string();
        assert!(page.contains("data-soap"), "{page}");
        assert!(
            page.contains("&lt;Notification&gt;&lt;Id&gt;04l7F000008aeAyQAI"),
            "{page}"
        );
        let without_session = json!({ "session_id": null });
        assert_eq!(without_secrets(&without_session), without_session);
        let webhook = json!({ "method": "POST", "path": "/hooks/leads", "body": {} });
        assert!(!event_section(&webhook).into_string().contains("data-soap"));
    }

    #[test]
    fn an_unguessable_urls_token_is_not_shown_and_curl_quotes_for_the_shell() {
        let event = json!({
            "method": "POST",
            "path": "/hooks/leads/ins_abc/tok3n-secret",
            "query": { "source": "web site" },
            "headers": { "host": "gust.example:8080", "content-type": "application/json" },
            "body": { "name": "O'Brien" },
        });
        let shown = without_url_token(&event);
        assert_eq!(shown["path"], "/hooks/leads/ins_abc/{token}");
        let outbound = json!({ "path": "/salesforce/outbound/leads/tok3n" });
        assert_eq!(
            without_url_token(&outbound)["path"],
            "/salesforce/outbound/leads/{token}"
        );
        let own = json!({ "path": "/hooks/leads" });
        assert_eq!(without_url_token(&own), own);
        let command = curl(&shown).unwrap();
        assert!(!command.contains("tok3n"), "{command}");
        assert_eq!(
            command,
            "curl -X POST 'http://gust.example:8080/hooks/leads/ins_abc/{token}?source=web+site' \\\n  \
         -H 'content-type: application/json' \\\n  --data-raw '{\"name\":\"O'\\''Brien\"}'"
        );
    }
}
