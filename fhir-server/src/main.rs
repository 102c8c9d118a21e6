//! The `fhir-server` binary: everything lives in the library; this only turns
//! the result of [`fhir_server::cli::run`] into an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match fhir_server::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fhir-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
