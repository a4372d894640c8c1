//! Compiled components, keyed by the SHA-256 of their bytes: in memory as a
//! ready-to-instantiate `StepPre`, and on disk as precompiled artifacts so
//! that a restart does not recompile.
//!
//! Artifacts are named `<sha256>-<engine>.cwasm`, where `<engine>` hashes
//! wasmtime's compatibility key (version and compilation settings), so an
//! upgrade never loads an incompatible artifact. Only artifacts written by
//! this cache are ever deserialized.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

use super::bindings::StepPre;
use super::bindings::script::ScriptPre;
use super::error::{Error, Result};
use super::host::StepHost;
use super::runners;

/// A step ready to instantiate, cheap to clone: a compiled component, or a
/// script with the interpreter that runs it.
#[derive(Clone)]
pub struct StepComponent {
    pub(crate) code: StepCode,
    digest: Arc<str>,
}

/// What runs when a step is invoked.
#[derive(Clone)]
pub(crate) enum StepCode {
    /// A component of the step world.
    Component(Arc<StepPre<StepHost>>),
    /// A script, run by an interpreter of the script world.
    Script(Arc<ScriptCode>),
}

/// A script and the interpreter that runs it.
pub(crate) struct ScriptCode {
    pub(crate) runner: Arc<ScriptPre<StepHost>>,
    /// The script's file name, in its errors and stack traces.
    pub(crate) name: String,
    pub(crate) source: String,
}

impl StepComponent {
    /// The SHA-256 of the component's bytes (of a script's interpreter and
    /// source), hex-encoded.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `script` run by the interpreter `runner`.
    fn script(runner: &Runner, name: &str, source: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(runner.digest.as_bytes());
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(source.as_bytes());
        Self {
            code: StepCode::Script(Arc::new(ScriptCode {
                runner: runner.pre.clone(),
                name: name.to_owned(),
                source: source.to_owned(),
            })),
            digest: hex::encode(hasher.finalize()).into(),
        }
    }
}

/// An interpreter component of the script world, ready to instantiate.
#[derive(Clone)]
pub(crate) struct Runner {
    pub(crate) pre: Arc<ScriptPre<StepHost>>,
    digest: Arc<str>,
}

impl std::fmt::Debug for StepComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepComponent")
            .field("digest", &self.digest)
            .finish()
    }
}

pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
    loaded: Mutex<HashMap<String, StepComponent>>,
    runners: Mutex<HashMap<String, Runner>>,
    compiling: Mutex<()>,
}

