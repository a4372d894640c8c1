//! A step's logs: lines it logged through the `log` interface, then what it
//! printed to stdout and stderr. Both are capped, so a runaway step cannot
//! fill the host's memory or the run history.

use crate::model::{LogLevel, LogLine, LogSource};

/// The most lines a step may log through the `log` interface per invocation.
pub const MAX_LOG_LINES: usize = 1_000;
/// The most bytes of log messages per invocation.
pub const MAX_LOG_BYTES: usize = 256 * 1024;

/// The lines logged so far, with caps.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: usize,
}

impl LogBuffer {
    pub(crate) fn push(&mut self, level: LogLevel, source: LogSource, message: String) {
        if self.lines.len() >= MAX_LOG_LINES || self.bytes + message.len() > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine {
            level,
            source,
            message,
        });
    }

    /// Appends captured stdio output, one line per line of text.
    pub(crate) fn push_output(&mut self, source: LogSource, text: &str, dropped_bytes: usize) {
        let level = match source {
            LogSource::Stderr => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        for line in text.lines() {
            self.lines.push(LogLine {
                level,
                source,
                message: line.to_owned(),
            });
        }
        if dropped_bytes > 0 {
            let stream = if source == LogSource::Stderr {
                "stderr"
            } else {
                "stdout"
            };
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{dropped_bytes} more bytes of {stream} were dropped (over the cap)"
                ),
            });
        }
    }

    pub(crate) fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            self.lines.push(LogLine {
                level: LogLevel::Warn,
                source: LogSource::Host,
                message: format!(
                    "{} more log lines were dropped (over {MAX_LOG_LINES} lines or {MAX_LOG_BYTES} bytes)",
                    self.dropped
                ),
            });
        }
        self.lines
    }
}
