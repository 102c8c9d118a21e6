//! A profile's snapshot elements, compiled once: cardinality, types,
//! fixed and pattern values, bounds, constraints, the required binding
//! with the codes it allows, slicing.

use std::collections::HashSet;

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::base::constraints::is_core;
use crate::validate::profile::additional_binding;
use crate::validate::profile::min_max::Bounds;
use crate::validate::profile::narrative_control;
use crate::validate::profile::value_controls::ValueControls;
use crate::validate::terminology::value_sets::ValueSets;
use crate::validate::Severity;

/// Codes a required binding allows, or why they are not known.
pub(crate) type Allowed = Result<HashSet<(String, String)>, crate::Error>;

/// One slicing discriminator: its type and path.
#[derive(Debug)]
pub(super) struct Discriminator {
    pub(super) kind: String,
    pub(super) path: String,
}

/// An element's slicing: its discriminators, and whether it is closed.
#[derive(Debug)]
pub(super) struct Slicing {
    pub(super) discriminators: Vec<Discriminator>,
    pub(super) closed: bool,
}

/// One of the profile's own constraints (the core ones are the base
/// walk's), compiled.
#[derive(Debug)]
pub(super) struct Constraint {
    pub(super) key: String,
    pub(super) severity: Severity,
    pub(super) human: String,
    pub(super) expression: Option<fhirpath::Expression>,
}

/// One element of the snapshot, compiled.
#[derive(Debug)]
pub(super) struct Element {
    pub(super) id: String,
    pub(super) path: String,
    pub(super) slice_name: Option<String>,
    pub(super) min: usize,
    /// `None` for `*`.
    pub(super) max: Option<usize>,
    /// Type codes and their profiles.
    pub(super) types: Vec<(String, Vec<String>)>,
    /// The `targetProfile`s of its reference types.
    pub(super) targets: Vec<String>,
    pub(super) fixed: Option<Json>,
    pub(super) pattern: Option<Json>,
    pub(super) max_length: Option<usize>,
    /// `minValue[x]` / `maxValue[x]` of numbers (integer, decimal, …).
    pub(super) min_value: Option<f64>,
    pub(super) max_value: Option<f64>,
    /// Date, time, Quantity and Duration bounds.
    pub(super) bounds: Bounds,
    /// minLength, mustHaveValue, valueAlternatives.
    pub(super) value_controls: ValueControls,
    pub(super) constraints: Vec<Constraint>,
    /// A required binding: the value set and what it allows.
    pub(super) required: Option<(String, Allowed)>,
    pub(super) slicing: Option<Slicing>,
    pub(super) children: Vec<usize>,
    pub(super) narrative: Option<narrative_control::Control>,
}

/// Compiles one snapshot element; the codes of its required binding are
/// read from `value_sets` once, here.
pub(super) fn compile_element(
    value_sets: &dyn ValueSets,
    e: &Json,
    id: String,
    path: String,
) -> Element {
    let min = match field(e, "min") {
        Some(Json::Number(n)) => n.parse().unwrap_or(0),
        _ => 0,
    };
    let max = match str_field(e, "max") {
        Some("*") | None => None,
        Some(n) => n.parse().ok(),
    };
    let mut types = Vec::new();
    let mut targets = Vec::new();
    if let Some(Json::Array(ts)) = field(e, "type") {
        for t in ts {
            let code = str_field(t, "code").unwrap_or("").to_owned();
            let profiles = match field(t, "profile") {
                Some(Json::Array(ps)) => ps
                    .iter()
                    .filter_map(|p| match p {
                        Json::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            if let Some(Json::Array(ts)) = field(t, "targetProfile") {
                targets.extend(ts.iter().filter_map(|p| match p {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                }));
            }
            types.push((code, profiles));
        }
    }
    let mut fixed = None;
    let mut pattern = None;
    if let Json::Object(m) = e {
        for (k, val) in m {
            if k.starts_with("fixed") && k.len() > 5 {
                fixed = Some(val.clone());
            } else if k.starts_with("pattern") && k.len() > 7 {
                pattern = Some(val.clone());
            }
        }
    }
    let max_length = match field(e, "maxLength") {
        Some(Json::Number(n)) => n.parse().ok(),
        _ => None,
    };
    let mut constraints = Vec::new();
    if let Some(Json::Array(cs)) = field(e, "constraint") {
        for c in cs {
            let key = str_field(c, "key").unwrap_or("").to_owned();
            let expression = str_field(c, "expression").unwrap_or("").to_owned();
            if expression.is_empty() || is_core(&key, &expression) {
                continue;
            }
            constraints.push(Constraint {
                key,
                severity: Severity::parse(str_field(c, "severity").unwrap_or("error")),
                human: str_field(c, "human").unwrap_or("").to_owned(),
                expression: fhirpath::Expression::compile(&expression).ok(),
            });
        }
    }
    let required = field(e, "binding").and_then(|b| {
        if str_field(b, "strength") != Some("required") {
            return None;
        }
        let vs = str_field(b, "valueSet")?.to_owned();
        let allowed = value_sets.codes(&vs);
        Some((vs, allowed))
    });
    let required = required.or_else(|| {
        let vs = additional_binding::required_value_sets(e)
            .into_iter()
            .next()?;
        let allowed = value_sets.codes(&vs);
        Some((vs, allowed))
    });
    let slicing = field(e, "slicing").map(|s| Slicing {
        discriminators: match field(s, "discriminator") {
            Some(Json::Array(ds)) => ds
                .iter()
                .map(|d| Discriminator {
                    kind: str_field(d, "type").unwrap_or("").to_owned(),
                    path: str_field(d, "path").unwrap_or("").to_owned(),
                })
                .collect(),
            _ => Vec::new(),
        },
        closed: str_field(s, "rules") == Some("closed"),
    });
    Element {
        id,
        path,
        slice_name: str_field(e, "sliceName").map(str::to_owned),
        min,
        max,
        types,
        targets,
        fixed,
        pattern,
        max_length,
        min_value: number_with_prefix(e, "minValue"),
        max_value: number_with_prefix(e, "maxValue"),
        bounds: Bounds::compile(e),
        value_controls: ValueControls::compile(e),
        constraints,
        required,
        slicing,
        children: Vec::new(),
        narrative: narrative_control::compile(e),
    }
}

/// A numeric `minValue[x]`/`maxValue[x]` (`minValueInteger`, …).
fn number_with_prefix(e: &Json, prefix: &str) -> Option<f64> {
    let Json::Object(m) = e else {
        return None;
    };
    m.iter().find_map(|(k, v)| match v {
        Json::Number(n) if k.starts_with(prefix) => n.parse().ok(),
        _ => None,
    })
}
