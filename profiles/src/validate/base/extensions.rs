//! Where an extension may be, and whether its url may be used at all
//! (extensibility.html, the HL7 validator's `checkExtension`).
//!
//! For every extension of the base walk:
//! - a url that is not absolute is a sub-extension name, allowed only
//!   inside a complex extension whose definition names it (a slice of
//!   `Extension.extension` with that fixed url); outside an extension it
//!   is an error: `Extension.url` must be absolute;
//! - an absolute url with no definition in the package set is an error
//!   ("could not be found so is not allowed here"), as the HL7 validator
//!   reports it, except for the urls it lets through without one: example
//!   domains (`example.org`, `acme.com`), `nema.org`, the HL7 tools
//!   extensions, and urls this engine cannot judge: the core
//!   `http://hl7.org/fhir/StructureDefinition/` space (later versions
//!   publish many more there, in `hl7.fhir.uv.extensions`) and the
//!   cross-version urls (`http://hl7.org/fhir/5.0/StructureDefinition/…`),
//!   whose definitions are generated from other FHIR versions;
//! - a known definition must match the element it sits in: a modifier
//!   extension only in `modifierExtension`, a plain one only in
//!   `extension`;
//! - its `context` must allow the element holding it (the container): an
//!   element path or type (or an ancestor type's path: `DomainResource.text`
//!   for `Patient.text`), `Element`, `Resource` on a resource, an
//!   `extension` context inside the extension with that url, or a
//!   `fhirpath` context whose result holds the container; then each
//!   `contextInvariant` must hold with the container as focus.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};
use fhirpath::{Context, Expression, Item, Node};

use crate::json::{field, str_field};
use crate::validate::base::constraints::holds;
use crate::validate::base::types::path_type;
use crate::validate::IssueType;
use crate::validate::{Issue, Severity, Validator};

/// Where one extension sits.
pub(crate) struct Site<'a, 'r> {
    /// The extension's own location (`Patient.extension[0]`).
    pub location: &'a str,
    /// In `modifierExtension` rather than `extension`.
    pub modifier: bool,
    /// The element holding the extension.
    pub container: Node<'r>,
    /// The container's location (`Patient.address[0]`).
    pub container_location: &'a str,
    /// The container's element paths and type (`Patient.address`,
    /// `Address`).
    pub container_paths: &'a [&'a str],
    /// The url of the Extension that holds the container (the container is
    /// that extension's value, or the extension itself).
    pub parent_url: Option<&'r str>,
}

/// Checks one extension (`ext`, an object with a `url`) at `site` of
/// `resource` (`root` is `%rootResource`). Returns whether the url has a
/// definition in the package set.
pub(crate) fn check(
    v: &Validator,
    resource: &Json,
    root: &Json,
    ext: &Json,
    site: &Site<'_, '_>,
    issues: &mut Vec<Issue>,
) {
    let Some(url) = str_field(ext, "url") else {
        return;
    };
    let container_url = if site.container.ty == "Extension" {
        site.container.str_field("url")
    } else {
        None
    };
    if !crate::validate::datatypes::canonical::has_scheme(url) {
        match container_url {
            // A sub-extension: its name must be one the complex
            // extension defines, when that definition is known.
            Some(parent) => {
                if let Some(names) = sub_extension_names(v, parent) {
                    if !names.iter().any(|n| n == url) {
                        issues.push(Issue::new(
                            Severity::Error,
                            IssueType::Invalid,
                            format!("{}[url='{url}']", site.location),
                            format!(
                                "Sub-extension url '{url}' is not defined by the Extension {parent}"
                            ),
                        ));
                    }
                }
            }
            None => issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                site.location,
                format!("Extension.url must be an absolute URL (found '{url}')"),
            )),
        }
        return;
    }
    let Some(sd) = definition(v, url) else {
        if url.starts_with("http://hl7.org/fhir/StructureDefinition/") || is_cross_version(url) {
            // HL7's own: defined by the core package when loaded, or by
            // another version; not reported.
        } else if unknown_allowed(url, v.policy.allow_examples) {
            issues.push(Issue::new(
                Severity::Warning,
                IssueType::NotSupported,
                site.location,
                format!("extension {url} is not known; its content is not checked"),
            ));
        } else {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                site.location,
                format!("The extension {url} could not be found so is not allowed here"),
            ));
        }
        return;
    };
    let is_modifier = root_is_modifier(sd);
    if is_modifier != site.modifier {
        let msg = if site.modifier {
            format!("The Extension '{url}' must not be used as a modifierExtension (it's a regular extension)")
        } else {
            format!(
                "The Extension '{url}' must not be used as an extension (it's a modifierExtension)"
            )
        };
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            format!("{}[url='{url}']", site.location),
            msg,
        ));
    }
    context(v, resource, root, url, sd, site, container_url, issues);
}

