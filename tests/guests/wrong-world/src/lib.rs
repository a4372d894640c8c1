//! A component that exports `hello` instead of the gust:step world.

#![allow(missing_docs, unsafe_code, unreachable_pub)]

wit_bindgen::generate!({ path: "wit", world: "greeter" });

struct Greeter;

impl Guest for Greeter {
    fn hello(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
