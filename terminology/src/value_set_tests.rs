//! Tests of value sets: reading, `$expand` and `$validate-code`.

use crate::expand::{ExpandOptions, Expansion, ParameterValue};
use crate::membership::CodingToCheck;
use crate::registry::Registry;
use crate::value_set::ValueSet;
use crate::Error;

const CS: &str = r#"{"resourceType":"CodeSystem","url":"http://ex/cs","version":"1","language":"en",
  "property":[{"code":"kind","type":"code"},{"code":"status","uri":"http://hl7.org/fhir/concept-properties#status","type":"code"},
             {"code":"notSelectable","uri":"http://hl7.org/fhir/concept-properties#notSelectable","type":"boolean"}],
  "concept":[
    {"code":"root","display":"Root","property":[{"code":"notSelectable","valueBoolean":true}],"concept":[
      {"code":"a","display":"Alpha","designation":[{"language":"ja","value":"アルファ"}],
       "property":[{"code":"kind","valueCode":"x"}],
       "concept":[{"code":"a1","display":"Alpha one","property":[{"code":"kind","valueCode":"y"}]},
                  {"code":"a2","display":"Alpha two","property":[{"code":"status","valueCode":"retired"}]}]},
      {"code":"b","display":"Beta","property":[{"code":"kind","valueCode":"y"}]}]},
    {"code":"z","display":"Zed"}]}"#;

fn registry(value_sets: &[&str]) -> Registry {
    let mut r = Registry::new();
    r.insert_json(CS.as_bytes()).unwrap();
    for vs in value_sets {
        r.insert_value_set(ValueSet::from_json(vs.as_bytes()).unwrap());
    }
    r
}

fn vs(url: &str, compose: &str) -> String {
    format!(r#"{{"resourceType":"ValueSet","url":"{url}","version":"2","compose":{compose}}}"#)
}

fn codes(e: &Expansion) -> Vec<&str> {
    e.contains.iter().map(|c| c.code.as_str()).collect()
}

fn expand(r: &Registry, url: &str) -> Result<Expansion, Error> {
    r.expand(url, None, &ExpandOptions::default())
}

#[test]
fn include_by_concepts_filters_and_whole_system_with_exclude() {
    let main = vs(
        "http://ex/vs",
        r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]},
                       {"system":"http://ex/cs","concept":[{"code":"z","display":"Zee"}]}],
            "exclude":[{"system":"http://ex/cs","concept":[{"code":"a2"}]}]}"#,
    );
    let all = vs(
        "http://ex/all",
        r#"{"include":[{"system":"http://ex/cs"}]}"#,
    );
    let r = registry(&[&main, &all]);
    let e = expand(&r, "http://ex/vs").unwrap();
    assert_eq!(codes(&e), ["a", "a1", "z"]);
    assert_eq!(e.total, 3);
    assert_eq!(e.contains[2].display.as_deref(), Some("Zee"));
    assert!(e.parameters.contains(&(
        "used-codesystem".into(),
        ParameterValue::Uri("http://ex/cs|1".into())
    )));
    assert_eq!(expand(&r, "http://ex/all").unwrap().total, 6);
    assert_eq!(expand(&r, "http://ex/vs|2").unwrap().total, 3);
    assert!(matches!(
        expand(&r, "http://ex/none"),
        Err(Error::UnknownValueSet { .. })
    ));
}

