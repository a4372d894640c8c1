//! The layers of `engine/src` hold: no file imports a part that
//! ARCHITECTURE.md's layer table does not give its own part, and only the
//! store names a database crate.
//!
//! Each file is parsed with syn. Imports are its `use` trees and the
//! `crate::`, `super::` and `self::` paths in its code, resolved from the
//! file's module; a path through a module that re-exports (`pub use`) is
//! followed to the file the item comes from. Test code (`tests.rs`, and
//! items under `#[cfg(test)]`) is not checked.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::PathBuf;

use syn::visit::Visit;
use syn::{Attribute, Item, UseTree, Visibility};

/// One row of the layer table: which files are in a part, and what it may
/// import.
struct Part {
    name: String,
    patterns: Vec<String>,
    allowed: Vec<String>,
}

/// A source file of the engine: its path under `src`, its module path and
/// its syntax.
struct Source {
    path: String,
    module: Vec<String>,
    file: syn::File,
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
                let file = syn::parse_file(&text)
                    .unwrap_or_else(|error| panic!("src/{relative} does not parse: {error}"));
                let module = module_of(&relative);
                files.insert(
                    relative.clone(),
                    Source {
                        path: relative,
                        module,
                        file,
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

fn is_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Path>()
                .is_ok_and(|path| path.is_ident("test"))
    })
}

/// Every path a `use` tree names, with the name it binds: `a::{b, c as d}`
/// is `a::b` (bound as `b`) and `a::c` (bound as `d`); `a::{self}` is `a`.
fn use_paths(tree: &UseTree, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
    let with = |ident: &syn::Ident| {
        let mut path = prefix.to_vec();
        path.push(ident.to_string());
        path
    };
    match tree {
        UseTree::Path(path) => use_paths(&path.tree, &with(&path.ident), out),
        UseTree::Name(name) if name.ident == "self" => {
            out.push((prefix.to_vec(), prefix.last().cloned().unwrap_or_default()));
        }
        UseTree::Name(name) => out.push((with(&name.ident), name.ident.to_string())),
        UseTree::Rename(rename) => out.push((with(&rename.ident), rename.rename.to_string())),
        UseTree::Glob(_) => out.push((prefix.to_vec(), "*".to_owned())),
        UseTree::Group(group) => {
            for tree in &group.items {
                use_paths(tree, prefix, out);
            }
        }
    }
}

/// The paths a file's code names outside test code, with their lines.
#[derive(Default)]
struct Imports {
    paths: Vec<(Vec<String>, usize)>,
}

impl<'ast> Visit<'ast> for Imports {
    fn visit_item(&mut self, item: &'ast Item) {
        let attrs = match item {
            Item::Mod(item) => &item.attrs,
            Item::Fn(item) => &item.attrs,
            Item::Impl(item) => &item.attrs,
            Item::Use(item) => &item.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    // `pub(crate)` and `pub(super)` name modules without importing them.
    fn visit_visibility(&mut self, _: &'ast Visibility) {}

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let line = item.use_token.span.start().line;
        let mut found = Vec::new();
        use_paths(&item.tree, &[], &mut found);
        self.paths
            .extend(found.into_iter().map(|(path, _)| (path, line)));
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if matches!(
            segments.first().map(String::as_str),
            Some("crate" | "super" | "self")
        ) {
            let line = path.segments[0].ident.span().start().line;
            self.paths.push((segments, line));
        }
        syn::visit::visit_path(self, path);
    }
}

/// The names a module file re-exports (`pub use`), with their paths.
fn reexports(file: &syn::File) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    for item in &file.items {
        if let Item::Use(item) = item
            && !matches!(item.vis, Visibility::Inherited)
        {
            use_paths(&item.tree, &[], &mut found);
        }
    }
    found
}

/// Resolves module paths to the files that define what they name.
struct Resolver<'a> {
    by_module: HashMap<Vec<String>, &'a Source>,
}

impl<'a> Resolver<'a> {
    fn new(files: &'a BTreeMap<String, Source>) -> Self {
        let by_module = files
            .values()
            .map(|source| (source.module.clone(), source))
            .collect();
        Self { by_module }
    }

