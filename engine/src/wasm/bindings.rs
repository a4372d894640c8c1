//! The host side of `sdk-guest/wit/step.wit`: the only `bindgen!` in the engine.
//!
//! Salesforce actions are `async` host functions (they do network I/O); all
//! imports are `trappable` so the host can abort a guest from inside a call.

#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    path: "../sdk-guest/wit",
    world: "step",
    imports: {
        "gust:step/salesforce": async | trappable,
        "gust:step/state.get": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});
