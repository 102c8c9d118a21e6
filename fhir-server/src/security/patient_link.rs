//! Which resources are a patient's, for a token limited to one patient.
//!
//! The Patient CompartmentDefinition lists the types in the compartment
//! and the parameters that put them there. It leaves out types that
//! still hold a patient's data (Binary by `securityContext`, Task by
//! `for`, Device by `patient`, a document Bundle by its Composition's
//! subject); treating those as nobody's let any patient token read every
//! patient's. So every type has a [`Link`]:
//! - [`Link::Owned`]: the compartment's parameters, or, for a type outside
//!   it, its references whose targets name Patient specifically, or the
//!   server's own parameters below. Visible only when one of them names
//!   the token's patient.
//! - [`Link::Mentions`]: a type that can name a patient only through
//!   references to any type (`Linkage.item`, `MessageHeader.focus`,
//!   definitions' `depends-on`). Reference data, visible unless it names
//!   another patient.
//! - [`Link::None`]: no reference can name a patient (Medication,
//!   Organization, Practitioner, terminology, conformance): visible.
//!
//! The server's own parameters, indexed like any other and searchable:
//! `Binary?security-context=…` and `Bundle?composition-subject=…`.

use fhir_model::ResourceType;

use crate::search::compartment::compartment_params;
use crate::search::param::{ParamKind, ParamRegistry};
use crate::search::query::Criterion;

/// A reference whose targets are this many types or more is a reference
/// to any type.
const ANY_TYPE: usize = 100;

/// How a type's resources belong to patients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Owned(Vec<String>),
    Mentions(Vec<String>),
    None,
}

pub use fhir_store::search::registry::SERVER_PARAMS;

/// The [`Link`] of `rt`.
pub fn link(registry: &ParamRegistry, rt: &str) -> Link {
    let compartment = compartment_params("Patient", rt);
    if !compartment.is_empty() {
        return Link::Owned(compartment.to_vec());
    }
    let mut specific = Vec::new();
    let mut any = Vec::new();
    for p in registry.for_type(rt) {
        if p.kind != ParamKind::Reference {
            continue;
        }
        let server = SERVER_PARAMS
            .iter()
            .any(|(_, code, base, _)| *base == rt && *code == p.code);
        if server || (p.targets.len() < ANY_TYPE && p.targets.iter().any(|t| t == "Patient")) {
            specific.push(p.code.clone());
        } else if p.targets.iter().any(|t| t == "Patient") {
            any.push(p.code.clone());
        }
    }
    specific.sort();
    any.sort();
    if !specific.is_empty() {
        Link::Owned(specific)
    } else if !any.is_empty() {
        Link::Mentions(any)
    } else {
        Link::None
    }
}

/// The criterion that bounds `rt` to what a token for `patient` may see;
/// `None` when every resource of the type is visible.
pub fn bound(registry: &ParamRegistry, rt: &str, patient: &str) -> Option<Criterion> {
    match link(registry, rt) {
        Link::Owned(params) => Some(Criterion::PatientLinked {
            patient: patient.to_owned(),
            params,
            owner: rt == ResourceType::Patient.as_str(),
            others: false,
            negated: false,
        }),
        Link::Mentions(params) => Some(Criterion::PatientLinked {
            patient: patient.to_owned(),
            params,
            owner: false,
            others: true,
            negated: true,
        }),
        Link::None => None,
    }
}

/// Whether a resource with these Patient references (by parameter: code,
/// referenced Patient id) belongs to `patient` under `link`: judged on a
/// body, for versions the index does not hold (history, vread) and for
/// writes.
pub fn owns(link: &Link, refs: &[(String, String)], patient: &str, own_id: Option<&str>) -> bool {
    match link {
        Link::Owned(params) => {
            own_id == Some(patient)
                || refs
                    .iter()
                    .any(|(code, id)| params.contains(code) && id == patient)
        }
        Link::Mentions(params) => !refs
            .iter()
            .any(|(code, id)| params.contains(code) && id != patient),
        Link::None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_of_types_outside_the_compartment() {
        let registry = crate::search::registry::core();
        assert!(
            matches!(link(&registry, "Observation"), Link::Owned(p) if p.contains(&"subject".to_owned()))
        );
        assert_eq!(
            link(&registry, "Task"),
            Link::Owned(vec!["owner".into(), "patient".into(), "requester".into()])
        );
        assert_eq!(
            link(&registry, "Device"),
            Link::Owned(vec!["patient".into()])
        );
        assert_eq!(
            link(&registry, "Binary"),
            Link::Owned(vec!["security-context".into()])
        );
        assert_eq!(
            link(&registry, "Bundle"),
            Link::Owned(vec!["composition-subject".into()])
        );
        assert!(matches!(link(&registry, "Linkage"), Link::Mentions(_)));
        assert_eq!(link(&registry, "Medication"), Link::None);
        assert_eq!(link(&registry, "Organization"), Link::None);
    }
}
