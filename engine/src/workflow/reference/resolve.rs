//! Resolving a step's `with` against the event and the outputs so far.

use std::collections::HashMap;

use serde_json::Value;

use super::{Absent, ParseError, Part, Reference, Root, Segment, parse};

/// What references resolve against: the event, the outputs so far and,
/// in the run of an installation, the installation.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The trigger event.
    pub trigger: &'a Value,
    /// The outputs of the steps that have run, by step id.
    pub steps: &'a HashMap<String, Value>,
    /// The installation the run is for, if it is for one.
    pub installation: Option<&'a Installed>,
}

/// What the run of an installation resolves `${config...}`,
/// `${installation...}` and `${tenant}` against.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    /// `${installation}`: `{"id": ..., "tenant": ...}`.
    pub installation: Value,
    /// `${tenant}`.
    pub tenant: Value,
    /// `${config}`: the installation's settings.
    pub config: Value,
}

impl Installed {
    /// The values of installation `id` of `tenant`, with settings `config`.
    pub fn new(id: &str, tenant: &str, config: Value) -> Self {
        Self {
            installation: serde_json::json!({ "id": id, "tenant": tenant }),
            tenant: Value::String(tenant.to_owned()),
            config,
        }
    }
}

/// Why a step's input cannot be resolved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// A string holds a malformed reference.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A required reference leads nowhere.
    #[error(transparent)]
    Missing(#[from] Missing),
}

/// A required reference whose path leads nowhere: which part is absent and
/// what was there instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{reference}`: {found}; write `${{{path} ?? null}}` (or another default) if it may be \
     absent, or `${{{path}?}}` to leave the key out"
)]
pub struct Missing {
    /// The reference, as written.
    pub reference: String,
    /// Its path: `trigger.body.title`.
    pub path: String,
    /// What the path found: "`trigger.body` has no `title` (its keys: ...)".
    pub found: String,
}

/// The most keys named when a key is missing.
const KEYS_SHOWN: usize = 12;

impl Scope<'_> {
    /// The value at `reference`, or what was there where its path broke off.
    pub fn lookup(&self, reference: &Reference) -> Result<&Value, String> {
        let mut value = match &reference.root {
            Root::Trigger => self.trigger,
            Root::Step(id) => self
                .steps
                .get(id)
                .ok_or_else(|| format!("step `{id}` has no output yet"))?,
            root => {
                let installed = self.installation.ok_or_else(|| {
                    "this run is not for an installation, so it has no config, installation or tenant"
                        .to_owned()
                })?;
                match root {
                    Root::Config => &installed.config,
                    Root::Installation => &installed.installation,
                    _ => &installed.tenant,
                }
            }
        };
        for (depth, segment) in reference.path.iter().enumerate() {
            let next = match (value, segment) {
                (Value::Object(map), Segment::Key(key)) => map.get(key),
                (Value::Object(map), Segment::Index(index)) => map.get(&index.to_string()),
                (Value::Array(items), Segment::Index(index)) => items.get(*index),
                _ => None,
            };
            match next {
                Some(next) => value = next,
                None => {
                    let at = reference.path_text_to(depth);
                    return Err(absence(&at, value, segment));
                }
            }
        }
        Ok(value)
    }

    /// `template` with every reference replaced by its value.
    pub fn resolve(&self, template: &Value) -> Result<Value, ResolveError> {
        Ok(self.resolve_value(template)?.unwrap_or(Value::Null))
    }

    /// The resolved value, or `None` when an optional reference left it out.
    fn resolve_value(&self, template: &Value) -> Result<Option<Value>, ResolveError> {
        Ok(Some(match template {
            Value::String(text) => return self.resolve_string(text),
            Value::Array(items) => {
                let mut resolved = Vec::with_capacity(items.len());
                for item in items {
                    resolved.extend(self.resolve_value(item)?);
                }
                Value::Array(resolved)
            }
            Value::Object(map) => {
                let mut resolved = serde_json::Map::with_capacity(map.len());
                for (key, value) in map {
                    if let Some(value) = self.resolve_value(value)? {
                        resolved.insert(key.clone(), value);
                    }
                }
                Value::Object(resolved)
            }
            other => other.clone(),
        }))
    }

    /// The value of `reference`, `None` when it is left out.
    fn value_of(&self, reference: &Reference) -> Result<Option<Value>, Missing> {
        match self.lookup(reference) {
            Ok(value) if reference.is_required() || !value.is_null() => Ok(Some(value.clone())),
            found => match &reference.absent {
                Absent::Default(default) => Ok(Some(default.clone())),
                Absent::LeftOut => Ok(None),
                Absent::Fails => Err(Missing {
                    reference: reference.to_string(),
                    path: reference.path_text(),
                    found: found.err().unwrap_or_default(),
                }),
            },
        }
    }

    fn resolve_string(&self, text: &str) -> Result<Option<Value>, ResolveError> {
        if !text.contains('$') {
            return Ok(Some(Value::String(text.to_owned())));
        }
        let parts = parse(text)?;
        if let [Part::Reference(reference)] = parts.as_slice() {
            return Ok(self.value_of(reference)?);
        }
        let mut out = String::new();
        for part in &parts {
            match part {
                Part::Text(literal) => out.push_str(literal),
                Part::Reference(reference) => match self.value_of(reference)? {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(Some(Value::String(out)))
    }
}

/// What `value`, at `at`, has instead of `segment`.
fn absence(at: &str, value: &Value, segment: &Segment) -> String {
    match (value, segment) {
        (Value::Object(map), segment) => {
            let wanted = match segment {
                Segment::Key(key) => key.clone(),
                Segment::Index(index) => index.to_string(),
            };
            if map.is_empty() {
                return format!("`{at}` is an empty object, without `{wanted}`");
            }
            let mut keys: Vec<String> = map
                .keys()
                .take(KEYS_SHOWN)
                .map(|key| format!("`{key}`"))
                .collect();
            if map.len() > KEYS_SHOWN {
                keys.push(format!("and {} more", map.len() - KEYS_SHOWN));
            }
            format!("`{at}` has no `{wanted}` (its keys: {})", keys.join(", "))
        }
        (Value::Array(items), Segment::Index(index)) => format!(
            "`{at}` has {} item{}, so no [{index}]",
            items.len(),
            if items.len() == 1 { "" } else { "s" }
        ),
        (Value::Array(_), Segment::Key(key)) => {
            format!("`{at}` is an array, which has no key `{key}`")
        }
        (other, _) => format!("`{at}` is {}, not an object or array", kind(other)),
    }
}

/// "a string", "null": the kind of a JSON value, for messages.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
