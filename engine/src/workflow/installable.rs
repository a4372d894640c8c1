//! What an installation of a workflow supplies: settings valid against the
//! workflow's `config` schema (a JSON Schema, checked with the
//! `jsonschema` crate) and a connection for each of its `connections`
//! slots; and the workflow's version, the hash an installation is pinned
//! to.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::reference::{Segment, write_path};
use super::{ValidationError, ValidationErrors, Workflow};
use crate::trigger::Trigger;

/// The connection slot that steps and triggers reach Salesforce through.
pub const SALESFORCE_SLOT: &str = "salesforce";

/// A connection an installation binds: `{"description": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSlot {
    /// `"description": "The org leads are created in"`: for the people who
    /// install the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Workflow {
    /// Whether the workflow runs per installation: it declares `config` or
    /// `connections`.
    pub fn is_installable(&self) -> bool {
        self.config.is_some() || !self.connections.is_empty()
    }

    /// The workflow's version: the first 16 hex digits of the SHA-256 of
    /// its definition as JSON (so layout and whitespace do not count).
    pub fn version(&self) -> String {
        let definition = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&definition)[..8])
    }

    /// The path callers post events to, for a trigger that takes requests:
    /// the workflow's own, or an installed workflow's per installation
    /// (`{installation_id}` standing for each).
    pub fn request_path(&self) -> Option<String> {
        if self.is_installable() {
            self.installation_path("{installation_id}")
        } else {
            self.trigger.path(self.id.as_str())
        }
    }

    /// The path callers post installation `installation`'s events to, for
    /// a trigger that takes requests.
    pub fn installation_path(&self, installation: &str) -> Option<String> {
        match &self.trigger {
            Trigger::Webhook(_) => Some(format!("/hooks/{}/{installation}", self.id)),
            Trigger::OutboundMessage(_) => {
                Some(format!("/salesforce/outbound/{}/{installation}", self.id))
            }
            Trigger::Schedule(_)
            | Trigger::SalesforcePoll(_)
            | Trigger::SalesforceEvents(_)
            | Trigger::Manual(_) => None,
        }
    }

    /// `config` (absent: `{}`) with the defaults of the schema's top-level
    /// properties filled in, checked against the workflow's `config`
    /// schema: every problem with its JSON path (`config.min_score`).
    pub fn settle_config(&self, config: Option<Value>) -> Result<Value, ValidationErrors> {
        let mut config = config.unwrap_or_else(|| Value::Object(Default::default()));
        let Some(schema) = &self.config else {
            return match config.as_object() {
                Some(map) if map.is_empty() => Ok(config),
                _ => Err(ValidationErrors(vec![ValidationError::new(
                    "config",
                    format!("workflow `{}` takes no config", self.id),
                )])),
            };
        };
        if let (Some(map), Some(properties)) = (
            config.as_object_mut(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            for (name, property) in properties {
                if let Some(default) = property.get("default")
                    && !map.contains_key(name)
                {
                    map.insert(name.clone(), default.clone());
                }
            }
        }
        let validator = jsonschema::validator_for(schema).map_err(|error| {
            ValidationErrors(vec![ValidationError::new(
                "config",
                format!("the workflow's config schema is not valid: {error}"),
            )])
        })?;
        let errors: Vec<ValidationError> = validator
            .iter_errors(&config)
            .map(|error| {
                ValidationError::new(
                    config_path(&error.instance_path().to_string()),
                    error.to_string(),
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ValidationErrors(errors))
        }
    }
}

/// The JSON path of a JSON Pointer into the config: `/map/0/x` is
/// `config.map[0].x`.
fn config_path(pointer: &str) -> String {
    let segments: Vec<Segment> = pointer
        .split('/')
        .skip(1)
        .map(|part| {
            let part = part.replace("~1", "/").replace("~0", "~");
            match part.parse::<usize>() {
                Ok(index) => Segment::Index(index),
                Err(_) => Segment::Key(part),
            }
        })
        .collect();
    let mut path = "config".to_owned();
    write_path(&mut path, &segments);
    path
}

/// Checks what an installable workflow declares, adding every problem to
/// `errors`.
pub(super) fn validate(workflow: &Workflow, errors: &mut Vec<ValidationError>) {
    if let Some(schema) = &workflow.config {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            errors.push(ValidationError::new(
                "config",
                "the config schema must describe an object: `{\"type\": \"object\", \"properties\": {...}}`",
            ));
        } else if let Err(error) = jsonschema::validator_for(schema) {
            errors.push(ValidationError::new(
                "config",
                format!("not a valid JSON Schema: {error}"),
            ));
        }
    }
    for name in workflow.connections.keys() {
        if name != SALESFORCE_SLOT {
            errors.push(ValidationError::new(
                format!("connections.{name}"),
                format!("the only connection slot is `{SALESFORCE_SLOT}`, not `{name}`"),
            ));
        }
    }
    if workflow.installation_concurrency == Some(0) {
        errors.push(ValidationError::new(
            "installation_concurrency",
            "must be at least 1",
        ));
    }
    if !workflow.is_installable() {
        if workflow.installation_concurrency.is_some() {
            errors.push(ValidationError::new(
                "installation_concurrency",
                "only a workflow with `config` or `connections` has installations",
            ));
        }
        return;
    }
    if let Trigger::Webhook(webhook) = &workflow.trigger
        && (webhook.secret.is_some() || webhook.hmac_secret.is_some())
    {
        errors.push(ValidationError::new(
            "trigger.webhook",
            "an installed workflow's webhook is called with each installation's own secret; \
             remove `secret` and `hmac_secret`",
        ));
    }
    if workflow.connections.contains_key(SALESFORCE_SLOT) {
        return;
    }
    let reaches_salesforce = matches!(
        workflow.trigger,
        Trigger::OutboundMessage(_) | Trigger::SalesforcePoll(_) | Trigger::SalesforceEvents(_)
    ) || workflow
        .steps
        .iter()
        .any(|step| step.permissions.salesforce.grants_anything());
    if reaches_salesforce {
        errors.push(ValidationError::new(
            "connections",
            format!(
                "an installed workflow reaches Salesforce through each installation's own \
                 connection: declare `\"connections\": {{\"{SALESFORCE_SLOT}\": {{}}}}`"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflow::parse;

    fn workflow(extra: Value) -> Result<Workflow, ValidationErrors> {
        let mut definition = json!({
            "id": "w",
            "trigger": { "webhook": {} },
            "steps": [{ "id": "a", "uses": "builtin:filter",
                        "with": { "conditions": [{ "value": "x", "op": "exists" }] } }]
        });
        definition
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        parse(&definition.to_string())
    }

    #[test]
    fn config_is_checked_with_its_defaults_and_every_error_has_its_path() {
        let workflow = workflow(json!({
            "config": {
                "type": "object",
                "required": ["owner"],
                "properties": {
                    "min_score": { "type": "integer", "minimum": 0, "default": 50 },
                    "owner": { "type": "string" },
                    "map": { "type": "array", "items": { "type": "string" } }
                },
                "additionalProperties": false
            }
        }))
        .unwrap();
        assert!(workflow.is_installable());
        let settled = workflow
            .settle_config(Some(json!({ "owner": "ada" })))
            .unwrap();
        assert_eq!(settled, json!({ "owner": "ada", "min_score": 50 }));
        let errors = workflow
            .settle_config(Some(
                json!({ "min_score": -1, "map": ["a", 2], "extra": true }),
            ))
            .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in ["config", "config.min_score", "config.map[1]"] {
            assert!(paths.contains(&expected), "{expected} in {errors}");
        }
        assert!(
            errors
                .to_string()
                .contains("\"owner\" is a required property"),
            "{errors}"
        );
    }

    #[test]
    fn a_schema_that_is_not_one_or_not_of_an_object_is_refused() {
        let errors = workflow(json!({ "config": { "type": "string" } })).unwrap_err();
        assert_eq!(errors[0].path, "config");
        let errors =
            workflow(json!({ "config": { "type": "object", "minProperties": "x" } })).unwrap_err();
        assert!(
            errors[0].message.contains("not a valid JSON Schema"),
            "{errors}"
        );
    }

    #[test]
    fn only_the_salesforce_slot_exists_and_salesforce_needs_it() {
        let errors = workflow(json!({ "connections": { "hubspot": {} } })).unwrap_err();
        assert_eq!(errors[0].path, "connections.hubspot");
        let errors = workflow(json!({
            "config": { "type": "object" },
            "steps": [{ "id": "a", "uses": "builtin:salesforce",
                        "with": { "action": "get", "sobject": "Lead", "id": "x" },
                        "permissions": { "salesforce": { "read": ["Lead"] } } }]
        }))
        .unwrap_err();
        assert_eq!(errors[0].path, "connections");
    }

    #[test]
    fn the_version_follows_the_definition_not_its_layout() {
        let a = parse(
            r#"{"id":"w","trigger":{"webhook":{}},"steps":[{"id":"a","uses":"builtin:filter",
                "with":{"conditions":[{"value":"x","op":"exists"}]}}]}"#,
        )
        .unwrap();
        let b = workflow(json!({})).unwrap();
        assert_eq!(a.version(), b.version());
        let c = workflow(json!({ "description": "changed" })).unwrap();
        assert_ne!(a.version(), c.version());
        assert_eq!(a.version().len(), 16);
    }

    #[test]
    fn a_workflow_without_config_takes_only_an_empty_one() {
        let plain = workflow(json!({})).unwrap();
        assert_eq!(plain.settle_config(None).unwrap(), json!({}));
        assert!(plain.settle_config(Some(json!({ "a": 1 }))).is_err());
    }
}
