//! A compiled profile applied to one resource: every element at every
//! instance it matches (values, types, bindings, reference targets,
//! constraints, type profiles), then its children.

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::element::{Allowed, Element};
use super::values::{deep_eq, instances, pattern_matches, show};
use super::{Inst, Profile};
use crate::json::{field, str_field};
use crate::validate::base::constraints::holds;
use crate::validate::profile::narrative_control;
use crate::validate::profile::resource_profiles;
use crate::validate::references::target;
use crate::validate::terminology::value_sets::all_outside;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity, Validator};

/// One run of a profile over one resource.
pub(super) struct Run<'a, 'r> {
    pub(super) v: &'a Validator,
    pub(super) p: &'a Profile,
    pub(super) resource: &'r Json,
    /// The Bundle the resource sits in (or is), for references.
    pub(super) bundle: Option<&'r Json>,
    pub(super) issues: &'a mut Vec<Issue>,
    /// Nesting of type profiles (an extension's definition inside a
    /// resource profile), bounded by [`MAX_TYPE_PROFILE_DEPTH`].
    pub(super) depth: usize,
}

/// How deep type profiles nest before the engine stops following them.
const MAX_TYPE_PROFILE_DEPTH: usize = 8;

impl<'r> Run<'_, 'r> {
    pub(super) fn push(&mut self, severity: Severity, code: IssueType, loc: &str, msg: String) {
        self.issues.push(Issue::new(severity, code, loc, msg));
    }

    /// Checks one instance against element `ei` and recurses.
    pub(super) fn item(&mut self, ei: usize, inst: Inst<'r>, loc: &str) {
        let p = self.p;
        let el = &p.elements[ei];
        self.value_rules(el, inst, loc);
        if ei > 0 {
            let ty = inst.ty;
            if !el.types.is_empty()
                && !el.types.iter().any(|(c, _)| c == ty || c == "*")
                && el.path.ends_with("[x]")
                && !ty.is_empty()
            {
                let allowed: Vec<&str> = el.types.iter().map(|(c, _)| c.as_str()).collect();
                self.push(
                    Severity::Error,
                    IssueType::Structure,
                    loc,
                    format!(
                        "{}: type {ty} is not allowed here (allowed: {})",
                        el.id,
                        allowed.join(", ")
                    ),
                );
            }
        }
        if let Some((vs, allowed)) = &el.required {
            self.binding(el, vs, allowed, inst, loc);
        }
        if inst.ty == "Reference" {
            target::check(
                self.v,
                self.resource,
                self.bundle,
                &el.targets,
                inst.value,
                loc,
                self.issues,
            );
        }
        self.constraints(el, inst, loc);
        if let Some(c) = &el.narrative {
            narrative_control::check(c, inst.value, self.resource, &p.url, loc, self.issues);
        }
        self.type_profiles(el, inst, loc);
        self.children(ei, inst, loc);
    }

    /// The rules on the instance's own value: `fixed[x]`, `pattern[x]`,
    /// numeric and other bounds, value controls, `maxLength`.
    fn value_rules(&mut self, el: &Element, inst: Inst<'r>, loc: &str) {
        let p = self.p;
        if let (Some(fixed), Some(value)) = (&el.fixed, inst.value) {
            if !deep_eq(fixed, value) {
                self.push(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!(
                        "{}: value must be exactly {} (profile {})",
                        el.id,
                        show(fixed),
                        p.url
                    ),
                );
            }
        }
        if let Some(pattern) = &el.pattern {
            if !inst.value.is_some_and(|v| pattern_matches(pattern, v)) {
                self.push(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!(
                        "{}: value must match the pattern {} (profile {})",
                        el.id,
                        show(pattern),
                        p.url
                    ),
                );
            }
        }
        if let Some(Json::Number(n)) = inst.value {
            if let Ok(x) = n.parse::<f64>() {
                if el.min_value.is_some_and(|m| x < m) || el.max_value.is_some_and(|m| x > m) {
                    let bound = |b: Option<f64>| b.map_or("-".to_owned(), |b| b.to_string());
                    self.push(
                        Severity::Error,
                        IssueType::Value,
                        loc,
                        format!(
                            "{}: value {n} is outside [{}, {}] (profile {})",
                            el.id,
                            bound(el.min_value),
                            bound(el.max_value),
                            p.url
                        ),
                    );
                }
            }
        }
        if !el.value_controls.is_empty() {
            el.value_controls
                .check(&el.id, inst.value, inst.ext, loc, self.issues);
        }
        if !el.bounds.is_empty() {
            el.bounds.check(inst.ty, inst.value, loc, self.issues);
        }
        if let (Some(max), Some(Json::String(s))) = (el.max_length, inst.value) {
            let n = s.chars().count();
            if n > max {
                self.push(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!(
                        "{}: value is {n} characters long, maxLength is {max}",
                        el.id
                    ),
                );
            }
        }
    }

    /// The profile's own constraints at the instance.
    fn constraints(&mut self, el: &Element, inst: Inst<'r>, loc: &str) {
        let p = self.p;
        for c in &el.constraints {
            let node = Node {
                value: inst.value,
                ext: inst.ext,
                ty: inst.ty,
            };
            if holds(
                self.v,
                c.expression.as_ref(),
                self.resource,
                self.resource,
                node,
            ) == Some(false)
            {
                self.push(
                    c.severity,
                    IssueType::Invariant,
                    loc,
                    format!(
                        "Constraint failed: {}: '{}' (profile {})",
                        c.key, c.human, p.url
                    ),
                );
            }
        }
    }

    /// An element whose type names profiles (an extension slice's
    /// definition, a data type profile): the instance must conform to one
    /// of those the package set has; unknown ones are not followed.
    pub(super) fn type_profiles(&mut self, el: &Element, inst: Inst<'r>, loc: &str) {
        if self.depth >= MAX_TYPE_PROFILE_DEPTH || inst.value.is_none() {
            return;
        }
        let Some((code, urls)) = el.types.iter().find(|(c, _)| c == inst.ty) else {
            return;
        };
        if urls.is_empty() || code == "Resource" || fhir_model::meta::type_info(code).is_none() {
            return;
        }
        let mut first: Option<Vec<Issue>> = None;
        if code != "Extension" && urls.iter().all(|u| self.v.profile(u).is_none()) {
            // A data type profile the package set lacks: the element
            // cannot be checked as the profile requires.
            self.push(
                Severity::Error,
                IssueType::Structure,
                loc,
                format!("Unknown profile {}", urls.join(", ")),
            );
            return;
        }
        for url in urls {
            let Some(prof) = self.v.profile(url) else {
                continue;
            };
            if prof.type_name != inst.ty {
                continue;
            }
            let mut scratch = Vec::new();
            let mut run = Run {
                v: self.v,
                p: &prof,
                resource: self.resource,
                bundle: self.bundle,
                issues: &mut scratch,
                depth: self.depth + 1,
            };
            run.item(0, inst, loc);
            if !crate::validate::has_errors(&scratch) {
                self.issues.extend(scratch);
                return;
            }
            first.get_or_insert(scratch);
        }
        if let Some(issues) = first {
            self.issues.extend(issues);
        }
    }

    pub(super) fn binding(
        &mut self,
        el: &Element,
        vs: &str,
        allowed: &Allowed,
        inst: Inst<'r>,
        loc: &str,
    ) {
        let Some(value) = inst.value else {
            return;
        };
        let codes: Vec<(Option<&str>, &str)> = match (inst.ty, value) {
            ("code", Json::String(c)) => vec![(None, c.as_str())],
            ("Coding", _) => coding(value).into_iter().collect(),
            ("CodeableConcept", _) => match field(value, "coding") {
                Some(Json::Array(cs)) => cs.iter().filter_map(coding).collect(),
                _ => Vec::new(),
            },
            _ => return,
        };
        if codes.is_empty() {
            return;
        }
        match allowed {
            Err(_)
                if self
                    .v
                    .value_set_provider()
                    .included_systems(vs)
                    .is_some_and(|s| all_outside(&s, &codes)) =>
            {
                self.push(
                    Severity::Error,
                    IssueType::CodeInvalid,
                    loc,
                    format!(
                        "{}: none of the codings provided are in the required value set {vs} (its codes come from other code systems)",
                        el.id
                    ),
                )
            }
            Err(why) => self.push(
                Severity::Warning,
                IssueType::NotSupported,
                loc,
                format!(
                    "{}: cannot check the required binding to {vs}: {why}",
                    el.id
                ),
            ),
            Ok(set) => {
                let ok = codes.iter().any(|(system, code)| match system {
                    Some(s) => set.contains(&((*s).to_owned(), (*code).to_owned())),
                    None => set.iter().any(|(_, c)| c == code),
                });
                if !ok {
                    let shown: Vec<String> = codes
                        .iter()
                        .map(|(s, c)| match s {
                            Some(s) => format!("{s}#{c}"),
                            None => (*c).to_owned(),
                        })
                        .collect();
                    // A binding on a choice of several types (vital signs'
                    // value[x] to UCUM units) is reported as the HL7
                    // validator does for a coded alternative: a warning.
                    let severity = if el.path.ends_with("[x]") && el.types.len() > 1 {
                        Severity::Warning
                    } else {
                        Severity::Error
                    };
                    self.push(
                        severity,
                        IssueType::CodeInvalid,
                        loc,
                        format!(
                            "{}: {} is not in the required value set {vs}",
                            el.id,
                            shown.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// The children of element `ei` at one instance.
    pub(super) fn children(&mut self, ei: usize, inst: Inst<'r>, loc: &str) {
        let p = self.p;
        let el = &p.elements[ei];
        let Some(Json::Object(_)) = inst.value else {
            return;
        };
        let kids = &el.children;
        let mut k = 0;
        while k < kids.len() {
            let ci = kids[k];
            let child = &p.elements[ci];
            k += 1;
            if child.slice_name.is_some() {
                continue; // slices are handled with their base element
            }
            let mut slices = Vec::new();
            while k < kids.len() && p.elements[kids[k]].path == child.path {
                if p.elements[kids[k]].slice_name.is_some() {
                    slices.push(kids[k]);
                }
                k += 1;
            }
            let name = child.path.rsplit('.').next().unwrap_or("");
            let found = instances(inst, name);
            let shown = name.trim_end_matches("[x]");
            self.cardinality(child, found.len(), loc, shown);
            let locs: Vec<String> = found
                .iter()
                .map(|(i, _)| match i {
                    Some(i) => format!("{loc}.{shown}[{i}]"),
                    None => format!("{loc}.{shown}"),
                })
                .collect();
            for ((_, item), l) in found.iter().zip(&locs) {
                if item.ty == "Resource" {
                    if let Some(r) = item.value {
                        resource_profiles::check(
                            self.v,
                            &child.types,
                            r,
                            self.bundle,
                            l,
                            self.issues,
                        );
                    }
                    continue;
                }
                if item.ty.is_empty() {
                    continue;
                }
                self.item(ci, *item, l);
            }
            if !slices.is_empty() {
                self.slices(child, &slices, &found, &locs, loc, shown);
            }
        }
    }

    pub(super) fn cardinality(&mut self, el: &Element, n: usize, loc: &str, shown: &str) {
        if n < el.min {
            self.push(
                Severity::Error,
                IssueType::Required,
                loc,
                format!(
                    "{}: minimum required = {}, but only found {n} (profile {})",
                    el.id, el.min, self.p.url
                ),
            );
        }
        if let Some(max) = el.max {
            if n > max {
                self.push(
                    Severity::Error,
                    IssueType::Structure,
                    loc,
                    format!(
                        "{}: maximum allowed = {max}, but found {n} ({shown}; profile {})",
                        el.id, self.p.url
                    ),
                );
            }
        }
    }
}

fn coding(v: &Json) -> Option<(Option<&str>, &str)> {
    Some((str_field(v, "system"), str_field(v, "code")?))
}
