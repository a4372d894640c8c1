//! `${...}` references in a step's `with`: path references into the trigger
//! event and earlier steps' outputs.
//!
//! - `${trigger}` is the whole event, `${trigger.body.email}` a field of it;
//! - `${steps.map}` is the whole output of step `map`, `${steps.map.record.Email}`
//!   a field of it;
//! - array elements are `items[0]` or `items.0`; keys with other characters
//!   are quoted: `body["first name"]`;
//! - a string that is exactly one reference keeps the referenced JSON type
//!   (`"${trigger.body.size}"` gives the number 42); a reference inside a
//!   longer string is interpolated (strings as they are, other values as
//!   JSON);
//! - a path that leads nowhere gives `null` (and an empty string when
//!   interpolated), as a missing field in a webhook body should;
//! - `$${` writes a literal `${`.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

/// A parsed `${...}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Where the path starts.
    pub root: Root,
    /// The path below the root.
    pub path: Vec<Segment>,
}

/// The start of a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `trigger`: the event that started the run.
    Trigger,
    /// `steps.<id>`: the output of an earlier step.
    Step(String),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index (also tried as an object key).
    Index(usize),
}

/// A malformed reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} in `{text}`")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// The string holding the reference.
    pub text: String,
}

/// A piece of a string with references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// A reference.
    Reference(Reference),
}

/// Splits `text` into literal parts and references.
pub fn parse(text: &str) -> Result<Vec<Part>, ParseError> {
    let error = |message: &str| ParseError {
        message: message.to_owned(),
        text: text.to_owned(),
    };
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        literal.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(escaped) = after.strip_prefix("$${") {
            literal.push_str("${");
            rest = escaped;
        } else if let Some(body) = after.strip_prefix("${") {
            let end = closing_brace(body).ok_or_else(|| error("unterminated `${`"))?;
            let reference = parse_reference(&body[..end]).map_err(|m| error(&m))?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Reference(reference));
            rest = &body[end + 1..];
        } else {
            literal.push('$');
            rest = &after[1..];
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(parts)
}

/// The index of the `}` closing a reference, skipping quoted keys.
fn closing_brace(body: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in body.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_reference(text: &str) -> Result<Reference, String> {
    let segments = parse_path(text.trim())?;
    let mut segments = segments.into_iter();
    let root = match segments.next() {
        Some(Segment::Key(key)) if key == "trigger" => Root::Trigger,
        Some(Segment::Key(key)) if key == "steps" => match segments.next() {
            Some(Segment::Key(id)) => Root::Step(id),
            _ => return Err("`steps` must be followed by a step id: `${steps.<id>...}`".into()),
        },
        _ => {
            return Err(format!(
                "`${{{text}}}` must start with `trigger` or `steps.<id>`"
            ));
        }
    };
    Ok(Reference {
        root,
        path: segments.collect(),
    })
}

fn parse_path(text: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        // A dotted segment: a key, or an index after the root.
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c.is_whitespace() {
                return Err("unexpected space in a path".into());
            }
            word.push(c);
            chars.next();
        }
        if word.is_empty() {
            if segments.is_empty() || chars.peek() != Some(&'[') {
                return Err("empty path segment".into());
            }
        } else {
            segments.push(match word.parse::<usize>() {
                Ok(index) if !segments.is_empty() => Segment::Index(index),
                _ => Segment::Key(word),
            });
        }
        // Any bracketed segments: `[0]` or `["key"]`.
        while chars.peek() == Some(&'[') {
            chars.next();
            segments.push(parse_bracket(&mut chars)?);
        }
        match chars.next() {
            None => return Ok(segments),
            Some('.') => {}
            Some(c) => return Err(format!("unexpected `{c}` in a path")),
        }
    }
}

/// The inside of `[...]`, after the `[`.
fn parse_bracket(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Segment, String> {
    let quoted = chars.peek() == Some(&'"');
    if quoted {
        chars.next();
    }
    let close = if quoted { '"' } else { ']' };
    let mut inner = String::new();
    loop {
        match chars.next() {
            Some(c) if c == close => break,
            Some(c) => inner.push(c),
            None => return Err("unterminated `[`".into()),
        }
    }
    if quoted {
        return match chars.next() {
            Some(']') => Ok(Segment::Key(inner)),
            _ => Err("unterminated `[`".into()),
        };
    }
    inner
        .trim()
        .parse()
        .map(Segment::Index)
        .map_err(|_| format!("`[{inner}]` is neither an array index nor a quoted key"))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.root {
            Root::Trigger => f.write_str("${trigger")?,
            Root::Step(id) => write!(f, "${{steps.{id}")?,
        }
        for segment in &self.path {
            match segment {
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        f.write_str("}")
    }
}

/// What references resolve against: the event and the outputs so far.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The trigger event.
    pub trigger: &'a Value,
    /// The outputs of the steps that have run, by step id.
    pub steps: &'a HashMap<String, Value>,
}

impl Scope<'_> {
    fn lookup(&self, reference: &Reference) -> Option<&Value> {
        let root = match &reference.root {
            Root::Trigger => self.trigger,
            Root::Step(id) => self.steps.get(id)?,
        };
        reference
            .path
            .iter()
            .try_fold(root, |value, segment| match (value, segment) {
                (Value::Object(map), Segment::Key(key)) => map.get(key),
                (Value::Object(map), Segment::Index(index)) => map.get(&index.to_string()),
                (Value::Array(items), Segment::Index(index)) => items.get(*index),
                _ => None,
            })
    }

    /// `template` with every reference replaced by its value.
    pub fn resolve(&self, template: &Value) -> Result<Value, ParseError> {
        Ok(match template {
            Value::String(text) => self.resolve_string(text)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.resolve(item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(key, value)| Ok((key.clone(), self.resolve(value)?)))
                    .collect::<Result<_, ParseError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn resolve_string(&self, text: &str) -> Result<Value, ParseError> {
        if !text.contains('$') {
            return Ok(Value::String(text.to_owned()));
        }
        let parts = parse(text)?;
        if let [Part::Reference(reference)] = parts.as_slice() {
            return Ok(self.lookup(reference).cloned().unwrap_or(Value::Null));
        }
        let mut out = String::new();
        for part in &parts {
            match part {
                Part::Text(literal) => out.push_str(literal),
                Part::Reference(reference) => match self.lookup(reference) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(Value::String(out))
    }
}

/// Every reference in `template`, with the JSON path (below `path`) of the
/// string holding it, or the parse error of that string.
pub fn references_in(
    template: &Value,
    path: &str,
    found: &mut Vec<(String, Result<Reference, ParseError>)>,
) {
    match template {
        Value::String(text) if text.contains('$') => match parse(text) {
            Ok(parts) => found.extend(parts.into_iter().filter_map(|part| match part {
                Part::Reference(reference) => Some((path.to_owned(), Ok(reference))),
                Part::Text(_) => None,
            })),
            Err(error) => found.push((path.to_owned(), Err(error))),
        },
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                references_in(item, &format!("{path}[{index}]"), found);
            }
        }
        Value::Object(map) => {
            for (key, value) in map {
                references_in(value, &format!("{path}.{key}"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