#[test]
fn every_filter_operator() {
    let r = registry(&[]);
    let run = |property: &str, op: &str, value: &str| -> Result<Vec<String>, Error> {
        let json = vs(
            "http://ex/f",
            &format!(
                r#"{{"include":[{{"system":"http://ex/cs","filter":[{{"property":"{property}","op":"{op}","value":"{value}"}}]}}]}}"#
            ),
        );
        let v = ValueSet::from_json(json.as_bytes()).unwrap();
        let e = r.expand_value_set(&v, &ExpandOptions::default())?;
        Ok(e.contains.into_iter().map(|c| c.code).collect())
    };
    assert_eq!(run("concept", "is-a", "a").unwrap(), ["a", "a1", "a2"]);
    assert_eq!(run("concept", "descendent-of", "a").unwrap(), ["a1", "a2"]);
    assert_eq!(run("concept", "is-not-a", "a").unwrap(), ["root", "b", "z"]);
    assert_eq!(
        run("concept", "generalizes", "a1").unwrap(),
        ["root", "a", "a1"]
    );
    assert_eq!(run("concept", "=", "b").unwrap(), ["b"]);
    assert_eq!(run("concept", "in", "b,z,nope").unwrap(), ["b", "z"]);
    assert_eq!(
        run("code", "not-in", "b,z").unwrap(),
        ["root", "a", "a1", "a2"]
    );
    assert_eq!(run("code", "regex", "a[0-9]").unwrap(), ["a1", "a2"]);
    assert_eq!(
        run("display", "regex", "Alpha.*").unwrap(),
        ["a", "a1", "a2"]
    );
    assert_eq!(run("kind", "=", "y").unwrap(), ["a1", "b"]);
    assert_eq!(run("kind", "in", "x,y").unwrap(), ["a", "a1", "b"]);
    assert_eq!(
        run("kind", "not-in", "y").unwrap(),
        ["root", "a", "a2", "z"]
    );
    assert_eq!(run("kind", "exists", "true").unwrap(), ["a", "a1", "b"]);
    assert_eq!(run("kind", "exists", "false").unwrap(), ["root", "a2", "z"]);
    assert_eq!(run("parent", "=", "a").unwrap(), ["a1", "a2"]);
    assert_eq!(run("status", "=", "retired").unwrap(), ["a2"]);
    assert!(matches!(
        run("kind", "is-a", "x"),
        Err(Error::NotSupported(_))
    ));
    assert!(matches!(
        run("concept", "is-a", "nope"),
        Err(Error::NotSupported(_))
    ));
    assert!(matches!(
        run("code", "regex", "("),
        Err(Error::NotSupported(_))
    ));
}

#[test]
fn nested_value_sets_intersect_and_cycles_fail() {
    let a = vs(
        "http://ex/a",
        r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}"#,
    );
    let y = vs(
        "http://ex/y",
        r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"kind","op":"=","value":"y"}]}]}"#,
    );
    let both = vs(
        "http://ex/both",
        r#"{"include":[{"valueSet":["http://ex/a","http://ex/y"]}]}"#,
    );
    let union = vs(
        "http://ex/union",
        r#"{"include":[{"valueSet":["http://ex/a"]},{"valueSet":["http://ex/y"]}]}"#,
    );
    let with_system = vs(
        "http://ex/ws",
        r#"{"include":[{"system":"http://ex/cs","concept":[{"code":"b"},{"code":"a1"}],"valueSet":["http://ex/a"]}]}"#,
    );
    let cyc1 = vs(
        "http://ex/c1",
        r#"{"include":[{"valueSet":["http://ex/c2"]}]}"#,
    );
    let cyc2 = vs(
        "http://ex/c2",
        r#"{"include":[{"valueSet":["http://ex/c1"]}]}"#,
    );
    let r = registry(&[&a, &y, &both, &union, &with_system, &cyc1, &cyc2]);
    assert_eq!(codes(&expand(&r, "http://ex/both").unwrap()), ["a1"]);
    assert_eq!(
        codes(&expand(&r, "http://ex/union").unwrap()),
        ["a", "a1", "a2", "b"]
    );
    assert_eq!(codes(&expand(&r, "http://ex/ws").unwrap()), ["a1"]);
    assert!(matches!(
        expand(&r, "http://ex/c1"),
        Err(Error::NotSupported(_))
    ));
}

#[test]
fn expansion_parameters() {
    let all = vs(
        "http://ex/all",
        r#"{"include":[{"system":"http://ex/cs"}]}"#,
    );
    let r = registry(&[&all]);
    let opts = |f: &dyn Fn(&mut ExpandOptions<'static>)| {
        let mut o = ExpandOptions::default();
        f(&mut o);
        r.expand("http://ex/all", None, &o).unwrap()
    };
    let page = opts(&|o| {
        o.offset = 1;
        o.count = Some(2);
    });
    assert_eq!((page.total, page.offset), (6, 1));
    assert_eq!(codes(&page), ["a", "a1"]);
    assert_eq!(codes(&opts(&|o| o.filter = Some("alpha ONE"))), ["a1"]);
    assert_eq!(opts(&|o| o.active_only = true).total, 5);
    let selectable = opts(&|o| o.exclude_not_for_ui = true);
    assert_eq!(selectable.total, 5);
    assert!(!codes(&selectable).contains(&"root"));
    assert!(opts(&|_| {})
        .contains
        .iter()
        .any(|c| c.code == "root" && c.abstract_));
    let ja = opts(&|o| {
        o.display_language = Some("ja");
        o.include_designations = true;
    });
    assert_eq!(ja.contains[1].display.as_deref(), Some("アルファ"));
    assert_eq!(ja.contains[1].designations.len(), 1);
    assert!(opts(&|_| {}).contains[1].designations.is_empty());
    let inactive = opts(&|_| {});
    assert!(inactive.contains[3].inactive);
    let small = ExpandOptions {
        limit: 3,
        ..ExpandOptions::default()
    };
    assert!(matches!(
        r.expand("http://ex/all", None, &small),
        Err(Error::TooCostly { .. })
    ));
}

