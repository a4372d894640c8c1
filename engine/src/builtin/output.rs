//! What the prebuilt steps are known to output, read from their `with`:
//! enough for `gust validate` to prove a reference such as
//! `${steps.sync.contactId}` can never resolve.

use serde_json::Value;

use crate::workflow::Step;
use crate::workflow::reference::Segment;

/// What a step's output is known to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Anything: a component's output, a record read from Salesforce.
    Unknown,
    /// An object with exactly these keys (some possibly absent at run time).
    Object(Vec<(String, Shape)>),
}

/// Where a path leaves what a step can output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeverOutput {
    /// How many segments of the path do resolve.
    pub depth: usize,
    /// The keys the object at that depth can have.
    pub keys: Vec<String>,
}

impl Shape {
    /// An object whose keys hold anything.
    fn keys(names: &[&str]) -> Self {
        Self::Object(
            names
                .iter()
                .map(|name| ((*name).to_owned(), Self::Unknown))
                .collect(),
        )
    }

    /// Where `path` leaves this shape, if it provably does.
    pub fn never_output(&self, path: &[Segment]) -> Option<NeverOutput> {
        let mut shape = self;
        for (depth, segment) in path.iter().enumerate() {
            let Self::Object(fields) = shape else {
                return None;
            };
            let found = match segment {
                Segment::Key(key) => fields.iter().find(|(name, _)| name == key),
                Segment::Index(_) => None,
            };
            match found {
                Some((_, inner)) => shape = inner,
                None => {
                    return Some(NeverOutput {
                        depth,
                        keys: fields.iter().map(|(name, _)| name.clone()).collect(),
                    });
                }
            }
        }
        None
    }
}

/// What `step` outputs, as far as its definition tells.
pub fn of(step: &Step) -> Shape {
    let with = step.with.as_ref();
    let literal = |key: &str| with.and_then(|with| with.get(key)).and_then(Value::as_str);
    match step.uses.strip_prefix(super::PREFIX) {
        Some("salesforce") => match literal("action") {
            Some("query") => Shape::keys(&["records", "count"]),
            Some("create" | "update") => Shape::keys(&["id"]),
            Some("upsert") => Shape::keys(&["id", "created"]),
            Some("delete") => Shape::keys(&["id", "deleted"]),
            Some("write_many") => Shape::keys(&["results", "succeeded", "failed"]),
            _ => Shape::Unknown,
        },
        Some("filter") if with.is_some_and(|with| with.get("pass").is_none()) => {
            Shape::keys(&["matched"])
        }
        Some("field-mapper") => field_mapper(with),
        _ => Shape::Unknown,
    }
}

/// The field mapper's output: its record has the properties' targets.
fn field_mapper(with: Option<&Value>) -> Shape {
    let targets: Option<Vec<(String, Shape)>> = with
        .and_then(|with| with.get("properties"))
        .and_then(Value::as_array)
        .and_then(|properties| {
            properties
                .iter()
                .map(|property| {
                    let to = property.get("to")?.as_str()?;
                    (!to.contains('$')).then(|| (to.to_owned(), Shape::Unknown))
                })
                .collect()
        });
    let record = targets.map_or(Shape::Unknown, Shape::Object);
    Shape::Object(vec![
        ("sobject".to_owned(), Shape::Unknown),
        ("id_field".to_owned(), Shape::Unknown),
        ("id".to_owned(), Shape::Unknown),
        ("record".to_owned(), record),
    ])
}
