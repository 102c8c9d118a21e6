//! CapabilityStatement rules (capabilitystatement.html): a search
//! parameter a server declares with the `definition` of a known
//! SearchParameter has that parameter's type.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}

pub(crate) fn check(v: &Validator, cs: &Json, location: &str, issues: &mut Vec<Issue>) {
    for (r, rest) in list(cs, "rest").iter().enumerate() {
        for (t, res) in list(rest, "resource").iter().enumerate() {
            for (p, param) in list(res, "searchParam").iter().enumerate() {
                let at = format!("{location}.rest[{r}].resource[{t}].searchParam[{p}]");
                search_param(v, param, &at, issues);
            }
        }
        for (p, param) in list(rest, "searchParam").iter().enumerate() {
            let at = format!("{location}.rest[{r}].searchParam[{p}]");
            search_param(v, param, &at, issues);
        }
    }
}

fn search_param(v: &Validator, param: &Json, at: &str, issues: &mut Vec<Issue>) {
    let (Some(url), Some(ty)) = (str_field(param, "definition"), str_field(param, "type")) else {
        return;
    };
    let Some(sp) = v
        .packages()
        .json_by_canonical(url)
        .filter(|sp| crate::json::resource_type(sp) == Some("SearchParameter"))
    else {
        return;
    };
    let Some(sp_ty) = str_field(sp, "type") else {
        return;
    };
    if sp_ty != ty {
        let versioned = match str_field(sp, "version") {
            Some(ver) if !url.contains('|') => format!("{url}|{ver}"),
            _ => url.to_owned(),
        };
        issues.push(Issue::new(
            Severity::Error,
            IssueType::BusinessRule,
            at,
            format!(
                "Type mismatch - SearchParameter '{versioned}' type is {sp_ty}, but type here is {ty}"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::validate::Validator;
    use crate::{Package, PackageSet};

    const SP: &str = r#"{"resourceType":"SearchParameter","id":"status",
        "url":"http://example.org/SearchParameter/status","name":"status","status":"active",
        "description":"x","code":"status","base":["Patient"],"type":"token","expression":"Patient.active"}"#;

    fn errors(ty: &str) -> Vec<String> {
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources(
                "t",
                "0.0.0",
                vec![("s.json".to_owned(), SP.as_bytes().to_vec())],
            )
            .expect("package"),
        );
        let cs = format!(
            r#"{{"resourceType":"CapabilityStatement","status":"active","date":"2020-01-01",
            "kind":"instance","fhirVersion":"4.0.1","format":["json"],
            "implementation":{{"description":"x"}},
            "rest":[{{"mode":"server","resource":[{{"type":"Patient","searchParam":[
            {{"name":"status","definition":"http://example.org/SearchParameter/status","type":"{ty}"}}]}}]}}]}}"#
        );
        Validator::new(Arc::new(set))
            .validate_json(cs.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn a_declared_search_parameter_has_its_definition_type() {
        assert!(errors("token").is_empty(), "{:?}", errors("token"));
        let e = errors("date");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0]
            .starts_with("CapabilityStatement.rest[0].resource[0].searchParam[0]: Type mismatch"));
    }
}
