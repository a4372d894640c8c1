//! Compiles guest crates of this workspace to WebAssembly components from a
//! build script, so that tests and the `gust` binary always use guests built
//! from the current sources.
//!
//! The nested cargo gets its own target directory (`<target>/guests`): sharing
//! the outer build's directory would wait forever on the outer build's lock.
//! Guests are built with the workspace's `guest` profile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is built for.
pub const TARGET: &str = "wasm32-wasip2";
/// The cargo profile guests are built with (see the workspace `Cargo.toml`).
pub const PROFILE: &str = "guest";

/// A guest crate to build.
#[derive(Debug, Clone)]
pub struct Guest {
    /// The directory holding the crate's `Cargo.toml`.
    pub dir: PathBuf,
    /// The crate's package name.
    pub package: String,
}

impl Guest {
    /// The crate in `dir`, whose package name is read from its manifest.
    pub fn at(dir: PathBuf) -> Self {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("cannot read {}/Cargo.toml: {e}", dir.display()));
        let package = manifest
            .lines()
            .find_map(|line| {
                let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| panic!("{}/Cargo.toml has no package name", dir.display()));
        Self { dir, package }
    }

    /// Every crate directly under `dir`, sorted by directory name.
    pub fn all_in(dir: &Path) -> Vec<Self> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.join("Cargo.toml").is_file())
            .collect();
        dirs.sort();
        dirs.into_iter().map(Self::at).collect()
    }

    /// The directory name, used as the guest's short name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.package.clone())
    }
}

/// Builds `guests` and returns the path of each one's component, in order.
///
/// Call it from a build script: it tells cargo to rerun when the guests, the
/// SDK or the WIT contract change.
pub fn build(workspace: &Path, guests: &[Guest]) -> Vec<PathBuf> {
    // The contract (in the SDK), and the workspace crates guests depend on
    // by path.
    for path in [
        workspace.join("sdk-guest"),
        workspace.join("crates/soql"),
        workspace.join("crates/step-inputs"),
        workspace.join("outbound"),
        workspace.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    for guest in guests {
        println!("cargo:rerun-if-changed={}", guest.dir.display());
    }
    check_target_installed();

    let target_dir = guest_target_dir();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        .env("CARGO_TARGET_DIR", &target_dir);
    for guest in guests {
        command.args(["-p", &guest.package]);
    }
    // Flags meant for the host build (and clippy's wrapper) must not leak
    // into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_BUILD_TARGET",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build guests: {e}"));
    assert!(status.success(), "building the guest components failed");

    guests
        .iter()
        .map(|guest| {
            let file = format!("{}.wasm", guest.package.replace('-', "_"));
            let path = target_dir.join(TARGET).join(PROFILE).join(file);
            assert!(path.is_file(), "{} was not built", path.display());
            path
        })
        .collect()
}

/// `<target>/guests`, next to the outer build's profile directories.
fn guest_target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set in build scripts"));
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<package>-<hash>/out.
    let build_dir = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "build"))
        .expect("OUT_DIR lies under a `build` directory");
    let profile_dir = build_dir
        .parent()
        .expect("the build directory has a parent");
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory has a parent");
    target_dir.join("guests")
}

fn check_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if let Some(sysroot) = sysroot {
        let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
        assert!(
            lib.is_dir(),
            "the {TARGET} target is not installed: run `rustup target add {TARGET}` \
             (scripts/setup does it)"
        );
    }
}
