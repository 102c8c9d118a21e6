//! SearchParameter rules (searchparameter.html):
//!
//! - one `derivedFrom` another (a known one) keeps its type, and its bases
//!   are among the other's (or the other applies to every `Resource`);
//! - the type names that start the paths of its `expression` are among
//!   its bases (`Organization.name` cannot select anything on a
//!   SearchParameter for `Patient`).

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};
use fhirpath::ast::Ast;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

pub(crate) fn check(v: &Validator, sp: &Json, location: &str, issues: &mut Vec<Issue>) {
    let bases: Vec<&str> = match field(sp, "base") {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|b| match b {
                Json::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if let Some(master_url) = str_field(sp, "derivedFrom") {
        if let Some(master) = v
            .packages()
            .json_by_canonical(master_url)
            .filter(|m| crate::json::resource_type(m) == Some("SearchParameter"))
        {
            derived(sp, master, master_url, &bases, location, issues);
        }
    }
    if let Some(expr) = str_field(sp, "expression") {
        expression(expr, &bases, location, issues);
    }
}

fn derived(
    sp: &Json,
    master: &Json,
    master_url: &str,
    bases: &[&str],
    location: &str,
    issues: &mut Vec<Issue>,
) {
    let master_bases: Vec<&str> = match field(master, "base") {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|b| match b {
                Json::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !master_bases.contains(&"Resource") {
        for b in bases {
            if !master_bases.contains(b) {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::BusinessRule,
                    location,
                    format!(
                        "The resource type {b} is not listed as a base in the SearchParameter this is derived from ({master_url})"
                    ),
                ));
            }
        }
    }
    if let (Some(ty), Some(master_ty)) = (str_field(sp, "type"), str_field(master, "type")) {
        if ty != master_ty {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::BusinessRule,
                location,
                format!(
                    "The type {ty} is different to the type {master_ty} of {master_url}, the derivedFrom SearchParameter"
                ),
            ));
        }
    }
}

/// The resource type names that start the paths of `expr` (outside the
/// arguments of functions, where the focus is something else) must be
/// bases of the parameter, or types they specialize.
fn expression(expr: &str, bases: &[&str], location: &str, issues: &mut Vec<Issue>) {
    if bases.is_empty()
        || bases
            .iter()
            .any(|b| matches!(*b, "Resource" | "DomainResource"))
    {
        return;
    }
    let Ok(ast) = fhirpath::parser::parse(expr) else {
        return;
    };
    let mut roots = Vec::new();
    path_roots(&ast, &mut roots);
    for name in roots {
        let is_resource = meta::type_info(name).is_some_and(|t| t.kind == Kind::Resource);
        if !is_resource || bases.iter().any(|b| specializes(b, name)) {
            continue;
        }
        let possible: Vec<String> = bases
            .iter()
            .map(|b| format!("http://hl7.org/fhir/StructureDefinition/{b}"))
            .collect();
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            format!("{location}.expression"),
            format!(
                "Error in search expression '{expr}': The name '{name}' is not valid for any of the possible types: [{}]",
                possible.join(", ")
            ),
        ));
    }
}

/// Whether type `ty` is `ancestor` or derives from it.
fn specializes(ty: &str, ancestor: &str) -> bool {
    let mut t = ty;
    for _ in 0..8 {
        if t == ancestor {
            return true;
        }
        match meta::type_info(t) {
            Some(info) if !info.base.is_empty() => t = info.base,
            _ => return false,
        }
    }
    false
}

fn path_roots<'a>(ast: &'a Ast, out: &mut Vec<&'a str>) {
    match ast {
        Ast::Ident(name) => out.push(name),
        Ast::Member(base, _) | Ast::Index(base, _) | Ast::Is(base, _) | Ast::As(base, _) => {
            path_roots(base, out)
        }
        Ast::Call {
            target: Some(t), ..
        } => path_roots(t, out),
        Ast::Binary(_, a, b) => {
            path_roots(a, out);
            path_roots(b, out);
        }
        Ast::Neg(a) => path_roots(a, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::Validator;
    use crate::{Package, PackageSet};

    const MASTER: &str = r#"{"resourceType":"SearchParameter","id":"org-name",
        "url":"http://example.org/SearchParameter/org-name","name":"name","status":"active",
        "description":"x","code":"name","base":["Organization"],"type":"string",
        "expression":"Organization.name | Organization.alias"}"#;

    fn errors(sp: &str) -> Vec<String> {
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources(
                "t",
                "0.0.0",
                vec![("m.json".to_owned(), MASTER.as_bytes().to_vec())],
            )
            .expect("package"),
        );
        Validator::new(Arc::new(set))
            .validate_json(sp.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    fn derived(base: &str, ty: &str) -> String {
        format!(
            r#"{{"resourceType":"SearchParameter","url":"http://example.org/SearchParameter/d",
            "name":"d","status":"active","description":"x","code":"name","base":["{base}"],
            "type":"{ty}","derivedFrom":"http://example.org/SearchParameter/org-name",
            "expression":"Organization.name | Organization.alias"}}"#
        )
    }

    #[test]
    fn a_derived_parameter_keeps_type_and_bases() {
        assert!(errors(&derived("Organization", "string")).is_empty());
        let e = errors(&derived("Organization", "token"));
        assert!(
            e.len() == 1 && e[0].starts_with("SearchParameter: The type token"),
            "{e:?}"
        );
        let e = errors(&derived("Patient", "string"));
        assert!(
            e.iter()
                .any(|m| m.contains("Patient is not listed as a base")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("SearchParameter.expression:")
                    && m.contains("'Organization'")),
            "{e:?}"
        );
    }

    #[test]
    fn expressions_may_name_bases_and_their_ancestors() {
        let sp = |base: &str, expr: &str| {
            format!(
                r#"{{"resourceType":"SearchParameter","url":"http://example.org/SearchParameter/x",
                "name":"x","status":"active","description":"x","code":"x","base":["{base}"],
                "type":"token","expression":"{expr}"}}"#
            )
        };
        assert!(errors(&sp("Patient", "Patient.gender")).is_empty());
        assert!(errors(&sp("Patient", "Resource.id")).is_empty());
        assert!(errors(&sp(
            "Patient",
            "Patient.link.other.where(resolve() is Patient)"
        ))
        .is_empty());
        assert!(!errors(&sp("Patient", "Observation.code")).is_empty());
    }
}
