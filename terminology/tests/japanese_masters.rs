//! The CSV master loaders over small invented fixtures in the publishers'
//! layouts (`fixtures/japanese/`), and the registry answering from the
//! loaded masters.

use terminology::japanese::{master, HotLevel, JpSystem};
use terminology::{Error, PropertyValue, Registry, Subsumption, ValidateOptions};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/japanese/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn prop<'a>(l: &'a terminology::Lookup, code: &str) -> Vec<&'a PropertyValue> {
    l.properties
        .iter()
        .filter(|p| p.code == code)
        .map(|p| &p.value)
        .collect()
}

fn coding(system: JpSystem, code: &str) -> PropertyValue {
    PropertyValue::Coding(terminology::Coding {
        system: Some(system.url().to_owned()),
        code: Some(code.to_owned()),
        ..Default::default()
    })
}

#[test]
fn hot_master_in_shift_jis_gives_one_system_per_level() {
    let csv = fixture("hot_master.sjis.csv");
    assert!(
        std::str::from_utf8(&csv).is_err(),
        "the fixture is Shift_JIS"
    );
    let mut r = Registry::new();
    for level in HotLevel::ALL {
        let json = master::load(JpSystem::Hot(level), &csv).unwrap();
        let cs = r.insert_json(&json).unwrap();
        assert_eq!(cs.url(), JpSystem::Hot(level).url());
        assert_eq!(cs.content(), Some("complete"));
    }
    let len = |l: HotLevel| r.get(JpSystem::Hot(l).url(), None).unwrap().len();
    assert_eq!(len(HotLevel::Hot13), 4);
    assert_eq!(len(HotLevel::Hot11), 3);
    assert_eq!(len(HotLevel::Hot9), 3);
    assert_eq!(len(HotLevel::Hot7), 2);

    let hot13 = JpSystem::Hot(HotLevel::Hot13).url();
    let l = r.lookup(hot13, "1234567010102", None, &[], None).unwrap();
    assert_eq!(
        l.display.as_deref(),
        Some("カクウプロフェン錠６０ｍｇ「テスト」")
    );
    assert_eq!(prop(&l, "package"), [&PropertyValue::String("バラ".into())]);
    assert_eq!(prop(&l, "yj"), [&coding(JpSystem::Yj, "1149019F1560")]);
    // HOT9 1234567-02 has two receipt codes; HOT7 merges the YJ codes of
    // both companies' products and shows the notified (generic) name.
    let hot9 = r
        .lookup(
            JpSystem::Hot(HotLevel::Hot9).url(),
            "123456702",
            None,
            &[],
            None,
        )
        .unwrap();
    assert_eq!(prop(&hot9, "receipt").len(), 2);
    let hot7 = r
        .lookup(
            JpSystem::Hot(HotLevel::Hot7).url(),
            "1234567",
            None,
            &[],
            None,
        )
        .unwrap();
    assert_eq!(
        hot7.display.as_deref(),
        Some("架空プロフェンナトリウム水和物")
    );
    assert_eq!(prop(&hot7, "yj").len(), 2);

    // The master answers existence; the nesting still answers $subsumes.
    let hot9_url = JpSystem::Hot(HotLevel::Hot9).url();
    assert!(
        r.validate_code(hot9_url, None, "123456701", &ValidateOptions::default())
            .result
    );
    let unknown = r.validate_code(hot9_url, None, "123456799", &ValidateOptions::default());
    assert!(!unknown.result);
    assert_eq!(
        r.subsumes_codings(
            JpSystem::Hot(HotLevel::Hot7).url(),
            "1234567",
            hot13,
            "1234567020101",
            None
        )
        .unwrap(),
        Subsumption::Subsumes
    );
}

#[test]
fn hot_master_without_a_header_is_read_by_position() {
    let with = master::load(
        JpSystem::Hot(HotLevel::Hot13),
        &fixture("hot_master.sjis.csv"),
    )
    .unwrap();
    let without = master::load(
        JpSystem::Hot(HotLevel::Hot13),
        &fixture("hot_master_no_header.csv"),
    )
    .unwrap();
    assert_eq!(with, without);
}

