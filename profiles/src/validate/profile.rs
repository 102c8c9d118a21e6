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

use std::collections::{HashMap, HashSet};

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::invariants::{holds, is_core};
use super::{field, resource_type, str_field, Issue, Severity, Validator};
use crate::PackageSet;

/// Codes a required binding allows, or why they are not known.
pub(crate) type Allowed = Result<HashSet<(String, String)>, String>;

#[derive(Debug)]
struct Discriminator {
    kind: String,
    path: String,
}

#[derive(Debug)]
struct Slicing {
    discriminators: Vec<Discriminator>,
    closed: bool,
}

#[derive(Debug)]
struct Constraint {
    key: String,
    severity: Severity,
    human: String,
    expression: Option<fhirpath::Expression>,
}

#[derive(Debug)]
struct Element {
    id: String,
    path: String,
    slice_name: Option<String>,
    min: usize,
    /// `None` for `*`.
    max: Option<usize>,
    /// Type codes and their profiles.
    types: Vec<(String, Vec<String>)>,
    /// The `targetProfile`s of its reference types.
    targets: Vec<String>,
    fixed: Option<Json>,
    pattern: Option<Json>,
    max_length: Option<usize>,
    /// `minValue[x]` / `maxValue[x]` of numbers (integer, decimal, …).
    min_value: Option<f64>,
    max_value: Option<f64>,
    /// Date, time, Quantity and Duration bounds.
    bounds: super::min_max::Bounds,
    /// minLength, mustHaveValue, valueAlternatives.
    value_controls: super::value_controls::ValueControls,
    constraints: Vec<Constraint>,
    /// A required binding: the value set and what it allows.
    required: Option<(String, Allowed)>,
    slicing: Option<Slicing>,
    children: Vec<usize>,
    narrative: Option<super::narrative_control::Control>,
}

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
    pub fn load(packages: &PackageSet, url: &str) -> Option<Profile> {
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
            let el = compile_element(packages, e, id.clone(), path);
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
                "structure",
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

fn compile_element(packages: &PackageSet, e: &Json, id: String, path: String) -> Element {
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
        let allowed = value_set_codes(packages, &vs);
        Some((vs, allowed))
    });
    let required = required.or_else(|| {
        let vs = super::additional_binding::required_value_sets(e)
            .into_iter()
            .next()?;
        let allowed = value_set_codes(packages, &vs);
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
        bounds: super::min_max::Bounds::compile(e),
        value_controls: super::value_controls::ValueControls::compile(e),
        constraints,
        required,
        slicing,
        children: Vec::new(),
        narrative: super::narrative_control::compile(e),
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

/// The largest code system whose concept list a binding check reads.
const MAX_CODES: usize = 5_000;

/// The (system, code) pairs a value set allows, when it is in the set and
/// defined by concept lists or whole small code systems.
pub(crate) fn value_set_codes(packages: &PackageSet, url: &str) -> Allowed {
    let unknown = || Err(format!("value set {url} not available"));
    let Some((pkg, res)) = packages.by_canonical(url) else {
        return unknown();
    };
    let Ok(vs) = res.json(pkg.source()) else {
        return unknown();
    };
    let mut out = HashSet::new();
    let Some(Json::Array(includes)) = field(vs, "compose").and_then(|c| field(c, "include")) else {
        return Err(format!("value set {url} has no compose to check against"));
    };
    if matches!(
        field(vs, "compose").and_then(|c| field(c, "exclude")),
        Some(Json::Array(_))
    ) {
        return Err(format!("value set {url} has excludes"));
    }
    for inc in includes {
        if field(inc, "valueSet").is_some() || field(inc, "filter").is_some() {
            return Err(format!("value set {url} uses filters or other value sets"));
        }
        let Some(system) = str_field(inc, "system") else {
            return Err(format!("value set {url} has an include without system"));
        };
        if let Some(Json::Array(cs)) = field(inc, "concept") {
            for c in cs {
                if let Some(code) = str_field(c, "code") {
                    out.insert((system.to_owned(), code.to_owned()));
                }
            }
            continue;
        }
        let Some((cpkg, cres)) = packages.by_url(system) else {
            return Err(format!("code system {system} not available"));
        };
        let Ok(cs) = cres.json(cpkg.source()) else {
            return Err(format!("code system {system} not available"));
        };
        if str_field(cs, "content") != Some("complete") {
            return Err(format!("code system {system} is not complete here"));
        }
        let before = out.len();
        collect_concepts(system, field(cs, "concept"), &mut out);
        if out.len() - before > MAX_CODES {
            return Err(format!("code system {system} is too large to check here"));
        }
    }
    Ok(out)
}

fn collect_concepts(system: &str, list: Option<&Json>, out: &mut HashSet<(String, String)>) {
    if let Some(Json::Array(cs)) = list {
        for c in cs {
            if let Some(code) = str_field(c, "code") {
                out.insert((system.to_owned(), code.to_owned()));
            }
            collect_concepts(system, field(c, "concept"), out);
        }
    }
}

struct Run<'a, 'r> {
    v: &'a Validator,
    p: &'a Profile,
    resource: &'r Json,
    /// The Bundle the resource sits in (or is), for references.
    bundle: Option<&'r Json>,
    issues: &'a mut Vec<Issue>,
    /// Nesting of type profiles (an extension's definition inside a
    /// resource profile), bounded by [`MAX_TYPE_PROFILE_DEPTH`].
    depth: usize,
}

/// How deep type profiles nest before the engine stops following them.
const MAX_TYPE_PROFILE_DEPTH: usize = 8;

impl<'r> Run<'_, 'r> {
    fn push(&mut self, severity: Severity, code: &'static str, loc: &str, msg: String) {
        self.issues.push(Issue::new(severity, code, loc, msg));
    }

    /// Checks one instance against element `ei` and recurses.
    fn item(&mut self, ei: usize, inst: Inst<'r>, loc: &str) {
        let p = self.p;
        let el = &p.elements[ei];
        if let (Some(fixed), Some(value)) = (&el.fixed, inst.value) {
            if !deep_eq(fixed, value) {
                self.push(
                    Severity::Error,
                    "value",
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
                    "value",
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
                        "value",
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
                    "value",
                    loc,
                    format!(
                        "{}: value is {n} characters long, maxLength is {max}",
                        el.id
                    ),
                );
            }
        }
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
                    "structure",
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
            super::reference_target::check(
                self.v,
                self.resource,
                self.bundle,
                &el.targets,
                inst.value,
                loc,
                self.issues,
            );
        }
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
                    "invariant",
                    loc,
                    format!(
                        "Constraint failed: {}: '{}' (profile {})",
                        c.key, c.human, p.url
                    ),
                );
            }
        }
        if let Some(c) = &el.narrative {
            super::narrative_control::check(c, inst.value, self.resource, &p.url, loc, self.issues);
        }
        self.type_profiles(el, inst, loc);
        self.children(ei, inst, loc);
    }

    /// An element whose type names profiles (an extension slice's
    /// definition, a data type profile): the instance must conform to one
    /// of those the package set has; unknown ones are not followed.
    fn type_profiles(&mut self, el: &Element, inst: Inst<'r>, loc: &str) {
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
                "structure",
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
            if !super::has_errors(&scratch) {
                self.issues.extend(scratch);
                return;
            }
            first.get_or_insert(scratch);
        }
        if let Some(issues) = first {
            self.issues.extend(issues);
        }
    }

    fn binding(&mut self, el: &Element, vs: &str, allowed: &Allowed, inst: Inst<'r>, loc: &str) {
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
                if super::vs_systems::included_systems(self.v.packages(), vs)
                    .is_some_and(|s| super::vs_systems::all_outside(&s, &codes)) =>
            {
                self.push(
                    Severity::Error,
                    "code-invalid",
                    loc,
                    format!(
                        "{}: none of the codings provided are in the required value set {vs} (its codes come from other code systems)",
                        el.id
                    ),
                )
            }
            Err(why) => self.push(
                Severity::Warning,
                "not-supported",
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
                        "code-invalid",
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
    fn children(&mut self, ei: usize, inst: Inst<'r>, loc: &str) {
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
                        super::resource_profiles::check(
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

    fn cardinality(&mut self, el: &Element, n: usize, loc: &str, shown: &str) {
        if n < el.min {
            self.push(
                Severity::Error,
                "required",
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
                    "structure",
                    loc,
                    format!(
                        "{}: maximum allowed = {max}, but found {n} ({shown}; profile {})",
                        el.id, self.p.url
                    ),
                );
            }
        }
    }

    fn slices(
        &mut self,
        base: &Element,
        slices: &[usize],
        found: &[(Option<usize>, Inst<'r>)],
        locs: &[String],
        loc: &str,
        shown: &str,
    ) {
        let p = self.p;
        let Some(slicing) = &base.slicing else {
            return;
        };
        let mut counts = vec![0usize; slices.len()];
        let mut undecided = false;
        let mut matched: Vec<Option<usize>> = Vec::new();
        for (_, item) in found {
            let mut hit = None;
            for (si, &s) in slices.iter().enumerate() {
                match self.slice_matches(slicing, s, *item) {
                    Some(true) => {
                        hit = Some(si);
                        break;
                    }
                    Some(false) => {}
                    None => undecided = true,
                }
            }
            matched.push(hit);
        }
        for (((_, item), l), hit) in found.iter().zip(locs).zip(&matched) {
            match hit {
                Some(si) => {
                    counts[*si] += 1;
                    self.item(slices[*si], *item, l);
                }
                None if slicing.closed && !undecided => self.push(
                    Severity::Error,
                    "structure",
                    l,
                    format!(
                        "{}: this element matches none of the slices, and the slicing is closed (profile {})",
                        base.id, p.url
                    ),
                ),
                None => {}
            }
        }
        // A discriminator this engine cannot evaluate (`resolve()`, a
        // profile it does not know) leaves the slice counts unknown.
        if undecided {
            return;
        }
        for (si, &s) in slices.iter().enumerate() {
            let el = &p.elements[s];
            self.cardinality(el, counts[si], loc, shown);
        }
    }

    /// Whether `item` belongs to slice `s`; `None` when a discriminator
    /// cannot be evaluated here.
    fn slice_matches(&self, slicing: &Slicing, s: usize, item: Inst<'r>) -> Option<bool> {
        let p = self.p;
        let slice = &p.elements[s];
        // A choice slice (`value[x]:valueQuantity`) is by type.
        if slice.path.ends_with("[x]") {
            if let Some(name) = &slice.slice_name {
                let suffix = slice.path.rsplit('.').next()?.trim_end_matches("[x]");
                let t = name.strip_prefix(suffix).unwrap_or(name);
                return Some(t.eq_ignore_ascii_case(item.ty));
            }
        }
        if slicing.discriminators.is_empty() {
            return None;
        }
        for d in &slicing.discriminators {
            let ok = match d.kind.as_str() {
                "value" | "pattern" => {
                    let base_id = if d.path == "$this" {
                        slice.id.clone()
                    } else {
                        format!("{}.{}", slice.id, d.path)
                    };
                    let value = inst_value(item);
                    let got = if d.path == "$this" {
                        value.into_iter().collect()
                    } else {
                        navigate(value, &d.path)
                    };
                    let target = p.by_id.get(&base_id).copied();
                    let own = target
                        .map(|t| &p.elements[t])
                        .and_then(|e| e.fixed.as_ref().or(e.pattern.as_ref()));
                    if let Some(expected) = own {
                        got.iter().any(|g| pattern_matches(expected, g))
                    } else if d.path == "url" {
                        // Extensions by url: the slice's type profile.
                        let u = slice.types.first().and_then(|(_, ps)| ps.first())?;
                        got.iter().any(|g| matches!(g, Json::String(s) if s == u))
                    } else if let Some(want) =
                        super::discriminator::ancestor_values(&d.path, |rel| {
                            let e = if rel.is_empty() {
                                slice
                            } else {
                                &p.elements[*p.by_id.get(&format!("{}.{rel}", slice.id))?]
                            };
                            e.fixed.as_ref().or(e.pattern.as_ref())
                        })
                    {
                        got.iter()
                            .any(|g| want.iter().any(|w| pattern_matches(w, g)))
                    } else {
                        // The fixed and pattern values below the element
                        // (`category:laboratory.coding.code`): all must hold
                        // in one item of the value.
                        let Some(target) = target else {
                            // An expanded slice without the element does
                            // not constrain this discriminator: it does
                            // not tell the slices apart.
                            let plain = d.path.chars().all(|c| c.is_alphanumeric() || c == '.');
                            if slice.children.is_empty() || !plain {
                                return None;
                            }
                            continue;
                        };
                        let prefix = format!("{base_id}.");
                        let mut below: Vec<(&str, &Json)> = Vec::new();
                        let mut stack = p.elements[target].children.clone();
                        while let Some(i) = stack.pop() {
                            let e = &p.elements[i];
                            stack.extend(e.children.iter().copied());
                            if let (Some(rel), Some(v)) = (
                                e.id.strip_prefix(&prefix),
                                e.fixed.as_ref().or(e.pattern.as_ref()),
                            ) {
                                below.push((rel, v));
                            }
                        }
                        if below.is_empty() {
                            // The slice does not fix this discriminator
                            // (JP-CLINS slices codings by system and
                            // display, fixing only the system): it does
                            // not tell the slices apart.
                            continue;
                        }
                        got.iter().any(|g| {
                            below.iter().all(|(rel, expected)| {
                                let rel = strip_slice_names(rel);
                                navigate(Some(g), &rel)
                                    .iter()
                                    .any(|x| pattern_matches(expected, x))
                            })
                        })
                    }
                }
                "type" | "profile" => {
                    // `resource`, `$this`, or a reference's `resolve()`.
                    let (path, resolve) = match d.path.strip_suffix("resolve()") {
                        Some(p) => (p.trim_end_matches('.'), true),
                        None => (d.path.as_str(), false),
                    };
                    if !path
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '.' || c == '$')
                    {
                        return None;
                    }
                    let here = path.is_empty() || path == "$this";
                    let target = if here {
                        slice
                    } else {
                        let id = format!("{}.{path}", slice.id);
                        p.by_id.get(&id).map(|&i| &p.elements[i])?
                    };
                    let value = if here {
                        inst_value(item)
                    } else {
                        navigate(inst_value(item), path).first().copied()
                    };
                    let Some(mut value) = value else {
                        return Some(false);
                    };
                    let choices = if resolve {
                        let reference = str_field(value, "reference")?;
                        value = super::resolve::resolve(self.resource, reference)
                            .or_else(|| super::resolve::resolve(self.bundle?, reference))?;
                        super::discriminator::target_choices(self.v, &target.targets)?
                    } else {
                        super::discriminator::type_choices(self.v, &target.types)?
                    };
                    let rt = resource_type(value).unwrap_or(item.ty);
                    let mine: Vec<&Option<String>> = choices
                        .iter()
                        .filter(|(t, _)| t == rt || t == "Resource")
                        .map(|(_, p)| p)
                        .collect();
                    if mine.is_empty() {
                        return Some(false);
                    }
                    if d.kind == "type" || mine.iter().any(|p| p.is_none()) {
                        return Some(true);
                    }
                    // Conforms to one of the profiles (without the base
                    // rules, which the base walk reports anyway).
                    let mut any = false;
                    for url in mine.into_iter().flatten() {
                        let prof = self.v.profile(url)?;
                        let mut scratch = Vec::new();
                        prof.validate_in(self.v, value, self.bundle, rt, &mut scratch);
                        if !super::has_errors(&scratch) {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                "exists" => {
                    let value = inst_value(item);
                    let want = slice.min > 0;
                    navigate(value, &d.path).is_empty() != want
                }
                _ => return None,
            };
            if !ok {
                return Some(false);
            }
        }
        Some(true)
    }
}

/// `coding:foo.code` → `coding.code`: slice names are not in the data.
fn strip_slice_names(rel: &str) -> String {
    rel.split('.')
        .map(|seg| seg.split(':').next().unwrap_or(seg))
        .collect::<Vec<_>>()
        .join(".")
}

fn inst_value<'r>(i: Inst<'r>) -> Option<&'r Json> {
    i.value
}

/// The values at a dotted path below `value` (arrays flattened).
fn navigate<'r>(value: Option<&'r Json>, path: &str) -> Vec<&'r Json> {
    let mut cur: Vec<&Json> = value.into_iter().collect();
    for seg in path.split('.') {
        let seg = seg.trim_end_matches("[x]");
        let mut next = Vec::new();
        for c in cur {
            if let Some(v) = field(c, seg) {
                match v {
                    Json::Array(a) => next.extend(a.iter()),
                    v => next.push(v),
                }
            }
        }
        cur = next;
    }
    cur
}

fn coding(v: &Json) -> Option<(Option<&str>, &str)> {
    Some((str_field(v, "system"), str_field(v, "code")?))
}

/// The instances of child `name` (`value[x]` for a choice) of an object,
/// with their index when the element repeats.
fn instances<'r>(parent: Inst<'r>, name: &str) -> Vec<(Option<usize>, Inst<'r>)> {
    let Some(Json::Object(m)) = parent.value else {
        return Vec::new();
    };
    let type_of_parent = fhir_model::meta::type_info(parent.ty);
    let mut out = Vec::new();
    let choice = name.strip_suffix("[x]");
    let ext_key = format!("_{name}");
    let only_ext = choice.is_none()
        && !m.iter().any(|(k, _)| k == name)
        && m.iter().any(|(k, _)| *k == ext_key);
    let mut add = |key: &str, ty: &'r str| {
        let val = m.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let ext = m
            .iter()
            .find(|(k, _)| k.strip_prefix('_') == Some(key))
            .map(|(_, v)| v);
        match (val, ext) {
            (Some(Json::Array(a)), e) => {
                let exts = match e {
                    Some(Json::Array(x)) => Some(x),
                    _ => None,
                };
                for (i, x) in a.iter().enumerate() {
                    out.push((
                        Some(i),
                        Inst {
                            value: Some(x).filter(|x| !x.is_null()),
                            ext: exts.and_then(|x| x.get(i)),
                            ty,
                        },
                    ));
                }
            }
            (None, Some(Json::Array(x))) => {
                for (i, e) in x.iter().enumerate() {
                    out.push((
                        Some(i),
                        Inst {
                            value: None,
                            ext: Some(e),
                            ty,
                        },
                    ));
                }
            }
            (None, None) => {}
            (v, e) => out.push((
                None,
                Inst {
                    value: v,
                    ext: e,
                    ty,
                },
            )),
        }
    };
    for (k, _) in m {
        if k.starts_with('_') {
            continue;
        }
        let ty: &'r str = match type_of_parent.and_then(|t| t.element_named(k)) {
            Some((_, _, t)) => t,
            None => "",
        };
        match choice {
            Some(prefix)
                if k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase())) =>
            {
                add(k, ty)
            }
            None if k == name => add(k, ty),
            _ => {}
        }
    }
    // A primitive that has only `_name`.
    if only_ext {
        let ty = type_of_parent
            .and_then(|t| t.element_named(name))
            .map(|(_, _, t)| t)
            .unwrap_or("");
        add(name, ty);
    }
    out
}

/// Exact equality, objects compared without regard to key order.
fn deep_eq(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| k2 == k)
                        .is_some_and(|(_, w)| deep_eq(v, w))
                })
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| deep_eq(a, b))
        }
        (Json::Number(x), Json::Number(y)) => {
            x == y || x.parse::<f64>().ok() == y.parse::<f64>().ok()
        }
        _ => a == b,
    }
}

/// Whether `value` holds at least `pattern` (profiling.html#pattern):
/// every property of the pattern, every pattern array item matched by some
/// item of the value.
fn pattern_matches(pattern: &Json, value: &Json) -> bool {
    match (pattern, value) {
        (Json::Object(p), Json::Object(_)) => p.iter().all(|(k, pv)| match field(value, k) {
            None => false,
            Some(vv) => match pv {
                Json::Array(items) => items.iter().all(|pi| match vv {
                    Json::Array(vs) => vs.iter().any(|x| pattern_matches(pi, x)),
                    other => pattern_matches(pi, other),
                }),
                _ => pattern_matches(pv, vv),
            },
        }),
        _ => deep_eq(pattern, value),
    }
}

fn show(v: &Json) -> String {
    String::from_utf8_lossy(&fhir_model::json::tree::to_json(v)).into_owned()
}
