//! The closed rules of the base spec every write must meet, checked
//! cheaply with no package loaded and no validator: one walk over the
//! resource's JSON tree with the type tables of `fhir_model::meta`.
//!
//! - A `code` element bound `required` holds one of its value set's codes
//!   (terminologies.html#required: `Observation.status` is `final`, never
//!   `bogus`). The codes come from `data/required-codes.json`, written by
//!   `fhir-codegen` from the core package (the same definitions
//!   [`crate::validate`]'s base binding check reads from a loaded
//!   package); elements whose value set lists external codes (MIME types,
//!   currencies) are not judged.
//! - dom-2: a contained resource contains no resources.
//! - dom-4: a contained resource has no `meta.versionId` or
//!   `meta.lastUpdated`.
//!
//! Full validation (profiles, invariants in FHIRPath, terminology) stays
//! the [`crate::Validator`]'s, optional on the server.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use fhir_model::json::tree::{self, Value as Json};
use fhir_model::meta::{type_info, Kind};

use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

const REQUIRED_CODES_JSON: &str = include_str!("../data/required-codes.json");

/// Deeper than this is not a resource; the model refuses it before.
const MAX_DEPTH: usize = 200;

/// A required binding: the value set's url and its codes.
struct Binding {
    value_set: String,
    codes: HashSet<String>,
}

/// `Type.element` (as `fhir_model::meta` names the type) → its binding.
static REQUIRED: LazyLock<HashMap<String, Binding>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    let Ok(Json::Object(top)) = tree::parse(REQUIRED_CODES_JSON.as_bytes()) else {
        return out;
    };
    let Some((_, Json::Object(elements))) = top.into_iter().find(|(k, _)| k == "elements") else {
        return out;
    };
    for (key, v) in elements {
        let Json::Object(b) = v else { continue };
        let mut value_set = String::new();
        let mut codes = HashSet::new();
        for (k, v) in b {
            match (k.as_str(), v) {
                ("valueSet", Json::String(s)) => value_set = s,
                ("codes", Json::Array(a)) => codes.extend(a.into_iter().filter_map(|c| match c {
                    Json::String(s) => Some(s),
                    _ => None,
                })),
                _ => {}
            }
        }
        out.insert(key, Binding { value_set, codes });
    }
    out
});

/// The binding of element `name` of type `ty`, or of the type it
/// specializes (`Age.comparator` is `Quantity.comparator`).
fn binding(ty: &str, name: &str) -> Option<&'static Binding> {
    let mut t = ty;
    for _ in 0..4 {
        if let Some(b) = REQUIRED.get(&format!("{t}.{name}")) {
            return Some(b);
        }
        t = type_info(t)?.base;
        if t.is_empty() {
            return None;
        }
    }
    None
}

/// Every violation in `resource` (its JSON tree), located from its type
/// (`Observation.status`, `Patient.contained[0].meta`).
pub fn check(resource: &Json) -> Vec<Issue> {
    let mut w = Walk {
        path: Vec::new(),
        issues: Vec::new(),
    };
    w.resource(resource, false, 0);
    w.issues
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct Walk<'a> {
    path: Vec<Seg<'a>>,
    issues: Vec<Issue>,
}

impl<'a> Walk<'a> {
    fn location(&self) -> String {
        let mut out = String::new();
        for s in &self.path {
            match s {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
            }
        }
        out
    }

    fn issue(&mut self, code: IssueType, message: String) {
        let at = self.location();
        self.issues
            .push(Issue::new(Severity::Error, code, &at, message));
    }

    fn resource(&mut self, r: &'a Json, contained: bool, depth: usize) {
        let Json::Object(m) = r else { return };
        let Some(ty) = m.iter().find_map(|(k, v)| match (k.as_str(), v) {
            ("resourceType", Json::String(s)) => Some(s.as_str()),
            _ => None,
        }) else {
            return;
        };
        let root = self.path.is_empty();
        if root {
            self.path.push(Seg::Key(ty));
        }
        if contained {
            self.contained_rules(m);
        }
        self.object(m, ty, depth);
        if root {
            self.path.pop();
        }
    }

    /// dom-2 and dom-4 on a contained resource.
    fn contained_rules(&mut self, m: &'a [(String, Json)]) {
        if m.iter().any(|(k, _)| k == "contained") {
            self.path.push(Seg::Key("contained"));
            self.issue(
                IssueType::Invariant,
                "dom-2: a contained resource SHALL NOT contain nested resources".to_owned(),
            );
            self.path.pop();
        }
        let meta = m.iter().find_map(|(k, v)| match (k.as_str(), v) {
            ("meta", Json::Object(meta)) => Some(meta),
            _ => None,
        });
        for key in ["versionId", "lastUpdated"] {
            if meta.is_some_and(|meta| meta.iter().any(|(k, _)| k == key)) {
                self.path.push(Seg::Key("meta"));
                self.path.push(Seg::Key(key));
                self.issue(
                    IssueType::Invariant,
                    format!("dom-4: a contained resource SHALL NOT have meta.{key}"),
                );
                self.path.pop();
                self.path.pop();
            }
        }
    }

