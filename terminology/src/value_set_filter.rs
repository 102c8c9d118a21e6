//! The filters of `compose.include.filter` over one code system's index:
//! hierarchy filters (`is-a`, `descendent-of`, `generalizes`, `is-not-a`)
//! walk the parent and child lists from the named concept; property
//! filters (`=`, `regex`, `in`, `not-in`, `exists`) test each concept's
//! properties, which is the one place the engine visits every concept of a
//! system — a filter asks for that.

use crate::code_system::{CodeSystem, Concept, PropertyValue};
use crate::value_set::Filter;
use crate::Error;

/// The concepts of `cs` that one filter selects, as a mask over its
/// concept vector.
pub(crate) fn filter_mask(cs: &CodeSystem, f: &Filter) -> Result<Vec<bool>, Error> {
    let n = cs.len();
    let hierarchy = matches!(f.property.as_str(), "concept" | "code" | "parent" | "child");
    let unsupported = || {
        Error::NotSupported(format!(
            "The filter '{} {} {}' is not supported on the CodeSystem '{}'",
            f.property,
            f.op,
            f.value,
            cs.url()
        ))
    };
    let of = |idxs: &mut dyn Iterator<Item = u32>| {
        let mut m = vec![false; n];
        for i in idxs {
            m[i as usize] = true;
        }
        m
    };
    let root = || {
        cs.find(&f.value).ok_or_else(|| {
            Error::NotSupported(format!(
                "The filter '{} {} {}' names a code the CodeSystem '{}' does not have",
                f.property,
                f.op,
                f.value,
                cs.url()
            ))
        })
    };
    Ok(match f.op.as_str() {
        "is-a" | "descendent-of" | "generalizes" | "is-not-a"
            if f.property == "concept" || f.property == "code" =>
        {
            let r = root();
            match (f.op.as_str(), r) {
                ("is-not-a", Err(_)) => vec![true; n],
                (_, Err(e)) => return Err(e),
                ("is-a", Ok(r)) => of(&mut std::iter::once(r).chain(cs.descendants(r))),
                ("descendent-of", Ok(r)) => of(&mut cs.descendants(r).into_iter()),
                ("generalizes", Ok(r)) => of(&mut std::iter::once(r).chain(cs.ancestors(r))),
                (_, Ok(r)) => {
                    let m = of(&mut std::iter::once(r).chain(cs.descendants(r)));
                    m.into_iter().map(|b| !b).collect()
                }
            }
        }
        "=" if hierarchy => match (f.property.as_str(), cs.find(&f.value)) {
            (_, None) => vec![false; n],
            ("parent", Some(r)) => of(&mut cs.children(cs.get(r)).filter_map(|c| cs.find(&c.code))),
            ("child", Some(r)) => of(&mut cs.parents(cs.get(r)).filter_map(|c| cs.find(&c.code))),
            (_, Some(r)) => of(&mut std::iter::once(r)),
        },
        "in" | "not-in" if hierarchy && f.property != "parent" && f.property != "child" => {
            let mut m = of(&mut f.value.split(',').filter_map(|c| cs.find(c.trim())));
            if f.op == "not-in" {
                m.iter_mut().for_each(|b| *b = !*b);
            }
            m
        }
        "regex" => {
            let re = regex::Regex::new(&format!("^(?:{})$", f.value)).map_err(|e| {
                Error::NotSupported(format!("The regex '{}' is not valid: {e}", f.value))
            })?;
            cs.concepts()
                .map(|c| {
                    property_values(cs, c, &f.property)
                        .iter()
                        .any(|v| re.is_match(v))
                })
                .collect()
        }
        "=" | "in" | "not-in" | "exists" => {
            let wanted: Vec<&str> = match f.op.as_str() {
                "=" => vec![f.value.as_str()],
                _ => f.value.split(',').map(str::trim).collect(),
            };
            let exists = match f.op.as_str() {
                "exists" => Some(match f.value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(unsupported()),
                }),
                _ => None,
            };
            cs.concepts()
                .map(|c| {
                    let values = property_values(cs, c, &f.property);
                    match (f.op.as_str(), exists) {
                        (_, Some(want)) => values.is_empty() != want,
                        ("not-in", _) => !values.iter().any(|v| wanted.contains(&v.as_str())),
                        _ => values.iter().any(|v| wanted.contains(&v.as_str())),
                    }
                })
                .collect()
        }
        _ => return Err(unsupported()),
    })
}

/// A concept's values of a property, as text: `code`, `display`, the
/// flags the index keeps (`inactive`, `notSelectable`), the hierarchy
/// (`parent`, `child`), and declared properties.
fn property_values(cs: &CodeSystem, c: &Concept, property: &str) -> Vec<String> {
    match property {
        "code" | "concept" => return vec![c.code.clone()],
        "display" => return c.display.iter().cloned().collect(),
        "parent" => return cs.parents(c).map(|p| p.code.clone()).collect(),
        "child" => return cs.children(c).map(|p| p.code.clone()).collect(),
        _ => {}
    }
    let mut out: Vec<String> = c
        .properties
        .iter()
        .filter(|p| p.code == property)
        .map(|p| match &p.value {
            PropertyValue::Code(s)
            | PropertyValue::String(s)
            | PropertyValue::DateTime(s)
            | PropertyValue::Decimal(s) => s.clone(),
            PropertyValue::Integer(i) => i.to_string(),
            PropertyValue::Boolean(b) => b.to_string(),
            PropertyValue::Coding(c) => c.code.clone().unwrap_or_default(),
        })
        .collect();
    if out.is_empty() {
        match property {
            "inactive" if c.inactive => out.push("true".into()),
            "notSelectable" if c.abstract_ => out.push("true".into()),
            _ => {}
        }
    }
    out
}