impl ComponentCache {
    pub(crate) fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            loaded: Mutex::new(HashMap::new()),
            runners: Mutex::new(HashMap::new()),
            compiling: Mutex::new(()),
        }
    }

    /// The step component `wasm`, compiled once.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        linker: &Linker<StepHost>,
        wasm: &[u8],
    ) -> Result<StepComponent> {
        self.load_into(
            &self.loaded,
            digest(wasm),
            engine,
            linker,
            wasm,
            |pre, digest| {
                let pre = StepPre::new(pre).map_err(|e| Error::World(format!("{e:#}")))?;
                Ok(StepComponent {
                    code: StepCode::Component(Arc::new(pre)),
                    digest,
                })
            },
        )
    }

    /// The embedded interpreter component `embedded`, compiled once.
    pub(crate) fn load_runner(
        &self,
        engine: &Engine,
        linker: &Linker<StepHost>,
        embedded: &runners::Embedded,
    ) -> Result<Runner> {
        let (digest, wasm) = (embedded.digest.clone(), embedded.wasm);
        self.load_into(
            &self.runners,
            digest,
            engine,
            linker,
            wasm,
            |pre, digest| {
                let pre = ScriptPre::new(pre).map_err(|e| Error::World(format!("{e:#}")))?;
                Ok(Runner {
                    pre: Arc::new(pre),
                    digest,
                })
            },
        )
    }

    /// The script `source` named `name`, run by `runner`: checked by
    /// `check` the first time, then kept, so that reloading an unchanged
    /// script checks nothing (a Python check is tens of milliseconds).
    pub(crate) fn load_script(
        &self,
        runner: &Runner,
        name: &str,
        source: &str,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<StepComponent> {
        let script = StepComponent::script(runner, name, source);
        if let Some(found) = lock(&self.loaded).get(script.digest()) {
            return Ok(found.clone());
        }
        check()?;
        lock(&self.loaded).insert(script.digest().to_owned(), script.clone());
        Ok(script)
    }

    /// `wasm`, whose digest is `digest`, linked against the host and made
    /// into a `T` of its world by `world`, once: kept in `map` by its digest.
    /// Compiles take turns: steps loading the same component at once wait
    /// for the first compile (seconds for an interpreter) rather than each
    /// compiling it.
    fn load_into<T: Clone>(
        &self,
        map: &Mutex<HashMap<String, T>>,
        digest: String,
        engine: &Engine,
        linker: &Linker<StepHost>,
        wasm: &[u8],
        world: impl FnOnce(InstancePre<StepHost>, Arc<str>) -> Result<T>,
    ) -> Result<T> {
        if let Some(found) = lock(map).get(&digest) {
            return Ok(found.clone());
        }
        let _compiling = lock(&self.compiling);
        if let Some(found) = lock(map).get(&digest) {
            return Ok(found.clone());
        }
        let pre = self.instantiate_pre(engine, linker, wasm, &digest)?;
        let made = world(pre, digest.as_str().into())?;
        lock(map).insert(digest, made.clone());
        Ok(made)
    }

    /// `wasm` compiled (or found on disk) and linked against the host.
    fn instantiate_pre(
        &self,
        engine: &Engine,
        linker: &Linker<StepHost>,
        wasm: &[u8],
        digest: &str,
    ) -> Result<InstancePre<StepHost>> {
        if !wasmparser::Parser::is_component(wasm) {
            return Err(if wasmparser::Parser::is_core_wasm(wasm) {
                Error::NotAComponent
            } else {
                Error::NotWasm
            });
        }
        let component = self.compile(engine, wasm, digest)?;
        linker
            .instantiate_pre(&component)
            .map_err(|e| Error::Imports(format!("{e:#}")))
    }

    /// The component from its artifact on disk, or compiled (and saved).
    fn compile(&self, engine: &Engine, wasm: &[u8], digest: &str) -> Result<Component> {
        let Some(dir) = &self.dir else {
            return Component::new(engine, wasm).map_err(|e| Error::Compile(format!("{e:#}")));
        };
        let artifact = dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if artifact.is_file() {
            // SAFETY: the artifact was written by `save` below from
            // `Component::serialize` of this same engine configuration (the
            // file name carries the engine's compatibility hash), and the
            // directory belongs to Gust.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(engine, &artifact) } {
                Ok(component) => {
                    tracing::debug!(artifact = %artifact.display(), "Loaded a precompiled component.");
                    return Ok(component);
                }
                Err(error) => tracing::warn!(
                    artifact = %artifact.display(), error = %format!("{error:#}"),
                    "Cannot load a precompiled component; compiling it again."
                ),
            }
        }
        let started = std::time::Instant::now();
        let component =
            Component::new(engine, wasm).map_err(|e| Error::Compile(format!("{e:#}")))?;
        tracing::debug!(
            digest, bytes = wasm.len(), elapsed = ?started.elapsed(),
            "Compiled a component."
        );
        if let Err(error) = save(&component, dir, &artifact) {
            tracing::warn!(
                artifact = %artifact.display(), %error,
                "Cannot save a precompiled component; it will be compiled again next start."
            );
        }
        Ok(component)
    }
}

/// The SHA-256 of a component's bytes, hex-encoded: its key in the cache.
pub(crate) fn digest(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

fn lock<T>(map: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes the artifact atomically: a temporary file renamed into place, so a
/// crash never leaves a truncated artifact behind.
fn save(component: &Component, dir: &Path, artifact: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let temporary = artifact.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, artifact)
}
