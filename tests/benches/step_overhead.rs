//! Per-step overhead: instantiate a cached component, call a trivial step,
//! return. Gust's `Sandbox::invoke` (limits, captured stdio, host
//! imports, permissions, JSON at the edges) beside raw wasmtime doing the
//! same with the same engine settings, measured in the same run.
//!
//! Run with
//!
//! ```not_rust
//! cargo bench -p gust-tests --bench step_overhead
//! ```
//!
//! `ITERATIONS=50000` changes the sample size. Then the same echo written in
//! JavaScript and in Python, run by their interpreter components, beside the
//! Rust step: median and p99 per call, the linear memory of an instance, the
//! component's size, its first compile, and a load again in the same sandbox,
//! of the same code and of a changed script (`SCRIPT_ITERATIONS`, 2,000 calls
//! each by default).

#![allow(missing_docs, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use gust_engine::wasm::{Sandbox, SandboxConfig, StepComponent, StepLimits, wasmtime_config};
use gust_engine::workflow::Language;
use gust_tests::{bare_context, guests, read};
use serde_json::json;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod raw {
    wasmtime::component::bindgen!({
        path: "../sdk-guest/wit",
        world: "step",
        exports: { default: async },
    });
}

/// The input of every call: the trivial `echo` of the misbehave guest.
const INPUT: &str = r#"{"act":"echo"}"#;

