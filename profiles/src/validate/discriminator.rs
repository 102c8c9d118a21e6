//! Helpers for slicing discriminators (profiling.html#discriminator) that
//! the slice matcher of [`super::profile`] uses.
//!
//! A `value`/`pattern` discriminator names a path (`code.coding.code`);
//! a slice may fix the value at that path, or at an element above it
//! (`code` with a `patternCodeableConcept`): then the value the slice
//! requires is the part of that pattern at the rest of the path.

use fhir_model::json::tree::Value as Json;

use super::field;

/// The values a slice requires at discriminator `path` when it states
/// them on an element above the path: `fixed_at(rel)` gives the fixed or
/// pattern value of the slice's element at relative path `rel`. `None`
/// when no element on the way fixes anything.
pub(crate) fn ancestor_values<'p>(
    path: &str,
    fixed_at: impl Fn(&str) -> Option<&'p Json>,
) -> Option<Vec<&'p Json>> {
    let segs: Vec<&str> = path.split('.').collect();
    for cut in (1..segs.len()).rev() {
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
    }
}
