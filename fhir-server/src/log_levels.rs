//! The server's logger: `env_logger` (filtered by `RUST_LOG`, `info` by
//! default), with one correction. actix-http logs a request it cannot
//! parse (a malformed request line or header, a URI it refuses) at
//! `error` ("stream error: request parse error: …"), though the fault is
//! the client's and the client got a 400: such records are logged at
//! `info`, like every other client error (see [`crate::error`]), so that
//! `error` stays the level of the server's own faults.
//!
//! `--log-format json` (`FHIR_LOG_FORMAT`) writes one JSON object per line
//! for log collectors (issue #18 item 9): `timestamp` (UTC, RFC 3339 with
//! milliseconds), `level`, `target`, `message`, and, when known,
//! `request_id` (the request being served: [`crate::request_id`]) and
//! `node_id` (`serve --node-id`). `text`, the default, is env_logger's
//! own line, for people.

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

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's line: `[time LEVEL target] message`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One log record as a JSON line (without the newline).
fn json_line(record: &Record) -> String {
    let mut line = serde_json::json!({
        "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "level": record.level().as_str(),
        "target": record.target(),
        "message": record.args().to_string(),
    });
    if let Some(id) = crate::request_id::current() {
        line["request_id"] = id.as_str().into();
    }
    if let Some(node) = crate::node_id::get() {
        line["node_id"] = node.as_str().into();
    }
    line.to_string()
}

/// Installs the logger (once per process).
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            use std::io::Write;
            writeln!(buf, "{}", json_line(record))
        });
    }
    let logger = builder.build();
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

    #[test]
    fn json_lines_carry_the_request_id() {
        let id = crate::request_id::RequestId::generate();
        let line = crate::request_id::on_this_thread(Some(id.clone()), || {
            json_line(
                &Record::builder()
                    .args(format_args!("a \"quoted\"\nmessage"))
                    .level(Level::Warn)
                    .target("access")
                    .build(),
            )
        });
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "access");
        assert_eq!(v["message"], "a \"quoted\"\nmessage");
        assert_eq!(v["request_id"], id.as_str());
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
