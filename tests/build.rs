//! Builds the test guests and the example steps for wasm32-wasip2 and
//! exposes their paths as constants in `gust_tests::guests`.

use std::path::PathBuf;

use gust_guest_build::Guest;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().expect("tests live in the workspace");
    let mut guests = Guest::all_in(&manifest_dir.join("guests"));
    guests.extend(Guest::all_in(&workspace.join("examples/steps")));
    let wasm = gust_guest_build::build(workspace, &guests);

    let mut code = String::new();
    for (guest, path) in guests.iter().zip(&wasm) {
        let name = guest.name().to_uppercase().replace('-', "_");
        code.push_str(&format!(
            "/// The `{}` component.\npub const {name}: &str = {:?};\n",
            guest.package,
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    std::fs::write(out.join("guests.rs"), code).expect("cannot write guests.rs");
}
