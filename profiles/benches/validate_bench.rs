//! Validation throughput (a benchmark binary, not a timed test):
//!
//! ```text
//! cargo bench -p profiles --bench validate_bench
//! ```
//!
//! Prints validations per second and the mean cost of one validation for
//! the JP-CLINS examples (`../shared/data/jp-clins-examples`) and the
//! official R4 examples (npm `hl7.fhir.r4.examples@4.0.1`, cached by
//! `scripts/fetch-test-data.sh` in `$FHIR_TEST_CACHE`, default
//! `~/.cache/fhir-server-tests`), each against the base spec (R4 core
//! loaded) and against JP Core (JP Core and JP-CLINS loaded; the R4
//! examples are checked against the JP Core profile of their type,
//! `JP_<Type>`, where there is one). Profiles are compiled in a first,
//! untimed pass: the figures are the steady state a server sees.
//! Examples over 1 MB (a handful of huge Bundles) are left out so the mean
//! stays the cost of a typical resource.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use profiles::{Package, PackageSet, Validator};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("FHIR_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/fhir-server-tests")
        })
}

fn load(path: &Path) -> Arc<Package> {
    match Package::from_tgz(path) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("cannot load {}: {e}", path.display());
            std::process::exit(2);
        }
    }
}

/// One input: its bytes and the profiles to check it against.
struct Input {
    /// `Type/id`, or the file name, for the report.
    name: String,
    bytes: Vec<u8>,
    profiles: Vec<String>,
}

fn run(label: &str, v: &Validator, inputs: &[Input]) {
    let refs: Vec<Vec<&str>> = inputs
        .iter()
        .map(|i| i.profiles.iter().map(String::as_str).collect())
        .collect();
    // Untimed: compiles every profile the inputs reach.
    let mut with_errors = 0;
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, p) in inputs.iter().zip(&refs) {
        let issues = v.validate_json(&i.bytes, p);
        with_errors += usize::from(profiles::has_errors(&issues));
        if let Some(e) = issues.iter().find(|e| e.severity.is_error()) {
            let key: String = e
                .message
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>()
                .join(" ");
            *reasons.entry(key).or_default() += 1;
            if report() {
                println!("    error in {}: {e}", i.name);
            }
        }
    }
    let rounds = if inputs.len() < 1000 { 20 } else { 3 };
    let start = Instant::now();
    for _ in 0..rounds {
        for (i, p) in inputs.iter().zip(&refs) {
            std::hint::black_box(v.validate_json(&i.bytes, p));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = (inputs.len() * rounds) as f64;
    // The median resource: the mean is pulled up by a few large Bundles.
    let mut each: Vec<f64> = inputs
        .iter()
        .zip(&refs)
        .map(|(i, p)| {
            let t = Instant::now();
            std::hint::black_box(v.validate_json(&i.bytes, p));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    if report() {
        let mut slow: Vec<(f64, &str)> = each
            .iter()
            .zip(inputs)
            .map(|(t, i)| (*t, i.name.as_str()))
            .collect();
        slow.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (t, name) in slow.iter().take(10) {
            println!("    slow: {name} {t:.0} µs");
        }
        let mut by_count: Vec<(&String, &usize)> = reasons.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        for (reason, n) in by_count.iter().take(15) {
            println!("    {n:>4} × {reason}");
        }
    }
    each.sort_by(f64::total_cmp);
    let median = each.get(each.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{label:<44} {:>5} resources {:>7.0} validations/s {:>7.1} µs mean {:>6.1} µs median ({with_errors} with errors)",
        inputs.len(),
        n / secs,
        secs * 1e6 / n,
        median
    );
}

/// `VALIDATE_BENCH_REPORT=1`: also print the slowest inputs, each input's
/// first error and the errors grouped by message.
fn report() -> bool {
    std::env::var_os("VALIDATE_BENCH_REPORT").is_some()
}

fn main() {
    let core = load(&shared("fhir-packages/hl7.fhir.r4.core-4.0.1.tgz"));
    let jp_core = load(&shared("fhir-packages/jp-core.r4-1.1.2.tgz"));
    let clins = load(&shared("fhir-packages/jp-eCSCLINS.r4-1.5.2.tgz"));
    let base = {
        let mut s = PackageSet::new();
        s.add_shared(core.clone());
        Validator::new(Arc::new(s))
    };
    let jp = {
        let mut s = PackageSet::new();
        s.add_shared(clins.clone());
        s.add_shared(jp_core.clone());
        s.add_shared(core.clone());
        Validator::new(Arc::new(s))
    };

    let dir = shared("data/jp-clins-examples");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "json"));
    names.sort();
    let clins_inputs: Vec<Input> = names
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read(p).ok()?))
        })
        .map(|(name, bytes)| Input {
            name,
            bytes,
            profiles: Vec::new(),
        })
        .collect();
    run("JP-CLINS examples, base spec", &base, &clins_inputs);
    run("JP-CLINS examples, JP Core + JP-CLINS", &jp, &clins_inputs);

    let examples_path = cache_dir().join("hl7.fhir.r4.examples-4.0.1.tgz");
    if !examples_path.is_file() {
        println!(
            "R4 examples: {} not found (run scripts/fetch-test-data.sh)",
            examples_path.display()
        );
        return;
    }
    let examples = load(&examples_path);
    let r4: Vec<&profiles::PackageResource> = examples
        .resources()
        .iter()
        .filter(|r| r.bytes().len() <= 1 << 20)
        .collect();
    let plain: Vec<Input> = r4
        .iter()
        .map(|r| Input {
            name: format!("{}/{}", r.resource_type, r.id),
            bytes: r.bytes().to_vec(),
            profiles: Vec::new(),
        })
        .collect();
    run("R4 examples, base spec", &base, &plain);
    let jp_profiled: Vec<Input> = r4
        .iter()
        .map(|r| {
            let url = format!(
                "http://jpfhir.jp/fhir/core/StructureDefinition/JP_{}",
                r.resource_type
            );
            Input {
                name: format!("{}/{}", r.resource_type, r.id),
                bytes: r.bytes().to_vec(),
                profiles: jp_core.by_url(&url).map(|_| url).into_iter().collect(),
            }
        })
        .collect();
    let profiled = jp_profiled
        .iter()
        .filter(|i| !i.profiles.is_empty())
        .count();
    println!("  ({profiled} R4 examples have a JP_<Type> profile in JP Core)");
    run(
        "R4 examples, JP Core profile of their type",
        &jp,
        &jp_profiled,
    );
}
