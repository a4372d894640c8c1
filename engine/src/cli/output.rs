//! How the command line writes: lines to stdout that end the process
//! quietly when the reader goes away (`gust runs list | head`), and logs to
//! stderr with Gust's own at the level asked for.

use std::fmt;
use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

/// `println!` that exits quietly, as SIGPIPE would, when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stdout; a closed stdout ends the process with
/// success, any other failure with an error.
pub(crate) fn write_line(args: fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(1);
        }
    }
}

/// The crates whose logs are Gust's own.
const GUST_CRATES: [&str; 5] = [
    "gust_engine",
    "gust_salesforce",
    "gust_outbound",
    "sf_emulator",
    "gust",
];

/// The log filter for `GUST_LOG`: a bare level (`debug`) applies to Gust's
/// own crates, others staying at `warn`; anything else is a full
/// `tracing` filter (`info,wasmtime=debug`). Unset, `warn`.
pub(crate) fn log_filter(setting: Option<&str>) -> EnvFilter {
    let directives = match setting.map(str::trim) {
        None | Some("") => "warn".to_owned(),
        Some(level) if level.parse::<tracing::Level>().is_ok() => {
            let own: Vec<String> = GUST_CRATES
                .iter()
                .map(|name| format!("{name}={level}"))
                .collect();
            format!("warn,{}", own.join(","))
        }
        Some(filter) => filter.to_owned(),
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|error| {
        eprintln!("warning: GUST_LOG `{directives}` is not a log filter ({error}); using `warn`");
        EnvFilter::new("warn")
    })
}

/// Logs to stderr, filtered by `GUST_LOG`, in colour only on a terminal
/// and without `NO_COLOR`.
pub(crate) fn init_logging() {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("GUST_LOG").ok().as_deref()))
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_level_applies_to_gusts_own_crates_only() {
        let filter = log_filter(Some("debug")).to_string();
        let directives: Vec<&str> = filter.split(',').collect();
        assert!(directives.contains(&"warn"), "{filter}");
        assert!(directives.contains(&"gust_engine=debug"), "{filter}");
        assert!(!filter.contains("wasmtime"), "{filter}");
        let written = log_filter(Some("info,wasmtime=debug")).to_string();
        let mut directives: Vec<&str> = written.split(',').collect();
        directives.sort_unstable();
        assert_eq!(directives, ["info", "wasmtime=debug"]);
        assert_eq!(log_filter(None).to_string(), "warn");
    }
}
