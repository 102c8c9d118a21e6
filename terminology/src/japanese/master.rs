//! Loaders that turn the publishers' CSV masters into FHIR CodeSystems
//! (`content = complete`, one concept per code, with display and
//! properties), so a deployment that holds a licence for a master can
//! import it and have the engine answer from it.
//!
//! [`load`] takes the system and the file's bytes and returns the
//! CodeSystem JSON (its url is the system's canonical url, see
//! [`JpSystem::url`]); [`load_code_system`] returns it indexed.
//!
//! # Input
//!
//! UTF-8 (with or without a byte order mark) or Shift_JIS (Windows-31J, as
//! the publishers distribute), comma-separated, quoted as RFC 4180. Columns
//! are found by the header row's names (full-width letters and digits
//! count as half-width, spaces are ignored; a header that starts with a
//! name counts, so `基準番号（ＨＯＴコード）` is `基準番号`); files that ship
//! without a header row (the HOT master's text file, the claims fund's
//! `y.csv`) are read by position. Empty rows are skipped. A code listed
//! twice keeps the first row's names; its cross-references (YJ, receipt
//! codes) are merged. A key code of the wrong shape is an error naming
//! the line ([`Error::Csv`]), so a master never brings in a code the
//! shape check would refuse.
//!
//! | system | file | key column | other columns read |
//! |---|---|---|---|
//! | `Hot(level)` | MEDIS 医薬品HOTコードマスター (header, or by position 1-24 as published) | 基準番号 (HOT13), position 1 | 告示名称 (11), 販売名 (12), 規格単位 (14), 包装形態 (15), JANコード (6), 薬価基準収載医薬品コード (7), 個別医薬品コード (8, YJ), レセプト電算処理システムコード(1)/(2) (9, 10), 製造会社 (21), 販売会社 (22) |
//! | `Yj` | the HOT master, or any CSV with a header | 個別医薬品コード / YJコード, position 8 | 販売名 / 商品名 (12), 薬価基準収載医薬品コード (7) |
//! | `ReceiptDrug` | 支払基金 医薬品マスター `y.csv` (no header; by position) or a CSV with a header | 医薬品コード, position 3 (position 2, マスター種別, must be `Y`) | 漢字名称 (5), カナ名称 (7), 単位漢字名称 (10), 新又は現金額 (12), 後発品 (17), 廃止年月日 (31), 薬価基準収載医薬品コード (32) |
//! | `Jlac10` | MEDIS 臨床検査マスター 17桁コード表, or JSLM's table with the five parts in columns (header required) | JLAC10 / 17桁コード, or 分析物コード + 識別コード + 材料コード + 測定法コード + 結果識別コード | 検査項目名称 / 項目名称 / 名称, 略称, 分析物名称, 材料名称, 測定法名称, 結果識別名称, 単位 |
//! | `Jlac11` | JSLM's JLAC11 code list (header required) | JLAC11, or 測定物コード + 識別コード + 材料コード + 測定法コード + 結果単位コード | 検査項目名称 / 測定物名称 / 名称, JLAC10 (the JLAC10 code it determines), 測定法名称, 結果単位名称 / 単位 |
//! | `MedisDisease` | MEDIS 標準病名マスター 病名基本テーブル (header required) | 病名交換用コード | 病名表記 / 病名, 病名表記カナ, 病名管理番号, ICD10, レセプト電算処理用傷病名コード |
//!
//! HOT: one CodeSystem per level, all from the one HOT master: the HOT13
//! rows are the master's key, and the HOT11, HOT9 and HOT7 concepts are
//! their prefixes (display from the first row of each; HOT7 shows the
//! 告示名称, the name without the company, when the row has one). One
//! system per level, not one HOT13 system with the shorter codes inside,
//! because codings name the level by url (`master-HOT9` is what JP Core
//! prefers) and the registry finds masters by url; the nesting between
//! the levels is the prefix rule, which `$subsumes` applies without any
//! hierarchy in the resources.

use std::collections::HashMap;

use fhir_model::json::tree::{self, Value};

use super::master_csv::{col, decode, Col, Table};
use super::{HotCode, HotLevel, Jlac10Code, JpSystem};
use crate::code_system::CodeSystem;
use crate::Error;

