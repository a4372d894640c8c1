//! The `gust` command line, built inside this package so that its
//! end-to-end tests always run the current code: the same
//! [`gust_engine::cli::main`] as the `gust` binary, which is nothing more.

fn main() -> std::process::ExitCode {
    gust_engine::cli::main()
}
