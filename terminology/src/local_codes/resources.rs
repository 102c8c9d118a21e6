//! The FHIR resources of one imported master: the local CodeSystem (every
//! row a concept, `unit`/`specimen` as properties) and one ConceptMap per
//! standard system (each non-empty target cell an `equivalent` mapping),
//! all tagged [`super::LOCAL_CODES_TAG`] so the server knows them as local.
//!
//! The maps set no `group.unmapped`: a local code without a mapping has
//! none, and `$translate` says so rather than inventing a fallback.

use fhir_model::json::tree::{to_json, Map, Value};

use super::{concept_map_url, csv_file, Kind, Target, LOCAL_CODES_TAG, TAG_SYSTEM};
use crate::Error;

/// One ConceptMap of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSummary {
    /// The standard system it maps to.
    pub target: Target,
    /// Its canonical url ([`concept_map_url`]).
    pub url: String,
    /// How many local codes it maps.
    pub mappings: usize,
    /// The resource.
    pub json: Vec<u8>,
}

/// What [`build`] made of a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The local CodeSystem resource.
    pub code_system: Vec<u8>,
    /// One map per target system of the layout, mappings or not (an empty
    /// map replaces the mappings of an earlier import).
    pub concept_maps: Vec<MapSummary>,
    /// Concepts in the CodeSystem.
    pub concepts: usize,
    /// Local codes with no standard code at all, in file order.
    pub without_mapping: Vec<String>,
}

/// Reads a master CSV of `kind` and builds the resources for the local
/// system `system` (an absolute URI).
pub fn build(kind: Kind, system: &str, csv: &[u8]) -> Result<Imported, Error> {
    check_system(system)?;
    let rows = csv_file::parse(kind, csv)?;
    let without_mapping = rows
        .iter()
        .filter(|r| kind.targets().iter().all(|t| r.get(t.column).is_none()))
        .map(|r| r.code.clone())
        .collect();
    let concept_maps = kind
        .targets()
        .iter()
        .map(|t| concept_map(kind, system, t, &rows))
        .collect();
    Ok(Imported {
        code_system: to_json(&code_system(kind, system, &rows)),
        concept_maps,
        concepts: rows.len(),
        without_mapping,
    })
}

fn check_system(system: &str) -> Result<(), Error> {
    let ok = system.contains(':')
        && !system.contains('|')
        && !system.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            path: "system".into(),
            message: format!(
                "{system:?} is not a code system url: an absolute URI without spaces or '|'"
            ),
        })
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn obj(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn meta() -> (&'static str, Value) {
    (
        "meta",
        obj(vec![(
            "tag",
            Value::Array(vec![obj(vec![
                ("system", s(TAG_SYSTEM)),
                ("code", s(LOCAL_CODES_TAG)),
            ])]),
        )]),
    )
}

fn title(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Lab => ("LocalLabCodes", "Local lab test codes"),
        Kind::Drug => ("LocalDrugCodes", "Local drug codes"),
    }
}

fn code_system(kind: Kind, system: &str, rows: &[csv_file::Row]) -> Value {
    let (name, title) = title(kind);
    let properties: Vec<Value> = kind
        .properties()
        .iter()
        .map(|p| obj(vec![("code", s(p)), ("type", s("string"))]))
        .collect();
    let concepts: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut c: Map = vec![("code".into(), s(&r.code)), ("display".into(), s(&r.name))];
            let props: Vec<Value> = kind
                .properties()
                .iter()
                .filter_map(|p| {
                    r.get(p)
                        .map(|v| obj(vec![("code", s(p)), ("valueString", s(v))]))
                })
                .collect();
            if !props.is_empty() {
                c.push(("property".into(), Value::Array(props)));
            }
            Value::Object(c)
        })
        .collect();
    let mut cs = vec![
        ("resourceType", s("CodeSystem")),
        meta(),
        ("url", s(system)),
        ("name", s(name)),
        ("title", s(title)),
        ("status", s("active")),
        ("caseSensitive", Value::Bool(true)),
        ("content", s("complete")),
        ("count", Value::Number(rows.len().to_string())),
    ];
    if !properties.is_empty() {
        cs.push(("property", Value::Array(properties)));
    }
    if !concepts.is_empty() {
        cs.push(("concept", Value::Array(concepts)));
    }
    obj(cs)
}

