//! The host side of `sdk-guest/wit`: the `step` world compiled steps export,
//! and the `script` world of the interpreters that run JavaScript and Python
//! steps. Both import the same interfaces, bound once (in `step`).
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

/// The `script` world: its imports are the step world's, so a linker set up
/// for steps instantiates interpreters too.
pub mod script {
    wasmtime::component::bindgen!({
        path: "../sdk-guest/wit",
        world: "script",
        with: {
            "gust:step/types": super::gust::step::types,
            "gust:step/salesforce": super::gust::step::salesforce,
            "gust:step/log": super::gust::step::log,
            "gust:step/state": super::gust::step::state,
        },
        exports: { default: async },
    });
}
