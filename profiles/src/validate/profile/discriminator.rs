//! Helpers for slicing discriminators (profiling.html#discriminator) that
//! the slice matcher of [`crate::validate::profile`] uses.
//!
//! A `value`/`pattern` discriminator names a path (`code.coding.code`);
//! a slice may fix the value at that path, or at an element above it
//! (`code` with a `patternCodeableConcept`): then the value the slice
//! requires is the part of that pattern at the rest of the path.
//!
//! A `type`/`profile` discriminator compares the instance's type (a
//! resource's `resourceType`, or the resource a reference resolves to)
//! with the types and profiles the slice's element lists.

use fhir_model::json::tree::Value as Json;

use crate::json::field;

use crate::validate::Validator;

const CORE: &str = "http://hl7.org/fhir/StructureDefinition/";

/// One type a `type`/`profile` discriminator allows: the type, and the
/// profile an instance of it must conform to (`None`: any).
pub(crate) type Choice = (String, Option<String>);

/// The choices of an element's types: a type code stands for itself;
/// each profile for its own type (a `Resource` entry profiled as
/// `Patient` allows Patients). `None` when a profile is not in the
/// package set, so that the slice cannot be decided here.
pub(crate) fn type_choices(v: &Validator, types: &[(String, Vec<String>)]) -> Option<Vec<Choice>> {
    let mut out = Vec::new();
    for (code, profiles) in types {
        if profiles.is_empty() {
            out.push((code.clone(), None));
        }
        for url in profiles {
            out.push(profile_choice(v, url)?);
        }
    }
    Some(out)
}

/// The choices of a reference's `targetProfile`s; none listed allows
/// any resource.
pub(crate) fn target_choices(v: &Validator, targets: &[String]) -> Option<Vec<Choice>> {
    if targets.is_empty() {
        return Some(vec![("Resource".to_owned(), None)]);
    }
    targets.iter().map(|u| profile_choice(v, u)).collect()
}

/// The (type, profile) a type profile url allows: the profile's type, and
/// the profile itself unless it is that type's core definition; `None`
/// for a profile the set does not have.
pub(crate) fn profile_choice(v: &Validator, url: &str) -> Option<Choice> {
    let bare = url.split('|').next().unwrap_or(url);
    match v.profile(url) {
        Some(p) => {
            let own = bare == format!("{CORE}{}", p.type_name);
            Some((p.type_name.clone(), (!own).then(|| url.to_owned())))
        }
        None => {
            let t = bare.strip_prefix(CORE)?;
            fhir_model::meta::type_info(t)?;
            Some((t.to_owned(), None))
        }
    }
}

/// The values a slice requires at discriminator `path` when it states
/// them on an element above the path: `fixed_at(rel)` gives the fixed or
/// pattern value of the slice's element at relative path `rel` (`""` for
/// the slice itself). `None`
/// when no element on the way fixes anything.
pub(crate) fn ancestor_values<'p>(
    path: &str,
    fixed_at: impl Fn(&str) -> Option<&'p Json>,
) -> Option<Vec<&'p Json>> {
    let segs: Vec<&str> = path.split('.').collect();
    // Down to the slice itself (`""`): a slice fixed as a whole.
    for cut in (0..segs.len()).rev() {
        let above = segs[..cut].join(".");
        if let Some(v) = fixed_at(&above) {
            return Some(values_at(v, &segs[cut..]));
        }
    }
    None
}

/// The values at `segs` below `v` (arrays flattened).
fn values_at<'p>(v: &'p Json, segs: &[&str]) -> Vec<&'p Json> {
    let mut cur = vec![v];
    for seg in segs {
        let mut next = Vec::new();
        for c in cur {
            let items: Vec<&Json> = match c {
                Json::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for item in items {
                match field(item, seg) {
                    Some(Json::Array(a)) => next.extend(a.iter()),
                    Some(x) => next.push(x),
                    None => {}
                }
            }
        }
        cur = next;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    #[test]
    fn a_pattern_above_the_path_gives_the_values_below() {
        let cc =
            tree::parse(br#"{"coding":[{"system":"s","code":"a"},{"code":"b"}]}"#).expect("json");
        let got = ancestor_values("code.coding.code", |rel| (rel == "code").then_some(&cc))
            .expect("found");
        assert_eq!(
            got,
            vec![&Json::String("a".into()), &Json::String("b".into())]
        );
        assert!(ancestor_values("code.coding.code", |_| None).is_none());
        let cp = tree::parse(br#"{"use":"home"}"#).expect("json");
        let got = ancestor_values("use", |rel| rel.is_empty().then_some(&cp)).expect("found");
        assert_eq!(got, vec![&Json::String("home".into())]);
    }

    #[test]
    fn type_choices_name_each_type_and_unknown_profiles_are_undecided() {
        let v = Validator::default();
        let types = vec![
            ("Practitioner".to_owned(), vec![]),
            (
                "Resource".to_owned(),
                vec![format!("{CORE}PractitionerRole")],
            ),
        ];
        let got = type_choices(&v, &types).expect("decided");
        assert_eq!(
            got,
            vec![
                ("Practitioner".to_owned(), None),
                ("PractitionerRole".to_owned(), None)
            ]
        );
        let unknown = vec![("Resource".to_owned(), vec!["http://x/p".to_owned()])];
        assert!(type_choices(&v, &unknown).is_none());
        assert_eq!(
            target_choices(&v, &[]),
            Some(vec![("Resource".to_owned(), None)])
        );
    }
}