/// Urls allowed without a definition (see the module doc); the example
/// domains only while the validator's policy allows examples.
fn unknown_allowed(url: &str, examples: bool) -> bool {
    (examples && (url.contains("example.org") || url.contains("acme.com")))
        || url.contains("nema.org")
        || url.starts_with("http://hl7.org/fhir/tools/StructureDefinition/")
        || url.starts_with("http://hl7.org/fhir/StructureDefinition/")
        || is_cross_version(url)
}

/// `http://hl7.org/fhir/{version}/StructureDefinition/extension-{path}`.
fn is_cross_version(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://hl7.org/fhir/") else {
        return false;
    };
    let Some((version, rest)) = rest.split_once('/') else {
        return false;
    };
    !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        && rest.starts_with("StructureDefinition/extension-")
}

/// The StructureDefinition of an extension url (`url|version` allowed).
fn definition<'v>(v: &'v Validator, url: &str) -> Option<&'v Json> {
    let (pkg, res) = v.packages().by_canonical(url)?;
    if res.resource_type != "StructureDefinition" {
        return None;
    }
    let sd = res.json(pkg.source()).ok()?;
    (str_field(sd, "type") == Some("Extension")).then_some(sd)
}

/// The first element's `isModifier` (snapshot, else differential).
fn root_is_modifier(sd: &Json) -> bool {
    ["snapshot", "differential"].iter().any(|part| {
        let Some(Json::Array(list)) = field(sd, part).and_then(|p| field(p, "element")) else {
            return false;
        };
        list.iter()
            .find(|e| str_field(e, "path") == Some("Extension"))
            .is_some_and(|e| matches!(field(e, "isModifier"), Some(Json::Bool(true))))
    })
}

/// The sub-extension names a complex extension defines (the fixed urls
/// of its `Extension.extension` slices); `None` when its definition is
/// not known.
fn sub_extension_names(v: &Validator, url: &str) -> Option<Vec<String>> {
    let sd = definition(v, url)?;
    let elements = crate::snapshot::elements(v.packages(), sd)?;
    Some(
        elements
            .iter()
            .filter(|e| str_field(e, "path") == Some("Extension.extension.url"))
            .filter_map(|e| str_field(e, "fixedUri"))
            .map(str::to_owned)
            .collect(),
    )
}

/// Contexts the HL7 validator corrects for R4 definitions (its
/// `fixContexts`): these R4 core extensions name contexts too narrow
/// for their real use.
fn fixed_context(url: &str, i: usize, expr: &str) -> String {
    match (url, i) {
        ("http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type", 0)
        | ("http://hl7.org/fhir/StructureDefinition/regex", 1) => "ElementDefinition.type".into(),
        ("http://hl7.org/fhir/StructureDefinition/structuredefinition-normative-version", 0)
        | ("http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation", 0)
        | ("http://hl7.org/fhir/StructureDefinition/capabilitystatement-prohibited", 0) => {
            "Element".into()
        }
        _ => expr.to_owned(),
    }
}