/// Reads a master and returns the CodeSystem JSON for `system`.
pub fn load(system: JpSystem, csv: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(tree::to_json(&build(system, csv)?))
}

/// Reads a master and indexes it (what [`load`] returns, without the
/// round trip through JSON).
pub fn load_code_system(system: JpSystem, csv: &[u8]) -> Result<CodeSystem, Error> {
    CodeSystem::from_tree(build(system, csv)?)
}

/// A concept property's value as the loaders write it.
#[derive(Clone, PartialEq)]
enum Prop {
    Code(String),
    Str(String),
    Bool(bool),
    /// A coding of another system (a cross-reference): repeated when a
    /// code has several, merged across the rows of one code.
    Coding(&'static str, String),
}

struct Concept {
    code: String,
    display: Option<String>,
    designations: Vec<String>,
    properties: Vec<(&'static str, Prop)>,
}

/// The concepts in first-seen order, a code's later rows merging their
/// cross-references into it.
#[derive(Default)]
struct Concepts {
    list: Vec<Concept>,
    index: HashMap<String, usize>,
}

impl Concepts {
    fn add(&mut self, c: Concept) {
        match self.index.get(&c.code) {
            Some(&i) => {
                let have = &mut self.list[i].properties;
                for p in c.properties {
                    if matches!(p.1, Prop::Coding(..)) && !have.contains(&p) {
                        have.push(p);
                    }
                }
            }
            None => {
                self.index.insert(c.code.clone(), self.list.len());
                self.list.push(c);
            }
        }
    }
}

/// What the loaders read from a row beside its code.
impl Table {
    /// The string properties of a row: (property, field) pairs whose
    /// field has a value.
    fn strings(
        &self,
        row: &csv::StringRecord,
        pairs: &[(&'static str, &str)],
    ) -> Vec<(&'static str, Prop)> {
        pairs
            .iter()
            .filter_map(|(name, field)| Some((*name, Prop::Str(self.get(row, field)?.to_owned()))))
            .collect()
    }

    /// A concept whose display is the row's `name` and whose designation
    /// is its `kana` reading.
    fn named_concept(
        &self,
        row: &csv::StringRecord,
        code: &str,
        properties: Vec<(&'static str, Prop)>,
    ) -> Concept {
        Concept {
            code: code.to_owned(),
            display: self.get(row, "name").map(str::to_owned),
            designations: self
                .get(row, "kana")
                .map(str::to_owned)
                .into_iter()
                .collect(),
            properties,
        }
    }
}

/// A property declaration: code, FHIR type, description.
type PropDef = (&'static str, &'static str, &'static str);

fn shape_error(line: u64, column: &str, e: &Error) -> Error {
    Error::Csv {
        line,
        column: Some(column.to_owned()),
        message: e.to_string(),
    }
}

fn build(system: JpSystem, csv: &[u8]) -> Result<Value, Error> {
    let text = decode(csv)?;
    let (concepts, defs) = match system {
        JpSystem::Hot(level) => hot(&text, level)?,
        JpSystem::Yj => yj(&text)?,
        JpSystem::ReceiptDrug => receipt(&text)?,
        JpSystem::Jlac10 => jlac(&text, system)?,
        JpSystem::Jlac11 => jlac(&text, system)?,
        JpSystem::MedisDisease => disease(&text)?,
    };
    Ok(code_system(system, concepts, defs))
}

/// The HOT master's columns (positions as MEDIS publishes the file).
const HOT_COLS: &[Col] = &[
    col("hot13", &["基準番号", "HOT13", "HOTコード"], Some(0)),
    col("jan", &["JANコード", "JAN"], Some(5)),
    col("price", &["薬価基準収載医薬品コード"], Some(6)),
    col("yj", &["個別医薬品コード", "YJコード", "YJ"], Some(7)),
    col(
        "receipt1",
        &[
            "レセプト電算処理システムコード(1)",
            "レセプト電算処理システムコード1",
            "レセプト電算処理システムコード",
        ],
        Some(8),
    ),
    col(
        "receipt2",
        &[
            "レセプト電算処理システムコード(2)",
            "レセプト電算処理システムコード2",
            "レセプト電算処理システムコード",
        ],
        Some(9),
    ),
    col("notified", &["告示名称"], Some(10)),
    col("brand", &["販売名"], Some(11)),
    col("unit", &["規格単位"], Some(13)),
    col("package", &["包装形態"], Some(14)),
    col("maker", &["製造会社"], Some(20)),
    col("seller", &["販売会社"], Some(21)),
];

fn hot(text: &str, level: HotLevel) -> Result<(Concepts, Vec<PropDef>), Error> {
    let first_is_data = |r: &csv::StringRecord| {
        r.get(0)
            .is_some_and(|c| HotCode::parse(c.trim(), HotLevel::Hot13).is_ok())
    };
    let t = Table::read(text, HOT_COLS, &["hot13"], Some(&first_is_data))?;
    let mut out = Concepts::default();
    for (line, row) in &t.rows {
        let Some(raw) = t.get(row, "hot13") else {
            continue;
        };
        let hot13 =
            HotCode::parse(raw, HotLevel::Hot13).map_err(|e| shape_error(*line, "基準番号", &e))?;
        let code = hot13.prefix(level).unwrap_or(raw).to_owned();
        let brand = t.get(row, "brand");
        let notified = t.get(row, "notified");
        let display = match level {
            HotLevel::Hot7 => notified.or(brand),
            _ => brand.or(notified),
        };
        let mut props = vec![("level", Prop::Code(level.name().to_owned()))];
        let mut push_str = |name: &'static str, field: &str| {
            if let Some(v) = t.get(row, field) {
                props.push((name, Prop::Str(v.to_owned())));
            }
        };
        push_str("notified-name", "notified");
        push_str("standard-unit", "unit");
        push_str("manufacturer", "maker");
        if level >= HotLevel::Hot9 {
            push_str("seller", "seller");
        }
        if level == HotLevel::Hot13 {
            push_str("package", "package");
            push_str("jan", "jan");
        }
        push_str("drug-price-code", "price");
        if let Some(y) = t.get(row, "yj") {
            props.push(("yj", Prop::Coding(JpSystem::Yj.url(), y.to_owned())));
        }
        for f in ["receipt1", "receipt2"] {
            if let Some(r) = t.get(row, f) {
                props.push((
                    "receipt",
                    Prop::Coding(JpSystem::ReceiptDrug.url(), r.to_owned()),
                ));
            }
        }
        out.add(Concept {
            code,
            display: display.map(str::to_owned),
            designations: Vec::new(),
            properties: props,
        });
    }
    let defs = vec![
        ("level", "code", "The HOT level: HOT7, HOT9, HOT11 or HOT13"),
        ("notified-name", "string", "告示名称"),
        ("standard-unit", "string", "規格単位"),
        ("manufacturer", "string", "製造会社"),
        ("seller", "string", "販売会社"),
        ("package", "string", "包装形態"),
        ("jan", "string", "JANコード"),
        ("drug-price-code", "string", "薬価基準収載医薬品コード"),
        ("yj", "Coding", "個別医薬品コード (YJ)"),
        ("receipt", "Coding", "レセプト電算処理システムコード"),
    ];
    Ok((out, defs))
}

fn yj(text: &str) -> Result<(Concepts, Vec<PropDef>), Error> {
    let cols = [
        col("yj", &["個別医薬品コード", "YJコード", "YJ"], Some(7)),
        col("name", &["販売名", "商品名", "品名", "医薬品名"], Some(11)),
        col("price", &["薬価基準収載医薬品コード"], Some(6)),
        col("hot13", &["基準番号", "HOT13", "HOTコード"], Some(0)),
    ];
    let first_is_data = |r: &csv::StringRecord| {
        r.get(0)
            .is_some_and(|c| HotCode::parse(c.trim(), HotLevel::Hot13).is_ok())
    };
    let t = Table::read(text, &cols, &["yj"], Some(&first_is_data))?;
    let mut out = Concepts::default();
    for (line, row) in &t.rows {
        // Rows of the HOT master without a YJ code (non-listed products).
        let Some(code) = t.get(row, "yj") else {
            continue;
        };
        super::YjCode::parse(code).map_err(|e| shape_error(*line, "個別医薬品コード", &e))?;
        let mut props = Vec::new();
        if let Some(p) = t.get(row, "price") {
            props.push(("drug-price-code", Prop::Str(p.to_owned())));
        }
        if let Some(h) = t
            .get(row, "hot13")
            .and_then(|h| HotCode::parse(h, HotLevel::Hot13).ok())
        {
            if let Some(h9) = h.prefix(HotLevel::Hot9) {
                props.push((
                    "hot9",
                    Prop::Coding(JpSystem::Hot(HotLevel::Hot9).url(), h9.to_owned()),
                ));
            }
        }
        out.add(Concept {
            code: code.to_owned(),
            display: t.get(row, "name").map(str::to_owned),
            designations: Vec::new(),
            properties: props,
        });
    }
    let defs = vec![
        ("drug-price-code", "string", "薬価基準収載医薬品コード"),
        ("hot9", "Coding", "The HOT9 codes of the product"),
    ];
    Ok((out, defs))
}

fn receipt(text: &str) -> Result<(Concepts, Vec<PropDef>), Error> {
    let cols = [
        col("code", &["医薬品コード"], Some(2)),
        col("kind", &["マスター種別"], Some(1)),
        col("name", &["漢字名称", "医薬品名", "名称"], Some(4)),
        col("kana", &["カナ名称"], Some(6)),
        col("unit", &["単位漢字名称", "単位"], Some(9)),
        col("price", &["新又は現金額", "金額", "薬価"], Some(11)),
        col("generic", &["後発品"], Some(16)),
        col("abolished", &["廃止年月日"], Some(30)),
        col("price_code", &["薬価基準収載医薬品コード"], Some(31)),
    ];
    let first_is_data = |r: &csv::StringRecord| {
        r.get(1).is_some_and(|k| k.trim() == "Y")
            && r.get(2)
                .is_some_and(|c| super::ReceiptDrugCode::parse(c.trim()).is_ok())
    };
    let t = Table::read(text, &cols, &["code"], Some(&first_is_data))?;
    let mut out = Concepts::default();
    for (line, row) in &t.rows {
        if let Some(kind) = t.get(row, "kind") {
            if kind != "Y" {
                return Err(Error::Csv {
                    line: *line,
                    column: Some("マスター種別".to_owned()),
                    message: format!("'{kind}' is not Y: this row is not from the drug master"),
                });
            }
        }
        let Some(code) = t.get(row, "code") else {
            continue;
        };
        super::ReceiptDrugCode::parse(code).map_err(|e| shape_error(*line, "医薬品コード", &e))?;
        let mut props = t.strings(
            row,
            &[
                ("unit", "unit"),
                ("price", "price"),
                ("drug-price-code", "price_code"),
            ],
        );
        if let Some(g) = t.get(row, "generic") {
            props.push(("generic", Prop::Bool(g == "1")));
        }
        // 99999999 is the master's "not abolished".
        if let Some(d) = t
            .get(row, "abolished")
            .filter(|d| *d != "99999999" && *d != "0")
        {
            props.push(("abolished", Prop::Str(d.to_owned())));
        }
        out.add(t.named_concept(row, code, props));
    }
    let defs = vec![
        ("unit", "string", "単位漢字名称"),
        ("price", "string", "新又は現金額 (yen)"),
        ("drug-price-code", "string", "薬価基準収載医薬品コード"),
        ("generic", "boolean", "後発品"),
        ("abolished", "string", "廃止年月日 (YYYYMMDD)"),
    ];
    Ok((out, defs))
}

/// JLAC10 and JLAC11: the code in one column or in five.
fn jlac(text: &str, system: JpSystem) -> Result<(Concepts, Vec<PropDef>), Error> {
    let jlac11 = system == JpSystem::Jlac11;
    let cols = jlac_columns(jlac11);
    let parts = ["p1", "p2", "p3", "p4", "p5"];
    let t = match Table::read(text, &cols, &["code"], None) {
        Ok(t) => t,
        Err(_) => Table::read(text, &cols, &parts, None)?,
    };
    let mut out = Concepts::default();
    for (line, row) in &t.rows {
        let code: String = match t.get(row, "code") {
            Some(c) => c.to_owned(),
            None if t.columns.contains_key("code") => continue,
            None => parts.iter().map(|p| t.get(row, p).unwrap_or("")).collect(),
        };
        if code.is_empty() {
            continue;
        }
        let parsed = system
            .check(&code)
            .map_err(|e| shape_error(*line, system.name(), &e))?;
        let mut props: Vec<(&'static str, Prop)> = parsed
            .parts()
            .into_iter()
            .map(|(n, v)| (n, Prop::Code(v.to_owned())))
            .collect();
        props.extend(t.strings(
            row,
            &[
                ("abbreviation", "abbreviation"),
                ("analyte-name", "analyte-name"),
                ("material-name", "material-name"),
                ("method-name", "method-name"),
                ("result-name", "result-name"),
                ("unit", "unit"),
            ],
        ));
        if let Some(j) = t.get(row, "jlac10") {
            Jlac10Code::parse(j).map_err(|e| shape_error(*line, "JLAC10", &e))?;
            props.push(("jlac10", Prop::Coding(JpSystem::Jlac10.url(), j.to_owned())));
        }
        out.add(Concept {
            code,
            display: t
                .get(row, "name")
                .or(t.get(row, "analyte-name"))
                .map(str::to_owned),
            designations: Vec::new(),
            properties: props,
        });
    }
    Ok((out, jlac_properties(jlac11)))
}

/// The columns of a JLAC10 or JLAC11 master, by the names publishers use.
fn jlac_columns(jlac11: bool) -> Vec<Col> {
    let mut cols = vec![
        if jlac11 {
            col("code", &["JLAC11コード", "JLAC11"], None)
        } else {
            col("code", &["JLAC10コード", "JLAC10", "17桁コード"], None)
        },
        col(
            "p1",
            if jlac11 {
                &["測定物コード", "分析物コード"]
            } else {
                &["分析物コード"]
            },
            None,
        ),
        col("p2", &["識別コード"], None),
        col("p3", &["材料コード"], None),
        col("p4", &["測定法コード"], None),
        col(
            "p5",
            if jlac11 {
                &["結果単位コード"]
            } else {
                &["結果識別コード"]
            },
            None,
        ),
        col("abbreviation", &["略称", "略号"], None),
        col(
            "analyte-name",
            &["分析物名称", "測定物名称", "分析物名", "測定物名"],
            None,
        ),
        col("material-name", &["材料名称", "材料名"], None),
        col("method-name", &["測定法名称", "測定法名"], None),
        col("result-name", &["結果識別名称", "結果識別名"], None),
        col("unit", &["結果単位名称", "単位名称", "単位"], None),
        col(
            "name",
            &["検査項目名称", "項目名称", "検査名称", "名称"],
            None,
        ),
    ];
    if jlac11 {
        cols.push(col("jlac10", &["JLAC10コード", "JLAC10"], None));
    }
    cols
}

/// The properties of a JLAC10 or JLAC11 CodeSystem.
fn jlac_properties(jlac11: bool) -> Vec<PropDef> {
    let last = if jlac11 {
        ("result-unit", "code", "結果単位コード (characters 16-17)")
    } else {
        (
            "result-identification",
            "code",
            "結果識別コード (characters 16-17)",
        )
    };
    let mut defs = vec![
        ("analyte", "code", "分析物/測定物コード (characters 1-5)"),
        ("identification", "code", "識別コード (characters 6-9)"),
        ("material", "code", "材料コード (characters 10-12)"),
        ("method", "code", "測定法コード (characters 13-15)"),
        last,
        ("abbreviation", "string", "略称"),
        ("analyte-name", "string", "分析物名称"),
        ("material-name", "string", "材料名称"),
        ("method-name", "string", "測定法名称"),
        ("result-name", "string", "結果識別名称"),
        ("unit", "string", "単位"),
    ];
    if jlac11 {
        defs.push((
            "jlac10",
            "Coding",
            "The JLAC10 code this JLAC11 code determines",
        ));
    }
    defs
}

fn disease(text: &str) -> Result<(Concepts, Vec<PropDef>), Error> {
    let cols = [
        col("code", &["病名交換用コード", "交換用コード"], None),
        col("kana", &["病名表記カナ", "病名カナ"], None),
        col(
            "receipt",
            &["レセプト電算処理用傷病名コード", "傷病名コード"],
            None,
        ),
        col("key", &["病名管理番号"], None),
        col("icd10", &["ICD10分類コード", "ICD10", "ICD-10"], None),
        col("name", &["病名表記", "病名"], None),
    ];
    let t = Table::read(text, &cols, &["code"], None)?;
    let mut out = Concepts::default();
    for (line, row) in &t.rows {
        let Some(code) = t.get(row, "code") else {
            continue;
        };
        super::DiseaseExchangeCode::parse(code)
            .map_err(|e| shape_error(*line, "病名交換用コード", &e))?;
        let props = t.strings(
            row,
            &[
                ("key-number", "key"),
                ("icd10", "icd10"),
                ("receipt-disease-code", "receipt"),
            ],
        );
        out.add(t.named_concept(row, code, props));
    }
    let defs = vec![
        ("key-number", "string", "病名管理番号"),
        ("icd10", "string", "ICD10分類コード"),
        (
            "receipt-disease-code",
            "string",
            "レセプト電算処理用傷病名コード",
        ),
    ];
    Ok((out, defs))
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// The CodeSystem resource, declaring only the properties some concept
/// uses.
fn code_system(system: JpSystem, concepts: Concepts, defs: Vec<PropDef>) -> Value {
    let used: std::collections::HashSet<&str> = concepts
        .list
        .iter()
        .flat_map(|c| c.properties.iter().map(|(n, _)| *n))
        .collect();
    let properties: Vec<Value> = defs
        .iter()
        .filter(|(code, ..)| used.contains(code))
        .map(|(code, type_, description)| {
            Value::Object(vec![
                ("code".into(), s(code)),
                ("description".into(), s(description)),
                ("type".into(), s(type_)),
            ])
        })
        .collect();
    let count = concepts.list.len();
    let concept: Vec<Value> = concepts.list.into_iter().map(concept_json).collect();
    let name: String = system
        .name()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut cs = vec![
        ("resourceType".into(), s("CodeSystem")),
        // A fixed id, so importing a newer master replaces the older one.
        ("id".into(), s(&format!("jp-{}", system.key()))),
        ("url".into(), s(system.url())),
        ("name".into(), s(&name)),
        ("title".into(), s(system.title())),
        ("status".into(), s("active")),
        ("caseSensitive".into(), Value::Bool(true)),
        ("content".into(), s("complete")),
        ("count".into(), Value::Number(count.to_string())),
    ];
    if !properties.is_empty() {
        cs.push(("property".into(), Value::Array(properties)));
    }
    cs.push(("concept".into(), Value::Array(concept)));
    Value::Object(cs)
}

fn concept_json(c: Concept) -> Value {
    let mut m = vec![("code".into(), Value::String(c.code))];
    if let Some(d) = c.display {
        m.push(("display".into(), Value::String(d)));
    }
    if !c.designations.is_empty() {
        let ds = c
            .designations
            .into_iter()
            .map(|v| {
                Value::Object(vec![
                    ("language".into(), s("ja")),
                    ("value".into(), Value::String(v)),
                ])
            })
            .collect();
        m.push(("designation".into(), Value::Array(ds)));
    }
    if !c.properties.is_empty() {
        let ps = c
            .properties
            .into_iter()
            .map(|(code, p)| {
                let value = match p {
                    Prop::Code(v) => ("valueCode".into(), Value::String(v)),
                    Prop::Str(v) => ("valueString".into(), Value::String(v)),
                    Prop::Bool(b) => ("valueBoolean".into(), Value::Bool(b)),
                    Prop::Coding(system, code) => (
                        "valueCoding".into(),
                        Value::Object(vec![
                            ("system".into(), s(system)),
                            ("code".into(), Value::String(code)),
                        ]),
                    ),
                };
                Value::Object(vec![("code".into(), s(code)), value])
            })
            .collect();
        m.push(("property".into(), Value::Array(ps)));
    }
    Value::Object(m)
}
