//! Reading an instance for a profile: the instances of a child element
//! (choices and `_name` extensions included), and comparing values with
//! `fixed[x]` (exactly) and `pattern[x]` (at least).

use fhir_model::json::tree::Value as Json;

use super::Inst;
use crate::json::field;

/// The instances of child `name` (`value[x]` for a choice) of an object,
/// with their index when the element repeats.
pub(super) fn instances<'r>(parent: Inst<'r>, name: &str) -> Vec<(Option<usize>, Inst<'r>)> {
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
pub(super) fn deep_eq(a: &Json, b: &Json) -> bool {
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
pub(super) fn pattern_matches(pattern: &Json, value: &Json) -> bool {
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

pub(super) fn show(v: &Json) -> String {
    String::from_utf8_lossy(&fhir_model::json::tree::to_json(v)).into_owned()
}
