//! The wasmtime engine that runs steps: configured once per process, with
//! the pooling instance allocator, epoch interruption, and a fresh `Store`
//! per invocation.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
};

use super::bindings::Step;
use super::bindings::gust::step::types::Flow as WitFlow;
use super::cache::{ComponentCache, Runner, StepCode, StepComponent};
use super::error::{Error, Result};
use super::host::{InvocationContext, StepHost};
use super::invocation::{Flow, Invocation, StepSuccess};
use super::limits::StepLimits;
use super::runners;
use crate::model::{FailureKind, LogSource, StepFailure};
use crate::workflow::{Language, MAX_MEMORY_MB};

/// The memory an interpreter may use to check a script.
const CHECK_MEMORY_MB: u32 = 256;
/// How long checking a script may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the epoch advances: the granularity of time limits.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where precompiled components are kept across restarts; `None` keeps
    /// them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// The most steps running at once; more wait for a slot.
    pub max_instances: u32,
    /// Meter fuel, so that steps may set a `fuel` budget. Costs some speed
    /// in CPU-bound steps.
    pub fuel_metering: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_instances: 64,
            fuel_metering: false,
        }
    }
}

/// Runs step components in a sandbox. Cheap to share behind an `Arc`.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<StepHost>,
    cache: ComponentCache,
    slots: Semaphore,
    fuel_metering: bool,
}

