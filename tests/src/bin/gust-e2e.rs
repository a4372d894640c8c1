//! The `gust` command line, built inside this package so that its
//! end-to-end tests always run the current code: the same
//! [`gust_engine::cli::main`] and allocator as the `gust` binary, which is
//! nothing more.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gust_engine::cli::main()
}