#[test]
fn yj_from_the_hot_master() {
    let cs = master::load_code_system(JpSystem::Yj, &fixture("hot_master.sjis.csv")).unwrap();
    assert_eq!(
        cs.url(),
        "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code"
    );
    assert_eq!(cs.len(), 3);
    let l = cs.lookup("1149019F1560", &[], None).unwrap();
    assert_eq!(
        l.display.as_deref(),
        Some("カクウプロフェン錠６０ｍｇ「テスト」")
    );
    // Both packages of the same HOT9: one cross-reference.
    assert_eq!(
        prop(&l, "hot9"),
        [&coding(JpSystem::Hot(HotLevel::Hot9), "123456701")]
    );
}

#[test]
fn receipt_drug_master_by_position_in_shift_jis() {
    let cs = master::load_code_system(JpSystem::ReceiptDrug, &fixture("y_drug_master.sjis.csv"))
        .unwrap();
    assert_eq!(cs.url(), "urn:oid:1.2.392.100495.20.2.71");
    assert_eq!(cs.len(), 3);
    let l = cs.lookup("620099902", &[], None).unwrap();
    assert_eq!(
        l.display.as_deref(),
        Some("カクウプロフェン錠６０ｍｇ「見本」")
    );
    assert_eq!(l.designations[0].value, "ｶｸｳﾌﾟﾛﾌｪﾝｼﾞｮｳ60MG\"ﾐﾎﾝ\"");
    assert_eq!(prop(&l, "generic"), [&PropertyValue::Boolean(true)]);
    assert_eq!(
        prop(&l, "drug-price-code"),
        [&PropertyValue::String("1149019F1579".into())]
    );
    assert!(prop(&l, "abolished").is_empty());
    let gone = cs.lookup("620099905", &[], None).unwrap();
    assert_eq!(
        prop(&gone, "abolished"),
        [&PropertyValue::String("20230331".into())]
    );
}

#[test]
fn jlac10_master_with_parts_as_properties() {
    let mut r = Registry::new();
    r.insert_json(&master::load(JpSystem::Jlac10, &fixture("jlac10_17digits.csv")).unwrap())
        .unwrap();
    let url = JpSystem::Jlac10.url();
    let l = r.lookup(url, "3H015000002326101", None, &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("カリウム"));
    assert_eq!(prop(&l, "analyte"), [&PropertyValue::Code("3H015".into())]);
    assert_eq!(
        prop(&l, "material-name"),
        [&PropertyValue::String("血清".into())]
    );
    assert_eq!(
        prop(&l, "abbreviation"),
        [&PropertyValue::String("K".into())]
    );
    // A well-formed code the master lacks is unknown; a malformed one is
    // refused by shape, master or not.
    let v = r.validate_code(url, None, "3H015000002326102", &ValidateOptions::default());
    assert!(!v.result && v.message.unwrap().starts_with("Unknown code"));
    let v = r.validate_code(url, None, "3H015", &ValidateOptions::default());
    assert!(v.message.unwrap().contains("not a valid JLAC10 code"));
}

#[test]
fn jlac11_master_from_five_columns_links_jlac10() {
    let cs = master::load_code_system(JpSystem::Jlac11, &fixture("jlac11.csv")).unwrap();
    assert_eq!(cs.len(), 2);
    let l = cs.lookup("C20080000250009F7", &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("AST"));
    assert_eq!(prop(&l, "result-unit"), [&PropertyValue::Code("F7".into())]);
    assert_eq!(prop(&l, "unit"), [&PropertyValue::String("U/L".into())]);
    assert_eq!(
        prop(&l, "jlac10"),
        [&coding(JpSystem::Jlac10, "3B035000002327201")]
    );
}

#[test]
fn medis_disease_master() {
    let cs =
        master::load_code_system(JpSystem::MedisDisease, &fixture("disease_master.csv")).unwrap();
    let l = cs.lookup("L3RF", &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("噴門癌"));
    assert_eq!(l.designations[0].value, "フンモンガン");
    assert_eq!(
        prop(&l, "key-number"),
        [&PropertyValue::String("20054178".into())]
    );
    assert_eq!(prop(&l, "icd10"), [&PropertyValue::String("C160".into())]);
}

