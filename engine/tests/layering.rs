//! The layers of `engine/src` hold: no file imports a part that
//! ARCHITECTURE.md's layer table does not give its own part, and only the
//! store names sled.
//!
//! Imports are `use` statements and `crate::...` paths in code; `super::`
//! and `self::` are resolved from the file's module. A path through a
//! module that re-exports (`pub use`) is followed to the file the item comes
//! from. Test code (`tests.rs`, and everything from a `#[cfg(test)]` line
//! on) is not checked.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

/// One row of the layer table: which files are in a part, and what it may
/// import.
struct Part {
    name: String,
    patterns: Vec<String>,
    allowed: Vec<String>,
}

/// A source file of the engine: its path under `src`, its module path and
/// its text (test code cut off).
struct Source {
    path: String,
    module: Vec<String>,
    text: String,
}

fn engine_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table between the `layers` markers of ARCHITECTURE.md.
fn parts() -> Vec<Part> {
    let doc = fs::read_to_string(engine_dir().join("../ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("<!-- layers: begin -->")
        .expect("the layer table's start");
    let end = doc
        .find("<!-- layers: end -->")
        .expect("the layer table's end");
    let list = |cell: &str| -> Vec<String> {
        cell.split(',')
            .map(|item| item.trim().trim_matches('`').to_owned())
            .filter(|item| !item.is_empty())
            .collect()
    };
    doc[start..end]
        .lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("|---"))
        .map(|line| line.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|cells| cells.len() >= 4 && cells[1] != "part")
        .map(|cells| Part {
            name: cells[1].to_owned(),
            patterns: list(cells[2]),
            allowed: list(cells[3]),
        })
        .collect()
}

/// Whether `path` matches `pattern`: a folder (`store/`), a file, or a
/// file with `*` standing for one folder. Answers the pattern's weight
/// (its literal length), the most specific pattern winning.
fn matches(pattern: &str, path: &str) -> Option<usize> {
    let weight = pattern.replace('*', "").len();
    if let Some(folder) = pattern.strip_suffix('/') {
        return path.starts_with(&format!("{folder}/")).then_some(weight);
    }
    let (pattern_parts, path_parts): (Vec<_>, Vec<_>) =
        (pattern.split('/').collect(), path.split('/').collect());
    (pattern_parts.len() == path_parts.len()
        && pattern_parts
            .iter()
            .zip(&path_parts)
            .all(|(want, have)| *want == "*" || want == have))
    .then_some(weight)
}

fn part_of<'a>(parts: &'a [Part], path: &str) -> &'a Part {
    parts
        .iter()
        .flat_map(|part| {
            part.patterns
                .iter()
                .filter_map(move |pattern| matches(pattern, path).map(|weight| (weight, part)))
        })
        .max_by_key(|(weight, _)| *weight)
        .map(|(_, part)| part)
        .unwrap_or_else(|| panic!("{path} is in no part of ARCHITECTURE.md's layer table"))
}

/// Every `.rs` file under `src`, by path.
fn sources() -> BTreeMap<String, Source> {
    let src = engine_dir().join("src");
    let mut files = BTreeMap::new();
    let mut folders = vec![src.clone()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let relative = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let text = fs::read_to_string(&path).unwrap();
                let text = match text.find("#[cfg(test)]") {
                    Some(at) => text[..at].to_owned(),
                    None => text,
                };
                let module = module_of(&relative);
                files.insert(
                    relative.clone(),
                    Source {
                        path: relative,
                        module,
                        text,
                    },
                );
            }
        }
    }
    files
}

/// `trigger/webhook/route.rs` is `trigger::webhook::route`; a `mod.rs` is
/// its folder; `lib.rs` is the root.
fn module_of(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = path
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
        segments.pop();
    }
    segments
}

/// Every path a `use` statement names, braces expanded: `a::{b, c::d}` is
/// `a::b` and `a::c::d`; `a::{self}` is `a`. An alias stays, after ` as `.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.replace("::self", "")];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| {
            expand(item).into_iter().map(|path| match path.as_str() {
                "self" => prefix.to_owned(),
                _ => format!("{prefix}::{path}"),
            })
        })
        .collect()
}

/// A used path and the name it is bound to: its alias, or its last segment.
fn split_alias(path: &str) -> (&str, &str) {
    match path.split_once(" as ") {
        Some((path, alias)) => (path.trim(), alias.trim()),
        None => (path, path.rsplit("::").next().unwrap_or(path)),
    }
}

/// The `use` statements of a text: (is it a re-export, the statement's
/// paths, its line).
fn use_statements(text: &str) -> Vec<(bool, Vec<String>, usize)> {
    let mut statements = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("use ") {
        let start = at + found;
        at = start + 4;
        let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
        let before = text[line_start..start].trim();
        if !matches!(before, "" | "pub" | "pub(crate)" | "pub(super)") {
            continue;
        }
        let Some(end) = text[start..].find(';') else {
            break;
        };
        let tree: String = text[start + 4..start + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let line = text[..start].matches('\n').count() + 1;
        statements.push((before.starts_with("pub"), expand(&tree), line));
        at = start + end;
    }
    statements
}

/// `crate::a::b` paths written in code, with their lines.
fn inline_paths(text: &str) -> Vec<(String, usize)> {
    let mut paths = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with("use ") || trimmed.starts_with("pub") {
            continue;
        }
        let mut rest = line;
        while let Some(found) = rest.find("crate::") {
            let preceded = rest[..found]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            let path: String = rest[found..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if !preceded {
                paths.push((path.trim_end_matches(':').to_owned(), index + 1));
            }
            rest = &rest[found + 7..];
        }
    }
    paths
}

/// Resolves module paths to the files that define what they name.
struct Resolver<'a> {
    files: &'a BTreeMap<String, Source>,
    by_module: HashMap<Vec<String>, &'a Source>,
}

