//! Outbound Messages: rules that turn record writes into notifications,
//! sent as SOAP posts of up to 100 notifications of one object, in the
//! envelope of `fixtures/salesforce/outbound-messages/`, resent with a
//! growing delay until the endpoint answers 200 with `<Ack>true</Ack>`,
//! dropped past a maximum age. As in Salesforce, a record changed while its
//! notification waits is sent once, with its latest values.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde::Deserialize;
use serde_json::Value;

use crate::ids::RecordId;
use crate::org::{Change, Org};

/// The most notifications in one message.
const MAX_NOTIFICATIONS: usize = 100;

/// An Outbound Message rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundRule {
    /// The object whose writes it watches.
    pub object: String,
    /// The fields it sends (the Id is always sent).
    pub fields: Vec<String>,
    /// Where it posts.
    pub endpoint: String,
    /// Whether a create sends a notification.
    #[serde(default = "yes")]
    pub on_create: bool,
    /// Whether an update sends a notification.
    #[serde(default)]
    pub on_update: bool,
    /// Whether the message carries a session id.
    #[serde(default)]
    pub send_session_id: bool,
    /// The organization id it sends, when not the org's own (to test a
    /// receiver's check).
    pub organization_id: Option<String>,
}

fn yes() -> bool {
    true
}

/// When messages are resent and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// The delay before the first resend; it doubles each time.
    pub first: Duration,
    /// The longest delay between resends.
    pub longest: Duration,
    /// A notification older than this is dropped.
    pub max_age: Duration,
}

impl Default for Retries {
    /// Salesforce's: 30 s doubling up to 2 h, dropped after 24 h.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            longest: Duration::from_secs(2 * 3600),
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The rule's position among the rules.
    pub rule: usize,
    /// The notification ids it carried.
    pub notifications: Vec<String>,
    /// Whether the endpoint acknowledged it.
    pub acknowledged: bool,
    /// What went wrong, if it did.
    pub error: Option<String>,
}

struct Pending {
    rule: usize,
    record: RecordId,
    notification: RecordId,
    queued_at: Instant,
    attempts: u32,
    due: Instant,
}

/// A message ready to post.
pub(crate) struct Message {
    rule: usize,
    endpoint: String,
    notifications: Vec<String>,
    envelope: String,
}

/// The rules and the notifications waiting.
pub(crate) struct Outbox {
    rules: Vec<OutboundRule>,
    retries: Retries,
    pending: Vec<Pending>,
    next_number: u64,
    deliveries: Vec<Delivery>,
    dropped: usize,
}

impl Outbox {
    pub(crate) fn new(rules: Vec<OutboundRule>, retries: Retries) -> Self {
        Self {
            rules,
            retries,
            pending: Vec::new(),
            next_number: 0,
            deliveries: Vec::new(),
            dropped: 0,
        }
    }

    pub(crate) fn add_rule(&mut self, rule: OutboundRule) {
        self.rules.push(rule);
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.clone()
    }

    pub(crate) fn dropped(&self) -> usize {
        self.dropped
    }

    /// Queues a notification for each rule a change matches, unless one
    /// for the same record waits already.
    pub(crate) fn queue(&mut self, changes: Vec<Change>) {
        let now = Instant::now();
        for change in changes {
            for (index, rule) in self.rules.iter().enumerate() {
                let fires = rule.object.eq_ignore_ascii_case(&change.object)
                    && if change.created {
                        rule.on_create
                    } else {
                        rule.on_update
                    };
                let waiting = self
                    .pending
                    .iter()
                    .any(|pending| pending.rule == index && pending.record == change.id);
                if fires && !waiting {
                    self.next_number += 1;
                    self.pending.push(Pending {
                        rule: index,
                        record: change.id.clone(),
                        notification: RecordId::new("04l", self.next_number),
                        queued_at: now,
                        attempts: 0,
                        due: now,
                    });
                }
            }
        }
    }

    /// The messages due now, each at most 100 notifications of one rule;
    /// notifications past their age are dropped first.
    pub(crate) fn due(
        &mut self,
        org: &Org,
        sender: Sender<'_>,
        session: impl Fn() -> String,
    ) -> Vec<Message> {
        let now = Instant::now();
        let max_age = self.retries.max_age;
        let before = self.pending.len();
        self.pending
            .retain(|pending| now.duration_since(pending.queued_at) < max_age);
        self.dropped += before - self.pending.len();
        let mut by_rule: HashMap<usize, Vec<&Pending>> = HashMap::new();
        for pending in self.pending.iter().filter(|pending| pending.due <= now) {
            by_rule.entry(pending.rule).or_default().push(pending);
        }
        let mut messages = Vec::new();
        for (rule_index, waiting) in by_rule {
            let rule = &self.rules[rule_index];
            for chunk in waiting.chunks(MAX_NOTIFICATIONS) {
                let session = rule.send_session_id.then(&session);
                messages.push(Message {
                    rule: rule_index,
                    endpoint: rule.endpoint.clone(),
                    notifications: chunk.iter().map(|p| p.notification.to_string()).collect(),
                    envelope: envelope(org, rule, rule_index, chunk, sender, session.as_deref()),
                });
            }
        }
        messages
    }

    /// Records how posting `message` went: acknowledged notifications are
    /// done, the others wait longer each time.
    pub(crate) fn delivered(&mut self, message: &Message, outcome: Result<(), String>) {
        let acknowledged = outcome.is_ok();
        self.deliveries.push(Delivery {
            rule: message.rule,
            notifications: message.notifications.clone(),
            acknowledged,
            error: outcome.err(),
        });
        let retries = self.retries;
        let now = Instant::now();
        let mine = |pending: &Pending| {
            message
                .notifications
                .contains(&pending.notification.to_string())
        };
        if acknowledged {
            self.pending.retain(|pending| !mine(pending));
            return;
        }
        for pending in self.pending.iter_mut().filter(|pending| mine(pending)) {
            pending.attempts += 1;
            let doubled = retries
                .first
                .saturating_mul(1 << pending.attempts.min(20).saturating_sub(1));
            pending.due = now + doubled.min(retries.longest);
        }
    }
}

