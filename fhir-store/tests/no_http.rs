//! "fhir-store knows SQL, not HTTP": nothing in the storage engine's
//! dependency tree may be a web framework, so no request type can leak
//! into a storage signature and the engine builds, fuzzes and benchmarks
//! without a server.

use std::process::Command;

#[test]
fn fhir_store_depends_on_no_http_framework() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-p",
            "fhir-store",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.lines().any(|l| l.starts_with("diesel ")),
        "the tree should list diesel (is the output format right?):\n{tree}"
    );
    let http: Vec<&str> = tree
        .lines()
        .filter(|l| {
            ["actix", "hyper ", "axum ", "http ", "tokio "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(
        http.is_empty(),
        "fhir-store must not depend on HTTP: {http:?}"
    );
}