#[test]
fn bad_masters_name_the_line() {
    // A malformed key code.
    let csv = "基準番号,販売名\n1234567010101,ok\n12345670101,short\n";
    let e = master::load(JpSystem::Hot(HotLevel::Hot13), csv.as_bytes()).unwrap_err();
    match e {
        Error::Csv {
            line,
            column,
            message,
        } => {
            assert_eq!(line, 3);
            assert_eq!(column.as_deref(), Some("基準番号"));
            assert!(message.contains("not a valid HOT13 code"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // No header naming the code column, and not the positional layout.
    let e = master::load(JpSystem::Jlac10, "name,value\nA,B\n".as_bytes()).unwrap_err();
    assert!(e.to_string().contains("neither a header"), "{e}");
    // Another master's rows in the drug master's place.
    let e = master::load(
        JpSystem::ReceiptDrug,
        "医薬品コード,マスター種別\n620000001,S\n".as_bytes(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not from the drug master"), "{e}");
    // Bytes that are no text encoding the publishers use.
    assert!(master::load(JpSystem::Yj, b"\xff\xfe\x00\x81").is_err());
    assert!(master::load(JpSystem::Yj, b"").is_err());
}

/// A generated HOT master of 100,000 rows loads into complete HOT13 and
/// HOT9 systems, and the registry answers from them (by hash: the figures
/// are in `benches/japanese_master.rs`, not here).
#[test]
fn hundred_thousand_row_hot_master() {
    let mut csv = String::from("基準番号,個別医薬品コード,販売名\n");
    for i in 0..100_000 {
        csv.push_str(&format!(
            "{:07}{:02}01{:02},1149019F{:04},架空錠{}\n",
            1_000_000 + i / 8,
            (i / 4) % 2 + 1,
            i % 4 + 1,
            i / 4 % 10_000,
            i / 4
        ));
    }
    let mut r = Registry::new();
    for level in [HotLevel::Hot13, HotLevel::Hot9] {
        r.insert(master::load_code_system(JpSystem::Hot(level), csv.as_bytes()).unwrap());
    }
    let hot13 = JpSystem::Hot(HotLevel::Hot13).url();
    let hot9 = JpSystem::Hot(HotLevel::Hot9).url();
    assert_eq!(r.get(hot13, None).unwrap().len(), 100_000);
    assert_eq!(r.get(hot9, None).unwrap().len(), 25_000);
    // The last row: i = 99,999.
    let l = r.lookup(hot13, "1012499020104", None, &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("架空錠24999"));
    assert!(
        r.validate_code(hot9, None, "101249902", &ValidateOptions::default())
            .result
    );
    assert!(
        !r.validate_code(hot9, None, "101250002", &ValidateOptions::default())
            .result
    );
    assert_eq!(
        r.subsumes_codings(hot9, "101249902", hot13, "1012499020104", None)
            .unwrap(),
        Subsumption::Subsumes
    );
}

/// Every coding of a Japanese standard system in the JP-CLINS examples
/// (`../shared/data/jp-clins-examples`, real codes) passes its shape
/// check: the shapes accept what implementers send.
#[test]
fn jp_clins_example_codes_have_their_shapes() {
    fn walk(v: &serde_json::Value, found: &mut Vec<(JpSystem, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                if let (Some(s), Some(c)) = (m.get("system"), m.get("code")) {
                    if let (Some(sys), Some(code)) = (
                        s.as_str().and_then(terminology::japanese::system_for),
                        c.as_str(),
                    ) {
                        found.push((sys, code.to_owned()));
                    }
                }
                m.values().for_each(|x| walk(x, found));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, found)),
            _ => {}
        }
    }
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/jp-clins-examples"
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        walk(&v, &mut found);
    }
    let systems: std::collections::HashSet<&str> = found.iter().map(|(s, _)| s.name()).collect();
    for want in ["JLAC10", "HOT9", "YJ", "MEDIS disease exchange"] {
        assert!(
            systems.contains(want),
            "no {want} coding found: {systems:?}"
        );
    }
    let r = Registry::new();
    for (system, code) in &found {
        let v = r.validate_code(system.url(), None, code, &ValidateOptions::default());
        assert!(v.result, "{} {code}: {:?}", system.name(), v.message);
    }
}
