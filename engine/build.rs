//! Builds the prebuilt steps in `steps/` and embeds them in the engine as
//! `builtin:<name>` modules.

use std::path::{Path, PathBuf};

use gust_guest_build::Guest;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir
        .parent()
        .expect("the engine lives in the workspace");
    let guests = Guest::all_in(&workspace.join("steps"));
    let wasm = gust_guest_build::build(workspace, &guests);

    let mut code = String::from(
        "/// The prebuilt steps, by name: (name, component bytes).\n\
         pub(crate) const BUILTIN_STEPS: &[(&str, &[u8])] = &[\n",
    );
    for (guest, path) in guests.iter().zip(&wasm) {
        code.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            guest.name(),
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    write_if_changed(&out.join("builtin_steps.rs"), &code);
}

fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("cannot write generated code");
    }
}