impl<'a> Resolver<'a> {
    fn new(files: &'a BTreeMap<String, Source>) -> Self {
        let by_module = files
            .values()
            .map(|source| (source.module.clone(), source))
            .collect();
        Self { files, by_module }
    }

    /// The file that defines what `path` names, seen from module `from`;
    /// `None` for what is outside the engine (another crate).
    fn resolve(&self, from: &[String], path: &str, depth: usize) -> Option<&'a Source> {
        assert!(depth < 16, "re-exports loop at {path}");
        let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut module: Vec<String> = match segments.first().copied() {
            Some("crate") => {
                segments.remove(0);
                Vec::new()
            }
            Some("super") => {
                let mut module = from.to_vec();
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    module.pop();
                }
                module
            }
            Some("self") => {
                segments.remove(0);
                from.to_vec()
            }
            _ => return None,
        };
        let mut file = *self.by_module.get(&module)?;
        for (index, segment) in segments.iter().enumerate() {
            let mut child = module.clone();
            child.push((*segment).to_owned());
            if let Some(next) = self.by_module.get(&child) {
                module = child;
                file = next;
                continue;
            }
            // An item of `file`, unless `file` re-exports it from elsewhere.
            let rest = segments[index + 1..].join("::");
            for (public, paths, _) in use_statements(&file.text) {
                if !public {
                    continue;
                }
                for reexport in paths {
                    let (reexport, name) = split_alias(&reexport);
                    if name == *segment {
                        let reexport = reexport.to_owned();
                        let target = if rest.is_empty() {
                            reexport
                        } else {
                            format!("{reexport}::{rest}")
                        };
                        let target = match target.split("::").next() {
                            Some("crate" | "super" | "self") => target,
                            _ if self.is_child(&module, &target) => format!("self::{target}"),
                            _ => return None,
                        };
                        return self.resolve(&module, &target, depth + 1);
                    }
                }
            }
            return Some(file);
        }
        Some(file)
    }

    /// Whether `path` starts with a child module of `module`.
    fn is_child(&self, module: &[String], path: &str) -> bool {
        let mut child = module.to_vec();
        child.push(path.split("::").next().unwrap_or_default().to_owned());
        self.by_module.contains_key(&child)
    }
}

#[test]
fn no_file_imports_a_layer_above_its_own() {
    let parts = parts();
    assert!(parts.len() >= 8, "the layer table has its rows");
    let files = sources();
    let resolver = Resolver::new(&files);
    let mut violations = Vec::new();
    for source in files.values() {
        if source.path.ends_with("tests.rs") {
            continue;
        }
        let part = part_of(&parts, &source.path);
        let uses = use_statements(&source.text)
            .into_iter()
            .flat_map(|(_, paths, line)| paths.into_iter().map(move |path| (path, line)));
        for (path, line) in uses.chain(inline_paths(&source.text)) {
            let (path, _) = split_alias(&path);
            let Some(target) = resolver.resolve(&source.module, path, 0) else {
                continue;
            };
            let target_part = part_of(&parts, &target.path);
            if target_part.name != part.name && !part.allowed.contains(&target_part.name) {
                violations.push(format!(
                    "src/{}:{line}: `{path}` is in {} ({}), which {} may not import",
                    source.path, target_part.name, target.path, part.name
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert!(resolver.files.len() > 50, "the sources were found");
}

#[test]
fn only_the_store_names_sled() {
    let named: Vec<String> = sources()
        .values()
        .filter(|source| !source.path.starts_with("store/"))
        .filter(|source| source.text.contains("sled::") || source.text.contains("use sled"))
        .map(|source| source.path.clone())
        .collect();
    assert!(named.is_empty(), "sled is named outside store/: {named:?}");
}

#[test]
fn the_checker_reads_nested_use_trees_and_relative_paths() {
    assert_eq!(
        expand("crate::a::{b, c::{d, self}, e as f}"),
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c",
            "crate::a::e as f"
        ]
    );
    assert_eq!(module_of("trigger/webhook/mod.rs"), ["trigger", "webhook"]);
    assert!(matches("trigger/*/config.rs", "trigger/schedule/config.rs").is_some());
    assert!(matches("trigger/*/config.rs", "trigger/config.rs").is_none());
    let parts = parts();
    assert_eq!(
        part_of(&parts, "trigger/schedule/config.rs").name,
        "definition"
    );
    assert_eq!(
        part_of(&parts, "trigger/schedule/runner.rs").name,
        "trigger"
    );
}