impl Sandbox {
    /// Sets up the engine, the linker and the epoch ticker.
    ///
    /// The pooling allocator reserves address space up front; where that is
    /// not possible (a `ulimit -v`, a small address space) the runtime falls
    /// back to allocating on demand.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        let engine = match Engine::new(&wasmtime_config(&config)) {
            Ok(engine) => engine,
            Err(error) => {
                tracing::warn!(
                    error = %format!("{error:#}"),
                    "The pooling allocator is not available; allocating instances on demand."
                );
                Engine::new(&base_config(&config)).map_err(|e| Error::Engine(format!("{e:#}")))?
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Engine(format!("{e:#}")))?;
        Step::add_to_linker::<_, HasSelf<_>>(&mut linker, |host| host)
            .map_err(|e| Error::Engine(format!("{e:#}")))?;
        spawn_epoch_ticker(&engine);
        Ok(Self {
            cache: ComponentCache::new(&engine, config.cache_dir),
            engine,
            linker,
            slots: Semaphore::new(config.max_instances.max(1) as usize),
            fuel_metering: config.fuel_metering,
        })
    }

    /// Whether steps may have a fuel budget.
    pub fn meters_fuel(&self) -> bool {
        self.fuel_metering
    }

    /// Compiles (or finds in the cache) a component and checks that it
    /// exports the step world and imports nothing Gust does not provide.
    pub fn load(&self, wasm: &[u8]) -> Result<StepComponent> {
        self.cache.load(&self.engine, &self.linker, wasm)
    }

    /// The size in bytes of the interpreter component of `language`
    /// embedded in this build, if it has one.
    pub fn runner_size(language: Language) -> Option<usize> {
        runners::component(language)
            .ok()
            .map(|embedded| embedded.wasm.len())
    }

    /// The script `source` of `language`, named `name` in its errors, ready
    /// to run: the language's interpreter loaded (compiled once) and the
    /// script compiled by it (once), so that a syntax error, or an import of
    /// a module that is not there, is found now with its line and column.
    pub fn load_script(
        &self,
        language: Language,
        name: &str,
        source: &str,
    ) -> Result<StepComponent> {
        let embedded = runners::component(language)?;
        let runner = self
            .cache
            .load_runner(&self.engine, &self.linker, embedded)?;
        self.cache.load_script(&runner, name, source, || {
            self.check(&runner, language, name, source)
        })
    }

    /// Has the interpreter compile the script, in a store of its own on a
    /// thread of its own, so that loading stays callable from synchronous
    /// code and from inside a runtime alike.
    fn check(&self, runner: &Runner, language: Language, name: &str, source: &str) -> Result<()> {
        let checked = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .map_err(|e| Error::Runner(language, e.to_string()))?;
                    runtime.block_on(async {
                        let limits = StepLimits {
                            memory_bytes: (CHECK_MEMORY_MB as usize) << 20,
                            timeout: CHECK_TIMEOUT,
                            fuel: None,
                        };
                        let mut store = self.store(InvocationContext::none(name), &limits);
                        if self.fuel_metering {
                            store
                                .set_fuel(u64::MAX)
                                .map_err(|e| Error::Runner(language, format!("{e:#}")))?;
                        }
                        let call = async {
                            let script = runner.pre.instantiate_async(&mut store).await?;
                            script.call_check(&mut store, name, source).await
                        };
                        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
                            Err(_elapsed) => Err(Error::Runner(
                                language,
                                format!("checking the script took over {CHECK_TIMEOUT:?}"),
                            )),
                            Ok(Err(error)) => Err(Error::Runner(language, format!("{error:#}"))),
                            Ok(Ok(Err(problem))) => Err(Error::Script(problem)),
                            Ok(Ok(Ok(()))) => Ok(()),
                        }
                    })
                })
                .join()
        });
        checked.unwrap_or_else(|_| Err(Error::Runner(language, "the check panicked".into())))
    }

    /// A fresh store for one invocation within `limits`.
    fn store(&self, context: InvocationContext, limits: &StepLimits) -> Store<StepHost> {
        let mut store = Store::new(&self.engine, StepHost::new(context, limits.memory_bytes));
        store.limiter(|host| &mut host.limiter);
        // The most a guest may copy into the host in one call.
        store.set_hostcall_fuel(limits.memory_bytes);
        store.set_epoch_deadline(ticks(limits.timeout));
        store
    }

    /// Runs `component` once on `input`, within `limits`.
    pub async fn invoke(
        &self,
        component: &StepComponent,
        input: &Value,
        limits: &StepLimits,
        context: InvocationContext,
    ) -> Invocation {
        let started = Instant::now();
        // The pool fails rather than waits when full, so wait here.
        let _slot = self.slots.acquire().await;
        let mut store = self.store(context, limits);
        let fuel = match (self.fuel_metering, limits.fuel) {
            (true, budget) => store.set_fuel(budget.unwrap_or(u64::MAX)).err(),
            (false, Some(_)) => Some(wasmtime::format_err!(
                "the step sets `fuel` but fuel metering is off in this runtime"
            )),
            (false, None) => None,
        };

        let result = match fuel {
            Some(error) => Err(StepFailure::new(
                FailureKind::Sandbox,
                format!("{error:#}"),
                false,
            )),
            None => {
                let input = input.to_string();
                let call = async {
                    match &component.code {
                        StepCode::Component(pre) => {
                            let step = pre.instantiate_async(&mut store).await?;
                            step.call_run(&mut store, &input).await
                        }
                        StepCode::Script(script) => {
                            let runner = script.runner.instantiate_async(&mut store).await?;
                            runner
                                .call_run(&mut store, &script.name, &script.source, &input)
                                .await
                        }
                    }
                };
                // Epochs do not interrupt a guest waiting in a host call, so
                // the wall clock bounds the whole invocation too.
                match tokio::time::timeout(limits.timeout, call).await {
                    Err(_elapsed) => Err(timeout(limits)),
                    Ok(Err(error)) => Err(classify(&error, &store, limits)),
                    // An interpreter reports a failed allocation as the
                    // script's error; it is the memory limit all the same.
                    Ok(Ok(Err(_))) if store.data().limiter.memory_exceeded => {
                        Err(out_of_memory(limits))
                    }
                    Ok(Ok(Err(error))) => Err(StepFailure::new(
                        FailureKind::Error,
                        error.message,
                        error.retryable,
                    )),
                    Ok(Ok(Ok(output))) => success(output.output, output.flow),
                }
            }
        };

        let host = store.into_data();
        let mut logs = host.logs;
        for (source, stream) in [
            (LogSource::Stdout, &host.stdout),
            (LogSource::Stderr, &host.stderr),
        ] {
            let (text, dropped) = stream.contents();
            logs.push_output(source, &text, dropped);
        }
        Invocation {
            result,
            logs: logs.finish(),
            duration: started.elapsed(),
            memory_bytes: host.limiter.memory_used,
        }
    }
}

