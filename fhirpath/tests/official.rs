//! The official FHIRPath R4 suite (`../shared/tests/fhirpath/tests-fhir-r4.xml`,
//! 937 tests). Every test must pass unless `tests/known-failures.txt`
//! lists it with a reason; a listed test that now passes fails the run
//! too, so the list only ever shrinks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fhirpath::{item_text, Context, Expression};

struct Case {
    name: String,
    input: Option<String>,
    mode: Option<String>,
    predicate: bool,
    expression: String,
    invalid: bool,
    outputs: Vec<(Option<String>, String)>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// A small reader for the suite's regular XML: `<test …>` elements with
/// one `<expression>` and any number of `<output>`s.
fn cases(xml: &str) -> Vec<Case> {
    // Drop comments first: some contain test-like markup.
    let mut text = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<!--") {
        text.push_str(&rest[..i]);
        match rest[i..].find("-->") {
            Some(j) => rest = &rest[i + j + 3..],
            None => rest = "",
        }
    }
    text.push_str(rest);
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = text[pos..].find("<test ") {
        let start = pos + i;
        let Some(tag_end) = text[start..].find('>').map(|j| start + j) else {
            break;
        };
        let Some(end) = text[start..].find("</test>").map(|j| start + j) else {
            break;
        };
        let tag = &text[start..tag_end];
        let body = &text[tag_end + 1..end];
        let (expression, invalid) = match body.find("<expression") {
            Some(e) => {
                let open_end = body[e..].find('>').map(|j| e + j).unwrap_or(e);
                let close = body[open_end..]
                    .find("</expression>")
                    .map(|j| open_end + j)
                    .unwrap_or(body.len());
                let open = &body[e..open_end];
                (
                    unescape(&body[open_end + 1..close]),
                    attr(open, "invalid").is_some(),
                )
            }
            None => (String::new(), false),
        };
        let mut outputs = Vec::new();
        let mut op = 0;
        while let Some(o) = body[op..].find("<output") {
            let o = op + o;
            let open_end = body[o..].find('>').map(|j| o + j).unwrap_or(o);
            let open = &body[o..open_end];
            if open.ends_with('/') {
                op = open_end + 1;
                continue;
            }
            let close = body[open_end..]
                .find("</output>")
                .map(|j| open_end + j)
                .unwrap_or(body.len());
            outputs.push((attr(open, "type"), unescape(&body[open_end + 1..close])));
            op = close;
        }
        out.push(Case {
            name: attr(tag, "name").unwrap_or_default(),
            input: attr(tag, "inputfile"),
            mode: attr(tag, "mode").or_else(|| attr(&body[..body.find('>').unwrap_or(0)], "mode")),
            predicate: attr(tag, "predicate").as_deref() == Some("true"),
            expression,
            invalid,
            outputs,
        });
        pos = end;
    }
    out
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tests/fhirpath")
}

/// Runs one case; `Err` says why it failed.
fn run(
    case: &Case,
    inputs: &BTreeMap<String, fhir_model::json::tree::Value>,
) -> Result<(), String> {
    let expr_mode = case.expression.contains("mode=\"strict\"");
    let strict = case.mode.as_deref() == Some("strict") || expr_mode;
    let compiled = Expression::compile(&case.expression);
    let resource = case.input.as_ref().and_then(|f| inputs.get(f));
    let result = compiled.and_then(|e| {
        let ctx = match resource {
            Some(r) => Context::new(r),
            None => Context::empty(),
        };
        e.evaluate(&ctx.strict(strict))
    });
    if case.invalid {
        return match result {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("expected an error, got {} items", v.len())),
        };
    }
    let mut got = result.map_err(|e| format!("error: {e}"))?;
    if case.predicate {
        got = vec![fhirpath::Item::Boolean(!got.is_empty())];
    }
    let got_text: Vec<(String, String)> = got
        .iter()
        .map(|i| (i.type_name().to_owned(), item_text(i)))
        .collect();
    let ok = got_text.len() == case.outputs.len()
        && got_text
            .iter()
            .zip(&case.outputs)
            .all(|((gt, gv), (et, ev))| gv == ev.trim() && et.as_ref().is_none_or(|t| t == gt));
    if ok {
        Ok(())
    } else {
        Err(format!("expected {:?}, got {:?}", case.outputs, got_text))
    }
}

#[test]
fn official_r4_suite() {
    let dir = suite_dir();
    let xml = std::fs::read_to_string(dir.join("tests-fhir-r4.xml")).expect("suite");
    let cases = cases(&xml);
    // 937 `<test>` elements, two of them inside XML comments.
    assert_eq!(cases.len(), 935, "active tests in the suite");
    let mut inputs = BTreeMap::new();
    for c in &cases {
        if let Some(f) = &c.input {
            if !inputs.contains_key(f) {
                let json = dir.join(f.replace(".xml", ".json"));
                let bytes =
                    std::fs::read(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
                let v = fhir_model::json::tree::parse(&bytes).expect("input json");
                inputs.insert(f.clone(), v);
            }
        }
    }
    let known_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/known-failures.txt"),
    )
    .unwrap_or_default();
    let known: BTreeMap<&str, &str> = known_text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(':') {
            Some((n, r)) => (n.trim(), r.trim()),
            None => (l.trim(), ""),
        })
        .collect();
    let mut passed = 0;
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for c in &cases {
        let r = run(c, &inputs);
        match (&r, known.contains_key(c.name.as_str())) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => {
                passed += 1;
                fixed.push(c.name.clone());
            }
            (Err(e), false) => unexpected.push(format!("{}: `{}` {e}", c.name, c.expression)),
            (Err(_), true) => {}
        }
    }
    println!("FHIRPath R4 suite: {passed}/{} passed", cases.len());
    for u in &unexpected {
        println!("UNEXPECTED {u}");
    }
    for f in &fixed {
        println!("NOW PASSES (remove from known-failures.txt) {f}");
    }
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} unexpected failures, {} fixed",
        unexpected.len(),
        fixed.len()
    );
}