/// Context and context invariants of a known extension.
#[allow(clippy::too_many_arguments)]
fn context(
    v: &Validator,
    resource: &Json,
    root: &Json,
    url: &str,
    sd: &Json,
    site: &Site<'_, '_>,
    container_url: Option<&str>,
    issues: &mut Vec<Issue>,
) {
    let Some(Json::Array(list)) = field(sd, "context") else {
        return;
    };
    let contexts: Vec<(&str, String)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let expr = str_field(c, "expression")?;
            Some((str_field(c, "type")?, fixed_context(url, i, expr)))
        })
        .collect();
    if contexts.is_empty() {
        return;
    }
    let allowed = contexts.iter().any(|(ty, expr)| match *ty {
        "element" => element_allows(expr, site),
        "extension" => container_url == Some(expr.as_str()) || site.parent_url == Some(expr),
        "fhirpath" => fhirpath_allows(expr, resource, root, site.container),
        _ => true,
    });
    if !allowed {
        let shown: Vec<String> = contexts
            .iter()
            .map(|(ty, e)| {
                let k = match *ty {
                    "element" => "e",
                    "extension" => "x",
                    "fhirpath" => "p",
                    other => other,
                };
                format!("{k}:{e}")
            })
            .collect();
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            site.container_location,
            format!(
                "The extension {url} is not allowed to be used at this point (this element is [{}]; allowed = {})",
                site.container_paths.join(", "),
                shown.join(", ")
            ),
        ));
        return;
    }
    let Some(Json::Array(invariants)) = field(sd, "contextInvariant") else {
        return;
    };
    for inv in invariants {
        let Json::String(text) = inv else {
            continue;
        };
        let expr = compiled(text);
        if holds(v, expr.as_ref(), resource, root, site.container) == Some(false) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Structure,
                site.container_location,
                format!(
                    "The extension {url} is not allowed to be used at this point (based on context invariant '{text}')"
                ),
            ));
            return;
        }
    }
}

/// An `element` context: `Element`/`Base`/`Any` anywhere, `Resource` and
/// the resource's ancestors on a resource, an element path or type of the
/// container or the same path on one of its ancestor types.
fn element_allows(expr: &str, site: &Site<'_, '_>) -> bool {
    if matches!(expr, "Element" | "Base" | "Any") {
        return true;
    }
    // Slice names and element ids this engine does not resolve.
    if expr.contains(':') || expr.contains('#') {
        return true;
    }
    let kind = meta::type_info(site.container.ty).map(|t| t.kind);
    if expr == "BackboneElement" && kind == Some(Kind::Backbone) {
        return true;
    }
    if site.container.is_resource() {
        if expr == "Resource" {
            return true;
        }
        // R5's interfaces, named by definitions written for several
        // versions: in R4 the resources with a canonical url.
        if matches!(expr, "CanonicalResource" | "MetadataResource") {
            return meta::type_info(site.container.ty)
                .is_some_and(|t| t.element("url").is_some() && t.element("status").is_some());
        }
    }
    // A backbone element is known by its type wherever it is reached
    // (`OperationDefinition.parameter.part` is `OperationDefinition.parameter`).
    if kind == Some(Kind::Backbone) && path_type(expr) == Some(site.container.ty) {
        return true;
    }
    if inherited_path_matches(expr, site.container_paths) {
        return true;
    }
    let ty = site.container.ty;
    let paths = site
        .container_paths
        .iter()
        .copied()
        .chain(std::iter::once(ty));
    for p in paths {
        let p = p.trim_end_matches("[x]");
        if p == expr {
            return true;
        }
        // The same path on an ancestor of its head type.
        let (head, rest) = match p.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (p, None),
        };
        let mut base = meta::type_info(head).map(|t| t.base);
        let mut guard = 0;
        while let Some(b) = base.filter(|b| !b.is_empty()) {
            let candidate = match rest {
                Some(r) => format!("{b}.{r}"),
                None => b.to_owned(),
            };
            if candidate == expr {
                return true;
            }
            guard += 1;
            if guard > 8 {
                break;
            }
            base = meta::type_info(b).map(|t| t.base);
        }
    }
    false
}