fn concept_map(kind: Kind, system: &str, target: &Target, rows: &[csv_file::Row]) -> MapSummary {
    let url = concept_map_url(system, target);
    let elements: Vec<Value> = rows
        .iter()
        .filter_map(|r| {
            let code = r.get(target.column)?;
            Some(obj(vec![
                ("code", s(&r.code)),
                ("display", s(&r.name)),
                (
                    "target",
                    Value::Array(vec![obj(vec![
                        ("code", s(code)),
                        ("equivalence", s("equivalent")),
                    ])]),
                ),
            ]))
        })
        .collect();
    let mappings = elements.len();
    let (name, title) = title(kind);
    let mut cm = vec![
        ("resourceType", s("ConceptMap")),
        meta(),
        ("url", s(&url)),
        (
            "name",
            s(&format!("{name}To{}", target.name.to_uppercase())),
        ),
        (
            "title",
            s(&format!("{title} to {}", target.name.to_uppercase())),
        ),
        ("status", s("active")),
    ];
    // group.element is 1..* (R4): a map with nothing to say has no group.
    if !elements.is_empty() {
        cm.push((
            "group",
            Value::Array(vec![obj(vec![
                ("source", s(system)),
                ("target", s(target.system())),
                ("element", Value::Array(elements)),
            ])]),
        ));
    }
    MapSummary {
        target: *target,
        url,
        mappings,
        json: to_json(&obj(cm)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConceptMap, Registry, TranslateRequest};

    const SYSTEM: &str = "http://h.example/fhir/CodeSystem/lab";
    const LAB: &str = "local_code,name,unit,specimen,jlac10,jlac11,loinc\n\
        L0001,Glucose,mg/dL,serum,3D010000001926101,,2345-7\n\
        L0002,Hemoglobin,g/dL,blood,2A030000001930101,,718-7\n\
        L0003,House special,,,,,\n";

    #[test]
    fn builds_a_code_system_and_one_map_per_target() {
        let imported = build(Kind::Lab, SYSTEM, LAB.as_bytes()).expect("builds");
        assert_eq!(imported.concepts, 3);
        assert_eq!(imported.without_mapping, vec!["L0003".to_owned()]);
        let counts: Vec<(&str, usize)> = imported
            .concept_maps
            .iter()
            .map(|m| (m.target.name, m.mappings))
            .collect();
        assert_eq!(counts, vec![("jlac10", 2), ("jlac11", 0), ("loinc", 2)]);

        let mut registry = Registry::new();
        let cs = crate::CodeSystem::from_json(&imported.code_system).expect("indexes");
        registry.insert(cs);
        let lookup = registry
            .lookup(SYSTEM, "L0001", None, &[], None)
            .expect("known code");
        assert_eq!(lookup.display.as_deref(), Some("Glucose"));
        for m in &imported.concept_maps {
            registry.insert_concept_map(ConceptMap::from_json(&m.json).expect("map indexes"));
        }
        let t = registry
            .translate(&TranslateRequest {
                system: Some(SYSTEM),
                code: "L0002",
                target_system: Some("http://loinc.org"),
                ..Default::default()
            })
            .expect("translates");
        assert!(t.result);
        assert_eq!(t.matches[0].code.as_deref(), Some("718-7"));
        assert_eq!(t.matches[0].equivalence, "equivalent");
        let back = registry
            .translate(&TranslateRequest {
                system: Some("http://medis.or.jp/CodeSystem/master-JLAC10-17digits"),
                code: "3D010000001926101",
                reverse: true,
                ..Default::default()
            })
            .expect("translates back");
        assert_eq!(back.matches[0].code.as_deref(), Some("L0001"));
    }

    #[test]
    fn refuses_a_system_that_is_not_a_uri() {
        let e = build(Kind::Lab, "lab codes", LAB.as_bytes()).expect_err("refused");
        assert!(e.to_string().contains("not a code system url"), "{e}");
    }
}
