//! Generates the editor types of script steps from the WIT world: a
//! TypeScript declaration of the `gust` module (`gust types --js`) and a
//! Python stub (`gust types --python`). Every function of the `salesforce`,
//! `log` and `state` interfaces becomes a method of `ctx.salesforce`,
//! `ctx.log` and `ctx.state`, with the WIT's docs; values the WIT carries as
//! JSON text are typed as the values the runners parse them into.

use std::fmt::Write;
use std::path::Path;

use wit_parser::{Function, Interface, Resolve, Type, TypeDefKind};

/// The two declarations, TypeScript and Python.
pub(crate) struct EditorTypes {
    pub(crate) typescript: String,
    pub(crate) python: String,
}

/// Parameters the WIT passes as JSON text, and the types of their values
/// (TypeScript, Python).
const JSON_PARAMS: &[(&str, &str, &str)] = &[
    ("record", "SObjectRecord", "dict[str, Any]"),
    ("records", "SObjectRecord[]", "Sequence[dict[str, Any]]"),
    ("events", "SObjectRecord[]", "Sequence[dict[str, Any]]"),
    ("body", "unknown", "Any"),
    ("params", "Record<string, unknown>", "dict[str, Any]"),
    ("value", "unknown", "Any"),
];

/// What the Salesforce actions that answer JSON text answer (TypeScript,
/// Python), by function. A function missing here fails the build.
const JSON_RESULTS: &[(&str, &str, &str)] = &[
    ("query", "SObjectRecord[]", "list[dict[str, Any]]"),
    ("query-all", "SObjectRecord[]", "list[dict[str, Any]]"),
    ("get", "SObjectRecord", "dict[str, Any]"),
    ("write-many", "WriteResult[]", "list[dict[str, Any]]"),
    ("publish", "WriteResult[]", "list[dict[str, Any]]"),
    ("describe", "SObjectRecord", "dict[str, Any]"),
    ("request", "unknown", "Any"),
];

/// Results that are plain text, not JSON: a created record's Id, a query.
const TEXT_RESULTS: &[&str] = &["create", "bind"];

/// Queries that take named parameters too, bound by `bind` first.
const PARAMETERIZED: &[&str] = &["query", "query-all"];

pub(crate) fn generate(wit: &Path) -> EditorTypes {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(wit)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e:#}", wit.display()));
    let interface = |name: &str| {
        resolve
            .interfaces
            .iter()
            .map(|(_, interface)| interface)
            .find(|interface| interface.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("the WIT has no interface `{name}`"))
    };
    let types = Types {
        resolve: &resolve,
        salesforce: interface("salesforce"),
        log: interface("log"),
        state: interface("state"),
        types: interface("types"),
    };
    EditorTypes {
        typescript: types.typescript(),
        python: types.python(),
    }
}

