//! The `gust` binary: see [`gust_engine::cli`].

fn main() -> std::process::ExitCode {
    gust_engine::cli::main()
}
