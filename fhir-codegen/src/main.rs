//! `cargo run -p fhir-codegen [-- PACKAGE.tgz [OUT_DIR]]`: regenerates the
//! R4 model. Both paths default to the ones in the workspace
//! (`../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz`,
//! `fhir-model/src/generated`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(n) => {
            eprintln!("wrote {n} files");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fhir-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<usize, String> {
    let root = fhir_codegen::workspace_root();
    let mut args = std::env::args_os().skip(1);
    let package = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(fhir_codegen::DEFAULT_PACKAGE));
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(fhir_codegen::DEFAULT_OUT));
    let files = fhir_codegen::generate(&package)?;
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    for (path, text) in &files {
        let path = out.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files.len())
}
