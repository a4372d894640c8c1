//! The `gust` binary: see [`gust_engine::cli`].

/// sled allocates and frees heavily; mimalloc serves it faster than the
/// system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gust_engine::cli::main()
}