/// The WIT world and the interfaces a script reaches through `ctx`.
struct Types<'a> {
    resolve: &'a Resolve,
    salesforce: &'a Interface,
    log: &'a Interface,
    state: &'a Interface,
    /// The shared types, `sf-error` among them.
    types: &'a Interface,
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        match c {
            '-' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn pascal(name: &str) -> String {
    let camel = camel(name);
    let mut chars = camel.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// An enum's cases, each as a string literal.
fn quoted(cases: &wit_parser::Enum) -> Vec<String> {
    cases
        .cases
        .iter()
        .map(|c| format!("{:?}", c.name))
        .collect()
}

fn docs(text: Option<&str>) -> Vec<&str> {
    text.map(|text| text.lines().collect()).unwrap_or_default()
}

fn jsdoc(out: &mut String, indent: &str, text: Option<&str>) {
    let lines = docs(text);
    if lines.is_empty() {
        return;
    }
    writeln!(out, "{indent}/**").unwrap();
    for line in lines {
        writeln!(out, "{indent} * {line}").unwrap();
    }
    writeln!(out, "{indent} */").unwrap();
}

fn docstring(out: &mut String, indent: &str, text: Option<&str>) {
    let lines = docs(text);
    if lines.is_empty() {
        writeln!(out, "{indent}...").unwrap();
        return;
    }
    writeln!(out, "{indent}\"\"\"{}", lines[0].replace('\\', "\\\\")).unwrap();
    for line in &lines[1..] {
        writeln!(out, "{indent}{}", line.replace('\\', "\\\\")).unwrap();
    }
    writeln!(out, "{indent}\"\"\"").unwrap();
}

/// A method of an interface in TypeScript, with its docs.
fn ts_method(
    out: &mut String,
    function: &Function,
    params: &[String],
    generic: &str,
    answer: &str,
) {
    jsdoc(out, "    ", function.docs.contents.as_deref());
    writeln!(
        out,
        "    {}{generic}({}): {answer};",
        camel(&function.name),
        params.join(", ")
    )
    .unwrap();
}

/// A method of a class in Python, with its docstring.
fn py_method(out: &mut String, function: &Function, params: &[String], answer: &str) {
    writeln!(
        out,
        "    def {}({}) -> {answer}:",
        snake(&function.name),
        params.join(", ")
    )
    .unwrap();
    docstring(out, "        ", function.docs.contents.as_deref());
}

/// How a parameter is passed from a script.
enum Shape<'a> {
    /// A value of this (TypeScript, Python) type.
    Plain(String, String),
    /// Optional, with a default.
    Optional(String, String, &'static str),
    /// A record of options: an optional object in JS, keyword arguments in
    /// Python.
    Options(&'a wit_parser::Record, String),
}

impl<'a> Types<'a> {
    /// What a type is, through the aliases `use` makes.
    fn kind(&self, ty: &Type) -> Option<&'a TypeDefKind> {
        match ty {
            Type::Id(id) => match &self.resolve.types[*id].kind {
                TypeDefKind::Type(target) => self.kind(target),
                kind => Some(kind),
            },
            _ => None,
        }
    }

    fn name(&self, ty: &Type) -> Option<&'a str> {
        match ty {
            Type::Id(id) => self.resolve.types[*id].name.as_deref(),
            _ => None,
        }
    }

    /// A WIT type as TypeScript and as Python.
    fn plain(&self, ty: &Type) -> (String, String) {
        match ty {
            Type::Bool => ("boolean".into(), "bool".into()),
            Type::String | Type::Char => ("string".into(), "str".into()),
            Type::F32 | Type::F64 => ("number".into(), "float".into()),
            Type::Id(_) => match (self.name(ty), self.kind(ty)) {
                (Some(name), _) => (pascal(name), pascal(name)),
                (None, Some(TypeDefKind::List(inner))) => {
                    let (ts, py) = self.plain(inner);
                    (format!("{ts}[]"), format!("Sequence[{py}]"))
                }
                (None, Some(TypeDefKind::Option(inner))) => {
                    let (ts, py) = self.plain(inner);
                    (format!("{ts} | null"), format!("Optional[{py}]"))
                }
                _ => panic!("no editor type for {ty:?}"),
            },
            _ => ("number".into(), "int".into()),
        }
    }

    fn shape(&self, function: &Function, index: usize) -> Shape<'a> {
        let param = &function.params[index];
        if let Some((_, ts, py)) = JSON_PARAMS.iter().find(|(name, ..)| *name == param.name) {
            return match self.kind(&param.ty) {
                Some(TypeDefKind::Option(_)) => {
                    Shape::Optional(ts.to_string(), py.to_string(), "None")
                }
                _ => Shape::Plain(ts.to_string(), py.to_string()),
            };
        }
        let last = index + 1 == function.params.len();
        match self.kind(&param.ty) {
            Some(TypeDefKind::Record(record)) if last => {
                Shape::Options(record, pascal(self.name(&param.ty).unwrap_or("options")))
            }
            Some(TypeDefKind::List(_)) if last => {
                let (ts, py) = self.plain(&param.ty);
                Shape::Optional(ts, py, "()")
            }
            _ => {
                let (ts, py) = self.plain(&param.ty);
                Shape::Plain(ts, py)
            }
        }
    }

    /// What a Salesforce action answers once the runner has parsed it.
    fn answer(&self, function: &Function) -> (String, String) {
        let ok = match function.result.as_ref().and_then(|ty| self.kind(ty)) {
            Some(TypeDefKind::Result(result)) => result.ok,
            _ => function.result,
        };
        match ok {
            None => ("void".into(), "None".into()),
            Some(Type::String) if TEXT_RESULTS.contains(&function.name.as_str()) => {
                ("string".into(), "str".into())
            }
            Some(Type::String) => JSON_RESULTS
                .iter()
                .find(|(name, ..)| *name == function.name)
                .map(|(_, ts, py)| (ts.to_string(), py.to_string()))
                .unwrap_or_else(|| {
                    panic!(
                        "the Salesforce action `{}` answers JSON text: add what it answers to \
                         JSON_RESULTS in engine/build/editor_types.rs",
                        function.name
                    )
                }),
            Some(ty) => self.plain(&ty),
        }
    }

    fn records_and_enums(
        &self,
        interfaces: &[&Interface],
    ) -> Vec<(&'a str, &'a TypeDefKind, Option<&'a str>)> {
        let mut found: Vec<(&'a str, &'a TypeDefKind, Option<&'a str>)> = Vec::new();
        for interface in interfaces {
            for function in interface.functions.values() {
                let types = function
                    .params
                    .iter()
                    .map(|p| p.ty)
                    .chain(function.result.and_then(|ty| match self.kind(&ty) {
                        Some(TypeDefKind::Result(result)) => result.ok,
                        _ => Some(ty),
                    }));
                for ty in types {
                    if let (Type::Id(id), Some(name)) = (ty, self.name(&ty)) {
                        let def = &self.resolve.types[id];
                        let def = match &def.kind {
                            TypeDefKind::Type(Type::Id(target)) => &self.resolve.types[*target],
                            _ => def,
                        };
                        if matches!(def.kind, TypeDefKind::Record(_) | TypeDefKind::Enum(_))
                            && !found.iter().any(|(known, ..)| *known == name)
                        {
                            found.push((name, &def.kind, def.docs.contents.as_deref()));
                        }
                    }
                }
            }
        }
        found
    }

    fn typescript(&self) -> String {
        let (salesforce, log, state) = (self.salesforce, self.log, self.state);
        let mut out = String::from(HEADER_TS);
        for (name, kind, text) in self.records_and_enums(&[salesforce]) {
            jsdoc(&mut out, "  ", text);
            match kind {
                TypeDefKind::Enum(cases) => {
                    let cases = quoted(cases);
                    writeln!(
                        out,
                        "  export type {} = {};\n",
                        pascal(name),
                        cases.join(" | ")
                    )
                    .unwrap();
                }
                TypeDefKind::Record(record) => {
                    writeln!(out, "  export interface {} {{", pascal(name)).unwrap();
                    for field in &record.fields {
                        jsdoc(&mut out, "    ", field.docs.contents.as_deref());
                        let (ts, _) = self.plain(&field.ty);
                        // Options a script passes may leave out their flags.
                        let optional = matches!(self.kind(&field.ty), Some(TypeDefKind::Option(_)))
                            || (ts == "boolean" && self.is_options(name));
                        let ts = ts.trim_end_matches(" | null");
                        writeln!(
                            out,
                            "    {}{}: {ts};",
                            camel(&field.name),
                            if optional { "?" } else { "" }
                        )
                        .unwrap();
                    }
                    writeln!(out, "  }}\n").unwrap();
                }
                _ => {}
            }
        }
        let sf_error = self.sf_error();
        jsdoc(
            &mut out,
            "  ",
            sf_error.and_then(|def| def.docs.contents.as_deref()),
        );
        writeln!(out, "  export class SalesforceError extends Error {{").unwrap();
        if let Some(TypeDefKind::Record(record)) = sf_error.map(|def| &def.kind) {
            for field in &record.fields {
                let (ts, _) = self.plain(&field.ty);
                writeln!(out, "    readonly {}: {ts};", camel(&field.name)).unwrap();
            }
        }
        writeln!(out, "  }}\n").unwrap();
        jsdoc(&mut out, "  ", salesforce.docs.contents.as_deref());
        writeln!(out, "  export interface Salesforce {{").unwrap();
        for function in salesforce.functions.values() {
            let (answer, _) = self.answer(function);
            ts_method(&mut out, function, &self.ts_params(function), "", &answer);
        }
        writeln!(out, "  }}\n").unwrap();
        jsdoc(&mut out, "  ", log.docs.contents.as_deref());
        writeln!(out, "  export interface Log {{").unwrap();
        for level in self.levels() {
            writeln!(out, "    /** A log line at level `{level}`: strings as they are, other values as JSON. */").unwrap();
            writeln!(out, "    {level}(...parts: unknown[]): void;").unwrap();
        }
        writeln!(out, "  }}\n").unwrap();
        jsdoc(&mut out, "  ", state.docs.contents.as_deref());
        writeln!(out, "  export interface State {{").unwrap();
        for function in state.functions.values() {
            let (generic, answer) = match function.result.as_ref().and_then(|ty| self.kind(ty)) {
                Some(TypeDefKind::Option(_)) => ("<T = unknown>", "T | null"),
                _ => ("", "void"),
            };
            ts_method(
                &mut out,
                function,
                &self.ts_params(function),
                generic,
                answer,
            );
        }
        writeln!(out, "  }}\n").unwrap();
        out.push_str(FOOTER_TS);
        out
    }

    /// A function's parameters in TypeScript.
    fn ts_params(&self, function: &Function) -> Vec<String> {
        let mut params: Vec<String> = (0..function.params.len())
            .map(|index| {
                let name = camel(&function.params[index].name);
                match self.shape(function, index) {
                    Shape::Plain(ts, _) => format!("{name}: {ts}"),
                    Shape::Optional(ts, ..) => {
                        format!("{name}?: {}", ts.trim_end_matches(" | null"))
                    }
                    Shape::Options(_, ts) => format!("{name}?: {ts}"),
                }
            })
            .collect();
        if PARAMETERIZED.contains(&function.name.as_str()) {
            params.push("params?: Record<string, unknown>".into());
        }
        params
    }

    /// A method's parameters in Python, `self` first; a record of options
    /// becomes keyword arguments.
    fn py_params(&self, function: &Function) -> Vec<String> {
        let mut params = vec!["self".to_owned()];
        for index in 0..function.params.len() {
            let name = snake(&function.params[index].name);
            match self.shape(function, index) {
                Shape::Plain(_, py) => params.push(format!("{name}: {py}")),
                Shape::Optional(_, py, default) => {
                    params.push(format!("{name}: {py} = {default}"));
                }
                Shape::Options(record, _) => {
                    for field in &record.fields {
                        let (_, py) = self.plain(&field.ty);
                        let default = if py == "bool" { "False" } else { "None" };
                        params.push(format!("{}: {py} = {default}", snake(&field.name)));
                    }
                }
            }
        }
        if PARAMETERIZED.contains(&function.name.as_str()) {
            params.push("params: Optional[dict[str, Any]] = None".into());
        }
        params
    }

    /// Whether the record `name` is the options a Salesforce action takes
    /// last.
    fn is_options(&self, name: &str) -> bool {
        self.salesforce.functions.values().any(|function| {
            (0..function.params.len()).any(|index| {
                matches!(self.shape(function, index), Shape::Options(..))
                    && self.name(&function.params[index].ty) == Some(name)
            })
        })
    }

    /// The `sf-error` record of the `types` interface.
    fn sf_error(&self) -> Option<&'a wit_parser::TypeDef> {
        self.types
            .types
            .get("sf-error")
            .map(|id| &self.resolve.types[*id])
    }

    /// The log levels, each a method of `ctx.log`.
    fn levels(&self) -> Vec<String> {
        let level = self
            .log
            .types
            .get("level")
            .map(|id| &self.resolve.types[*id].kind);
        match level {
            Some(TypeDefKind::Enum(cases)) => cases.cases.iter().map(|c| c.name.clone()).collect(),
            _ => panic!("the log interface has no `level` enum"),
        }
    }

    fn python(&self) -> String {
        let (salesforce, log, state) = (self.salesforce, self.log, self.state);
        let mut out = String::from(HEADER_PY);
        for (name, kind, text) in self.records_and_enums(&[salesforce]) {
            match kind {
                TypeDefKind::Enum(cases) => {
                    let cases = quoted(cases);
                    writeln!(out, "{} = Literal[{}]", pascal(name), cases.join(", ")).unwrap();
                    if let Some(text) = text {
                        writeln!(out, "\"\"\"{text}\"\"\"").unwrap();
                    }
                    writeln!(out).unwrap();
                }
                // Options become keyword arguments in Python.
                TypeDefKind::Record(record) if !self.is_options(name) => {
                    writeln!(out, "class {}(TypedDict):", pascal(name)).unwrap();
                    docstring(&mut out, "    ", text);
                    for field in &record.fields {
                        let (_, py) = self.plain(&field.ty);
                        writeln!(out, "    {}: {py}", snake(&field.name)).unwrap();
                    }
                    writeln!(out).unwrap();
                }
                _ => {}
            }
        }
        let sf_error = self.sf_error();
        writeln!(out, "class SalesforceError(Exception):").unwrap();
        docstring(
            &mut out,
            "    ",
            sf_error.and_then(|def| def.docs.contents.as_deref()),
        );
        if let Some(TypeDefKind::Record(record)) = sf_error.map(|def| &def.kind) {
            for field in &record.fields {
                let (_, py) = self.plain(&field.ty);
                let py = py.replace("Sequence[", "list[");
                writeln!(out, "    {}: {py}", snake(&field.name)).unwrap();
            }
        }
        writeln!(out).unwrap();
        writeln!(out, "class Salesforce:").unwrap();
        docstring(&mut out, "    ", salesforce.docs.contents.as_deref());
        for function in salesforce.functions.values() {
            let (_, answer) = self.answer(function);
            py_method(&mut out, function, &self.py_params(function), &answer);
        }
        writeln!(out).unwrap();
        writeln!(out, "class Log:").unwrap();
        docstring(&mut out, "    ", log.docs.contents.as_deref());
        for level in self.levels() {
            writeln!(out, "    def {level}(self, *parts: Any) -> None:").unwrap();
            writeln!(out, "        \"\"\"A log line at level `{level}`: strings as they are, other values as JSON.\"\"\"").unwrap();
        }
        writeln!(out).unwrap();
        writeln!(out, "class State:").unwrap();
        docstring(&mut out, "    ", state.docs.contents.as_deref());
        for function in state.functions.values() {
            let mut params = self.py_params(function);
            let answer = match function.result.as_ref().and_then(|ty| self.kind(ty)) {
                Some(TypeDefKind::Option(_)) => {
                    params.push("default: Any = None".into());
                    "Any"
                }
                _ => "None",
            };
            py_method(&mut out, function, &params, answer);
        }
        writeln!(out).unwrap();
        out.push_str(FOOTER_PY);
        out
    }
}

