//! Evaluations per second of every R4 SearchParameter expression over the
//! official examples: the hot path of every write (issue 5).
//!
//! `cargo run --release -p conformance-tests --bin fhirpath_bench`
//! (needs `scripts/fetch-test-data.sh` for the examples).

use std::time::Instant;

use conformance_tests::{examples_pkg, search_params};

fn main() {
    let (_, params) = search_params::load().unwrap_or_else(|e| fail(&e));
    let pkg = examples_pkg::load_examples().unwrap_or_else(|e| fail(&e));
    let compiled: Vec<_> = params
        .iter()
        .filter_map(|p| {
            fhirpath::Expression::compile(&p.expression)
                .ok()
                .map(|e| (p, e))
        })
        .collect();
    let resources: Vec<_> = pkg
        .examples
        .iter()
        .filter_map(|ex| {
            fhir_model::json::tree::parse(&ex.bytes)
                .ok()
                .map(|v| (ex.resource_type.clone(), v))
        })
        .collect();
    let mut pairs = Vec::new();
    for (ty, res) in &resources {
        for (p, e) in &compiled {
            if p.applies_to(ty) {
                pairs.push((e, res));
            }
        }
    }
    let rounds = 3;
    let mut best = f64::MAX;
    let mut items = 0usize;
    for _ in 0..rounds {
        let start = Instant::now();
        items = 0;
        for (e, res) in &pairs {
            let ctx = fhirpath::Context::new(res).with_reference_types(true);
            if let Ok(v) = e.evaluate(&ctx) {
                items += v.len();
            }
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} expressions x {} examples: {} evaluations ({} result items) in {:.3} s (best of {rounds}) = {:.0} evaluations/s",
        compiled.len(),
        resources.len(),
        pairs.len(),
        items,
        best,
        pairs.len() as f64 / best
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("fhirpath_bench: {msg}");
    std::process::exit(1)
}