/// The wasmtime configuration of the sandbox: epoch interruption, fuel
/// when metered, and the pooling allocator sized for `max_instances`.
/// Public so that benchmarks can measure raw wasmtime with the very same
/// settings.
pub fn wasmtime_config(config: &SandboxConfig) -> Config {
    let instances = config.max_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        .total_core_instances(instances * 8)
        .total_memories(instances * 2)
        .total_tables(instances * 4)
        .total_stacks(instances)
        .max_memory_size((MAX_MEMORY_MB as usize) << 20)
        .max_core_instances_per_component(50)
        .max_memories_per_component(4)
        .max_tables_per_component(10)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .max_unused_warm_slots(instances.min(100))
        // Reset only the pages a step dirtied (Linux 6.7+), keeping up
        // to 4 MiB resident per warm slot: a step's stack and heap are
        // not faulted in again on every call.
        .pagemap_scan(Enabled::Auto);
    let mut c = base_config(config);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// The settings every step engine has, pooled or not.
fn base_config(config: &SandboxConfig) -> Config {
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.consume_fuel(config.fuel_metering);
    c.max_wasm_stack(512 * 1024);
    c
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is gone.
fn spawn_epoch_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("gust-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("cannot start the epoch ticker thread");
}

/// The epoch deadline for a time limit: one tick of slack, since the current
/// tick is partly over.
fn ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
}

fn timeout(limits: &StepLimits) -> StepFailure {
    StepFailure::new(
        FailureKind::Timeout,
        format!(
            "the step ran past its time limit of {} ms and was stopped",
            limits.timeout.as_millis()
        ),
        true,
    )
}

fn out_of_memory(limits: &StepLimits) -> StepFailure {
    StepFailure::new(
        FailureKind::MemoryLimit,
        format!(
            "the step ran out of memory: it tried to use more than its limit of {} MiB",
            limits.memory_bytes >> 20
        ),
        false,
    )
}

fn success(output: String, flow: WitFlow) -> Result<StepSuccess, StepFailure> {
    let output = serde_json::from_str(&output).map_err(|e| {
        StepFailure::new(
            FailureKind::InvalidOutput,
            format!("the step's output is not JSON: {e}"),
            false,
        )
    })?;
    let flow = match flow {
        WitFlow::Continue => Flow::Continue,
        WitFlow::Stop => Flow::Stop,
    };
    Ok(StepSuccess { output, flow })
}

/// Turns a trap into a failure that says what the step did.
fn classify(error: &wasmtime::Error, store: &Store<StepHost>, limits: &StepLimits) -> StepFailure {
    if store.data().limiter.memory_exceeded {
        return out_of_memory(limits);
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => return timeout(limits),
        Some(Trap::OutOfFuel) => {
            return StepFailure::new(
                FailureKind::OutOfFuel,
                format!(
                    "the step used up its fuel budget of {}",
                    limits.fuel.unwrap_or_default()
                ),
                false,
            );
        }
        _ => {}
    }
    let (stderr, _) = store.data().stderr.contents();
    let message = match stderr.find("panicked at") {
        Some(at) => {
            let panic: Vec<&str> = stderr[at..]
                .lines()
                .filter(|line| !line.starts_with("note: run with `RUST_BACKTRACE"))
                .collect();
            format!("the step {}", panic.join(" ").trim())
        }
        None => format!("the step trapped: {}", root_cause(error)),
    };
    StepFailure::new(FailureKind::Trap, message, false)
}

fn root_cause(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    }
}
