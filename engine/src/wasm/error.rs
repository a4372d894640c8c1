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
    /// The wasmtime engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

/// The result of loading a step.
pub type Result<T, E = Error> = std::result::Result<T, E>;
