//! `$expand` of every ValueSet of the R4 core package over its own
//! CodeSystems: how many expand, and why the others do not (a code system
//! the package does not carry — SNOMED CT, LOINC, UCUM, … — or one shipped
//! without concepts). No value set may make the engine panic or loop.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use terminology::{Error, ExpandOptions, ValueSet};

#[test]
fn r4_core_value_sets_expand_or_say_why_not() {
    let (mut registry, _, _) = common::load("hl7.fhir.r4.core-4.0.1.tgz");
    let files = common::files("hl7.fhir.r4.core-4.0.1.tgz", "package/ValueSet-");
    let mut urls = Vec::new();
    for (name, bytes) in &files {
        let vs = ValueSet::from_json(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        urls.extend(vs.url().map(str::to_owned));
        registry.insert_value_set(vs);
    }
    let options = ExpandOptions {
        limit: 200_000,
        ..ExpandOptions::default()
    };
    let start = Instant::now();
    let mut expanded = 0;
    let mut codes = 0;
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for url in &urls {
        match registry.expand(url, None, &options) {
            Ok(e) => {
                expanded += 1;
                codes += e.total;
            }
            Err(e) => {
                if std::env::var_os("SHOW_EXPAND_FAILURES").is_some() {
                    println!("{url}: {e}");
                }
                let kind = match e {
                    Error::UnknownSystem { .. } => "code system not in the package",
                    Error::UnknownValueSet { .. } => "value set not in the package",
                    Error::NotSupported(_) => "not supported (no concepts, filter)",
                    Error::TooCostly { .. } => "too large",
                    _ => "other",
                };
                *reasons.entry(kind).or_default() += 1;
            }
        }
    }
    println!(
        "R4 core: {expanded} of {} value sets expanded ({codes} codes) in {:?}; not expanded: {reasons:?}",
        urls.len(),
        start.elapsed()
    );
    assert!(urls.len() >= 1_316);
    assert!(expanded > 900, "only {expanded} expanded: {reasons:?}");
    assert_eq!(reasons.get("other"), None);
}
