//! `${...}` references in a step's `with`: path references into the trigger
//! event and earlier steps' outputs.
//!
//! - `${trigger}` is the whole event, `${trigger.body.email}` a field of it;
//! - `${steps.map}` is the whole output of step `map`, `${steps.map.record.Email}`
//!   a field of it;
//! - in the run of an installation, `${config...}` reads its settings,
//!   `${installation.id}` is its id and `${tenant}` (also
//!   `${installation.tenant}`) its tenant;
//! - array elements are `items[0]` or `items.0`; keys with other characters
//!   are quoted: `body["first name"]`;
//! - a string that is exactly one reference keeps the referenced JSON type
//!   (`"${trigger.body.size}"` gives the number 42); a reference inside a
//!   longer string is interpolated (strings as they are, other values as
//!   JSON);
//! - a path that leads nowhere is an error of the step, which names the
//!   path and what was there, unless the reference is optional:
//!   `${trigger.body.title ?? "none"}` gives a default (any JSON value;
//!   `?? null` for null) and `${trigger.body.title?}` leaves the key holding
//!   it out of its object (or the element out of its array). An optional
//!   reference treats `null` as absent;
//! - `$${` writes a literal `${`.

use std::fmt;

use serde_json::Value;

/// A parsed `${...}` reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Where the path starts.
    pub root: Root,
    /// The path below the root.
    pub path: Vec<Segment>,
    /// What an absent (or, when optional, null) value gives.
    pub absent: Absent,
}

/// What a reference gives when its path leads nowhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Absent {
    /// `${trigger.body.title}`: the step fails, naming the path.
    Fails,
    /// `${trigger.body.title ?? "none"}`: this value, also for `null`.
    Default(Value),
    /// `${trigger.body.title?}`: the key holding the reference is left out
    /// of its object, or the element out of its array, also for `null`.
    LeftOut,
}

/// The start of a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `trigger`: the event that started the run.
    Trigger,
    /// `steps.<id>`: the output of an earlier step.
    Step(String),
    /// `config`: the settings of the installation the run is for.
    Config,
    /// `installation`: `{"id", "tenant"}` of the installation the run is for.
    Installation,
    /// `tenant`: the tenant of the installation the run is for.
    Tenant,
}

impl Root {
    /// Whether the root is known only in the run of an installation.
    pub fn needs_installation(&self) -> bool {
        matches!(self, Self::Config | Self::Installation | Self::Tenant)
    }
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
#[derive(Debug, Clone, PartialEq)]
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

/// The index of the `}` closing a reference, skipping quoted keys and
/// strings, and the brackets and braces of a default value after `??`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut in_default = false;
    let mut depth = 0usize;
    let mut previous = None;
    for (i, c) in body.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '?' if previous == Some('?') => in_default = true,
            '{' | '[' if in_default => depth += 1,
            ']' if in_default => depth = depth.saturating_sub(1),
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
        previous = Some(c);
    }
    None
}

/// The index of a `??` outside quotes in `text`.
fn default_marker(text: &str) -> Option<usize> {
    let mut quoted = false;
    let mut previous = None;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '?' if !quoted && previous == Some('?') => return Some(i - 1),
            _ => {}
        }
        previous = Some(c);
    }
    None
}

fn parse_reference(text: &str) -> Result<Reference, String> {
    let (path, absent) = match default_marker(text) {
        Some(at) => {
            let default = text[at + 2..].trim();
            let value = serde_json::from_str(default).map_err(|error| {
                format!(
                    "the default after `??` must be a JSON value (`\"text\"`, `0`, `null`), \
                     not `{default}`: {error}"
                )
            })?;
            (&text[..at], Absent::Default(value))
        }
        None => match text.trim_end().strip_suffix('?') {
            Some(path) => (path, Absent::LeftOut),
            None => (text, Absent::Fails),
        },
    };
    let segments = parse_path(path.trim())?;
    let mut segments = segments.into_iter();
    let root = match segments.next() {
        Some(Segment::Key(key)) if key == "trigger" => Root::Trigger,
        Some(Segment::Key(key)) if key == "config" => Root::Config,
        Some(Segment::Key(key)) if key == "installation" => Root::Installation,
        Some(Segment::Key(key)) if key == "tenant" => Root::Tenant,
        Some(Segment::Key(key)) if key == "steps" => match segments.next() {
            Some(Segment::Key(id)) => Root::Step(id),
            _ => return Err("`steps` must be followed by a step id: `${steps.<id>...}`".into()),
        },
        _ => {
            return Err(format!(
                "`${{{text}}}` must start with `trigger`, `steps.<id>`, `config`, \
                 `installation` or `tenant`"
            ));
        }
    };
    Ok(Reference {
        root,
        path: segments.collect(),
        absent,
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

impl Reference {
    /// The path alone, without `${` and the optional part:
    /// `trigger.body.title`.
    pub fn path_text(&self) -> String {
        self.path_text_to(self.path.len())
    }

    /// The root and the first `depth` segments of the path:
    /// `trigger.body` for depth 1 of `${trigger.body.title}`.
    pub fn path_text_to(&self, depth: usize) -> String {
        let mut text = match &self.root {
            Root::Trigger => "trigger".to_owned(),
            Root::Step(id) => format!("steps.{id}"),
            Root::Config => "config".to_owned(),
            Root::Installation => "installation".to_owned(),
            Root::Tenant => "tenant".to_owned(),
        };
        write_path(&mut text, &self.path[..depth.min(self.path.len())]);
        text
    }

    /// Whether an absent value fails the step.
    pub fn is_required(&self) -> bool {
        self.absent == Absent::Fails
    }
}

/// Appends `path` to `text`: `.key`, `["odd key"]`, `[0]`.
pub(crate) fn write_path(text: &mut String, path: &[Segment]) {
    for segment in path {
        match segment {
            Segment::Key(key) if key.chars().all(|c| c.is_alphanumeric() || "_-".contains(c)) => {
                text.push('.');
                text.push_str(key);
            }
            Segment::Key(key) => {
                text.push('[');
                text.push_str(&Value::String(key.clone()).to_string());
                text.push(']');
            }
            Segment::Index(index) => {
                text.push('[');
                text.push_str(&index.to_string());
                text.push(']');
            }
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}", self.path_text())?;
        match &self.absent {
            Absent::Fails => {}
            Absent::Default(value) => write!(f, " ?? {value}")?,
            Absent::LeftOut => f.write_str("?")?,
        }
        f.write_str("}")
    }
}

/// A reference found in a step's `with`.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// The JSON path of the string holding it: `steps[1].with.lead`.
    pub path: String,
    /// Whether the reference is the whole string, so keeps its JSON type.
    pub whole: bool,
    /// The reference, or why the string holding it is malformed.
    pub reference: Result<Reference, ParseError>,
}

/// Every reference in `template`, `path` being the JSON path of `template`.
pub fn references_in(template: &Value, path: &str, found: &mut Vec<Occurrence>) {
    match template {
        Value::String(text) if text.contains('$') => match parse(text) {
            Ok(parts) => {
                let whole = parts.len() == 1;
                found.extend(parts.into_iter().filter_map(|part| match part {
                    Part::Reference(reference) => Some(Occurrence {
                        path: path.to_owned(),
                        whole,
                        reference: Ok(reference),
                    }),
                    Part::Text(_) => None,
                }));
            }
            Err(error) => found.push(Occurrence {
                path: path.to_owned(),
                whole: false,
                reference: Err(error),
            }),
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

mod resolve;

pub use resolve::{Installed, Missing, ResolveError, Scope};

#[cfg(test)]
mod tests;
