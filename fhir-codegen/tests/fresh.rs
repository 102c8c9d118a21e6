//! The committed model is exactly what the generator makes today: a change
//! to the generator without `cargo run -p fhir-codegen`, or a hand edit of a
//! generated file, fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;

#[test]
fn committed_model_matches_a_fresh_generation() {
    let root = fhir_codegen::workspace_root();
    let package = root.join(fhir_codegen::DEFAULT_PACKAGE);
    let out = root.join(fhir_codegen::DEFAULT_OUT);
    let files = fhir_codegen::generate(&package)
        .unwrap_or_else(|e| panic!("generating from {}: {e}", package.display()));

    let mut stale = Vec::new();
    for (path, text) in &files {
        match std::fs::read_to_string(out.join(path)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    let expected: BTreeSet<PathBuf> = files.keys().cloned().collect();
    let on_disk = std::fs::read_dir(&out).expect("generated folder");
    for entry in on_disk.flatten() {
        let name = PathBuf::from(entry.file_name());
        if !expected.contains(&name) {
            stale.push(format!("{} is not generated any more", name.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "fhir-model/src/generated is stale; run `cargo run -p fhir-codegen`:\n{}",
        stale.join("\n")
    );
    assert_eq!(
        files.len(),
        188,
        "146 resources, 39 data types, AnyValue, type_table.rs and mod.rs"
    );
}