/// `DomainResource.text` names `Patient.text` too: an element a type
/// inherits from one of the abstract bases.
fn inherited_path_matches(expr: &str, paths: &[&str]) -> bool {
    let Some((base, rest)) = expr.split_once('.') else {
        return false;
    };
    matches!(
        base,
        "Resource" | "DomainResource" | "Element" | "BackboneElement"
    ) && paths
        .iter()
        .any(|p| p.split_once('.').is_some_and(|(_, r)| r == rest))
}

/// A `fhirpath` context: the container is among the expression's results
/// on the resource. An expression that does not compile or run allows.
fn fhirpath_allows(text: &str, resource: &Json, root: &Json, container: Node<'_>) -> bool {
    let Some(expr) = compiled(text) else {
        return true;
    };
    let ctx = Context::new(resource).with_root_resource(root);
    let Ok(out) = expr.evaluate(&ctx) else {
        return true;
    };
    out.iter().any(|i| match i {
        Item::Node(n) => match (n.value, container.value) {
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            (None, None) => same(n.ext, container.ext),
            _ => false,
        },
        _ => false,
    })
}

fn same(a: Option<&Json>, b: Option<&Json>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Context expressions compiled once per process.
fn compiled(text: &str) -> Option<Expression> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Expression>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Ok(map) = cache.lock() {
        if let Some(e) = map.get(text) {
            return e.clone();
        }
    }
    let e = Expression::compile(text).ok();
    if let Ok(mut map) = cache.lock() {
        if map.len() < 10_000 {
            map.insert(text.to_owned(), e.clone());
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Package, PackageSet, Validator};

    /// A complex extension allowed on `Patient` and `Patient.name` while
    /// the patient is not active, and a modifier extension.
    const DEFS: [(&str, &str); 2] = [
        (
            "StructureDefinition-ext-pet.json",
            r#"{"resourceType":"StructureDefinition","id":"ext-pet",
 "url":"http://example.test/StructureDefinition/ext-pet","type":"Extension","kind":"complex-type",
 "derivation":"constraint",
 "context":[{"type":"element","expression":"Patient"},{"type":"element","expression":"Patient.name"},
  {"type":"fhirpath","expression":"Patient.address.where(use = 'home')"}],
 "contextInvariant":["Patient.active.exists().not() or Patient.active.not()"],
 "snapshot":{"element":[
  {"id":"Extension","path":"Extension","min":0,"max":"*"},
  {"id":"Extension.extension","path":"Extension.extension","min":0,"max":"*"},
  {"id":"Extension.extension:kind","path":"Extension.extension","sliceName":"kind","min":0,"max":"1"},
  {"id":"Extension.extension:kind.url","path":"Extension.extension.url","min":1,"max":"1","fixedUri":"kind"},
  {"id":"Extension.url","path":"Extension.url","min":1,"max":"1","fixedUri":"http://example.test/StructureDefinition/ext-pet"}
 ]}}"#,
        ),
        (
            "StructureDefinition-ext-mod.json",
            r#"{"resourceType":"StructureDefinition","id":"ext-mod",
 "url":"http://example.test/StructureDefinition/ext-mod","type":"Extension","kind":"complex-type",
 "derivation":"constraint","context":[{"type":"element","expression":"Element"}],
 "snapshot":{"element":[
  {"id":"Extension","path":"Extension","min":0,"max":"*","isModifier":true},
  {"id":"Extension.url","path":"Extension.url","min":1,"max":"1","fixedUri":"http://example.test/StructureDefinition/ext-mod"}
 ]}}"#,
        ),
    ];

    fn validator() -> Validator {
        let files = DEFS
            .iter()
            .map(|(n, b)| ((*n).to_owned(), b.as_bytes().to_vec()))
            .collect::<Vec<_>>();
        let mut set = PackageSet::new();
        set.add(Package::from_resources("ext.test", "0.1.0", files).expect("package"));
        Validator::new(Arc::new(set))
    }

    /// The error messages for a Patient with these members.
    fn errors(members: &str) -> Vec<String> {
        let v = validator();
        let json = format!(r#"{{"resourceType":"Patient",{members}}}"#);
        v.validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    const PET: &str = r#"{"url":"http://example.test/StructureDefinition/ext-pet","extension":[{"url":"kind","valueString":"dog"}]}"#;

    #[test]
    fn an_unknown_extension_is_an_error_unless_its_domain_is_let_through() {
        let e = errors(r#""extension":[{"url":"http://unknown.test/ext","valueBoolean":true}]"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("could not be found so is not allowed here"));
        for url in [
            "http://example.org/fhir/StructureDefinition/x",
            "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
            "http://hl7.org/fhir/5.0/StructureDefinition/extension-Patient.active",
            "http://hl7.org/fhir/tools/StructureDefinition/x",
        ] {
            let e = errors(&format!(
                r#""extension":[{{"url":"{url}","valueBoolean":true}}]"#
            ));
            assert!(e.is_empty(), "{url}: {e:?}");
        }
    }

    #[test]
    fn an_extension_url_must_be_absolute_outside_an_extension() {
        let e = errors(r#""extension":[{"url":"something","valueBoolean":true}]"#);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("Patient.extension[0]: Extension.url must be an absolute URL"));
        assert!(is_absolute_ok());
    }

    fn is_absolute_ok() -> bool {
        crate::validate::datatypes::canonical::has_scheme("urn:oid:1.2.3")
            && crate::validate::datatypes::canonical::has_scheme("https://x.test/a")
            && !crate::validate::datatypes::canonical::has_scheme("kind")
            && !crate::validate::datatypes::canonical::has_scheme(":x")
    }

    #[test]
    fn a_sub_extension_must_be_one_the_complex_extension_defines() {
        assert!(errors(&format!(r#""extension":[{PET}]"#)).is_empty());
        let bad = PET.replace(r#""url":"kind""#, r#""url":"kind-x""#);
        let e = errors(&format!(r#""extension":[{bad}]"#));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("Patient.extension[0].extension[0][url='kind-x']: Sub-extension"),
            "{e:?}"
        );
    }

    #[test]
    fn the_context_must_allow_the_element_holding_the_extension() {
        // Allowed: the resource, a name, a home address.
        assert!(errors(&format!(r#""extension":[{PET}]"#)).is_empty());
        assert!(errors(&format!(r#""name":[{{"family":"A","extension":[{PET}]}}]"#)).is_empty());
        assert!(errors(&format!(
            r#""address":[{{"use":"home","extension":[{PET}]}}]"#
        ))
        .is_empty());
        // Not allowed: a work address, a primitive, another resource.
        let e = errors(&format!(
            r#""address":[{{"use":"work","extension":[{PET}]}}]"#
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("Patient.address[0]: The extension"),
            "{e:?}"
        );
        let e = errors(&format!(
            r#""birthDate":"2000-01-01","_birthDate":{{"extension":[{PET}]}}"#
        ));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("Patient.birthDate: "), "{e:?}");
        let v = validator();
        let org = format!(r#"{{"resourceType":"Organization","extension":[{PET}]}}"#);
        assert!(crate::has_errors(&v.validate_json(org.as_bytes(), &[])));
    }

    #[test]
    fn a_context_invariant_must_hold() {
        let e = errors(&format!(r#""active":true,"extension":[{PET}]"#));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("based on context invariant"), "{e:?}");
        assert!(errors(&format!(r#""active":false,"extension":[{PET}]"#)).is_empty());
    }

    #[test]
    fn a_modifier_extension_goes_in_modifier_extension_only() {
        let m = r#"{"url":"http://example.test/StructureDefinition/ext-mod","valueBoolean":true}"#;
        assert!(errors(&format!(r#""modifierExtension":[{m}]"#)).is_empty());
        let e = errors(&format!(r#""extension":[{m}]"#));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("must not be used as an extension"), "{e:?}");
        let e = errors(&format!(r#""modifierExtension":[{PET}]"#));
        assert!(
            e.iter()
                .any(|m| m.contains("must not be used as a modifierExtension")),
            "{e:?}"
        );
    }
}