const HEADER_TS: &str = r#"// Gust's JavaScript step API: the `gust` module and the `ctx` a step's
// `run(input, ctx)` gets. Generated from Gust's WIT world by
// `gust types --js > gust.d.ts`; keep it beside your scripts (or name it in
// tsconfig.json / jsconfig.json) for completion and checking.
//
//   /** @param {import("gust").Context} ctx */
//   export default function run(input, ctx) { ... }

declare module "gust" {
  /** A Salesforce record, in Salesforce's own JSON shape. */
  export type SObjectRecord = Record<string, unknown>;

  /** One record's (or event's) result of a write of many. */
  export interface WriteResult {
    id: string | null;
    success: boolean;
    created?: boolean;
    errors: { statusCode: string; message: string; fields: string[] }[];
  }

"#;

const FOOTER_TS: &str = r#"  /** A failure of the step; `retryable: false` when running it again cannot help. */
  export class StepError extends Error {
    constructor(message: string, options?: { retryable?: boolean });
    readonly retryable: boolean;
  }

  /** What `stop(output)` returns: return it to end the run after this step. */
  export interface Stop<T = unknown> {
    readonly output: T;
  }

  /** Ends the run successfully after this step, with `output` as its output. */
  export function stop<T>(output: T): Stop<T>;