    /// An object of FHIR type `ty`.
    fn object(&mut self, m: &'a [(String, Json)], ty: &str, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let Some(info) = type_info(ty) else { return };
        for (key, value) in m {
            if let Some(name) = key.strip_prefix('_') {
                // A primitive's id and extensions.
                self.path.push(Seg::Key(name));
                self.each(value, |w, item| w.object_of(item, "Element", depth));
                self.path.pop();
                continue;
            }
            let Some((_, el, t)) = info.element_named(key) else {
                continue;
            };
            self.path.push(Seg::Key(key));
            if t == "code" {
                if let Some(b) = binding(ty, el.name) {
                    self.each(value, |w, item| {
                        if let Json::String(code) = item {
                            if !b.codes.contains(code) {
                                w.issue(
                                    IssueType::CodeInvalid,
                                    format!(
                                        "the code '{code}' is not in the value set {} that the element's required binding allows",
                                        b.value_set
                                    ),
                                );
                            }
                        }
                    });
                }
            } else if t == "Resource" {
                let contained = el.name == "contained" && info.kind == Kind::Resource;
                self.each(value, |w, item| w.resource(item, contained, depth + 1));
            } else if t.starts_with(|c: char| c.is_ascii_uppercase()) {
                self.each(value, |w, item| w.object_of(item, t, depth));
            }
            self.path.pop();
        }
    }

    fn object_of(&mut self, item: &'a Json, ty: &str, depth: usize) {
        if let Json::Object(m) = item {
            self.object(m, ty, depth + 1);
        }
    }

    /// `f` on a value, or on each item of an array (with its index).
    fn each(&mut self, value: &'a Json, mut f: impl FnMut(&mut Self, &'a Json)) {
        match value {
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    f(self, item);
                    self.path.pop();
                }
            }
            other => f(self, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(json: &str) -> Vec<(String, String)> {
        let v = tree::parse(json.as_bytes()).expect("json");
        check(&v)
            .into_iter()
            .map(|i| (i.expression, i.message))
            .collect()
    }

    #[test]
    fn codes_outside_a_required_binding_are_refused() {
        let found = run(r#"{"resourceType":"Observation","status":"bogus","code":{"text":"x"}}"#);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "Observation.status");
        assert!(found[0].1.contains("observation-status"), "{found:?}");
        let nested = run(
            r#"{"resourceType":"Patient","gender":"male","telecom":[{"system":"phone"},{"system":"pager2"}],
               "contact":[{"gender":"nope"}]}"#,
        );
        let at: Vec<&str> = nested.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            at,
            ["Patient.telecom[1].system", "Patient.contact[0].gender"]
        );
        let bundle = run(
            r#"{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"x"}},
               {"resource":{"resourceType":"Observation","status":"x","code":{"text":"x"}},"request":{"method":"POST","url":"Observation"}}]}"#,
        );
        let at: Vec<&str> = bundle.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(at, ["Bundle.entry[1].resource.status"]);
        // A specialization of Quantity keeps Quantity's binding.
        let age = run(
            r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"comparator":"~"}}"#,
        );
        assert_eq!(age.len(), 1, "{age:?}");
    }

    #[test]
    fn valid_codes_and_unlisted_value_sets_pass() {
        assert!(run(
            r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},
               "valueQuantity":{"comparator":"<"}}"#
        )
        .is_empty());
        // Attachment.contentType is bound to MIME types, which no package lists.
        assert!(
            run(r#"{"resourceType":"Binary","contentType":"application/x-anything"}"#).is_empty()
        );
    }

    #[test]
    fn dom2_and_dom4() {
        let found = run(r#"{"resourceType":"Patient","contained":[
                {"resourceType":"Organization","id":"o","meta":{"versionId":"1","lastUpdated":"2020-01-01T00:00:00Z"},
                 "contained":[{"resourceType":"Organization","id":"p"}]}]}"#);
        let at: Vec<&str> = found.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            at,
            [
                "Patient.contained[0].contained",
                "Patient.contained[0].meta.versionId",
                "Patient.contained[0].meta.lastUpdated"
            ]
        );
        assert!(found[0].1.starts_with("dom-2"));
        assert!(found[1].1.starts_with("dom-4"));
        // The container itself may have meta.versionId, and a Bundle's
        // entries are not contained resources.
        assert!(run(
            r#"{"resourceType":"Bundle","type":"collection","meta":{"versionId":"3"},
               "entry":[{"resource":{"resourceType":"Patient","meta":{"versionId":"1"},"contained":[{"resourceType":"Organization","id":"o"}]}}]}"#
        )
        .is_empty());
    }
}
