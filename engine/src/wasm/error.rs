use crate::workflow::Language;

/// Why a module cannot be used as a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "a core WebAssembly module, not a component: build the step for the wasm32-wasip2 target"
    )]
    NotAComponent,
    /// The component does not compile.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component imports something Gust does not provide.
    #[error("the component imports what Gust does not provide: {0}")]
    Imports(String),
    /// The component does not export the `gust:step/step` world.
    #[error("the component does not export the gust:step world (`run`): {0}")]
    World(String),
    /// This build of Gust has no interpreter for the script's language.
    #[error(
        "this Gust was built without its {0} runner: run scripts/setup (it installs {tool}), then build Gust again",
        tool = runner_tool(*.0)
    )]
    NoRunner(Language),
    /// The script does not compile, or imports what is not there:
    /// `name:line:column: message`.
    #[error("{0}")]
    Script(String),
    /// The interpreter failed while checking a script.
    #[error("the {0} runner failed: {1}")]
    Runner(Language, String),
    /// The wasmtime engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// The result of loading a step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What builds the interpreter of `language` (`scripts/setup` installs it).
fn runner_tool(language: Language) -> &'static str {
    match language {
        Language::JavaScript => "componentize-qjs from npm, with Node.js",
        Language::Python => "componentize-py from PyPI",
    }
}
