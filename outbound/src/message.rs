//! An Outbound Message as read, and the events it becomes.

use serde_json::{Map, Value, json};

/// The field of an event that holds its notification's element as sent.
pub const NOTIFICATION_XML: &str = "notification_xml";

/// One Outbound Message: who sent it and its notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The sending org's id (15 or 18 characters).
    pub organization_id: String,
    /// The id of the outbound message definition (`04k...`).
    pub action_id: Option<String>,
    /// A session of the definition's "User to Send As", when "Send Session
    /// ID" is on (`xsi:nil` otherwise).
    pub session_id: Option<String>,
    /// The org's Enterprise SOAP endpoint.
    pub enterprise_url: Option<String>,
    /// The org's Partner SOAP endpoint.
    pub partner_url: Option<String>,
    /// The notifications, in the message's order.
    pub notifications: Vec<Notification>,
}

/// One notification: a record's values when its rule fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The notification's id (`04l...`): the same id on every redelivery.
    pub id: String,
    /// The record's sObject type, from the `xsi:type` of `sObject` (`None`
    /// when the sender left the type out).
    pub sobject_type: Option<String>,
    /// The record's fields, in the message's order, typed (see
    /// [`FieldType`](crate::FieldType)); a field sent as `xsi:nil` is
    /// `null`, and one left out is absent.
    pub record: Map<String, Value>,
    /// Its `<Notification>` element as the message held it, byte for byte.
    pub xml: String,
}

impl Message {
    /// One event per notification, in order: `{"notification_id",
    /// "organization_id", "action_id", "sobject_type", "record",
    /// "session_id", "enterprise_url", "partner_url", "notification_xml"}`
    /// (the last: its `<Notification>` element as sent). `default_type` is
    /// the `sobject_type` of notifications that name none.
    pub fn events(&self, default_type: Option<&str>) -> Vec<Value> {
        self.notifications
            .iter()
            .map(|notification| self.event(notification, default_type))
            .collect()
    }

    /// The event of one of this message's notifications.
    pub fn event(&self, notification: &Notification, default_type: Option<&str>) -> Value {
        json!({
            "notification_id": notification.id,
            "organization_id": self.organization_id,
            "action_id": self.action_id,
            "sobject_type": notification.sobject_type.as_deref().or(default_type),
            "record": notification.record,
            "session_id": self.session_id,
            "enterprise_url": self.enterprise_url,
            "partner_url": self.partner_url,
            NOTIFICATION_XML: notification.xml,
        })
    }
}
