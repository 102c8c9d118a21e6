//! Slicing (profiling.html#slicing): which slice an item belongs to, by
//! its discriminators (`value`, `pattern`, `exists`, `type`, `profile`;
//! choice slices by type), and the slices' cardinality.

use fhir_model::json::tree::Value as Json;

use super::element::{Discriminator, Element, Slicing};
use super::run::Run;
use super::values::pattern_matches;
use super::Inst;
use crate::json::{field, resource_type, str_field};
use crate::validate::profile::discriminator;
use crate::validate::references::resolve;
use crate::validate::IssueType;
use crate::validate::Severity;

impl<'r> Run<'_, 'r> {
    /// The items of a sliced element sorted into its slices: each
    /// validated against its slice, unmatched ones reported when the
    /// slicing is closed, and the slices' cardinality counted.
    pub(super) fn slices(
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
                    IssueType::Structure,
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
            let verdict = match d.kind.as_str() {
                "value" | "pattern" => match self.by_value(d, slice, item) {
                    Some(ok) => Verdict::Holds(ok),
                    None => Verdict::Final(None),
                },
                "type" | "profile" => self.by_type(d, slice, item).unwrap_or(Verdict::Final(None)),
                "exists" => {
                    let value = inst_value(item);
                    let want = slice.min > 0;
                    Verdict::Holds(navigate(value, &d.path).is_empty() != want)
                }
                _ => return None,
            };
            match verdict {
                Verdict::Holds(true) => {}
                Verdict::Holds(false) => return Some(false),
                Verdict::Final(decided) => return decided,
            }
        }
        Some(true)
    }

    /// A `value` or `pattern` discriminator: whether the item holds the
    /// slice's fixed or pattern values at the discriminator's path (`true`
    /// too when the slice does not fix it, so it tells no slices apart);
    /// `None` when it cannot be evaluated here.
    fn by_value(&self, d: &Discriminator, slice: &Element, item: Inst<'r>) -> Option<bool> {
        let p = self.p;
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
        Some(if let Some(expected) = own {
            got.iter().any(|g| pattern_matches(expected, g))
        } else if d.path == "url" {
            // Extensions by url: the slice's type profile.
            let u = slice.types.first().and_then(|(_, ps)| ps.first())?;
            got.iter().any(|g| matches!(g, Json::String(s) if s == u))
        } else if let Some(want) = discriminator::ancestor_values(&d.path, |rel| {
            let e = if rel.is_empty() {
                slice
            } else {
                &p.elements[*p.by_id.get(&format!("{}.{rel}", slice.id))?]
            };
            e.fixed.as_ref().or(e.pattern.as_ref())
        }) {
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
                return Some(true);
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
                return Some(true);
            }
            got.iter().any(|g| {
                below.iter().all(|(rel, expected)| {
                    let rel = strip_slice_names(rel);
                    navigate(Some(g), &rel)
                        .iter()
                        .any(|x| pattern_matches(expected, x))
                })
            })
        })
    }

    /// A `type` or `profile` discriminator (at `resource`, `$this`, or a
    /// reference's `resolve()`); `None` when it cannot be evaluated here.
    fn by_type(&self, d: &Discriminator, slice: &Element, item: Inst<'r>) -> Option<Verdict> {
        let p = self.p;
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
            return Some(Verdict::Holds(false));
        };
        let choices = if resolve {
            let reference = str_field(value, "reference")?;
            value = resolve::resolve(self.resource, reference)
                .or_else(|| resolve::resolve(self.bundle?, reference))?;
            discriminator::target_choices(self.v, &target.targets)?
        } else {
            discriminator::type_choices(self.v, &target.types)?
        };
        let rt = resource_type(value).unwrap_or(item.ty);
        let mine: Vec<&Option<String>> = choices
            .iter()
            .filter(|(t, _)| t == rt || t == "Resource")
            .map(|(_, p)| p)
            .collect();
        if mine.is_empty() {
            return Some(Verdict::Holds(false));
        }
        if d.kind == "type" || mine.iter().any(|p| p.is_none()) {
            return Some(Verdict::Final(Some(true)));
        }
        // Conforms to one of the profiles (without the base
        // rules, which the base walk reports anyway).
        let mut any = false;
        for url in mine.into_iter().flatten() {
            let prof = self.v.profile(url)?;
            let mut scratch = Vec::new();
            prof.validate_in(self.v, value, self.bundle, rt, &mut scratch);
            if !crate::validate::has_errors(&scratch) {
                any = true;
                break;
            }
        }
        Some(Verdict::Holds(any))
    }
}

/// What one discriminator says of an item.
enum Verdict {
    /// Whether the item passes this discriminator; the next ones decide
    /// further.
    Holds(bool),
    /// The slice match is decided (`None`: it cannot be evaluated here).
    Final(Option<bool>),
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
