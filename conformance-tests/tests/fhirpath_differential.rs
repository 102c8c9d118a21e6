//! Differential test of the FHIRPath engine (issue 5): every R4 core
//! SearchParameter expression over every official example it applies to,
//! evaluated by our engine and by the HL7 reference engine (npm
//! `fhirpath`, installed by `scripts/fetch-test-data.sh`). Each search
//! parameter that disagrees must be explained in
//! `fhirpath-diff/known-disagreements.txt`; an explained one that now
//! agrees fails too, so the list stays true.
//!
//! The examples, node or the npm package missing is a failure under
//! `CI=true`, a loud skip elsewhere ([`tools::require_tool`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;

use conformance_tests::{examples_pkg, search_params, tools};

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[test]
fn search_parameter_expressions_agree_with_the_reference_engine() {
    let Some(pkg) = tools::require_tool("the official R4 examples", examples_pkg::load_examples())
    else {
        return;
    };
    let Some(js_engine) = tools::require_tool(
        "node with npm fhirpath",
        tools::node_modules("fhirpath-js", "fhirpath"),
    ) else {
        return;
    };
    let (total, params) = search_params::load().expect("core search parameters");
    assert_eq!(total, 1378, "SearchParameters in the core package");

    let compiled: Vec<_> = params
        .iter()
        .map(|p| fhirpath::Expression::compile(&p.expression))
        .collect();
    for (p, c) in params.iter().zip(&compiled) {
        if let Err(e) = c {
            eprintln!("does not compile: {} `{}`: {e}", p.id, p.expression);
        }
    }

    // The job file: expressions, resources (raw), and our results.
    let dir = std::env::temp_dir().join(format!("fhirpath-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let job_path = dir.join("job.json");
    let out_path = dir.join("out.json");
    let mut job = std::io::BufWriter::new(std::fs::File::create(&job_path).expect("job file"));
    let w = |job: &mut std::io::BufWriter<std::fs::File>, s: &str| {
        job.write_all(s.as_bytes()).expect("write job")
    };
    w(&mut job, "{\"exprs\":[");
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            w(&mut job, ",");
        }
        w(
            &mut job,
            &format!(
                "{{\"id\":{},\"expr\":{}}}",
                json_string(&p.id),
                json_string(&p.expression)
            ),
        );
    }
    w(&mut job, "],\"resources\":[");
    let mut trees = Vec::new();
    for ex in &pkg.examples {
        let Ok(tree) = fhir_model::json::tree::parse(&ex.bytes) else {
            continue;
        };
        if !trees.is_empty() {
            w(&mut job, ",");
        }
        job.write_all(&ex.bytes).expect("write job");
        trees.push((ex.resource_type.clone(), tree));
    }
    w(&mut job, "],\"cases\":[");
    let mut n = 0usize;
    for (r, (ty, tree)) in trees.iter().enumerate() {
        for (e, (p, c)) in params.iter().zip(&compiled).enumerate() {
            if !p.applies_to(ty) {
                continue;
            }
            let ours = match c {
                Ok(expr) => {
                    match expr.evaluate(&fhirpath::Context::new(tree).with_reference_types(true)) {
                        Ok(v) => fhirpath::result_json(&v),
                        Err(err) => format!("{{\"error\":{}}}", json_string(&err.to_string())),
                    }
                }
                Err(err) => format!("{{\"error\":{}}}", json_string(&err.to_string())),
            };
            if n > 0 {
                w(&mut job, ",");
            }
            w(&mut job, &format!("[{e},{r},{ours}]"));
            n += 1;
        }
    }
    w(&mut job, "]}");
    drop(job);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fhirpath-diff/compare.js");
    let status = Command::new("node")
        .arg("--max-old-space-size=4096")
        .arg(&script)
        .arg(&job_path)
        .arg(&out_path)
        .env("NODE_PATH", &js_engine)
        .status()
        .expect("run node");
    assert!(status.success(), "compare.js failed");
    let out: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).expect("out")).expect("out json");
    // Kept for reading: every disagreement in full.
    println!("disagreements in full: {}", out_path.display());
    let _ = std::fs::remove_file(&job_path);

    let mut by_sp: BTreeMap<String, Vec<&serde_json::Value>> = BTreeMap::new();
    for d in out["disagreements"].as_array().into_iter().flatten() {
        by_sp
            .entry(d["sp"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(d);
    }
    let known_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fhirpath-diff/known-disagreements.txt"),
    )
    .unwrap_or_default();
    let known: BTreeSet<&str> = known_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':').map(|(id, _)| id.trim()))
        .collect();
    println!(
        "FHIRPath differential: {} expressions, {} evaluations, {} agree, {} disagree in {} search parameters ({} explained)",
        params.len(),
        out["cases"],
        out["agree"],
        by_sp.values().map(Vec::len).sum::<usize>(),
        by_sp.len(),
        by_sp.keys().filter(|k| known.contains(k.as_str())).count()
    );
    let mut unexplained = Vec::new();
    for (sp, ds) in &by_sp {
        if !known.contains(sp.as_str()) {
            let d = ds[0];
            unexplained.push(format!(
                "{sp} ({} cases) `{}` on {}: ours {} theirs {}",
                ds.len(),
                d["expr"].as_str().unwrap_or_default(),
                d["resource"].as_str().unwrap_or_default(),
                d["ours"],
                d["theirs"]
            ));
        }
    }
    let stale: Vec<_> = known.iter().filter(|k| !by_sp.contains_key(**k)).collect();
    for u in &unexplained {
        println!("UNEXPLAINED {u}");
    }
    for s in &stale {
        println!("NOW AGREES (remove from known-disagreements.txt) {s}");
    }
    assert!(
        unexplained.is_empty() && stale.is_empty(),
        "{} unexplained, {} stale",
        unexplained.len(),
        stale.len()
    );
}