    /// The file that defines what `path` names, seen from module `from`;
    /// `None` for what is outside the engine (another crate).
    fn resolve(&self, from: &[String], path: &[String], depth: usize) -> Option<&'a Source> {
        assert!(depth < 16, "re-exports loop at {path:?}");
        let (mut module, segments): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let ups = path
                    .iter()
                    .take_while(|segment| *segment == "super")
                    .count();
                let keep = from.len().saturating_sub(ups);
                (from[..keep].to_vec(), &path[ups..])
            }
            _ => return None,
        };
        let mut file = *self.by_module.get(&module)?;
        for (index, segment) in segments.iter().enumerate() {
            let mut child = module.clone();
            child.push(segment.clone());
            if let Some(next) = self.by_module.get(&child) {
                module = child;
                file = next;
                continue;
            }
            // An item of `file`, unless `file` re-exports it from elsewhere.
            let Some((reexport, _)) = reexports(&file.file)
                .into_iter()
                .find(|(_, name)| name == segment)
            else {
                return Some(file);
            };
            let mut target = reexport;
            target.extend(segments[index + 1..].iter().cloned());
            if !matches!(target[0].as_str(), "crate" | "super" | "self") {
                let mut child = module.clone();
                child.push(target[0].clone());
                if !self.by_module.contains_key(&child) {
                    return None;
                }
                target.insert(0, "self".to_owned());
            }
            return self.resolve(&module, &target, depth + 1);
        }
        Some(file)
    }
}

#[test]
fn no_file_imports_a_layer_above_its_own() {
    let parts = parts();
    assert!(parts.len() >= 8, "the layer table has its rows");
    let files = sources();
    assert!(files.len() > 50, "the sources were found");
    let resolver = Resolver::new(&files);
    let mut violations = Vec::new();
    for source in files.values() {
        if source.path.ends_with("tests.rs") {
            continue;
        }
        let part = part_of(&parts, &source.path);
        let mut imports = Imports::default();
        imports.visit_file(&source.file);
        for (path, line) in imports.paths {
            let Some(target) = resolver.resolve(&source.module, &path, 0) else {
                continue;
            };
            let target_part = part_of(&parts, &target.path);
            if target_part.name != part.name && !part.allowed.contains(&target_part.name) {
                violations.push(format!(
                    "src/{}:{line}: `{}` is in {} ({}), which {} may not import",
                    source.path,
                    path.join("::"),
                    target_part.name,
                    target.path,
                    part.name
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The crates of the stores' databases, which only `store/` may name.
const DATABASE_CRATES: [&str; 3] = ["sled", "tokio_postgres", "deadpool_postgres"];

#[test]
fn only_the_store_names_a_database() {
    let named: Vec<String> = sources()
        .values()
        .filter(|source| !source.path.starts_with("store/"))
        .filter(|source| {
            let mut imports = Names::default();
            imports.visit_file(&source.file);
            imports.database
        })
        .map(|source| source.path.clone())
        .collect();
    assert!(
        named.is_empty(),
        "a database crate ({DATABASE_CRATES:?}) is named outside store/: {named:?}"
    );
}

/// Whether a file's code names a database crate.
#[derive(Default)]
struct Names {
    database: bool,
}

impl<'ast> Visit<'ast> for Names {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut found = Vec::new();
        use_paths(&item.tree, &[], &mut found);
        self.database |= found
            .iter()
            .any(|(path, _)| DATABASE_CRATES.contains(&path[0].as_str()));
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.database |= path
            .segments
            .first()
            .is_some_and(|s| DATABASE_CRATES.iter().any(|name| s.ident == name));
        syn::visit::visit_path(self, path);
    }
}

#[test]
fn the_checker_reads_use_trees_relative_paths_and_skips_test_code() {
    let file: syn::File = syn::parse_quote! {
        use crate::a::{b, c::{d, self}, e as f};
        fn g() { super::h::i(); }
        #[cfg(test)]
        mod tests { use crate::z; }
    };
    let mut imports = Imports::default();
    imports.visit_file(&file);
    let paths: Vec<String> = imports
        .paths
        .iter()
        .map(|(path, _)| path.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c",
            "crate::a::e",
            "super::h::i"
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