#[test]
fn unknown_systems_and_codes() {
    let unknown = vs(
        "http://ex/u",
        r#"{"include":[{"system":"http://nope","concept":[{"code":"x"}]}]}"#,
    );
    let missing_code = vs(
        "http://ex/m",
        r#"{"include":[{"system":"http://ex/cs","concept":[{"code":"b"},{"code":"nope"}]}]}"#,
    );
    let r = registry(&[&unknown, &missing_code]);
    assert!(matches!(
        expand(&r, "http://ex/u"),
        Err(Error::UnknownSystem { .. })
    ));
    let e = expand(&r, "http://ex/m").unwrap();
    assert_eq!(codes(&e), ["b"]);
    assert!(e.parameters.iter().any(|(n, _)| n == "warning"));
    assert!(matches!(
        ValueSet::from_json(br#"{"resourceType":"ValueSet","compose":{"include":[{}]}}"#),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn pre_expanded_value_sets() {
    let pre = r#"{"resourceType":"ValueSet","url":"http://ex/pre","expansion":{"contains":[
        {"system":"http://s","code":"1","display":"One","contains":[{"system":"http://s","code":"2"}]}]}}"#;
    let r = registry(&[pre]);
    assert_eq!(codes(&expand(&r, "http://ex/pre").unwrap()), ["1", "2"]);
}

#[test]
fn validate_code_in_value_set() {
    let main = vs(
        "http://ex/vs",
        r#"{"include":[{"system":"http://ex/cs","filter":[{"property":"concept","op":"is-a","value":"a"}]}]}"#,
    );
    let r = registry(&[&main]);
    let vs = r.value_set("http://ex/vs", None).unwrap();
    let check = |system: Option<&str>, code: &str, display: Option<&str>| CodingToCheck {
        system: system.map(str::to_owned),
        version: None,
        code: code.to_owned(),
        display: display.map(str::to_owned),
    };
    let ok = r
        .validate_in_value_set(
            vs,
            &[check(Some("http://ex/cs"), "a1", Some("Alpha one"))],
            None,
            false,
        )
        .unwrap();
    assert!(ok.result, "{ok:?}");
    let out = r
        .validate_in_value_set(vs, &[check(Some("http://ex/cs"), "b", None)], None, false)
        .unwrap();
    assert!(!out.result);
    assert_eq!(
        out.message.as_deref(),
        Some("The provided code 'http://ex/cs#b' was not found in the value set 'http://ex/vs|2'")
    );
    let wrong = r
        .validate_in_value_set(
            vs,
            &[check(Some("http://ex/cs"), "a", Some("Nope"))],
            None,
            false,
        )
        .unwrap();
    assert!(!wrong.result && wrong.message.unwrap().starts_with("Wrong Display Name"));
    // A CodeableConcept: any valid coding makes it valid.
    let cc = r
        .validate_in_value_set(
            vs,
            &[
                check(Some("http://ex/cs"), "z", None),
                check(Some("http://ex/cs"), "a", None),
            ],
            None,
            false,
        )
        .unwrap();
    assert!(cc.result);
    let retired = r
        .validate_in_value_set(vs, &[check(Some("http://ex/cs"), "a2", None)], None, true)
        .unwrap();
    assert!(!retired.result);
    let unknown = r
        .validate_in_value_set(vs, &[check(Some("http://nope"), "a", None)], None, false)
        .unwrap();
    assert!(unknown.message.unwrap().contains("could not be found"));
}
