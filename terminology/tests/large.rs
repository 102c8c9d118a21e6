//! A 100,000-concept code system: indexing time, and operations that stay
//! hash lookups (the issue's "never scan linearly").

use std::fmt::Write;
use std::time::Instant;

use terminology::{
    CodeSystem, CodingToCheck, ExpandOptions, Registry, Subsumption, ValidateOptions, ValueSet,
};

/// 100 groups × 1,000 codes, each code with a Japanese designation and a
/// property, the groups nested under one root.
fn large_json() -> String {
    let mut s = String::from(
        r#"{"resourceType":"CodeSystem","url":"http://example.org/large","content":"complete","concept":[{"code":"root","display":"Root","concept":["#,
    );
    for g in 0..100 {
        if g > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            r#"{{"code":"G{g}","display":"Group {g}","property":[{{"code":"notSelectable","valueBoolean":true}}],"concept":["#
        );
        for c in 0..1_000 {
            if c > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                r#"{{"code":"C{g}-{c}","display":"Code {c}","designation":[{{"language":"ja","value":"コード{c}"}}],"property":[{{"code":"rank","valueInteger":{c}}}]}}"#
            );
        }
        s.push_str("]}");
    }
    s.push_str("]}]}");
    s
}

#[test]
fn hundred_thousand_concepts_index_and_answer_by_hash() {
    let json = large_json();
    let start = Instant::now();
    let cs = CodeSystem::from_json(json.as_bytes()).unwrap();
    let indexed = start.elapsed();
    assert_eq!(cs.len(), 100_101);

    let start = Instant::now();
    let mut ok = 0;
    for i in 0..100_000 {
        let code = format!("C{}-{}", i % 100, i % 1_000);
        ok += usize::from(cs.validate_code(&code, &ValidateOptions::default()).result);
    }
    let validated = start.elapsed();
    assert_eq!(ok, 100_000);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "100,101 concepts ({} MB JSON) indexed in {indexed:?}; 100,000 validate-code in {validated:?} ({profile} build)",
        json.len() / 1_000_000
    );

    assert_eq!(
        cs.subsumes("root", "C99-999").unwrap(),
        Subsumption::Subsumes
    );
    assert_eq!(cs.subsumes("G1", "C2-5").unwrap(), Subsumption::NotSubsumed);
    let l = cs.lookup("C5-7", &[], Some("ja")).unwrap();
    assert_eq!(l.display.as_deref(), Some("コード7"));
    assert_eq!(l.parents, ["G5"]);
    assert!(cs.lookup("G5", &[], None).unwrap().abstract_);
}

/// `$expand` of the whole 100,000-concept system (is-a root), a page of it,
/// and `ValueSet/$validate-code` against it (membership worked out once).
#[test]
fn hundred_thousand_concepts_expand_and_validate_in_a_value_set() {
    let mut r = Registry::new();
    r.insert_json(large_json().as_bytes()).unwrap();
    let vs = ValueSet::from_json(
        br#"{"resourceType":"ValueSet","url":"http://example.org/vs/large","compose":{"include":[
            {"system":"http://example.org/large","filter":[{"property":"concept","op":"is-a","value":"root"}]}],
            "exclude":[{"system":"http://example.org/large","filter":[{"property":"concept","op":"is-a","value":"G7"}]}]}}"#,
    )
    .unwrap();
    r.insert_value_set(vs);
    let start = Instant::now();
    let all = r
        .expand(
            "http://example.org/vs/large",
            None,
            &ExpandOptions::default(),
        )
        .unwrap();
    let expanded = start.elapsed();
    assert_eq!(all.total, 100_101 - 1_001);
    let start = Instant::now();
    let page = r
        .expand(
            "http://example.org/vs/large",
            None,
            &ExpandOptions {
                offset: 50_000,
                count: Some(20),
                filter: Some("code 99"),
                ..ExpandOptions::default()
            },
        )
        .unwrap();
    let paged = start.elapsed();
    assert!(page.total > 0 && page.contains.len() <= 20);
    let vs = r.value_set("http://example.org/vs/large", None).unwrap();
    let start = Instant::now();
    let mut ok = 0;
    for i in 0..10_000 {
        let coding = CodingToCheck {
            system: Some("http://example.org/large".into()),
            code: format!("C{}-{}", i % 100, i % 1_000),
            ..CodingToCheck::default()
        };
        ok += usize::from(
            r.validate_in_value_set(vs, &[coding], None, false)
                .unwrap()
                .result,
        );
    }
    let validated = start.elapsed();
    assert_eq!(ok, 10_000 - 100, "the G7 codes are excluded");
    println!(
        "$expand of 100,101 concepts in {expanded:?}; filtered page in {paged:?}; 10,000 ValueSet/$validate-code in {validated:?}"
    );
}