/// The SOAP envelope of one message.
/// The org a message is sent from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sender<'a> {
    /// Its id.
    pub(crate) org_id: &'a str,
    /// Its instance URL.
    pub(crate) instance_url: &'a str,
}

fn envelope(
    org: &Org,
    rule: &OutboundRule,
    rule_index: usize,
    notifications: &[&Pending],
    sender: Sender<'_>,
    session: Option<&str>,
) -> String {
    let Sender {
        org_id,
        instance_url,
    } = sender;
    let org15 = &org_id[..15];
    let organization = rule.organization_id.as_deref().unwrap_or(org15);
    let action = RecordId::new("04k", rule_index as u64 + 1);
    let session = match session {
        Some(session) => format!("<SessionId>{}</SessionId>", escape(session)),
        None => "<SessionId xsi:nil=\"true\"/>".to_owned(),
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n <soapenv:Body>\n  <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n",
    );
    xml.push_str(&format!(
        "   <OrganizationId>{}</OrganizationId>\n   <ActionId>{action}</ActionId>\n   {session}\n   <EnterpriseUrl>{instance_url}/services/Soap/c/60.0/{org15}</EnterpriseUrl>\n   <PartnerUrl>{instance_url}/services/Soap/u/60.0/{org15}</PartnerUrl>\n",
        escape(organization)
    ));
    let object = org.schema().object(&rule.object);
    let object_name = object.map_or(rule.object.as_str(), |object| object.name.as_str());
    for pending in notifications {
        xml.push_str(&format!(
            "   <Notification>\n    <Id>{}</Id>\n    <sObject xsi:type=\"sf:{object_name}\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n",
            pending.notification
        ));
        xml.push_str(&format!("     <sf:Id>{}</sf:Id>\n", pending.record));
        if let Some(record) = org.record(&pending.record) {
            for name in rule
                .fields
                .iter()
                .filter(|name| !name.eq_ignore_ascii_case("Id"))
            {
                let Some((field, value)) = object
                    .and_then(|object| object.field(name))
                    .and_then(|field| Some((field, record.get(&field.name)?)))
                else {
                    continue;
                };
                // Salesforce leaves empty fields out.
                let Some(text) = soap_value(value) else {
                    continue;
                };
                xml.push_str(&format!(
                    "     <sf:{0}>{1}</sf:{0}>\n",
                    field.name,
                    escape(text.as_str())
                ));
            }
        }
        xml.push_str("    </sObject>\n   </Notification>\n");
    }
    xml.push_str("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n");
    xml
}

/// A value as the SOAP API writes it: datetimes in UTC with `Z`, numbers
/// with their decimal point (`120000.0`); `None` when empty.
fn soap_value(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(match crate::values::parse_datetime(text) {
            Some(moment) if text.len() > 10 => moment.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            _ => text.clone(),
        }),
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or_default();
            Some(if float.fract() == 0.0 {
                format!("{float:.1}")
            } else {
                float.to_string()
            })
        }
        other => Some(other.to_string()),
    }
}

/// Posts `message`; `Ok` only for 200 with `<Ack>true</Ack>`.
pub(crate) async fn post(client: &reqwest::Client, message: &Message) -> Result<(), String> {
    let response = client
        .post(&message.endpoint)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(message.envelope.clone())
        .send()
        .await
        .map_err(|error| format!("the endpoint could not be reached: {error}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|error| error.to_string())?;
    if status.as_u16() != 200 {
        return Err(format!("the endpoint answered {status}"));
    }
    if acknowledges(&body) {
        Ok(())
    } else {
        Err("the endpoint answered 200 without <Ack>true</Ack>".to_owned())
    }
}

/// Whether `body` is a SOAP answer whose `Ack` element says `true`.
fn acknowledges(body: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(body.trim_start_matches('\u{feff}'));
    let mut in_ack = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(start)) => in_ack = start.local_name().as_ref() == "Ack",
            Ok(Event::Text(text)) if in_ack => {
                return text.into_inner().trim() == "true";
            }
            Ok(Event::End(_)) => in_ack = false,
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_ack_saying_true_acknowledges() {
        let fixture = include_str!("../../fixtures/salesforce/outbound-messages/ack-response.xml");
        assert!(acknowledges(fixture));
        assert!(acknowledges(
            &fixture.replace("soapenv:", "s:").replace(":soapenv", ":s")
        ));
        assert!(!acknowledges(&fixture.replace(">true<", ">false<")));
        assert!(!acknowledges("<html>OK</html>"));
        assert!(!acknowledges("not xml <"));
    }

    #[test]
    fn values_are_written_as_the_soap_api_writes_them() {
        assert_eq!(
            soap_value(&serde_json::json!("2017-12-11T21:49:24.000+0000")).unwrap(),
            "2017-12-11T21:49:24.000Z"
        );
        assert_eq!(
            soap_value(&serde_json::json!("2017-04-03")).unwrap(),
            "2017-04-03"
        );
        assert_eq!(
            soap_value(&serde_json::json!(120000.0)).unwrap(),
            "120000.0"
        );
        assert_eq!(soap_value(&serde_json::json!(42)).unwrap(), "42");
        assert_eq!(soap_value(&serde_json::json!(true)).unwrap(), "true");
        assert_eq!(soap_value(&serde_json::json!(null)), None);
    }
}
