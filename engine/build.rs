//! Builds the prebuilt steps in `steps/` and embeds them in the engine as
//! `builtin:<name>` modules, and builds the interpreters of script steps
//! from `runners/` (JavaScript with componentize-qjs, Python with
//! componentize-py, both installed by `scripts/setup`) and embeds them too.

use std::path::{Path, PathBuf};
use std::process::Command;

use gust_guest_build::Guest;

#[path = "build/editor_types.rs"]
mod editor_types;

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
    build_runners(workspace, &out);
    let types = editor_types::generate(&workspace.join("sdk-guest/wit"));
    write_if_changed(&out.join("gust.d.ts"), &types.typescript);
    write_if_changed(&out.join("gust.pyi"), &types.python);
}

/// An interpreter of script steps and the tool that builds it.
struct Runner {
    /// The constant the engine reads it from.
    constant: &'static str,
    /// The language, for messages.
    language: &'static str,
    /// The variable that names the tool, when not where setup puts it.
    tool_variable: &'static str,
    /// Where `scripts/setup` installs the tool, in the workspace.
    tool: &'static str,
    /// What the runner is built from, in the workspace.
    sources: &'static [&'static str],
    /// The tool's arguments that build the runner from the WIT directory
    /// into the output, given the workspace.
    arguments: fn(&mut Command, wit: &Path, workspace: &Path, output: &Path),
}

const RUNNERS: [Runner; 2] = [
    Runner {
        constant: "JAVASCRIPT_RUNNER",
        language: "JavaScript",
        tool_variable: "GUST_COMPONENTIZE_QJS",
        tool: "target/node/node_modules/.bin/componentize-qjs",
        sources: &["runners/javascript/runner.js"],
        arguments: |command, wit, workspace, output| {
            command
                .arg("--wit")
                .arg(wit)
                .args(["--world", "script", "--sync", "--js"])
                .arg(workspace.join("runners/javascript/runner.js"))
                .arg("-o")
                .arg(output);
        },
    },
    Runner {
        constant: "PYTHON_RUNNER",
        language: "Python",
        tool_variable: "GUST_COMPONENTIZE_PY",
        tool: "target/python/bin/componentize-py",
        sources: &["runners/python/runner.py", "runners/python/gust.py"],
        arguments: |command, wit, workspace, output| {
            command
                .arg("-d")
                .arg(wit)
                .args(["-w", "script", "componentize", "runner", "-p"])
                .arg(workspace.join("runners/python"))
                .arg("-o")
                .arg(output)
                .env("PYTHONDONTWRITEBYTECODE", "1");
        },
    },
];

/// Builds each runner whose tool is installed; without the tool the runner
/// is left out (scripts in its language are refused with a message saying
/// how to install it), unless `GUST_REQUIRE_RUNNERS` is set.
fn build_runners(workspace: &Path, out: &Path) {
    println!("cargo::rerun-if-env-changed=GUST_REQUIRE_RUNNERS");
    println!(
        "cargo::rerun-if-changed={}",
        workspace.join("sdk-guest/wit").display()
    );
    let required = std::env::var_os("GUST_REQUIRE_RUNNERS").is_some();
    let mut code = String::new();
    for runner in &RUNNERS {
        println!("cargo::rerun-if-env-changed={}", runner.tool_variable);
        for source in runner.sources {
            println!(
                "cargo::rerun-if-changed={}",
                workspace.join(source).display()
            );
        }
        let tool = std::env::var_os(runner.tool_variable)
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(runner.tool));
        println!("cargo::rerun-if-changed={}", tool.display());
        let built = match tool.is_file() {
            true => Some(build_runner(runner, &tool, workspace, out)),
            false if required => panic!(
                "the {} runner's tool is not installed at {}: run scripts/setup",
                runner.language,
                tool.display()
            ),
            false => {
                println!(
                    "cargo::warning=no {} runner: {} is not installed (run scripts/setup); {} steps will be refused",
                    runner.language,
                    tool.display(),
                    runner.language
                );
                None
            }
        };
        let value = match built {
            Some(path) => format!("Some(include_bytes!({:?}))", path.display().to_string()),
            None => "None".to_owned(),
        };
        code.push_str(&format!(
            "/// The {} runner component, if this build has it.\nconst {}: Option<&[u8]> = {value};\n",
            runner.language, runner.constant
        ));
    }
    write_if_changed(&out.join("runners.rs"), &code);
}

fn build_runner(runner: &Runner, tool: &Path, workspace: &Path, out: &Path) -> PathBuf {
    let wit = workspace.join("sdk-guest/wit");
    let output = out.join(format!("{}.wasm", runner.constant.to_lowercase()));
    let mut command = Command::new(tool);
    (runner.arguments)(&mut command, &wit, workspace, &output);
    let result = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    if !result.status.success() {
        panic!(
            "building the {} runner failed ({}):\n{}{}",
            runner.language,
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    output
}

fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::write(path, contents).expect("cannot write generated code");
    }
}
