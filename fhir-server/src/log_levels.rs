//! The server's logger: `env_logger` (filtered by `RUST_LOG`, `info` by
//! default), with one correction. actix-http logs a request it cannot
//! parse (a malformed request line or header, a URI it refuses) at
//! `error` ("stream error: request parse error: …"), though the fault is
//! the client's and the client got a 400: such records are logged at
//! `info`, like every other client error (see [`crate::error`]), so that
//! `error` stays the level of the server's own faults.

use log::{Level, Log, Metadata, Record};

/// actix-http's connection dispatcher, where the parse errors are logged.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

struct ClientErrorsAtInfo(env_logger::Logger);

/// A record actix-http logs at `error` for a request the client got wrong.
fn is_client_parse_error(record: &Record) -> bool {
    record.level() == Level::Error
        && record.target() == DISPATCHER
        && record
            .args()
            .as_str()
            .map_or_else(|| record.args().to_string(), str::to_owned)
            .contains("request parse error")
}

impl Log for ClientErrorsAtInfo {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !is_client_parse_error(record) {
            return self.0.log(record);
        }
        let info = Record::builder()
            .args(*record.args())
            .level(Level::Info)
            .target(record.target())
            .module_path(record.module_path())
            .file(record.file())
            .line(record.line())
            .build();
        if self.0.enabled(info.metadata()) {
            self.0.log(&info);
        }
    }

    fn flush(&self) {
        self.0.flush()
    }
}

/// Installs the logger (once per process).
pub fn init() {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).build();
    // The inner filter decides; records at `error` must reach `log` to be
    // lowered, and `error` is always at or under the inner level.
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(ClientErrorsAtInfo(logger))).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dispatcher_parse_errors_are_lowered() {
        let rec = |target: &'static str, level: Level, msg: &'static str| {
            is_client_parse_error(
                &Record::builder()
                    .args(format_args!("{msg}"))
                    .level(level)
                    .target(target)
                    .build(),
            )
        };
        assert!(rec(
            DISPATCHER,
            Level::Error,
            "stream error: request parse error: URI error"
        ));
        assert!(!rec(DISPATCHER, Level::Error, "Upgrade handler error"));
        assert!(!rec(
            "fhir_server::error",
            Level::Error,
            "request parse error"
        ));
    }
}