  /** The second argument of `run(input, ctx)`. */
  export interface Context {
    readonly salesforce: Salesforce;
    readonly log: Log;
    readonly state: State;
    stop<T>(output: T): Stop<T>;
    readonly StepError: typeof StepError;
    readonly SalesforceError: typeof SalesforceError;
  }
}
"#;

const HEADER_PY: &str = r#""""Gust's Python step API: the ``gust`` module and the ``ctx`` a step's
``run(input, ctx)`` gets. Generated from Gust's WIT world by
``gust types --python > gust.pyi``; keep it beside your scripts for
completion and checking (mypy, pyright)."""

from typing import Any, Literal, Optional, Sequence, TypedDict

"#;

const FOOTER_PY: &str = r#"class StepError(Exception):
    """A failure of the step; ``retryable=False`` when running it again cannot help."""
    message: str
    retryable: bool
    def __init__(self, message: str, retryable: bool = True) -> None: ...

class Stop:
    """What ``stop(output)`` returns: return it to end the run after this step."""
    output: Any

def stop(output: Any = None) -> Stop:
    """Ends the run successfully after this step, with ``output`` as its output."""
    ...

class Context:
    """The second argument of ``run(input, ctx)``."""
    salesforce: Salesforce
    log: Log
    state: State
    @staticmethod
    def stop(output: Any = None) -> Stop: ...
"#;
