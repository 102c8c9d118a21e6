//! Validation against one profile: a StructureDefinition with a snapshot
//! (JP Core ships them; one with only a differential gets one from
//! [`crate::snapshot`]), found in the [`PackageSet`] by canonical url and
//! compiled once.
//!
//! Checked per element of the snapshot, at every instance it matches:
//! cardinality (`min`/`max`), the allowed types of a choice, `fixed[x]`
//! (exact) and `pattern[x]` (the instance holds at least the pattern),
//! `maxLength`, the profile's own constraints (the core ones are checked
//! by the base walk), required bindings (a warning "cannot check" unless
//! the value set and its code systems are in the package set with a
//! concept list), and slicing by `value`/`pattern` discriminators (plus
//! extensions by url via the slice's type profile, and choice slices by
//! type), with closed slicing reported.

pub mod additional_binding;
pub mod discriminator;
mod element;
pub mod global_profiles;
pub mod min_max;
pub mod narrative_control;
pub mod resource_profiles;
mod run;
mod slicing;
pub mod value_controls;
mod values;
pub mod vital_signs;

use std::collections::HashMap;

use fhir_model::json::tree::Value as Json;

use crate::json::{field, resource_type, str_field};
use crate::validate::terminology::value_sets::ValueSets;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity, Validator};
use crate::PackageSet;
use element::{compile_element, Allowed, Element};
use run::Run;

/// A compiled profile.
#[derive(Debug)]
pub struct Profile {
    pub url: String,
    /// The resource type it constrains.
    pub type_name: String,
    /// An extension definition's `context`: (type, expression).
    pub contexts: Vec<(String, String)>,
    elements: Vec<Element>,
    by_id: HashMap<String, usize>,
}

/// One instance an element matches: its value, its `_name`, its
/// location, and its type (for choices).
#[derive(Clone, Copy)]
struct Inst<'r> {
    value: Option<&'r Json>,
    ext: Option<&'r Json>,
    ty: &'r str,
}

impl Profile {
    /// Compiles the StructureDefinition `url` (`url|version` allowed,
    /// `|0.2` matching the latest `0.2.x`; a version the set lacks falls
    /// back to the url's other version); `None` when the set has no such
    /// StructureDefinition with a snapshot.
    pub fn load(packages: &PackageSet, value_sets: &dyn ValueSets, url: &str) -> Option<Profile> {
        let (pkg, res) = packages.by_canonical(url)?;
        if res.resource_type != "StructureDefinition" {
            return None;
        }
        let sd = res.json(pkg.source()).ok()?;
        let type_name = str_field(sd, "type")?.to_owned();
        // A differential-only profile gets its snapshot generated here.
        let list = crate::snapshot::elements(packages, sd)?;
        let mut elements: Vec<Element> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for e in &list {
            let id = str_field(e, "id")
                .or_else(|| str_field(e, "path"))
                .unwrap_or("")
                .to_owned();
            let path = str_field(e, "path").unwrap_or("").to_owned();
            let el = compile_element(value_sets, e, id.clone(), path);
            let i = elements.len();
            if let Some(parent) = id.rfind('.').map(|d| &id[..d]) {
                if let Some(&p) = by_id.get(parent) {
                    elements[p].children.push(i);
                }
            }
            by_id.insert(id, i);
            elements.push(el);
        }
        if elements.is_empty() {
            return None;
        }
        let contexts = match field(sd, "context") {
            Some(Json::Array(cs)) => cs
                .iter()
                .filter_map(|c| {
                    Some((
                        str_field(c, "type")?.to_owned(),
                        str_field(c, "expression")?.to_owned(),
                    ))
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(Profile {
            url: url.to_owned(),
            type_name,
            contexts,
            elements,
            by_id,
        })
    }

    /// The required binding (value set, allowed codes) of element `id`.
    pub(crate) fn required_binding(&self, id: &str) -> Option<(&str, &Allowed)> {
        let el = &self.elements[*self.by_id.get(id)?];
        el.required.as_ref().map(|(vs, a)| (vs.as_str(), a))
    }

    /// Checks one element instance of this profile's type (an extension
    /// against its definition) inside `resource`.
    pub fn validate_element(
        &self,
        v: &Validator,
        resource: &Json,
        value: &Json,
        location: &str,
        issues: &mut Vec<Issue>,
    ) {
        let mut run = Run {
            v,
            p: self,
            resource,
            bundle: None,
            issues,
            depth: 1,
        };
        let inst = Inst {
            value: Some(value),
            ext: None,
            ty: &self.type_name,
        };
        run.item(0, inst, location);
    }

    /// Checks `resource` (located at `location`) against this profile.
    pub fn validate(
        &self,
        v: &Validator,
        resource: &Json,
        location: &str,
        issues: &mut Vec<Issue>,
    ) {
        self.validate_in(v, resource, None, location, issues);
    }

    /// [`Profile::validate`] for a resource inside `bundle`, where its
    /// references resolve to the Bundle's entries.
    pub(crate) fn validate_in(
        &self,
        v: &Validator,
        resource: &Json,
        bundle: Option<&Json>,
        location: &str,
        issues: &mut Vec<Issue>,
    ) {
        if resource_type(resource) != Some(self.type_name.as_str()) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                location,
                format!(
                    "profile {} is for {}, not {}",
                    self.url,
                    self.type_name,
                    resource_type(resource).unwrap_or("?")
                ),
            ));
            return;
        }
        let bundle = if resource_type(resource) == Some("Bundle") {
            Some(resource)
        } else {
            bundle
        };
        let mut run = Run {
            v,
            p: self,
            resource,
            bundle,
            issues,
            depth: 0,
        };
        let root = Inst {
            value: Some(resource),
            ext: None,
            ty: &self.type_name,
        };
        run.item(0, root, location);
    }
}
