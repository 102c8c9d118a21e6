//! The generator of `fhir-model/src/generated`.
//!
//! It reads the StructureDefinitions of the R4 core package
//! (`hl7.fhir.r4.core-4.0.1.tgz`), builds a small model of every resource,
//! data type, backbone element and choice element ([`model`]) and prints
//! Rust for it ([`emit`]). It is run by hand (`cargo run -p fhir-codegen`)
//! and its output is committed; the test `tests/fresh.rs` regenerates in
//! memory and fails when the committed files differ.
//!
//! The same run writes the server's built-in search data ([`search_data`]:
//! the core SearchParameters and CompartmentDefinitions), checked the same
//! way by `tests/search_data_fresh.rs`, and the base-spec invariants of
//! the profile engine ([`invariants`]: `profiles/data/core-constraints.json`,
//! checked by `tests/invariants_fresh.rs`), and the codes of the base
//! spec's required bindings on `code` elements ([`required_codes`]:
//! `profiles/data/required-codes.json`, checked by
//! `tests/required_codes_fresh.rs`).

pub mod core_bundle;
pub mod emit;
pub mod invariants;
pub mod meta;
pub mod model;
pub mod package;
pub mod required_codes;
pub mod search_data;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the package lives relative to the workspace root.
pub const DEFAULT_PACKAGE: &str = "../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz";
/// Where the generated files go relative to the workspace root.
pub const DEFAULT_OUT: &str = "fhir-model/src/generated";

/// The generated files, by path relative to the output folder.
pub fn generate(package: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let defs = package::read_structure_definitions(package)?;
    let model = model::Model::build(&defs)?;
    Ok(emit::emit(&model))
}

/// The generated files whose committed copy under `out` differs (the
/// freshness tests fail on them).
pub fn stale_files(files: &BTreeMap<PathBuf, String>, out: &Path) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(path, text)| {
            std::fs::read_to_string(out.join(path)).unwrap_or_default() != **text
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// The workspace root, found from this crate's manifest folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
