//! Printing the type metadata FHIRPath needs (`generated/type_table.rs`).
//!
//! The output is data only, one static table sorted by type name, so that
//! it costs the compiler next to nothing: per-type code would add minutes
//! to every rebuild of fhir-model on a small machine.

use std::collections::HashMap;
use std::fmt::Write;

use crate::model::{Model, Ty, PRIMITIVES};

/// The FHIR type code of one element type.
fn code(ty: &Ty) -> String {
    match ty {
        Ty::Primitive(rust) => PRIMITIVES
            .iter()
            .find(|(_, r)| r == rust)
            .map(|(c, _)| (*c).to_owned())
            .unwrap_or_default(),
        Ty::Complex(name) => name.clone(),
        Ty::Resource => "Resource".to_owned(),
        Ty::ResourceId => "id".to_owned(),
        Ty::PlainString => "string".to_owned(),
        Ty::Choice(name) => name.clone(),
    }
}

pub fn emit_meta(model: &Model, header: &str) -> String {
    let mut choices: HashMap<&str, Vec<&str>> = HashMap::new();
    let all_units = model.types.iter().chain(&model.resources);
    for c in all_units
        .clone()
        .flat_map(|u| &u.choices)
        .chain(&model.any_value)
    {
        choices.insert(
            &c.name,
            c.variants.iter().map(|v| v.code.as_str()).collect(),
        );
    }
    let mut structs: Vec<(&str, String)> = Vec::new();
    for unit in model.types.iter().chain(&model.resources) {
        for s in &unit.structs {
            let kind = if s.resource {
                "Resource"
            } else if s.name.contains('.') || s.base == "BackboneElement" || s.path.contains('.') {
                "Backbone"
            } else {
                "DataType"
            };
            let mut o = String::new();
            let _ = write!(
                o,
                "    TypeInfo {{ name: {:?}, base: {:?}, kind: Kind::{kind}, elements: &[",
                s.name, s.base
            );
            for f in &s.fields {
                let (types, choice) = match &f.ty {
                    Ty::Choice(name) => (
                        choices.get(name.as_str()).cloned().unwrap_or_default(),
                        true,
                    ),
                    other => (vec![], {
                        let _ = other;
                        false
                    }),
                };
                let types: Vec<String> = if choice {
                    types.iter().map(|t| (*t).to_owned()).collect()
                } else {
                    vec![code(&f.ty)]
                };
                let _ = write!(
                    o,
                    "\n        ElementInfo {{ name: {:?}, types: &{:?}, choice: {choice}, many: {}, summary: {}, required: {} }},",
                    f.json, types, f.many, f.summary, f.required
                );
            }
            o.push_str("\n    ] },\n");
            structs.push((&s.name, o));
        }
    }
    structs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from(header);
    out.push_str(
        "\n//! Type metadata for FHIRPath: every resource, data type and backbone\n\
         //! element with its elements, sorted by name for binary search.\n\n\
         use crate::meta::{ElementInfo, Kind, TypeInfo};\n\n\
         pub static TYPES: &[TypeInfo] = &[\n",
    );
    for (_, s) in structs {
        out.push_str(&s);
    }
    out.push_str("];\n");
    out
}
