//! Reading a prebuilt step's `with` as its input type before the run, when
//! its references are not resolved yet.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::workflow::ValidationError;
use crate::workflow::reference::Segment;

/// Values of each JSON type, stood in for a reference where the input type
/// refuses a string, in turn, until one fits.
fn stand_ins() -> [Value; 6] {
    [
        Value::Bool(false),
        Value::from(0),
        Value::String(String::new()),
        Value::Array(Vec::new()),
        Value::Object(serde_json::Map::new()),
        Value::Null,
    ]
}

/// The most rounds of standing in before giving up.
const MAX_ROUNDS: usize = 64;

/// Whether `value` is a string holding a reference, whose value and type
/// are known only at run time.
pub(crate) fn is_reference(value: &Value) -> bool {
    value.as_str().is_some_and(|text| text.contains("${"))
}

/// `template` read as `T`, or the first problem added to `errors` at its
/// JSON path below `path`. Where `T` refuses a reference, values of other
/// types stand in for it; when none fits, nothing can be said before the
/// run and `None` comes back without an error.
pub(crate) fn read_as<T: DeserializeOwned>(
    template: &Value,
    path: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<T> {
    let mut value = template.clone();
    let mut tried: Vec<(Vec<Segment>, usize)> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let error = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(read) => return Some(read),
            Err(error) => error,
        };
        let segments = segments(error.path());
        // A misspelled key is wrong whatever the references hold.
        let message = error.inner().to_string();
        if !message.starts_with("unknown field")
            && at(template, &segments).is_some_and(is_reference)
        {
            let round = match tried.iter_mut().find(|(seen, _)| *seen == segments) {
                Some((_, round)) => {
                    *round += 1;
                    *round
                }
                None => {
                    tried.push((segments.clone(), 0));
                    0
                }
            };
            let stand_in = stand_ins().into_iter().nth(round)?;
            *at_mut(&mut value, &segments)? = stand_in;
            continue;
        }
        let below = error.path().to_string();
        let at_path = if below == "." {
            path.to_owned()
        } else {
            format!("{path}.{below}")
        };
        errors.push(ValidationError::new(at_path, message));
        return None;
    }
    None
}

/// The path serde reports, as reference paths are written.
fn segments(path: &serde_path_to_error::Path) -> Vec<Segment> {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(Segment::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Segment::Key(key.clone())),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {
                None
            }
        })
        .collect()
}

fn at<'a>(value: &'a Value, path: &[Segment]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, segment| match segment {
        Segment::Key(key) => value.get(key),
        Segment::Index(index) => value.get(index),
    })
}

fn at_mut<'a>(value: &'a mut Value, path: &[Segment]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |value, segment| match segment {
        Segment::Key(key) => value.get_mut(key),
        Segment::Index(index) => value.get_mut(index),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        flag: bool,
        count: u32,
        names: Vec<String>,
        nested: Nested,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        name: String,
    }

    #[test]
    fn references_stand_for_any_type_and_real_mistakes_are_reported_at_their_path() {
        let mut errors = Vec::new();
        let read = read_as::<Input>(
            &json!({ "flag": "${trigger.a}", "count": "${trigger.b}", "names": ["x", "${trigger.c}"],
                     "nested": "${trigger.d}" }),
            "steps[0].with",
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            read.is_none(),
            "a whole struct from a reference cannot be read"
        );

        let read = read_as::<Input>(
            &json!({ "flag": "${trigger.a}", "count": 1, "names": [], "nested": { "name": "${trigger.n}" } }),
            "steps[0].with",
            &mut errors,
        );
        assert!(read.is_some() && errors.is_empty(), "{errors:?}");

        for (template, expected) in [
            (
                json!({ "flag": "yes", "count": 1, "names": [], "nested": { "name": "x" } }),
                "steps[0].with.flag: invalid type: string \"yes\", expected a boolean",
            ),
            (
                json!({ "flag": true, "count": 1, "names": [], "nested": { "nmae": "x" } }),
                "steps[0].with.nested.nmae: unknown field `nmae`, expected `name`",
            ),
            (
                json!({ "flag": true, "names": [] }),
                "steps[0].with: missing field `count`",
            ),
        ] {
            let mut errors = Vec::new();
            read_as::<Input>(&template, "steps[0].with", &mut errors);
            assert_eq!(errors.len(), 1, "{template}");
            assert_eq!(errors[0].to_string(), expected);
        }
    }
}
