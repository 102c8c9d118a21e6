//! `cargo run -p fhir-codegen [-- PACKAGE.tgz [OUT_DIR [DATA_DIR]]]`:
//! regenerates the R4 model, the server's built-in search data and the
//! profile engine's base invariants and required codes (`profiles/data`). The
//! paths default to the ones in the workspace
//! (`../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz`,
//! `fhir-model/src/generated`, `fhir-store/data`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    let data_out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(fhir_codegen::search_data::DEFAULT_DATA_OUT));
    let files = fhir_codegen::generate(&package)?;
    // Both are generated before anything is written, so a package the
    // search data cannot be read from leaves the model untouched too.
    let data = fhir_codegen::search_data::generate(&package)?;
    let invariants = fhir_codegen::invariants::generate(&package)?;
    let required_codes = fhir_codegen::required_codes::generate(&package)?;
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    write_all(&out, &files)?;
    // The data folder may hold other files, so only ours are replaced.
    write_all(&data_out, &data)?;
    write_all(
        &root.join(fhir_codegen::invariants::DEFAULT_OUT),
        &invariants,
    )?;
    write_all(
        &root.join(fhir_codegen::required_codes::DEFAULT_OUT),
        &required_codes,
    )?;
    Ok(files.len() + data.len() + invariants.len() + required_codes.len())
}

fn write_all(out: &Path, files: &BTreeMap<PathBuf, String>) -> Result<(), String> {
    for (path, text) in files {
        let path = out.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
