//! A received event as the run's trigger event:
//!
//! ```json
//! {"topic": "/data/OpportunityChangeEvent", "kind": "change",
//!  "replay_id": "00000000000f4a2b0000", "event_id": "2b7c...", "schema_id": "a01V...",
//!  "payload": {"ChangeEventHeader": {"changeType": "UPDATE", "changedFields": ["StageName"], ...},
//!              "StageName": "Closed Won"}}
//! ```
//!
//! `kind` is `change`, `gap` (a `GAP_*` change event: the record changed
//! but Salesforce sent no values; read it again), `overflow`
//! (`GAP_OVERFLOW`: too many changes in one transaction; resync the
//! object), `event` (a platform event), or `undecodable`, with `error` and
//! the payload in base64, so that nothing received is lost.

use base64::Engine as _;
use gust_pubsub::EventSchema;
use gust_pubsub::proto::ConsumerEvent;
use serde_json::{Value, json};

use crate::runtime::NewEvent;

/// The run event of `consumed`, read with `schema` (or why it could not
/// be had), deduped by its event id.
pub(super) fn run_event(
    topic: &str,
    consumed: ConsumerEvent,
    schema: Result<&EventSchema, String>,
) -> NewEvent {
    let replay_id = hex::encode(&consumed.replay_id);
    let event = consumed.event.unwrap_or_default();
    let decoded = schema.and_then(|schema| {
        schema
            .decode(&event.payload)
            .map_err(|error| error.to_string())
    });
    let mut value = json!({
        "topic": topic,
        "replay_id": replay_id,
        "event_id": event.id,
        "schema_id": event.schema_id,
    });
    match decoded {
        Ok(payload) => {
            value["kind"] = json!(kind(&payload));
            value["payload"] = payload;
        }
        Err(error) => {
            value["kind"] = json!("undecodable");
            value["error"] = json!(error);
            value["payload_base64"] =
                json!(base64::engine::general_purpose::STANDARD.encode(&event.payload));
        }
    }
    let key = if event.id.is_empty() {
        replay_id
    } else {
        event.id
    };
    (value, Some(key))
}

/// What a decoded payload is: a change, a gap, an overflow or a platform
/// event.
fn kind(payload: &Value) -> &'static str {
    match payload
        .pointer("/ChangeEventHeader/changeType")
        .and_then(Value::as_str)
    {
        None => "event",
        Some("GAP_OVERFLOW") => "overflow",
        Some(gap) if gap.starts_with("GAP_") => "gap",
        Some(_) => "change",
    }
}

#[cfg(test)]
mod tests {
    use gust_pubsub::proto::ProducerEvent;

    use super::*;

    fn consumed(payload: Vec<u8>, id: &str) -> ConsumerEvent {
        ConsumerEvent {
            event: Some(ProducerEvent {
                id: id.to_owned(),
                schema_id: "s1".into(),
                payload,
                headers: Vec::new(),
            }),
            replay_id: vec![0, 0, 0, 0, 0, 16, 219, 77, 0, 0],
        }
    }

    #[test]
    fn kinds_follow_the_change_type() {
        assert_eq!(kind(&json!({"Name": "x"})), "event");
        for (change, expected) in [
            ("UPDATE", "change"),
            ("GAP_UPDATE", "gap"),
            ("GAP_OVERFLOW", "overflow"),
        ] {
            assert_eq!(
                kind(&json!({"ChangeEventHeader": {"changeType": change}})),
                expected
            );
        }
    }

    #[test]
    fn an_undecodable_event_is_kept_with_its_error_and_bytes() {
        let (value, key) = run_event(
            "/event/X__e",
            consumed(vec![1, 2, 3], ""),
            Err("no schema".into()),
        );
        assert_eq!(value["kind"], "undecodable");
        assert_eq!(value["error"], "no schema");
        assert_eq!(value["payload_base64"], "AQID");
        assert_eq!(value["replay_id"], "000000000010db4d0000");
        // Without an event id, the replay id dedupes.
        assert_eq!(key.as_deref(), Some("000000000010db4d0000"));
    }

    #[test]
    fn a_platform_event_decodes_with_its_schema() {
        let schema = EventSchema::parse(
            r#"{"type": "record", "name": "Order__e", "fields": [
                {"name": "CreatedDate", "type": "long"},
                {"name": "Note__c", "type": ["null", "string"], "default": null}]}"#,
        )
        .unwrap();
        // CreatedDate 1 (zigzag 2), then the union's branch 0: null.
        let (value, key) = run_event("/event/Order__e", consumed(vec![2, 0], "e-1"), Ok(&schema));
        assert_eq!(value["kind"], "event");
        assert_eq!(value["payload"], json!({"CreatedDate": 1}));
        assert_eq!(key.as_deref(), Some("e-1"));
    }
}