struct RawHost {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for RawHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Raw wasmtime: Gust's own wasmtime configuration (pooling, epochs), an
/// `InstancePre`, a fresh store per call, WASI with its closed defaults and
/// Gust's own imports left as traps (the trivial step calls none).
fn raw_setup(wasm: &[u8], config: &SandboxConfig) -> (Engine, raw::StepPre<RawHost>) {
    let config = wasmtime_config(config);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, wasm).unwrap();
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    // Gust's own imports trap (the trivial step calls none). Not
    // `define_unknown_imports_as_traps`: it also shadows WASI imports whose
    // version differs from the linker's.
    for (name, item) in component.component_type().imports(&engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !name.starts_with("gust:") {
            continue;
        }
        let mut imports = linker.instance(name).unwrap();
        for (function, _) in instance.exports(&engine) {
            imports
                .func_new(function, |_, _, _, _| wasmtime::bail!("not provided"))
                .unwrap();
        }
    }
    let pre = raw::StepPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();
    let ticker = engine.weak();
    std::thread::spawn(move || {
        while let Some(engine) = ticker.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (engine, pre)
}

async fn raw_call(engine: &Engine, pre: &raw::StepPre<RawHost>) {
    let host = RawHost {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    store.set_epoch_deadline(500);
    let step = pre.instantiate_async(&mut store).await.unwrap();
    let output = step.call_run(&mut store, INPUT).await.unwrap();
    assert!(output.is_ok());
}

struct Figures {
    median: Duration,
    p99: Duration,
    mean: Duration,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Figures {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
        mean,
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let wasm = read(guests::MISBEHAVE);

    let config = SandboxConfig {
        cache_dir: None,
        max_instances: 64,
        fuel_metering: false,
    };
    let gust = Arc::new(Sandbox::new(config.clone()).unwrap());
    let component = gust.load(&wasm).unwrap();
    let input = json!({ "act": "echo" });
    let limits = StepLimits::default();
    let context = bare_context("bench");
    let (engine, pre) = raw_setup(&wasm, &config);

    // Warm both pools and caches.
    for _ in 0..1_000 {
        let invocation = gust
            .invoke(&component, &input, &limits, context.clone())
            .await;
        assert!(invocation.result.is_ok());
        raw_call(&engine, &pre).await;
    }

    // Alternate batches so drift on the machine hits both sides alike.
    let mut gust_samples = Vec::with_capacity(iterations);
    let mut raw_samples = Vec::with_capacity(iterations);
    for _ in 0..iterations / 100 {
        for _ in 0..100 {
            let started = Instant::now();
            let invocation = gust
                .invoke(&component, &input, &limits, context.clone())
                .await;
            gust_samples.push(started.elapsed());
            assert!(invocation.result.is_ok());
        }
        for _ in 0..100 {
            let started = Instant::now();
            raw_call(&engine, &pre).await;
            raw_samples.push(started.elapsed());
        }
    }

    // Throughput with 8 concurrent callers on the 2 worker threads.
    let callers = 8;
    let per_caller = iterations / callers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let gust = gust.clone();
            let component = component.clone();
            let input = input.clone();
            let context = context.clone();
            tokio::spawn(async move {
                for _ in 0..per_caller {
                    let invocation = gust
                        .invoke(&component, &input, &limits, context.clone())
                        .await;
                    assert!(invocation.result.is_ok());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let gust_rate = (per_caller * callers) as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let engine = Arc::new(engine);
    let pre = Arc::new(pre);
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let engine = engine.clone();
            let pre = pre.clone();
            tokio::spawn(async move {
                for _ in 0..per_caller {
                    raw_call(&engine, &pre).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let raw_rate = (per_caller * callers) as f64 / started.elapsed().as_secs_f64();

    let gust = figures(gust_samples);
    let raw = figures(raw_samples);
    println!("step overhead: instantiate from cache + call trivial step + return");
    println!(
        "component: {} bytes, {iterations} sequential calls each",
        wasm.len()
    );
    println!(
        "{:<16} {:>12} {:>12} {:>12} {:>16}",
        "", "median µs", "p99 µs", "mean µs", "calls/s (8 conc)"
    );
    for (name, f, rate) in [
        ("raw wasmtime", &raw, raw_rate),
        ("gust invoke", &gust, gust_rate),
    ] {
        println!(
            "{name:<16} {:>12.1} {:>12.1} {:>12.1} {:>16.0}",
            micros(f.median),
            micros(f.p99),
            micros(f.mean),
            rate
        );
    }
    println!(
        "gust / raw: median {:.2}x, p99 {:.2}x, throughput {:.2}x",
        micros(gust.median) / micros(raw.median),
        micros(gust.p99) / micros(raw.p99),
        raw_rate / gust_rate
    );
    scripts(&config, &wasm).await;
}

/// The trivial echo step in each language.
const ECHO_JS: &str = "export default function run(input, ctx) {\n  return input;\n}\n";
const ECHO_PY: &str = "def run(input, ctx):\n    return input\n";

/// The echo in Rust, JavaScript and Python, each loaded by a sandbox of
/// its own (so the first load compiles), then called in turns.
async fn scripts(config: &SandboxConfig, wasm: &[u8]) {
    let iterations: usize = std::env::var("SCRIPT_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    // A load of the step; a script's is given a trailing blank line to
    // stand for a changed script.
    type Load<'a> = Box<dyn Fn(&Sandbox, &str) -> StepComponent + 'a>;
    let script = |language: Language, name: &'static str, source: &'static str| -> Load<'_> {
        Box::new(move |sandbox: &Sandbox, change: &str| {
            sandbox
                .load_script(language, name, &format!("{source}{change}"))
                .unwrap()
        })
    };
    let steps: [(&str, usize, Load<'_>); 3] = [
        (
            "rust",
            wasm.len(),
            Box::new(|sandbox: &Sandbox, _: &str| sandbox.load(wasm).unwrap()),
        ),
        (
            "javascript",
            Sandbox::runner_size(Language::JavaScript)
                .expect("no JavaScript runner: run scripts/setup"),
            script(Language::JavaScript, "echo.js", ECHO_JS),
        ),
        (
            "python",
            Sandbox::runner_size(Language::Python).expect("no Python runner: run scripts/setup"),
            script(Language::Python, "echo.py", ECHO_PY),
        ),
    ];
    let input = json!({ "act": "echo" });
    let limits = StepLimits::default();
    let context = bare_context("bench");
    let mut loaded = Vec::new();
    for (name, size, load) in &steps {
        let sandbox = Sandbox::new(config.clone()).unwrap();
        let started = Instant::now();
        let step = load(&sandbox, "");
        let first = started.elapsed();
        let started = Instant::now();
        load(&sandbox, "");
        let again = started.elapsed();
        let started = Instant::now();
        load(&sandbox, "\n");
        let loads = Loads {
            first,
            again,
            changed: started.elapsed(),
        };
        loaded.push((*name, *size, loads, sandbox, step));
    }
    let mut samples = vec![Vec::with_capacity(iterations); loaded.len()];
    let mut memory = vec![0; loaded.len()];
    for (index, (_, _, _, sandbox, step)) in loaded.iter().enumerate() {
        for _ in 0..200 {
            let invocation = sandbox.invoke(step, &input, &limits, context.clone()).await;
            assert_eq!(invocation.result.unwrap().output, input);
            memory[index] = invocation.memory_bytes;
        }
    }
    for _ in 0..iterations / 100 {
        for (index, (_, _, _, sandbox, step)) in loaded.iter().enumerate() {
            for _ in 0..100 {
                let started = Instant::now();
                let invocation = sandbox.invoke(step, &input, &limits, context.clone()).await;
                samples[index].push(started.elapsed());
                assert!(invocation.result.is_ok());
            }
        }
    }
    println!();
    println!("script steps: the echo in each language, {iterations} sequential calls each");
    println!(
        "{:<12} {:>10} {:>10} {:>12} {:>16} {:>14} {:>10} {:>12}",
        "",
        "median µs",
        "p99 µs",
        "memory KiB",
        "component bytes",
        "first load ms",
        "again µs",
        "changed µs"
    );
    for (index, (name, size, loads, _, _)) in loaded.iter().enumerate() {
        let f = figures(std::mem::take(&mut samples[index]));
        println!(
            "{name:<12} {:>10.1} {:>10.1} {:>12} {:>16} {:>14.0} {:>10.1} {:>12.1}",
            micros(f.median),
            micros(f.p99),
            memory[index] >> 10,
            size,
            loads.first.as_secs_f64() * 1e3,
            micros(loads.again),
            micros(loads.changed),
        );
    }
}

/// How long loading a step took in a fresh sandbox: the first time (the
/// compile), again with the same code, and with its script changed (for a
/// component, the same bytes again).
struct Loads {
    first: Duration,
    again: Duration,
    changed: Duration,
}
